#pragma once

// One thread that runs the work posted to it, in the order posted: the place for
// work that may wait or take long, posted from a thread that must do neither
// (the node endpoint's, which is also the node's network I/O). No CAF.

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace actors::runtime {

/// Runs posted work on a thread of its own, one piece at a time, in the order
/// posted; the thread starts with the first post. Safe for concurrent use.
class serial_executor {
 public:
  serial_executor() = default;
  /// Calls stop().
  ~serial_executor();

  serial_executor(const serial_executor&) = delete;
  serial_executor& operator=(const serial_executor&) = delete;

  /// Queues `work`; false, dropping it, after stop().
  bool post(std::function<void()> work);

  /// Drops the work not started yet, waits for the piece running, and joins the
  /// thread; later posts are dropped. Idempotent. Not from the executor's own work.
  void stop();

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::function<void()>> queued_;
  std::thread thread_;
  bool stopped_ = false;
};

} // namespace actors::runtime
