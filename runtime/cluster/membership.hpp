#pragma once

#include "runtime/cluster/local_parts.hpp"
#include "runtime/cluster/transport.hpp"
#include "runtime/common/one_shot_threads.hpp"
#include "runtime/scheduler/resources.hpp"
#include "runtime/wire/protocol.hpp"

#include "actors/ids.hpp"
#include "actors/nodes.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace actors::runtime {

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

/// The head's answer to a join request.
struct join_answer {
  bool answered = false;
  bool accepted = false;
  wire::join_refusal refusal = wire::join_refusal::none;
  std::string reason;
};

/// How membership talks to the control store on the head. Safe for concurrent use.
class head_link {
 public:
  virtual ~head_link() = default;
  /// Asks the control store to take this node as `rec`; blocks up to 10 s.
  virtual join_answer join(const wire::node_record& rec) = 0;
  /// The head went away: connects to its address again and asks it to take this
  /// node back as `rec`; on acceptance the new connection is the one used from
  /// then on. Nullopt, with `why`, if no head answers there.
  virtual std::optional<join_answer> reconnect(const wire::node_record& rec, std::string& why) = 0;
  /// Tells the control store what this node has free now (one way).
  virtual void report(const wire::node_report& rep) = 0;
  /// The connection to the head closed: requests to it wait for reconnect.
  virtual void lost() = 0;
  /// Asks the control store whether it holds node `self` alive; calls (on
  /// another thread) `on_dead` if it does not, `on_silence` if no answer comes
  /// within `timeout`. A node cut off longer than the heartbeat timeout may still
  /// reach the head (through another node, or over a connection that this side
  /// takes for open) and never hear that it was declared dead; this tells it. At
  /// most one probe at a time.
  virtual void probe(const node_id& self, std::chrono::milliseconds timeout, std::function<void()> on_silence,
                     std::function<void()> on_dead) {
    (void)self;
    (void)timeout;
    (void)on_silence;
    (void)on_dead;
  }
  /// No probe calls back from now on.
  virtual void stop_probing() {}
};

/// Told about changes of membership, in the order the listeners were added.
class membership_listener {
 public:
  virtual ~membership_listener() = default;
  /// Node `id` died, or this node lost it (`why`).
  virtual void node_lost(const node_id& id, const std::string& why);
  /// Node `id` is gone for good: the head's node table holds it dead (an id never
  /// comes back) and this process's connection to it closed. A node the head
  /// holds dead but this process still reaches (a driver cut off from the head
  /// only) goes on, and so does what it owns. What it owned here may go.
  virtual void node_gone_for_good(const node_id& id);
  /// The node table changed: placement may find room now.
  virtual void view_changed();
  /// This process can no longer get work run elsewhere (`why`).
  virtual void cut_off(const std::string& why);
  /// This node joined a restarted head again under its id.
  virtual void rejoined();
};

/// Work a part of this process holds because no live node can take it now (an
/// owner's parked tasks): reported to the head as demand for the autoscaler.
class demand_source {
 public:
  virtual ~demand_source() = default;
  /// Adds the waiting work to `shapes`, counted by demand shape.
  virtual void count_waiting(std::map<std::map<std::string, double>, std::uint64_t>& shapes) const = 0;
};

/// One live node that work can be sent to, as placement sees it.
struct member {
  node_id id;
  std::string address;
  resource_set total;
  resource_set available;
  /// Tasks and actor calls queued or running there at its last report.
  double load = 0;
  bool head = false;
  bool driver = false;
};

/// The live members that work can be sent to, at one version of the node table.
/// Immutable; a new one is made at each change.
struct cluster_snapshot {
  std::vector<member> members;
};

/// This node's membership in its cluster: it joins the head, keeps a copy of the
/// head's node table, tells listeners when a node dies, reconnects when the head
/// goes away (and joins it again under its id, or stops), reports what this node
/// has free, and knows why this node stops serving. Safe for concurrent use.
class membership {
 public:
  /// `links` tells which nodes have a known endpoint, and asks a driver's peers
  /// whether they serve once the head is gone for good. Every reference must
  /// outlive this object.
  membership(local_parts local, cluster_settings settings, head_link& head, transport& links);
  ~membership();

  membership(const membership&) = delete;
  membership& operator=(const membership&) = delete;

  /// Adds a listener; add them all before join.
  void add_listener(membership_listener& listener);

  /// Adds a source of the demand report() sends; add them all before join.
  void add_demand_source(const demand_source& source);

