#include "runtime/scheduler/worker_pool.hpp"

#include "runtime/common/log.hpp"

#include <algorithm>
#include <chrono>

namespace actors::runtime {

namespace {

thread_local bool is_pool_thread = false;

// How long a thread that finished a job looks for the next before it sleeps.
constexpr auto spin_time = std::chrono::microseconds(50);

// A bound on threads, which only blocked jobs can push the pool towards.
constexpr std::size_t max_threads = 4096;

} // namespace

worker_pool::worker_pool(std::size_t max_running, bool spin)
  : max_running_(std::max<std::size_t>(1, max_running)), spin_(spin) {}

worker_pool::~worker_pool() {
  stop();
}

void worker_pool::post(std::function<void()> job) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> guard{mu_};
    queue_.push_back(std::move(job));
    queued_.store(queue_.size(), std::memory_order_release);
    wake = wake_or_spawn_locked();
  }
  // Told after the lock is released: a thread woken under it would wake only to
  // wait for the lock, and be woken again.
  if (wake)
    cv_.notify_one();
}

void worker_pool::on_block() {
  bool wake = false;
  {
    std::lock_guard<std::mutex> guard{mu_};
    --running_;
    wake = wake_or_spawn_locked();
  }
  if (wake)
    cv_.notify_one();
}

void worker_pool::on_unblock() {
  std::lock_guard<std::mutex> guard{mu_};
  ++running_;
}

bool worker_pool::wake_or_spawn_locked() {
  // Threads that will look at the queue without being told to.
  std::size_t coming = spinning_ + starting_ + waking_;
  if (queue_.size() <= coming || running_ + coming >= max_running_)
    return false; // enough are on their way, or every slot is taken: a finishing job takes the next
  if (idle_ > waking_) {
    ++waking_;
    return true;
  }
  spawn_locked();
  return false;
}

void worker_pool::spawn_locked() {
  if (stopping_)
    return;
  if (threads_.size() >= max_threads) {
    log(log_level::warning, "worker_pool", "reached ", max_threads,
        " threads: jobs wait until a blocked one returns");
    return;
  }
  ++starting_;
  threads_.emplace_back([this] { work(); });
}

void worker_pool::work() {
  is_pool_thread = true;
  std::unique_lock<std::mutex> lock{mu_};
  --starting_;
  bool spun = !spin_;
  for (;;) {
    while (!(stopping_ || (!queue_.empty() && running_ < max_running_))) {
      if (!spun && spinning_ == 0) {
        // Sleeping and waking costs a context switch each way, more than a
        // round trip of a small task: look for the next job a little first.
        // One thread spinning is enough; more would take the cores that the
        // threads submitting work need.
        spun = true;
        ++spinning_;
        lock.unlock();
        auto until = std::chrono::steady_clock::now() + spin_time;
        for (unsigned i = 1; queued_.load(std::memory_order_acquire) == 0; ++i) {
          pause();
          if (i % 64 == 0 && std::chrono::steady_clock::now() >= until)
            break;
        }
        lock.lock();
        --spinning_;
        continue;
      }
      ++idle_;
      cv_.wait(lock);
      --idle_;
      if (waking_ > 0)
        --waking_;
    }
    if (queue_.empty())
      return; // stopping and drained
    auto job = std::move(queue_.front());
    queue_.pop_front();
    queued_.store(queue_.size(), std::memory_order_release);
    spun = !spin_;
    ++running_;
    // More queued than this thread takes: get help.
    const bool wake = wake_or_spawn_locked();
    lock.unlock();
    if (wake)
      cv_.notify_one();
    job();
    job = nullptr;
    lock.lock();
    --running_;
  }
}

void worker_pool::stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (stopping_ && threads_.empty())
      return;
    stopping_ = true;
    threads.swap(threads_);
    cv_.notify_all();
  }
  for (auto& t : threads)
    if (t.joinable())
      t.join();
  std::lock_guard<std::mutex> guard{mu_};
  // Jobs posted while stopping had no thread to take them: run them here.
  while (!queue_.empty()) {
    auto job = std::move(queue_.front());
    queue_.pop_front();
    queued_.store(queue_.size(), std::memory_order_release);
    mu_.unlock();
    job();
    mu_.lock();
  }
}

bool worker_pool::on_pool_thread() noexcept {
  return is_pool_thread;
}

std::size_t worker_pool::threads() const {
  std::lock_guard<std::mutex> guard{mu_};
  return threads_.size();
}

} // namespace actors::runtime
