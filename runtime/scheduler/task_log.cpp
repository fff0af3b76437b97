#include "runtime/scheduler/task_log.hpp"

#include <algorithm>

namespace actors::runtime {

std::uint32_t worker_number() {
  static std::atomic<std::uint32_t> next{1};
  thread_local std::uint32_t mine = next.fetch_add(1, std::memory_order_relaxed);
  return mine;
}

task_log::task_log(std::size_t capacity) : ring_(std::max<std::size_t>(capacity, 1)) {}

void duration_histogram::observe(double seconds) {
  std::size_t i = 0;
  while (i < size && seconds > bounds[i])
    ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(seconds * 1e9), std::memory_order_relaxed);
}

duration_histogram::snapshot_t duration_histogram::snapshot() const {
  snapshot_t s;
  for (std::size_t i = 0; i <= size; ++i)
    s.counts[i] = counts_[i].load(std::memory_order_relaxed);
  s.count = count_.load(std::memory_order_relaxed);
  s.sum = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return s;
}

std::int64_t task_log::clock_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

std::uint64_t task_log::started(const std::string& name) {
  started_total_.fetch_add(1, std::memory_order_relaxed);
  auto t = clock_us();
  auto worker = worker_number();
  std::lock_guard<std::mutex> guard{mu_};
  auto slot = next_++;
  auto& e = ring_[slot % ring_.size()];
  e.name = name;
  e.state = "running";
  e.start_us = t;
  e.end_us = 0;
  e.worker = worker;
  return slot;
}

void task_log::finished(std::uint64_t slot, bool ok, std::int64_t queued_us) {
  (ok ? finished_total_ : failed_total_).fetch_add(1, std::memory_order_relaxed);
  auto t = clock_us();
  if (queued_us > 0)
    latency_.observe(static_cast<double>(t - queued_us) / 1e6);
  std::lock_guard<std::mutex> guard{mu_};
  if (next_ - slot > ring_.size())
    return; // overwritten meanwhile
  auto& e = ring_[slot % ring_.size()];
  e.state = ok ? "finished" : "failed";
  e.end_us = t;
  run_time_.observe(static_cast<double>(t - e.start_us) / 1e6);
}

std::vector<task_event> task_log::snapshot() const {
  std::lock_guard<std::mutex> guard{mu_};
  std::vector<task_event> out;
  auto n = std::min<std::uint64_t>(next_, ring_.size());
  out.reserve(n);
  for (auto i = next_ - n; i < next_; ++i)
    out.push_back(ring_[i % ring_.size()]);
  return out;
}

} // namespace actors::runtime
