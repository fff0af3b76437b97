#include "runtime/common/serial_executor.hpp"

#include "runtime/common/log.hpp"

#include <exception>

namespace actors::runtime {

serial_executor::~serial_executor() {
  stop();
}

bool serial_executor::post(std::function<void()> work) {
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (stopped_)
      return false;
    queued_.push_back(std::move(work));
    if (!thread_.joinable())
      thread_ = std::thread([this] {
        std::unique_lock<std::mutex> lock{mu_};
        for (;;) {
          changed_.wait(lock, [&] { return stopped_ || !queued_.empty(); });
          if (stopped_)
            return;
          auto next = std::move(queued_.front());
          queued_.pop_front();
          lock.unlock();
          try {
            next();
          } catch (const std::exception& e) {
            log(log_level::error, "runtime", "work run off the node endpoint failed: ", e.what());
          }
          next = nullptr; // what it holds goes outside the lock
          lock.lock();
        }
      });
  }
  changed_.notify_one();
  return true;
}

void serial_executor::stop() {
  std::thread thread;
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard<std::mutex> guard{mu_};
    stopped_ = true;
    thread.swap(thread_);
    dropped.swap(queued_);
  }
  changed_.notify_all();
  if (thread.joinable())
    thread.join();
}

} // namespace actors::runtime
