// detail::after: one timer thread per process, started at the first use, for
// coroutines that sleep (actors::sleep_for).

#include "actors/detail/runtime.hpp"

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace actors::detail {

namespace {

class timer_thread {
 public:
  timer_thread() : thread_([this] { run(); }) {}
  ~timer_thread() {
    {
      std::lock_guard<std::mutex> guard{mu_};
      stopping_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

  void add(std::chrono::steady_clock::time_point when, std::function<void()> then) {
    {
      std::lock_guard<std::mutex> guard{mu_};
      due_.emplace(when, std::move(then));
    }
    cv_.notify_one();
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock{mu_};
    while (!stopping_) {
      if (due_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto first = due_.begin();
      if (std::chrono::steady_clock::now() < first->first) {
        cv_.wait_until(lock, first->first);
        continue;
      }
      auto then = std::move(first->second);
      due_.erase(first);
      lock.unlock();
      then();
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> due_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace

void after(std::chrono::nanoseconds delay, std::function<void()> then) {
  static timer_thread timer;
  timer.add(std::chrono::steady_clock::now() + delay, std::move(then));
}

} // namespace actors::detail
