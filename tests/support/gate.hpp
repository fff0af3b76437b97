#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace actors::test {

/// A latch that opens once: threads wait on it, with a bound, until a test step
/// lets them go. Opening it again is harmless, so a test's tear-down can open
/// every gate it made, whatever step an assertion stopped at.
class gate {
 public:
  void open() {
    std::lock_guard<std::mutex> guard{mu_};
    open_ = true;
    cv_.notify_all();
  }

  /// True if the gate opened within `limit`.
  bool wait(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock{mu_};
    return cv_.wait_for(lock, limit, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

} // namespace actors::test
