#pragma once

#include "runtime/scheduler/resources.hpp"

#include "actors/cluster.hpp"
#include "actors/detail/runtime.hpp"
#include "actors/ids.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace caf {
class actor;
class actor_system;
} // namespace caf

namespace actors::runtime {

class node;
class control_store;

/// Why a serving node stops serving.
enum class stop_cause {
  /// `actors stop`, a signal, or the head of a local cluster shutting down.
  requested,
  /// The head went away and did not come back in time.
  head_gone,
  /// A service actor of this node died and could not be restarted in place.
  service_failed,
  /// The head declared this node dead while it was unreachable (frozen, or cut
  /// off longer than the heartbeat timeout); it may start again as a new node.
  declared_dead,
};

/// This node's place in the cluster: its endpoint actor (which other nodes send
/// tasks, actor calls and object fetches to), its copy of the head's node table,
/// placement over that table, and the remote operations this node has in flight,
/// which it fails or re-runs when their node dies. Safe for concurrent use.
class cluster {
 public:
  cluster(node& n, caf::actor_system& sys);
  ~cluster();

  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  /// Head only: serves the control store on `bind`:`port` (0 picks a free port)
  /// so that nodes and drivers can join. Returns the port. Throws actors::error if
  /// the port cannot be opened.
  std::uint16_t listen(control_store& control, const std::string& bind, std::uint16_t port);

  /// The node endpoint actor (for the node's supervisor).
  caf::actor endpoint() const;

  /// Head or embedded node: its control-store actor died and `fresh` was started
  /// in its place; serves `fresh` on the head's port and joins it again with
  /// this node's id (the other nodes reconnect by themselves). False, logged, if
  /// that fails.
  bool take_restarted_control(const caf::actor& fresh);

  /// Stops serving: the node's supervisor gave up on a service (`why`).
  void service_failed(const std::string& why);

  /// Makes this node a member of the cluster whose control store `control` talks
  /// to: opens a port on `bind` for other nodes (unless `reachable` is false, for a
  /// node alone in its process), shows the node's token, and waits for the first
  /// node table. Throws actors::error with the head's reason if refused.
  void join(control_store& control, const std::string& bind,
            bool reachable, bool head, bool driver, int metrics_port);

  /// Where to run work with `demand`: nullopt for this node, else another node.
  /// This node while it has room (tasks), else the node holding most of the
  /// arguments' bytes, else the least loaded. Throws actors::error for a hard node
  /// affinity that cannot be met.
  /// `nowhere` (if given) is set when no node of the cluster can take it yet.
  std::optional<node_id> place(const resource_set& demand, const detail::placement_options& p,
                               bool for_actor, const detail::args_holder* args = nullptr,
                               bool* nowhere = nullptr);

  /// Holds a task that no node can take yet; it is placed as soon as a node that
  /// can joins (or gains the resources). Returns the retained cell of its result.
  detail::object_cell* park_task(const detail::function_entry& fn, detail::args_ptr args,
                                 detail::task_options opts);

  /// Sends a task to node `where`; returns the retained cell of its result.
  detail::object_cell* submit_remote_task(node_id where, const detail::function_entry& fn,
                                          detail::args_ptr args, detail::task_options opts);

  /// Has node `where` create an actor with id `id`. Throws actors::error if it
  /// refuses or cannot be reached.
  void create_remote_actor(node_id where, const detail::function_entry& factory,
                           const detail::args_holder& args, const detail::actor_options& opts,
                           const actor_id& id);

  /// Sends a method call to the node hosting remote actor `a`.
  detail::object_cell* call_remote_actor(detail::actor_cell* a, const detail::method_entry& m,
                                         detail::args_ptr args);

  /// Kills remote actor `a`; returns once its node has done it.
  void kill_remote_actor(detail::actor_cell* a, bool no_restart);

  /// The cell standing in for an object owned by another node, fetching its value.
  detail::object_cell* resolve_foreign(const object_id& id);

  /// Starts reserving a placement group's bundles on the nodes that fit them;
  /// returns its id.
  std::string create_group(const std::vector<std::map<std::string, double>>& bundles,
                           scheduling_strategy strategy);
  /// True once every bundle of the group is reserved.
  bool wait_group(const std::string& id, std::chrono::milliseconds timeout);
  /// Gives the group's resources back on every node.
  void remove_group(const std::string& id);

  /// The node table, head first.
  std::vector<node_info> nodes() const;

  /// Waits until `count` nodes are alive; false on timeout.
  bool wait_for_nodes(std::size_t count, std::chrono::milliseconds timeout);

  /// Blocks until this node stops serving, and says why.
  stop_cause wait_until_stopped();

  /// Asks every node of the cluster to stop (needs the token).
  bool stop_cluster(const std::string& token);

  /// Wakes wait_until_stopped on this node (a signal asked it to stop).
  void request_stop();

  /// Stops the endpoint; fails every remote operation still in flight.
  void stop();

  /// Messages and payload bytes exchanged with other nodes.
  struct traffic_counts {
    std::uint64_t messages_sent = 0;
    std::uint64_t messages_received = 0;
    std::uint64_t bytes_sent = 0;
    std::uint64_t bytes_received = 0;
  };
  traffic_counts traffic() const;

  /// Prometheus http_sd_configs JSON: one target group per live node with a
  /// metrics endpoint.
  std::string discovery_json() const;

  /// Called (on the endpoint's thread) after each change of the node table.
  void on_view_change(std::function<void()> fn);

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

/// The name under which a bundle offers a resource it reserved, e.g.
/// CPU_pg_<group>_<index>.
std::string bundle_resource(const std::string& resource, const std::string& group, std::size_t index);

/// Connects to the control store served at `address` ("host:port"). Throws
/// actors::error saying what to check if nothing answers there.
std::unique_ptr<control_store> connect_control_store(caf::actor_system& sys, const std::string& address);

} // namespace actors::runtime
