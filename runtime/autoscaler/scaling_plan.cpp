#include "runtime/autoscaler/scaling_plan.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <set>

namespace actors::runtime {

namespace {

// At most this many single pieces of pending work are packed per call, so that a
// huge backlog costs bounded time; each shape keeps a share.
constexpr std::uint64_t max_pending_items = 10'000;

bool fits(const resource_map& shape, const resource_map& room) {
  for (const auto& [name, amount] : shape) {
    auto it = room.find(name);
    if (amount > 0 && (it == room.end() || it->second < amount))
      return false;
  }
  return true;
}

void take(resource_map& room, const resource_map& shape) {
  for (const auto& [name, amount] : shape)
    room[name] -= amount;
}

// Sum of amounts: how large a piece of work is, and what a node type costs.
double size_of(const resource_map& shape) {
  double sum = 0;
  for (const auto& [name, amount] : shape)
    sum += amount;
  return sum;
}

// Without the amounts that ask for nothing, so equal demands compare equal.
resource_map normalized(const resource_map& shape) {
  resource_map result;
  for (const auto& [name, amount] : shape)
    if (amount > 0)
      result.emplace(name, amount);
  return result;
}

bool first_fit(std::vector<resource_map>& rooms, const resource_map& shape) {
  for (auto& room : rooms)
    if (fits(shape, room)) {
      take(room, shape);
      return true;
    }
  return false;
}

// One call of plan_scaling. Nodes planned so far are kept in order, so the
// upscaling cap can drop the latest.
class planner {
 public:
  explicit planner(const plan_input& in) : in_(in) {
    int running = 0;
    int launching = 0;
    for (const auto& [name, n] : in.running)
      running += std::max(n, 0);
    for (const auto& [name, n] : in.launching)
      launching += std::max(n, 0);
    int limit = std::max(5, static_cast<int>(std::floor(in.upscaling_speed * running)));
    budget_ = static_cast<std::size_t>(std::max(0, limit - launching));
    for (const auto& type : in.types)
      alive_.push_back(count(in.running, type.name) + count(in.launching, type.name));
  }

  void plan_min_nodes() {
    for (std::size_t t = 0; t < in_.types.size(); ++t)
      for (int n = alive_[t]; n < in_.types[t].min_nodes; ++n)
        planned_.push_back(t);
  }

  void plan_pending() {
    std::map<resource_map, std::uint64_t> by_shape;
    for (const auto& p : in_.pending)
      if (p.count > 0)
        by_shape[normalized(p.shape)] += p.count;
    std::erase_if(by_shape, [&](const auto& kv) { return !feasible(kv.first); });
    if (by_shape.empty())
      return;
    std::uint64_t share = std::max<std::uint64_t>(1, max_pending_items / by_shape.size());
    std::vector<resource_map> items;
    for (const auto& [shape, n] : by_shape)
      items.insert(items.end(), std::min(n, share), shape);
    place(std::move(items), in_.node_free);
  }

  void plan_requested() {
    std::vector<resource_map> items;
    for (const auto& bundle : in_.requested)
      if (auto shape = normalized(bundle); feasible(shape))
        items.push_back(std::move(shape));
    place(std::move(items), in_.node_total);
  }

  plan_output result() const {
    plan_output out;
    for (std::size_t i = 0; i < std::min(budget_, planned_.size()); ++i)
      ++out.launch[in_.types[planned_[i]].name];
    out.infeasible.assign(infeasible_.begin(), infeasible_.end());
    return out;
  }

 private:
  static int count(const std::map<std::string, int>& per_type, const std::string& name) {
    auto it = per_type.find(name);
    return it == per_type.end() ? 0 : std::max(it->second, 0);
  }

  // False, noting the shape, if no node type and no live node could ever hold it.
  bool feasible(const resource_map& shape) {
    auto holds = [&](const resource_map& room) { return fits(shape, room); };
    if (std::any_of(in_.types.begin(), in_.types.end(), [&](const auto& t) { return holds(t.resources); }) ||
        std::any_of(in_.node_total.begin(), in_.node_total.end(), holds))
      return true;
    infeasible_.insert(shape);
    return false;
  }

  // Whether `type` offers a special resource `shape` does not ask for (a GPU
  // node for CPU work). Such types are kept for the work that needs them.
  static bool has_extras(const resource_map& type, const resource_map& shape) {
    for (const auto& [name, amount] : type)
      if (amount > 0 && name != "CPU" && name != "memory" && !(shape.count(name) && shape.at(name) > 0))
        return true;
    return false;
  }

  // The cheapest type that fits `shape` and may have one more node, if any.
  // Types with resources the shape does not use count only when no other type
  // fits it at all, full or not.
  std::optional<std::size_t> type_for(const resource_map& shape) const {
    bool plain_fits = false;
    for (const auto& type : in_.types)
      plain_fits = plain_fits || (fits(shape, type.resources) && !has_extras(type.resources, shape));
    std::optional<std::size_t> best;
    for (std::size_t t = 0; t < in_.types.size(); ++t) {
      const auto& type = in_.types[t];
      auto planned = std::count(planned_.begin(), planned_.end(), t);
      if (fits(shape, type.resources) && !(plain_fits && has_extras(type.resources, shape)) &&
          alive_[t] + planned < type.max_nodes &&
          (!best || size_of(type.resources) < size_of(in_.types[*best].resources)))
        best = t;
    }
    return best;
  }

  // Packs `items` largest first into `rooms` (live nodes), then the launching
  // nodes, then the planned ones, each at full capacity; what is left opens
  // new planned nodes.
  void place(std::vector<resource_map> items, std::vector<resource_map> rooms) {
    std::stable_sort(items.begin(), items.end(),
                     [](const auto& a, const auto& b) { return size_of(a) > size_of(b); });
    for (const auto& type : in_.types)
      rooms.insert(rooms.end(), count(in_.launching, type.name), type.resources);
    std::vector<resource_map> planned_rooms;
    for (auto t : planned_)
      planned_rooms.push_back(in_.types[t].resources);
    for (const auto& item : items) {
      // Past the budget a new node would be dropped by the cap anyway.
      if (first_fit(rooms, item) || first_fit(planned_rooms, item) || planned_.size() >= budget_)
        continue;
      if (auto t = type_for(item)) {
        planned_.push_back(*t);
        planned_rooms.push_back(in_.types[*t].resources);
        take(planned_rooms.back(), item);
      }
    }
  }

  const plan_input& in_;
  // New launches allowed by upscaling_speed.
  std::size_t budget_ = 0;
  // Per type index: running plus launching.
  std::vector<int> alive_;
  // Type index of each node planned, in planning order.
  std::vector<std::size_t> planned_;
  std::set<resource_map> infeasible_;
};

} // namespace

plan_output plan_scaling(const plan_input& in) {
  planner plan(in);
  plan.plan_min_nodes();
  plan.plan_pending();
  plan.plan_requested();
  return plan.result();
}

std::string describe(const resource_map& shape) {
  std::string text = "{";
  for (const auto& [name, amount] : shape) {
    char number[32];
    auto end = std::to_chars(number, number + sizeof number, amount).ptr;
    text += (text.size() > 1 ? ", " : "") + name + ": " + std::string(number, end);
  }
  return text + "}";
}

} // namespace actors::runtime
