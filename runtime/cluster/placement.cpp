#include "runtime/cluster/placement.hpp"

#include "runtime/actor_host/actor_host.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/operations.hpp"
#include "runtime/object_store/object_cell.hpp"

#include "actors/errors.hpp"

#include <algorithm>
#include <mutex>
#include <unordered_map>

namespace actors::runtime {

placement_decision choose_node(const std::vector<placement_candidate>& nodes, const node_id& self,
                               const scheduler_stats& local, const placement_request& req,
                               std::uint64_t spread_turn) {
  using where = placement_decision::where;
  auto at = [&](const node_id& id) {
    return id == self ? placement_decision{where::here, {}} : placement_decision{where::node, id};
  };
  const auto& p = req.options;
  struct fit {
    node_id id;
    double score;
  };
  std::vector<fit> fits;
  bool local_fits_total = false;
  for (const auto& c : nodes) {
    if (p.affinity.value && c.id == p.affinity) {
      if (c.total.fits(req.demand))
        return at(c.id);
      break;
    }
    // Nodes offering no CPU (drivers) take no work.
    if (c.total.cpu <= 0 || !c.total.fits(req.demand))
      continue;
    if (c.id == self) {
      local_fits_total = true;
      fits.push_back({c.id, (local.running + local.pending + c.load) / std::max(local.total.cpu, 1.0)});
      continue;
    }
    fits.push_back({c.id, c.load / std::max(c.total.cpu, 1.0)});
  }
  if (p.affinity.value && !p.soft)
    throw error(errc::invalid_argument, "node " + p.affinity.to_string() + " is not alive or lacks "
                                          + req.demand.to_string()
                                          + ", and the node affinity is hard (soft=false)");
  if (fits.empty())
    return {where::nowhere, {}};
  if (p.strategy == scheduling_strategy::spread)
    return at(fits[spread_turn % fits.size()].id);
  // Tasks stay here while this node has room: no network hop.
  if (!req.for_actor && local_fits_total && local.pending == 0 && local.available.fits(req.demand))
    return {where::here, {}};
  // Else where most of their argument bytes are, if that is worth a move.
  node_id best_node;
  std::uint64_t best_bytes = locality_threshold;
  for (const auto& [node, bytes] : req.argument_bytes)
    if (bytes > best_bytes && std::any_of(fits.begin(), fits.end(), [&](const fit& f) { return f.id == node; })) {
      best_node = node;
      best_bytes = bytes;
    }
  if (best_node.value)
    return at(best_node);
  auto best = std::min_element(fits.begin(), fits.end(), [](const fit& a, const fit& b) { return a.score < b.score; });
  return at(best->id);
}

namespace {

/// How many of `bundles` (in order) fit into `free`, and what is left after them.
std::size_t fitting(resource_set free, const std::vector<resource_set>& bundles, const std::vector<bool>& placed) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < bundles.size(); ++i)
    if (!placed[i] && free.fits(bundles[i])) {
      free.subtract(bundles[i]);
      ++n;
    }
  return n;
}

} // namespace

std::vector<node_id> place_bundles(std::vector<bundle_room> nodes, const std::vector<resource_set>& bundles,
                                   scheduling_strategy strategy, bool room_only) {
  std::vector<node_id> out(bundles.size());
  std::vector<bool> placed(bundles.size(), false);
  std::size_t left = bundles.size();
  auto put = [&](std::size_t bundle, bundle_room& room) {
    room.free.subtract(bundles[bundle]);
    room.total.subtract(bundles[bundle]);
    out[bundle] = room.id;
    placed[bundle] = true;
    --left;
  };
  const bool strict_pack = strategy == scheduling_strategy::strict_pack;
  const bool strict_spread = strategy == scheduling_strategy::strict_spread;
  // STRICT_PACK: a node that already holds some of the group is the only one the
  // rest may go to.
  const bool group_placed = std::any_of(nodes.begin(), nodes.end(), [](const bundle_room& r) { return r.holds_group; });
  auto may_take_all = [&](const bundle_room& r) { return !group_placed || r.holds_group; };
  if (strategy == scheduling_strategy::spread || strict_spread) {
    std::vector<bool> used(nodes.size(), false);
    for (std::size_t i = 0; i < nodes.size(); ++i)
      used[i] = nodes[i].holds_group;
    for (std::size_t b = 0; b < bundles.size(); ++b) {
      std::size_t pick = nodes.size();
      for (std::size_t i = 0; i < nodes.size() && pick == nodes.size(); ++i)
        if (!used[i] && nodes[i].free.fits(bundles[b]))
          pick = i;
      for (std::size_t i = 0; i < nodes.size() && pick == nodes.size() && !strict_spread; ++i)
        if (nodes[i].free.fits(bundles[b]))
          pick = i;
      if (pick < nodes.size()) {
        used[pick] = true;
        put(b, nodes[pick]);
      }
    }
  } else if (strict_pack) {
    // The node with room for every bundle that is left less free CPU than any other.
    std::size_t pick = nodes.size();
    for (std::size_t i = 0; i < nodes.size(); ++i)
      if (may_take_all(nodes[i]) && fitting(nodes[i].free, bundles, placed) == left
          && (pick == nodes.size() || nodes[i].free.cpu < nodes[pick].free.cpu))
        pick = i;
    for (std::size_t b = 0; b < bundles.size() && pick < nodes.size(); ++b)
      put(b, nodes[pick]);
  } else {
    // PACK: each round takes the node that has room for the most of the bundles
    // still to place; among equals, the one left with the least free CPU, so that
    // larger rooms stay open for other work.
    while (left > 0) {
      std::size_t pick = nodes.size();
      std::size_t most = 0;
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        auto n = fitting(nodes[i].free, bundles, placed);
        if (n > most || (n == most && n > 0 && nodes[i].free.cpu < nodes[pick].free.cpu)) {
          most = n;
          pick = i;
        }
      }
      if (pick == nodes.size())
        break;
      for (std::size_t b = 0; b < bundles.size(); ++b)
        if (!placed[b] && nodes[pick].free.fits(bundles[b]))
          put(b, nodes[pick]);
    }
  }
  // What no node has room for now waits on a node that can hold it together with
  // the group's bundles already put there (`total` has lost those); SPREAD first
  // tries nodes holding none of them. A bundle queued behind its own group's on a
  // node too small for both would wait forever.
  if (room_only || left == 0)
    return out;
  if (strict_pack) {
    // All of them wait together on the first node whose total can hold them all.
    for (auto& room : nodes)
      if (may_take_all(room) && fitting(room.total, bundles, placed) == left) {
        for (std::size_t b = 0; b < bundles.size(); ++b)
          put(b, room);
        break;
      }
    return out;
  }
  std::vector<bool> holds(nodes.size(), false);
  for (std::size_t i = 0; i < nodes.size(); ++i)
    holds[i] = nodes[i].holds_group || std::find(out.begin(), out.end(), nodes[i].id) != out.end();
  for (std::size_t b = 0; b < bundles.size(); ++b) {
    if (placed[b])
      continue;
    std::size_t pick = nodes.size();
    // STRICT_SPREAD has no second pass: a node holding one of the group takes no other.
    for (int pass = strategy == scheduling_strategy::spread || strict_spread ? 0 : 1;
         pass < (strict_spread ? 1 : 2) && pick == nodes.size(); ++pass)
      for (std::size_t i = 0; i < nodes.size() && pick == nodes.size(); ++i)
        if ((pass == 1 || !holds[i]) && nodes[i].total.fits(bundles[b]))
          pick = i;
    if (pick < nodes.size()) {
      holds[pick] = true;
      put(b, nodes[pick]);
    }
  }
  return out;
}

