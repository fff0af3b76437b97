#include "runtime/cluster/spillback.hpp"

#include "runtime/common/log.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace actors::runtime {

namespace {

/// How many pieces of work needing `shape` fit into `free`.
std::size_t how_many_fit(const resource_set& free, const resource_set& shape) {
  double n = std::numeric_limits<double>::infinity();
  if (shape.cpu > 0)
    n = free.cpu / shape.cpu;
  for (const auto& [name, amount] : shape.custom) {
    double have = 0;
    for (const auto& [fname, famount] : free.custom)
      if (fname == name)
        have = famount;
    n = std::min(n, have / amount);
  }
  if (!std::isfinite(n) || n < 1)
    return 0; // a shape that needs nothing starts anywhere at once
  return static_cast<std::size_t>(n + 1e-9);
}

} // namespace

void spillback::view_changed() {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (now - last_ < pause)
      return;
  }
  std::map<std::map<std::string, double>, std::uint64_t> waiting;
  local_.sched.count_pending(waiting);
  if (waiting.empty())
    return;
  auto snap = members_.snapshot();
  const auto here = local_.sched.stats();
  std::size_t given = 0;
  for (const auto& [shape_map, queued] : waiting) {
    // This node's fair share of the work of this shape that the nodes able to run
    // it have (queued or running, as last reported), by how many each runs at
    // once; what is queued here beyond it goes back.
    const auto shape = resource_set::from(0, shape_map);
    const double slots_here = static_cast<double>(how_many_fit(here.total, shape));
    double slots = slots_here;
    double work = static_cast<double>(queued + here.running);
    bool elsewhere = false;
    for (const auto& m : snap->members) {
      if (m.id == local_.id || m.driver)
        continue;
      auto n = how_many_fit(m.total, shape);
      if (n == 0)
        continue;
      elsewhere = true;
      slots += static_cast<double>(n);
      work += m.load;
    }
    if (!elsewhere || slots == 0)
      continue;
    const double share = std::ceil(work * slots_here / slots);
    const double mine = static_cast<double>(queued + here.running);
    if (mine > share)
      given += local_.sched.give_back(shape, std::min<std::size_t>(queued, static_cast<std::size_t>(mine - share)));
  }
  if (given > 0) {
    std::lock_guard<std::mutex> guard{mu_};
    last_ = now;
    log(log_level::debug, "cluster", "gave ", given, " waiting tasks back to their owners: other nodes have room");
  }
}

} // namespace actors::runtime
