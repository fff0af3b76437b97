#include "runtime/scheduler/task_log.hpp"

#include <algorithm>

namespace actors::runtime {

std::uint32_t worker_number() {
  static std::atomic<std::uint32_t> next{1};
  thread_local std::uint32_t mine = next.fetch_add(1, std::memory_order_relaxed);
  return mine;
}

task_log::task_log(std::size_t capacity) : ring_(std::max<std::size_t>(capacity, 1)) {}

std::int64_t task_log::now_us() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

std::uint64_t task_log::started(const std::string& name) {
  started_total_.fetch_add(1, std::memory_order_relaxed);
  auto t = now_us();
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

void task_log::finished(std::uint64_t slot, bool ok) {
  if (!ok)
    failed_total_.fetch_add(1, std::memory_order_relaxed);
  auto t = now_us();
  std::lock_guard<std::mutex> guard{mu_};
  if (next_ - slot > ring_.size())
    return; // overwritten meanwhile
  auto& e = ring_[slot % ring_.size()];
  e.state = ok ? "finished" : "failed";
  e.end_us = t;
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
