#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace actors::runtime {

/// One execution of a task or actor method on this node.
struct task_event {
  std::string name;
  /// "running", "finished" or "failed".
  std::string state;
  /// Microseconds since the Unix epoch (comparable across nodes of one machine).
  std::int64_t start_us = 0;
  std::int64_t end_us = 0;
  /// Which worker thread ran it (a small number, stable for the thread's life).
  std::uint32_t worker = 0;
};

/// The recent executions on this node, for `actors list tasks` and the timeline:
/// a ring of the last `capacity` entries, plus running totals. Safe for
/// concurrent use.
class task_log {
 public:
  explicit task_log(std::size_t capacity = 20000);

  /// Records that `name` starts on the calling thread; returns its slot.
  std::uint64_t started(const std::string& name);
  /// Records how the execution in `slot` ended.
  void finished(std::uint64_t slot, bool ok);

  /// The entries still in the ring, oldest first.
  std::vector<task_event> snapshot() const;

  std::uint64_t started_total() const noexcept {
    return started_total_.load(std::memory_order_relaxed);
  }
  std::uint64_t failed_total() const noexcept {
    return failed_total_.load(std::memory_order_relaxed);
  }

 private:
  std::int64_t now_us() const;

  mutable std::mutex mu_;
  std::vector<task_event> ring_;
  std::uint64_t next_ = 0;
  std::atomic<std::uint64_t> started_total_{0};
  std::atomic<std::uint64_t> failed_total_{0};
};

/// A small number naming the calling thread, for timelines.
std::uint32_t worker_number();

} // namespace actors::runtime
