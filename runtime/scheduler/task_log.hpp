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

/// Counts of durations in fixed buckets (seconds), for a Prometheus histogram.
class duration_histogram {
 public:
  static constexpr double bounds[] = {0.00001, 0.0001, 0.001, 0.01, 0.1, 1, 10, 60};
  static constexpr std::size_t size = sizeof(bounds) / sizeof(bounds[0]);

  void observe(double seconds);

  struct snapshot_t {
    std::uint64_t counts[size + 1] = {}; // the last one is +Inf
    std::uint64_t count = 0;
    double sum = 0;
  };
  snapshot_t snapshot() const;

 private:
  std::atomic<std::uint64_t> counts_[size + 1] = {};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
};

/// The recent executions on this node, for `actors list tasks` and the timeline:
/// a ring of the last `capacity` entries, plus running totals. Safe for
/// concurrent use.
class task_log {
 public:
  explicit task_log(std::size_t capacity = 20000);

  /// Records that `name` starts on the calling thread; returns its slot.
  std::uint64_t started(const std::string& name);
  /// Records how the execution in `slot` ended; `queued_us` is when it was
  /// submitted (0 if unknown), for the end-to-end latency.
  void finished(std::uint64_t slot, bool ok, std::int64_t queued_us = 0);

  /// Microseconds since the Unix epoch, the clock of this log.
  static std::int64_t clock_us();

  /// How long executions ran, and how long from submission to their end.
  const duration_histogram& run_time() const noexcept {
    return run_time_;
  }
  const duration_histogram& latency() const noexcept {
    return latency_;
  }

  /// The entries still in the ring, oldest first.
  std::vector<task_event> snapshot() const;

  std::uint64_t started_total() const noexcept {
    return started_total_.load(std::memory_order_relaxed);
  }
  std::uint64_t finished_total() const noexcept {
    return finished_total_.load(std::memory_order_relaxed);
  }
  std::uint64_t failed_total() const noexcept {
    return failed_total_.load(std::memory_order_relaxed);
  }
  /// Tasks submitted to this node's scheduler, and re-runs after a failure.
  void note_submitted() noexcept {
    submitted_total_.fetch_add(1, std::memory_order_relaxed);
  }
  void note_retried() noexcept {
    retried_total_.fetch_add(1, std::memory_order_relaxed);
  }
  std::uint64_t submitted_total() const noexcept {
    return submitted_total_.load(std::memory_order_relaxed);
  }
  std::uint64_t retried_total() const noexcept {
    return retried_total_.load(std::memory_order_relaxed);
  }

 private:
  duration_histogram run_time_;
  duration_histogram latency_;

  mutable std::mutex mu_;
  std::vector<task_event> ring_;
  std::uint64_t next_ = 0;
  std::atomic<std::uint64_t> started_total_{0};
  std::atomic<std::uint64_t> failed_total_{0};
  std::atomic<std::uint64_t> finished_total_{0};
  std::atomic<std::uint64_t> submitted_total_{0};
  std::atomic<std::uint64_t> retried_total_{0};
};

/// A small number naming the calling thread, for timelines.
std::uint32_t worker_number();

} // namespace actors::runtime