std::optional<node_id> placer::place(const resource_set& demand, const detail::placement_options& p,
                                     bool for_actor, const detail::args_holder* args, bool* nowhere) {
  if (nowhere)
    *nowhere = false;
  if (!p.affinity.value && members_.alive_count() <= 1)
    return std::nullopt;
  auto snap = members_.snapshot();
  std::vector<node_id> ids;
  ids.reserve(snap->members.size());
  for (const auto& m : snap->members)
    ids.push_back(m.id);
  auto sent = ops_.in_flight(ids);
  // This node's actors weigh here as they do in the load it reports to others.
  const auto actors_here = static_cast<double>(host_.live_count());
  std::vector<placement_candidate> nodes;
  nodes.reserve(snap->members.size());
  for (std::size_t i = 0; i < snap->members.size(); ++i) {
    const auto& m = snap->members[i];
    nodes.push_back({m.id, m.total, m.id == self_ ? actors_here : m.load + static_cast<double>(sent[i])});
  }
  placement_request req{demand, p, for_actor, {}};
  if (args) {
    // Bytes of the arguments' objects on each node: values owned here count for
    // this node, large results for the node holding them.
    std::vector<detail::object_cell*> deps;
    args->dependencies(deps);
    std::unordered_map<node_id, std::uint64_t> bytes;
    for (auto* c : deps) {
      std::lock_guard<std::mutex> guard{c->mu};
      if (c->remote)
        bytes[c->remote->node] += c->remote->size;
      else
        bytes[self_] += c->bytes;
    }
    req.argument_bytes.assign(bytes.begin(), bytes.end());
  }
  auto d = choose_node(nodes, self_, sched_.stats(), req,
                       p.strategy == scheduling_strategy::spread ? spread_turn_.fetch_add(1, std::memory_order_relaxed)
                                                                 : 0);
  switch (d.at) {
    case placement_decision::where::node:
      return d.node;
    case placement_decision::where::nowhere:
      if (nowhere)
        *nowhere = true;
      return std::nullopt;
    case placement_decision::where::here:
      break;
  }
  return std::nullopt;
}

std::vector<node_id> placer::place_bundles(const std::vector<std::map<std::string, double>>& bundles,
                                           scheduling_strategy strategy, bool room_only,
                                           const std::vector<bundle_claim>& claims) {
  auto local = sched_.stats();
  std::vector<bundle_room> rooms;
  // The snapshot is held for the loop: a view that arrives meanwhile replaces it.
  const auto snap = members_.snapshot();
  for (const auto& m : snap->members)
    if (!m.driver)
      rooms.push_back({m.id, m.id == self_ ? local.available : m.available, m.total});
  if (rooms.empty())
    rooms.push_back({self_, local.available, local.total});
  for (const auto& c : claims)
    for (auto& room : rooms)
      if (room.id == c.node) {
        room.holds_group = room.holds_group || c.same_group;
        if (!c.reported)
          room.free.subtract(c.resources);
      }
  std::vector<resource_set> demands;
  for (const auto& b : bundles)
    demands.push_back(resource_set::from(0, b));
  return runtime::place_bundles(std::move(rooms), demands, strategy, room_only);
}

} // namespace actors::runtime
