#include "runtime/cluster/operations.hpp"

#include "runtime/common/log.hpp"

#include <utility>
#include <vector>

namespace actors::runtime {

operations::~operations() {
  stop();
}

void operations::add(std::uint64_t key, const node_id& target, std::unique_ptr<operation> op) {
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (!stopped_) {
      ++in_flight_[target];
      ops_.emplace(key, entry{target, std::move(op)});
    }
  }
  if (op) {
    op->lost(target, "this node is shutting down");
    return;
  }
  // Checked after the operation is in the table: a death noticed before this
  // check reaches it here, one noticed after reaches it through node_lost; the
  // one that takes it out of the table handles it.
  if (members_.is_dead(target))
    if (auto late = take(key))
      late->not_sent(target);
}

std::unique_ptr<operation> operations::take(std::uint64_t key) {
  std::lock_guard<std::mutex> guard{mu_};
  auto i = ops_.find(key);
  if (i == ops_.end())
    return nullptr;
  auto op = std::move(i->second.op);
  auto f = in_flight_.find(i->second.target);
  if (f != in_flight_.end() && f->second > 0)
    --f->second;
  ops_.erase(i);
  return op;
}

void operations::answer(wire::result r) {
  if (auto op = take(r.key))
    op->answered(std::move(r));
}

void operations::node_lost(const node_id& id, const std::string& why) {
  std::vector<std::unique_ptr<operation>> lost;
  {
    std::lock_guard<std::mutex> guard{mu_};
    for (auto i = ops_.begin(); i != ops_.end();) {
      if (i->second.target == id) {
        lost.push_back(std::move(i->second.op));
        i = ops_.erase(i);
      } else {
        ++i;
      }
    }
    in_flight_.erase(id);
  }
  if (!lost.empty())
    log(log_level::warning, "cluster", "node ", id.to_string(), " is gone (", why, "): ", lost.size(),
        " operations in flight there");
  for (auto& op : lost)
    op->lost(id, why);
}

std::optional<sent_request> operations::find_making(const detail::object_cell* result) const {
  std::lock_guard<std::mutex> guard{mu_};
  for (const auto& [key, e] : ops_)
    if (e.op->makes() == result)
      return sent_request{key, e.target};
  return std::nullopt;
}

std::size_t operations::in_flight(const node_id& id) const {
  std::lock_guard<std::mutex> guard{mu_};
  auto i = in_flight_.find(id);
  return i == in_flight_.end() ? 0 : i->second;
}

std::vector<std::size_t> operations::in_flight(const std::vector<node_id>& ids) const {
  std::vector<std::size_t> out;
  out.reserve(ids.size());
  std::lock_guard<std::mutex> guard{mu_};
  for (const auto& id : ids) {
    auto i = in_flight_.find(id);
    out.push_back(i == in_flight_.end() ? 0 : i->second);
  }
  return out;
}

void operations::stop() {
  std::vector<entry> lost;
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (stopped_)
      return;
    stopped_ = true;
    for (auto& [key, e] : ops_)
      lost.push_back(std::move(e));
    ops_.clear();
    in_flight_.clear();
  }
  for (auto& e : lost)
    e.op->lost(e.target, "this node is shutting down");
}

} // namespace actors::runtime