  /// Joins as `rec` and waits for the first node table that lists this node.
  /// Throws actors::error with the head's reason if refused or unanswered.
  void join(const wire::node_record& rec);

  /// Joins the head again under this node's id (its control store was restarted
  /// in place). False with `answer` saying why if it refused.
  bool rejoin(join_answer& answer);

  /// A node table from the head. Older versions are ignored; a node this
  /// process knows dead stays dead; listeners hear of newly dead nodes.
  void apply_view(wire::cluster_view view);

  /// Node `id` is gone (`why`): marked dead, and every listener told, once.
  void node_down(const node_id& id, const std::string& why);
  /// This process's connection to node `id` closed: node_down, and the node is
  /// gone for good once the head's table holds it dead too.
  void connection_closed(const node_id& id);

  /// The connection to the head closed. Work between live nodes goes on; a
  /// thread reconnects, or this node stops (drivers go on without the head).
  void head_lost();

  /// Sends the head this node's resources, load, the work waiting here and what
  /// keeps it from being idle (actors, objects).
  void report();

  bool is_dead(const node_id& id) const;

  /// Alive nodes in the table: placement has nothing to decide while it is 1.
  std::size_t alive_count() const noexcept {
    return alive_count_.load(std::memory_order_relaxed);
  }

  /// The live members work can be sent to now.
  std::shared_ptr<const cluster_snapshot> snapshot() const;

  /// Whether node `id`'s total, as this node's table has it, lists `resource`.
  bool offers(const node_id& id, const std::string& resource) const;

  /// Node `id`'s record in the table, if it is there.
  std::optional<wire::node_record> record(const node_id& id) const;

  /// The node table, head first.
  std::vector<node_info> nodes() const;

  /// The node table's records (dead ones included).
  std::vector<wire::node_record> records() const;

  /// Waits until `count` nodes are alive; false on timeout.
  bool wait_for_nodes(std::size_t count, std::chrono::milliseconds timeout);

  /// Blocks until this node stops serving, and says why.
  stop_cause wait_until_stopped();

  /// Wakes wait_until_stopped with `cause` (the first cause given wins).
  void end_serving(stop_cause cause = stop_cause::requested);

  /// True once stop() began.
  bool stopping() const;

  /// Stops reconnecting to the head; waits for that thread.
  void stop();

  /// Prometheus http_sd_configs JSON: one target group per live node with a
  /// metrics endpoint.
  std::string discovery_json() const;

 private:
  template <class F>
  void tell(F&& f);
  void rebuild_snapshot_locked();
  void give_up_on_head(const std::string& why);
  /// The head declared this node dead: a serving node starts again as a new
  /// node, a driver is cut off from the cluster.
  void declared_dead_by_head();
  void reconnect_to_head();
  /// A driver without its head: takes each peer that stops answering for dead.
  void watch_peers_without_head();
  wire::node_record current_record() const;

  const local_parts local_;
  const cluster_settings settings_;
  head_link& head_;
  transport& links_;
  std::vector<membership_listener*> listeners_;
  std::vector<const demand_source*> demand_sources_;
  std::atomic<std::size_t> alive_count_{0};

  // Guards everything below.
  mutable std::mutex mu_;
  std::condition_variable changed_;
  wire::cluster_view view_;
  std::set<node_id> dead_;
  std::shared_ptr<const cluster_snapshot> snapshot_ = std::make_shared<cluster_snapshot>();
  // Nodes the head's table held dead, nodes whose connection closed here, and
  // those both, of which the listeners were told (node_gone_for_good).
  std::set<node_id> held_dead_by_head_;
  std::set<node_id> connection_closed_;
  std::set<node_id> gone_for_good_;
  // This node as it joined, to join again with the same id when the head restarts.
  wire::node_record joined_as_;
  bool reconnecting_ = false;
  // Times the head was lost: a probe sent before the last loss went to a head
  // that is gone, and its silence says nothing of the one rejoined since.
  std::uint64_t head_losses_ = 0;
  // Reports sent: every tenth also probes the head (a member's).
  std::uint64_t reports_ = 0;
  // The head declared this node dead (handled once).
  bool declared_dead_ = false;
  // The threads that reconnected (or reconnect) to the head, and a driver's
  // watch of its peers once the head is gone; stop waits for them.
  one_shot_threads reconnectors_;
  bool stopped_ = false;
  stop_cause why_stopped_ = stop_cause::requested;
  bool stopping_ = false;
};

} // namespace actors::runtime
