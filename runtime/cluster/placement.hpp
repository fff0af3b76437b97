#pragma once

#include "runtime/scheduler/resources.hpp"
#include "runtime/scheduler/scheduler.hpp"

#include "actors/detail/runtime.hpp"
#include "actors/ids.hpp"
#include "actors/scheduling.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace actors::runtime {

class actor_host;
class membership;
class operations;

// -- placement as pure functions ------------------------------------------------------

/// A live node that work can be sent to, as placement weighs it.
struct placement_candidate {
  node_id id;
  resource_set total;
  /// Work queued or running there: its last report (tasks and actors) plus what
  /// this node sent it since. For this node only its actors: its tasks come
  /// from its scheduler's current figures.
  double load = 0;
};

/// What to place.
struct placement_request {
  resource_set demand;
  detail::placement_options options;
  /// Actors are placed by load only; tasks stay on this node while it has room.
  bool for_actor = false;
  /// Bytes of the arguments' objects on each node.
  std::vector<std::pair<node_id, std::uint64_t>> argument_bytes;
};

/// Where work goes: `here`, `node`, or nowhere yet (no live node can take it).
struct placement_decision {
  enum class where { here, node, nowhere } at = where::here;
  node_id node;
};

/// Arguments larger than this on one node draw a task there.
inline constexpr std::uint64_t locality_threshold = 64 * 1024;

/// Picks a node for `req` among `nodes` (this node `self` among them, with its
/// current figures `local`): this node while it has room (tasks), else the node
/// holding most of the arguments' bytes (more than locality_threshold), else the
/// least loaded that fits; `spread` takes the nodes that fit in turn
/// (`spread_turn`), and a node affinity comes first. Throws actors::error for a
/// hard affinity that cannot be met.
placement_decision choose_node(const std::vector<placement_candidate>& nodes, const node_id& self,
                               const scheduler_stats& local, const placement_request& req,
                               std::uint64_t spread_turn);

/// A node's room for placement-group bundles.
struct bundle_room {
  node_id id;
  resource_set free;
  resource_set total;
  /// Holds a bundle of the same group already: SPREAD goes elsewhere first.
  bool holds_group = false;
};

/// A bundle this process has sent to a node: its resources come off the node's
/// free room until the node's report shows them taken.
struct bundle_claim {
  node_id node;
  resource_set resources;
  /// The node's report shows the bundle reserved.
  bool reported = false;
  /// Of the group being placed.
  bool same_group = false;
};

/// Picks a node for each bundle (a zero id for a bundle no node can ever hold).
/// PACK puts the bundles on as few nodes as possible: all on one node if one has
/// room for all of them (the one left with the least room), else on the nodes
/// that take the most of them first. SPREAD puts each on a node of its own while
/// there are nodes with room. STRICT_PACK puts all on one node (the one that
/// already holds some of the group, if one does) or none anywhere; STRICT_SPREAD
/// puts each on a node holding no other bundle of the group, or leaves it out. A
/// bundle no node has free room for goes to a node whose total can hold it (it
/// waits there for room), under the same rules, unless `room_only`: then it gets
/// none.
std::vector<node_id> place_bundles(std::vector<bundle_room> nodes, const std::vector<resource_set>& bundles,
                                   scheduling_strategy strategy, bool room_only = false);

// -- placement over this node's view of the cluster ------------------------------------

/// Placement for work submitted on this node: gathers the node table, the
/// requests in flight, this node's figures and the arguments' locations, and
/// applies the functions above. Safe for concurrent use.
class placer {
 public:
  placer(node_id self, scheduler& sched, const actor_host& host, const membership& members, const operations& ops)
    : self_(self), sched_(sched), host_(host), members_(members), ops_(ops) {}

  /// Where to run work with `demand`: nullopt for this node, else another node.
  /// `nowhere` (if given) is set when no node of the cluster can take it yet.
  /// Throws actors::error for a hard node affinity that cannot be met.
  std::optional<node_id> place(const resource_set& demand, const detail::placement_options& p, bool for_actor,
                               const detail::args_holder* args = nullptr, bool* nowhere = nullptr);

  /// A node for each bundle of a placement group (zero: none can hold it; with
  /// `room_only`, none has room for it now), given the bundles already sent.
  std::vector<node_id> place_bundles(const std::vector<std::map<std::string, double>>& bundles,
                                     scheduling_strategy strategy, bool room_only = false,
                                     const std::vector<bundle_claim>& claims = {});

 private:
  const node_id self_;
  scheduler& sched_;
  const actor_host& host_;
  const membership& members_;
  const operations& ops_;
  std::atomic<std::uint64_t> spread_turn_{0};
};

} // namespace actors::runtime
