#include "runtime/cluster/cluster.hpp"

#include "runtime/cluster/protocol.hpp"
#include "runtime/common/log.hpp"
#include "runtime/common/service_actor.hpp"
#include "runtime/control_store/control_store.hpp"
#include "runtime/control_store/messages.hpp"
#include "runtime/node/node.hpp"
#include "runtime/scheduler/dependencies.hpp"
#include "runtime/scheduler/local_tasks.hpp"

#include "actors/errors.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <unistd.h>
#include <unordered_map>

namespace actors::runtime {

std::string bundle_resource(const std::string& resource, const std::string& group, std::size_t index);

namespace {

// Arguments larger than this are refused (a sender cannot make a node allocate
// without bound).
constexpr std::uint64_t max_upload_bytes = std::uint64_t{16} << 30;

// Every bundle offers this much of a marker resource, and everything that runs in
// it takes a thousandth: so work with no other demand still lands on the bundle's
// node.
constexpr double bundle_marker_total = 1000;

using namespace msg;

std::pair<std::string, std::uint16_t> split_address(const std::string& address);

// How often this node tells the head what it has free.
constexpr auto report_interval = std::chrono::milliseconds(100);
// Requests that block a user thread (actor creation and kill) give up after this.
constexpr auto blocking_timeout = std::chrono::seconds(10);

std::map<std::string, double> to_map(const resource_set& r) {
  std::map<std::string, double> m{{"CPU", r.cpu}};
  for (const auto& [name, amount] : r.custom)
    m[name] = amount;
  return m;
}

resource_set from_map(const std::map<std::string, double>& m) {
  resource_set r;
  for (const auto& [name, amount] : m) {
    if (name == "CPU")
      r.cpu = amount;
    else
      r.custom.emplace_back(name, amount);
  }
  return r;
}

/// The encoded value of a ready cell held here, and its type; throws if it has no
/// encoding.
std::pair<std::string, std::string> encoded_value(object_store& store, detail::object_cell* c) {
  const detail::type_ops* ops = nullptr;
  {
    std::lock_guard<std::mutex> guard{c->mu};
    if (!c->value.value && c->encoded)
      return {c->encoded->type_name, c->encoded->bytes};
    ops = c->value.value ? c->value.ops : c->spilled ? c->spilled->ops : nullptr;
  }
  auto value = store.value(c, ops);
  if (!ops->encode)
    detail::throw_not_serializable(ops->name);
  return {ops->name, ops->encode(value.get())};
}

} // namespace

/// One fetch of an object's bytes from the node holding it, in chunks.
struct fetch_state {
  /// The object's id on the node asked, and that node; a redirect changes both.
  object_id id;
  node_id holder;
  std::string type_name;
  std::uint64_t size = 0;
  std::string buffer;
  std::uint64_t received = 0;
  std::uint64_t next_offset = 0;
  bool finished = false;
  /// Called once, on success or failure.
  std::function<void(bool ok, std::string type, std::string bytes, detail::failure why)> done;
};

/// A thread waiting for a fetch into a cell whose value another node holds.
struct fetch_wait {
  bool finished = false;
  bool ok = false;
  detail::failure why;
};

/// One remote operation this node waits for.
struct pending_op {
  enum class kind { task, actor_call, fetch, bundle } what;
  node_id target;
  detail::object_cell* result = nullptr; // retained until settled
  // For fetches: the transfer this chunk belongs to.
  std::shared_ptr<fetch_state> fetch;
  // For bundle reservations: which one.
  std::string group;
  std::uint32_t bundle = 0;
  // For actor calls: the call, to send again to a restarted actor.
  actor_id actor;
  std::string call;
  // For tasks, what it takes to run them again elsewhere.
  const detail::function_entry* fn = nullptr;
  detail::args_ptr args;
  detail::task_options opts;
  int attempt = 0;
  std::string label;
};

struct endpoint_state {
  cluster::impl* owner = nullptr;
  std::uint64_t shutdown_key = 0;
  std::set<caf::actor_addr> monitored;
  static inline const char* name = "actors.node_endpoint";
};

using endpoint_actor = caf::stateful_actor<endpoint_state>;

struct cluster::impl {
  node& n;
  caf::actor_system& sys;
  caf::actor endpoint;
  std::uint64_t endpoint_shutdown_key = new_shutdown_key();
  caf::actor control; // the control store, local or on the head; guarded by mu
  control_store* control_client = nullptr;
  std::string address;
  std::atomic<std::uint64_t> next_key{1};
  std::atomic<std::uint64_t> round_robin{0};
  // Messages and payload bytes exchanged with other nodes.
  std::atomic<std::uint64_t> messages_sent{0};
  std::atomic<std::uint64_t> messages_received{0};
  std::atomic<std::uint64_t> bytes_sent{0};
  std::atomic<std::uint64_t> bytes_received{0};
  std::function<void()> view_changed;
  // Alive nodes in the table: placement has nothing to decide while it is 1.
  std::atomic<std::size_t> alive_count{0};

  // Guards everything below.
  mutable std::mutex mu;
  std::condition_variable changed;
  wire::cluster_view view;
  std::vector<caf::actor> endpoints;
  std::set<node_id> dead;
  std::unordered_map<std::uint64_t, pending_op> ops;
  std::unordered_map<node_id, std::uint64_t> in_flight;
  // Actors hosted here on behalf of the remote node that created them.
  std::unordered_map<actor_id, detail::actor_cell*> creator_holds;
  // Large results kept here for the node that owns them, until it drops them.
  struct held_object {
    detail::object_cell* cell;
    node_id owner;
  };
  std::unordered_map<object_id, held_object> held;
  // Encodings of values being sent in chunks, so that each chunk does not encode
  // again; dropped after the last chunk.
  std::unordered_map<object_id, std::shared_ptr<const std::string>> transfers;
  // Peers this node opened (or is opening) a direct connection to, and the threads
  // doing it (connecting blocks).
  std::set<node_id> connected;
  std::vector<std::thread> connectors;
  // Actors this node created on other nodes: what it takes to build them again
  // elsewhere when their node dies (up to max_restarts).
  struct created_actor {
    const detail::function_entry* factory = nullptr;
    std::string args;
    detail::actor_options opts;
    int restarts = 0;
    node_id location;
    bool restarting = false;
    std::string death;                 // set once it is dead for good
    std::vector<std::string> waiting;  // calls made while it restarts (encoded)
    std::vector<std::uint64_t> waiting_keys;
    int call_retries_left = 0;
  };
  std::unordered_map<actor_id, created_actor> created;
  std::vector<std::thread> restarters;
  // This node as it joined, to join again with the same id when the head restarts.
  wire::node_record joined_as;
  // Head: where the control store is served (set by listen).
  std::string listen_bind;
  std::uint16_t listen_port = 0;
  caf::actor served_control;
  // A thread (in restarters) reconnects to the head, which went away.
  bool reconnecting = false;
  // Lineage of large results held on other nodes, by (holder, id there): the
  // task that made each, to run again if the holder dies. The arguments are kept,
  // and with them the objects (and their lineage) they name.
  struct lineage_entry {
    const detail::function_entry* fn = nullptr;
    std::shared_ptr<detail::args_holder> args;
    detail::task_options opts;
    int attempts = 0;
  };
  std::map<std::pair<node_id, object_id>, lineage_entry> lineage;
  // Objects owned here that other nodes borrow: one hold per borrow.
  std::map<std::pair<object_id, node_id>, std::vector<detail::object_cell*>> borrowed;
  // Arguments arriving in chunks ahead of their request, by sender and key.
  std::map<std::pair<caf::actor_addr, std::uint64_t>, std::string> uploads;
  // Tasks no node can take yet: placed again whenever the node table changes.
  std::vector<pending_op> parked;
  // Why work this process cannot run itself will never run (empty while it can):
  // a driver the head declared dead is cut off from its cluster.
  std::string cut_off;
  // Placement groups this node created: where each bundle went and whether it is
  // reserved yet.
  struct group_state {
    std::vector<std::map<std::string, double>> bundles;
    std::vector<node_id> nodes;
    std::vector<bool> reserved;
    std::string failure;
  };
  std::unordered_map<std::string, group_state> groups;
  // Bundles reserved on this node: what they took and what they offer renamed.
  struct bundle_hold {
    resource_set taken;
    resource_set offered;
    bool active = false;
    bool removed = false;
  };
  std::map<std::pair<std::string, std::uint32_t>, bundle_hold> bundles;
  // Fetches into cells whose value another node holds: one per cell at a time.
  std::unordered_map<detail::object_cell*, std::shared_ptr<fetch_wait>> located_fetches;
  bool stopped = false;
  stop_cause why_stopped = stop_cause::requested;
  bool stopping = false;

  impl(node& n, caf::actor_system& sys) : n(n), sys(sys) {}

  // -- the node table ---------------------------------------------------------------

  caf::actor endpoint_of_locked(const node_id& id) const {
    for (std::size_t i = 0; i < view.nodes.size(); ++i)
      if (view.nodes[i].id == id && view.nodes[i].alive)
        return endpoints[i];
    return {};
  }

  caf::actor control_actor() const {
    std::lock_guard<std::mutex> guard{mu};
    return control;
  }

  /// Whether work can be sent to the node at index `i` of the table: alive, and
  /// either this node or one whose endpoint is known. (A restarted head lists the
  /// nodes it knew as alive, without an endpoint, until they join it again.)
  bool reachable_locked(std::size_t i) const {
    return view.nodes[i].alive && (view.nodes[i].id == n.id || endpoints[i]);
  }

  void apply_view(endpoint_actor* self, const std::string& blob, const std::vector<caf::actor>& eps) {
    wire::cluster_view v;
    try {
      v = wire::unpack<wire::cluster_view>(blob, "node table");
    } catch (const std::exception& e) {
      log(log_level::warning, "cluster", e.what());
      return;
    }
    if (eps.size() != v.nodes.size())
      return;
    std::vector<node_id> newly_dead;
    {
      std::lock_guard<std::mutex> guard{mu};
      if (v.version < view.version)
        return;
      // A node that has not joined the restarted head yet keeps the endpoint we
      // know for it: work between live nodes goes on while the head is away.
      auto merged = eps;
      for (std::size_t i = 0; i < merged.size(); ++i)
        if (!merged[i] && v.nodes[i].alive)
          for (std::size_t j = 0; j < view.nodes.size(); ++j)
            if (view.nodes[j].id == v.nodes[i].id && view.nodes[j].alive)
              merged[i] = endpoints[j];
      // A node this process knows dead stays dead, even while a restarted head
      // still waits for it to join again: ids do not come back.
      for (auto& rec : v.nodes)
        if (rec.alive && dead.count(rec.id))
          rec.alive = false;
      view = std::move(v);
      endpoints = std::move(merged);
      alive_count.store(static_cast<std::size_t>(
        std::count_if(view.nodes.begin(), view.nodes.end(), [](const auto& r) { return r.alive; })));
      for (const auto& rec : view.nodes)
        if (!rec.alive && !dead.count(rec.id))
          newly_dead.push_back(rec.id);
    }
    std::vector<caf::actor> known;
    {
      std::lock_guard<std::mutex> guard{mu};
      known = endpoints;
    }
    for (const auto& ep : known)
      if (ep && ep != endpoint && self->state.monitored.insert(ep.address()).second)
        self->monitor(ep);
    connect_to_peers();
    changed.notify_all();
    for (const auto& id : newly_dead)
      node_down(id, "the head declared it dead");
    place_parked();
    if (view_changed)
      view_changed();
  }

  /// Says that `name` here and at the caller are of different types.
  std::string signature_mismatch(const char* kind, const std::string& name, const char* ours,
                                 const std::string& theirs) const {
    return std::string(kind) + " '" + name + "' on node " + n.id.to_string() + " is a " + detail::demangle(ours)
           + ", but the caller's is a " + detail::demangle(theirs.c_str())
           + ": two are registered under one name; rename one";
  }

  /// A payload from another node, decoded; malformed bytes are logged (with what
  /// they should have been) and dropped, never trusted.
  template <class T>
  std::optional<T> decode_payload(const std::string& blob, const char* what) {
    received(blob);
    try {
      return wire::unpack<T>(blob, what);
    } catch (const std::exception& e) {
      log(log_level::warning, "cluster", e.what());
      return std::nullopt;
    }
  }

  /// Counts a payload going to another node.
  const std::string& sent(const std::string& blob) {
    messages_sent.fetch_add(1, std::memory_order_relaxed);
    bytes_sent.fetch_add(blob.size(), std::memory_order_relaxed);
    return blob;
  }
  void received(const std::string& blob) {
    messages_received.fetch_add(1, std::memory_order_relaxed);
    bytes_received.fetch_add(blob.size(), std::memory_order_relaxed);
  }

  void park(pending_op op) {
    std::unique_lock<std::mutex> lock{mu};
    if (!cut_off.empty()) {
      auto why = cut_off;
      lock.unlock();
      fail_parked(op, why);
      return;
    }
    log(log_level::warning, "cluster", "task '", op.label, "' needs ",
        resource_set::from(op.opts.num_cpus, op.opts.resources).to_string(),
        " which no node has: it waits until a node that has it joins");
    parked.push_back(std::move(op));
  }

  void fail_parked(pending_op& op, const std::string& why) {
    n.store.settle(op.result, detail::failure{errc::object_lost, "task '" + op.label + "' cannot run: " + why, {}, {}});
    detail::release(op.result);
  }

  /// This process can no longer get work run elsewhere (`why`): what waits for a
  /// node that has the resources fails, and so does such work from now on.
  void cut_off_from_cluster(const std::string& why) {
    std::vector<pending_op> waiting;
    {
      std::lock_guard<std::mutex> guard{mu};
      cut_off = why;
      waiting.swap(parked);
    }
    for (auto& op : waiting)
      fail_parked(op, why);
    n.sched.no_more_nodes(why);
  }

  void place_parked() {
    std::vector<pending_op> todo;
    {
      std::lock_guard<std::mutex> guard{mu};
      if (parked.empty())
        return;
      todo.swap(parked);
    }
    for (auto& op : todo) {
      bool nowhere = false;
      std::optional<node_id> where;
      try {
        where = place_impl(resource_set::from(op.opts.num_cpus, op.opts.resources), op.opts.placement, false,
                           op.args.get(), &nowhere);
      } catch (const std::exception& e) {
        n.store.settle(op.result, detail::failure{errc::invalid_argument, e.what(), {}, {}});
        detail::release(op.result);
        continue;
      }
      if (nowhere) {
        std::lock_guard<std::mutex> guard{mu};
        parked.push_back(std::move(op));
      } else if (!where) {
        submit_local_task(n.store, n.sched, n.tasks, n.id, *op.fn, std::move(op.args), op.opts, op.result);
      } else {
        auto shared = std::make_shared<pending_op>(std::move(op));
        const auto& args_ref = *shared->args;
        auto target = *where;
        when_ready(args_ref, [this, target, shared] { send_task(target, std::move(*shared)); });
      }
    }
  }

  /// Opens a direct connection to every live peer that has none yet, so that
  /// messages to it do not go through the head. Of two peers only the one with the
  /// smaller id connects: when both did at once, CAF kept one of the two
  /// connections and closed the other, and the close took the peer for dead. The
  /// head is left out: every node is connected to it already.
  void connect_to_peers() {
    std::lock_guard<std::mutex> guard{mu};
    if (stopping || address == "in-process")
      return;
    for (std::size_t i = 0; i < view.nodes.size(); ++i) {
      const auto& rec = view.nodes[i];
      if (!reachable_locked(i) || rec.id == n.id || rec.head || rec.id.value < n.id.value
          || rec.address == "in-process" || !connected.insert(rec.id).second)
        continue;
      auto colon = rec.address.rfind(':');
      if (colon == std::string::npos)
        continue;
      auto host = rec.address.substr(0, colon);
      auto port = static_cast<std::uint16_t>(std::stoi(rec.address.substr(colon + 1)));
      connectors.emplace_back([this, host, port, id = rec.id] {
        auto res = sys.middleman().connect(host, port);
        if (!res)
          log(log_level::info, "cluster", "no direct connection to node ", id.to_string(), " at ", host, ":",
              port, " (", sys.render(res.error()), "); messages go through the head");
      });
    }
  }

  void on_down(const caf::actor_addr& who) {
    if (auto c = control_actor(); c && who == c.address()) {
      head_lost();
      return;
    }
    node_id id;
    {
      std::lock_guard<std::mutex> guard{mu};
      for (std::size_t i = 0; i < endpoints.size(); ++i)
        if (endpoints[i] && endpoints[i].address() == who)
          id = view.nodes[i].id;
    }
    if (id.value)
      node_down(id, "its connection closed");
  }

  // -- remote operations this node waits for -----------------------------------------

  /// Registers an op; if its node is already known dead, handles that at once.
  /// `key` 0 draws a fresh one.
  std::uint64_t add_op(pending_op op, std::uint64_t key = 0) {
    if (key == 0)
      key = next_key.fetch_add(1, std::memory_order_relaxed);
    bool target_dead;
    node_id target = op.target;
    {
      std::lock_guard<std::mutex> guard{mu};
      target_dead = dead.count(target) > 0 || stopping;
      ++in_flight[target];
      ops.emplace(key, std::move(op));
    }
    if (target_dead)
      node_down(target, "it died before the request could be sent");
    return key;
  }

  void on_result(const std::string& blob) {
    auto decoded = decode_payload<wire::result>(blob, "result");
    if (!decoded)
      return;
    auto& r = *decoded;
    pending_op op;
    {
      std::lock_guard<std::mutex> guard{mu};
      auto i = ops.find(r.key);
      if (i == ops.end())
        return; // answered already (its node was declared dead and it ran again)
      op = std::move(i->second);
      ops.erase(i);
      auto f = in_flight.find(op.target);
      if (f != in_flight.end() && f->second > 0)
        --f->second;
    }
    if (op.what == pending_op::kind::fetch) {
      on_chunk(op.fetch, std::move(r));
      return;
    }
    if (op.what == pending_op::kind::bundle) {
      bundle_answered(op.group, op.bundle, r.ok, r.why.message);
      return;
    }
    if (!r.ok && r.why.code == errc::object_lost && op.what == pending_op::kind::task
        && op.attempt < op.opts.max_retries && !stopping) {
      // An argument was lost with its node: run again, rebuilding it first.
      retry_task(std::move(op));
      return;
    }
    if (!r.ok) {
      n.store.settle(op.result, std::move(r.why));
    } else if (r.location.value) {
      if (op.what == pending_op::kind::task && op.fn && op.args) {
        // Lineage: what it takes to make the value again if its node dies.
        std::lock_guard<std::mutex> guard{mu};
        lineage.emplace(std::make_pair(r.location, r.remote_id),
                        lineage_entry{op.fn, std::shared_ptr<detail::args_holder>(std::move(op.args)), op.opts, 0});
      }
      n.store.settle_remote(op.result, {r.location, r.remote_id, std::move(r.type_name), r.size});
    } else {
      n.store.settle_encoded(op.result, std::move(r.type_name), std::move(r.bytes));
    }
    detail::release(op.result);
  }

  // -- lineage: making lost values again ---------------------------------------------------

  /// Runs again the task that made `c`'s value, which was held by a node that is
  /// gone, and points `c` at the new value. Blocks. False if there is no lineage
  /// or no attempt left.
  bool rebuild(detail::object_cell* c) {
    lineage_entry e;
    detail::object_cell::remote_copy old;
    {
      std::lock_guard<std::mutex> guard{c->mu};
      if (!c->remote)
        return false;
      old = *c->remote;
    }
    {
      std::lock_guard<std::mutex> guard{mu};
      auto i = lineage.find({old.node, old.id});
      if (i == lineage.end() || i->second.attempts >= i->second.opts.max_retries)
        return false;
      ++i->second.attempts;
      e = i->second;
    }
    log(log_level::warning, "cluster", "object ", c->id.to_string(), " was lost with node ", old.node.to_string(),
        "; running '", e.fn->name, "' again to make it (attempt ", e.attempts, ")");
    detail::args_ptr args;
    try {
      args = e.fn->decode_args(e.args->encode());
    } catch (const std::exception&) {
      return false;
    }
    auto* tmp = n.store.create_pending();
    detail::retain(tmp);
    pending_op op;
    op.what = pending_op::kind::task;
    op.result = tmp;
    op.fn = e.fn;
    op.args = std::move(args);
    op.opts = e.opts;
    op.opts.placement.affinity = {};
    op.label = e.fn->name;
    auto demand = resource_set::from(op.opts.num_cpus, op.opts.resources);
    std::optional<node_id> where;
    try {
      where = place_impl(demand, op.opts.placement, false, op.args.get());
    } catch (const std::exception&) {
    }
    if (where)
      send_task(*where, std::move(op));
    else
      submit_local_task(n.store, n.sched, n.tasks, n.id, *op.fn, std::move(op.args), op.opts, tmp);
    auto p = std::make_shared<std::pair<std::mutex, std::condition_variable>>();
    auto done = std::make_shared<bool>(false);
    tmp->on_settled([p, done] {
      std::lock_guard<std::mutex> guard{p->first};
      *done = true;
      p->second.notify_all();
    });
    {
      blocking_scope blocked;
      std::unique_lock<std::mutex> lock{p->first};
      p->second.wait(lock, [&] { return *done; });
    }
    bool ok = tmp->current() == detail::object_cell::state::ready;
    if (ok) {
      std::lock_guard<std::mutex> guard{c->mu};
      std::lock_guard<std::mutex> tmp_guard{tmp->mu};
      if (tmp->remote) {
        // `c` takes over the new copy: `tmp` must not drop it when it goes.
        c->remote = std::move(tmp->remote);
        std::lock_guard<std::mutex> g{mu};
        auto moved = lineage.find({c->remote->node, c->remote->id});
        if (moved != lineage.end())
          moved->second.attempts = e.attempts;
      } else if (tmp->encoded) {
        c->encoded = std::make_unique<detail::object_cell::encoded_value>(*tmp->encoded);
      } else if (tmp->value.value) {
        c->value = tmp->value;
      } else {
        ok = false;
      }
    }
    decltype(lineage)::node_type gone; // released after the lock
    {
      std::lock_guard<std::mutex> guard{mu};
      gone = lineage.extract({old.node, old.id});
    }
    detail::release(tmp);
    return ok;
  }

  /// The arguments' large objects whose holder is gone.
  std::vector<detail::object_cell*> lost_dependencies(const detail::args_holder& args) {
    std::vector<detail::object_cell*> deps;
    args.dependencies(deps);
    std::vector<detail::object_cell*> out;
    for (auto* c : deps) {
      std::lock_guard<std::mutex> guard{c->mu};
      if (c->remote && !c->value.value && !c->encoded) {
        std::lock_guard<std::mutex> g{mu};
        if (dead.count(c->remote->node))
          out.push_back(c);
      }
    }
    return out;
  }

  // -- borrowing: references to objects other nodes own ------------------------------------

  /// The cell standing in for object `id`, owned by another node; a new one tells
  /// the owner that this node borrows the object, so that the owner keeps it until
  /// this node drops it.
  detail::object_cell* foreign(const object_id& id, bool& created) {
    auto* c = n.store.find_or_make_foreign(id, created);
    if (created)
      send_borrow(id, true);
    return c;
  }

  void send_borrow(const object_id& id, bool borrow) {
    caf::actor to;
    {
      std::lock_guard<std::mutex> guard{mu};
      if (stopping)
        return;
      to = endpoint_of_locked(node_id{id.owner});
    }
    if (to)
      caf::anon_send(to, borrow_atom::value, sent(wire::pack(wire::release_request{id})), n.id.value, borrow);
  }

  /// Owner side: node `who` starts or stops borrowing object `id`.
  void on_borrow(const std::string& blob, std::uint64_t who, bool borrow) {
    auto decoded = decode_payload<wire::release_request>(blob, "borrow");
    if (!decoded)
      return;
    auto id = decoded->id;
    if (borrow) {
      auto* c = n.store.find(id); // retained: the borrow's hold
      if (!c)
        return;
      std::lock_guard<std::mutex> guard{mu};
      borrowed[{id, node_id{who}}].push_back(c);
      return;
    }
    detail::object_cell* c = nullptr;
    {
      std::lock_guard<std::mutex> guard{mu};
      auto i = borrowed.find({id, node_id{who}});
      if (i == borrowed.end() || i->second.empty())
        return;
      c = i->second.back();
      i->second.pop_back();
      if (i->second.empty())
        borrowed.erase(i);
    }
    detail::release(c);
  }

  // -- fetching values from the nodes that hold them ----------------------------------------

  /// The cell standing in for an object whose value node `obj.holder` holds: the
  /// held value itself if that is this node (shared, not copied), else fetched
  /// from the holder directly.
  detail::object_cell* adopt_located(const wire::located_object& obj) {
    bool created = false;
    auto* c = foreign(obj.id, created);
    if (!created)
      return c;
    if (obj.holder == n.id) {
      if (auto* held_cell = n.store.find(obj.remote_id)) {
        detail::value_box value;
        {
          std::lock_guard<std::mutex> guard{held_cell->mu};
          value = held_cell->value;
        }
        if (value.value)
          n.store.settle(c, std::move(value));
        detail::release(held_cell);
        if (c->current() != detail::object_cell::state::pending)
          return c;
      }
    }
    detail::retain(c); // for the fetch
    auto fs = std::make_shared<fetch_state>();
    fs->id = obj.remote_id;
    fs->holder = obj.holder;
    fs->done = [this, c](bool ok, std::string type, std::string bytes, detail::failure why) {
      if (ok)
        n.store.settle_encoded(c, std::move(type), std::move(bytes));
      else
        n.store.settle(c, std::move(why));
      detail::release(c);
    };
    start_fetch(fs);
    return c;
  }

  void start_fetch(std::shared_ptr<fetch_state> fs) {
    send_chunk_request(fs, 0);
  }

  void send_chunk_request(const std::shared_ptr<fetch_state>& fs, std::uint64_t offset) {
    pending_op op;
    op.what = pending_op::kind::fetch;
    op.target = fs->holder;
    op.fetch = fs;
    caf::actor to;
    {
      std::lock_guard<std::mutex> guard{mu};
      to = endpoint_of_locked(fs->holder);
    }
    wire::fetch_request req;
    req.id = fs->id;
    req.offset = offset;
    req.key = add_op(std::move(op));
    if (to)
      caf::anon_send(to, fetch_atom::value, sent(wire::pack(req)), endpoint);
    else
      node_down(fs->holder, "it is not in the node table");
  }

  static void finish(const std::shared_ptr<fetch_state>& fs, bool ok, detail::failure why) {
    if (fs->finished)
      return;
    fs->finished = true;
    fs->done(ok, std::move(fs->type_name), std::move(fs->buffer), std::move(why));
  }

  // Runs on the endpoint actor: chunks of one fetch arrive one at a time.
  void on_chunk(const std::shared_ptr<fetch_state>& fs, wire::result r) {
    if (fs->finished)
      return;
    if (!r.ok) {
      finish(fs, false, std::move(r.why));
      return;
    }
    if (r.location.value && r.bytes.empty() && r.size > 0) {
      // The node asked does not hold the value: it says who does.
      fs->holder = r.location;
      fs->id = r.remote_id;
      start_fetch(fs);
      return;
    }
    if (r.offset == 0) {
      fs->type_name = std::move(r.type_name);
      fs->size = r.size;
      if (r.bytes.size() >= r.size) {
        fs->buffer = std::move(r.bytes);
        finish(fs, true, {});
        return;
      }
      fs->buffer.resize(r.size);
      fs->next_offset = r.bytes.size();
      for (std::size_t i = 0; i < wire::chunk_window && fs->next_offset < fs->size; ++i) {
        send_chunk_request(fs, fs->next_offset);
        fs->next_offset += wire::chunk_size;
      }
    }
    if (r.offset + r.bytes.size() > fs->buffer.size()) {
      finish(fs, false, {errc::object_lost, "a chunk of object " + fs->id.to_string() + " does not fit its size", {}, {}});
      return;
    }
    std::copy(r.bytes.begin(), r.bytes.end(), fs->buffer.begin() + static_cast<std::ptrdiff_t>(r.offset));
    fs->received += r.bytes.size();
    if (fs->received >= fs->size) {
      finish(fs, true, {});
      return;
    }
    if (r.offset != 0 && fs->next_offset < fs->size) {
      send_chunk_request(fs, fs->next_offset);
      fs->next_offset += wire::chunk_size;
    }
  }

  /// Blocks until the value of `c` (held by another node) is here.
  void fetch_into(detail::object_cell* c) {
    std::shared_ptr<fetch_wait> w;
    bool start = false;
    detail::object_cell::remote_copy where;
    {
      std::lock_guard<std::mutex> guard{mu};
      auto& slot = located_fetches[c];
      if (!slot) {
        slot = std::make_shared<fetch_wait>();
        start = true;
      }
      w = slot;
      where = *c->remote;
    }
    if (start) {
      auto fs = std::make_shared<fetch_state>();
      fs->id = where.id;
      fs->holder = where.node;
      detail::retain(c);
      fs->done = [this, c, w](bool ok, std::string, std::string bytes, detail::failure why) {
        if (ok)
          n.store.fill(c, std::move(bytes));
        {
          std::lock_guard<std::mutex> guard{mu};
          w->finished = true;
          w->ok = ok;
          w->why = std::move(why);
          located_fetches.erase(c);
        }
        changed.notify_all();
        detail::release(c);
      };
      start_fetch(fs);
    }
    {
      blocking_scope blocked;
      std::unique_lock<std::mutex> lock{mu};
      changed.wait(lock, [&] { return w->finished; });
    }
    if (w->ok)
      return;
    // The holder is gone: make the value again from its lineage, then read it.
    if (rebuild(c))
      return;
    throw object_lost_error("cannot fetch object " + c->id.to_string() + " from node " + where.node.to_string()
                            + ", and it cannot be made again: " + w->why.message);
  }

  void drop_held_for(const detail::object_cell::remote_copy& where) {
    caf::actor to;
    decltype(lineage)::node_type gone; // its arguments are released after the lock
    {
      std::lock_guard<std::mutex> guard{mu};
      gone = lineage.extract({where.node, where.id});
      if (stopping)
        return;
      to = endpoint_of_locked(where.node);
    }
    if (to)
      caf::anon_send(to, release_atom::value, sent(wire::pack(wire::release_request{where.id})));
  }

  void serve_release(const std::string& blob) {
    auto decoded = decode_payload<wire::release_request>(blob, "release request");
    if (!decoded)
      return;
    detail::object_cell* c = nullptr;
    {
      std::lock_guard<std::mutex> guard{mu};
      auto i = held.find(decoded->id);
      if (i == held.end())
        return;
      c = i->second.cell;
      held.erase(i);
    }
    detail::release(c);
  }


  // -- restarting actors whose node died ------------------------------------------------

  /// Marks the actors created here that lived on `id` as restarting (or dead).
  /// Returns the ids to rebuild.
  std::vector<actor_id> actors_lost_locked(const node_id& id, const std::string& why) {
    std::vector<actor_id> out;
    for (auto& [aid, a] : created) {
      if (a.location != id || a.restarting || !a.death.empty())
        continue;
      if (a.restarts < a.opts.max_restarts && !stopping) {
        a.restarting = true;
        a.call_retries_left = a.opts.max_task_retries;
        out.push_back(aid);
      } else {
        a.death = "its node " + id.to_string() + " is gone (" + why + ") and it has no restarts left (max_restarts="
                  + std::to_string(a.opts.max_restarts) + ")";
      }
    }
    return out;
  }

  /// A call in flight to an actor that restarts: sent again to the new instance if
  /// its retries allow (max_task_retries). The rebuild may already be done (it
  /// runs on its own thread): then the call goes to the new node at once.
  bool requeue_call(pending_op& op) {
    caf::actor to;
    node_id target;
    std::string blob;
    {
      std::lock_guard<std::mutex> guard{mu};
      auto i = created.find(op.actor);
      if (i == created.end() || !i->second.death.empty() || i->second.call_retries_left <= 0)
        return false;
      auto& c = i->second;
      if (!c.restarting && c.location == op.target)
        return false;
      --c.call_retries_left;
      auto key = next_key.fetch_add(1, std::memory_order_relaxed);
      auto call = wire::unpack<wire::actor_call>(op.call, "actor call");
      call.key = key;
      op.call = wire::pack(call);
      if (c.restarting) {
        c.waiting.push_back(op.call);
        c.waiting_keys.push_back(key);
        ops.emplace(key, std::move(op));
        return true;
      }
      target = c.location;
      op.target = target;
      to = dead.count(target) ? caf::actor{} : endpoint_of_locked(target);
      ++in_flight[target];
      blob = op.call;
      ops.emplace(key, std::move(op));
    }
    if (to)
      caf::anon_send(to, call_actor_atom::value, sent(blob), endpoint);
    else
      node_down(target, "it is gone or not in the node table");
    return true;
  }

  void restart_actor(const actor_id& aid) {
    created_actor a;
    {
      std::lock_guard<std::mutex> guard{mu};
      a = created.at(aid);
    }
    auto demand = resource_set::from(a.opts.num_cpus, a.opts.resources);
    auto placement = a.opts.placement;
    placement.affinity = {};
    std::string why;
    std::optional<node_id> where;
    try {
      where = place_impl(demand, placement, true);
    } catch (const std::exception& e) {
      why = e.what();
    }
    bool ok = false;
    if (where) {
      wire::actor_create_request req;
      req.id = aid;
      req.factory = a.factory->name;
      req.signature = a.factory->signature;
      req.args = a.args;
      req.options = a.opts;
      req.restarts = a.restarts + 1;
      caf::actor to;
      {
        std::lock_guard<std::mutex> guard{mu};
        to = endpoint_of_locked(*where);
      }
      if (to) {
        caf::scoped_actor self{sys};
        self->request(to, blocking_timeout, create_actor_atom::value, wire::pack(req))
          .receive(
            [&](bool created_ok, const std::string& reason) {
              ok = created_ok;
              why = reason;
            },
            [&](const caf::error& e) { why = sys.render(e); });
      }
    } else if (why.empty()) {
      why = "no live node can host it";
    }
    if (auto control = control_actor(); ok && !a.opts.name.empty() && control) {
      // The name now points at the new node.
      caf::scoped_actor self{sys};
      self->request(control, blocking_timeout, name_register_atom::value, a.opts.name,
                    wire::pack(wire::named_actor{aid, a.factory->actor_class, *where}))
        .receive([](bool) {}, [](const caf::error&) {});
    }
    std::vector<std::string> calls;
    std::vector<std::uint64_t> keys;
    caf::actor to;
    {
      std::lock_guard<std::mutex> guard{mu};
      auto& c = created.at(aid);
      c.restarting = false;
      if (ok) {
        ++c.restarts;
        c.location = *where;
        to = endpoint_of_locked(*where);
        log(log_level::warning, "cluster", "actor ", aid.to_string(), " restarted on node ", where->to_string(),
            " (restart ", c.restarts, " of ", c.opts.max_restarts, ")");
      } else {
        c.death = "its node died and it could not be rebuilt: " + why;
      }
      calls.swap(c.waiting);
      keys.swap(c.waiting_keys);
      for (auto k : keys) {
        auto o = ops.find(k);
        if (o != ops.end())
          o->second.target = ok ? *where : node_id{};
      }
    }
    if (ok && to) {
      for (const auto& blob : calls)
        caf::anon_send(to, call_actor_atom::value, sent(blob), endpoint);
      return;
    }
    // Not rebuilt: the calls that waited fail.
    for (auto k : keys) {
      pending_op op;
      {
        std::lock_guard<std::mutex> guard{mu};
        auto o = ops.find(k);
        if (o == ops.end())
          continue;
        op = std::move(o->second);
        ops.erase(o);
      }
      n.store.settle(op.result, detail::failure{errc::actor_died, "actor " + aid.to_string() + " is dead: " + why, {}, {}});
      detail::release(op.result);
    }
  }

  /// Fails, or runs again elsewhere, what was in flight to a node that died.
  void node_down(const node_id& id, const std::string& why) {
    std::vector<pending_op> lost;
    std::vector<detail::object_cell*> released;
    std::vector<actor_id> to_restart;
    {
      std::lock_guard<std::mutex> guard{mu};
      to_restart = actors_lost_locked(id, why);
      for (const auto& aid : to_restart)
        restarters.emplace_back([this, aid] { restart_actor(aid); });
      if (dead.insert(id).second && id != n.id)
        log(log_level::info, "cluster", "node ", id.to_string(), " is taken for dead: ", why);
      for (auto& rec : view.nodes)
        if (rec.id == id)
          rec.alive = false;
      for (auto i = ops.begin(); i != ops.end();) {
        if (i->second.target == id) {
          lost.push_back(std::move(i->second));
          i = ops.erase(i);
        } else {
          ++i;
        }
      }
      in_flight.erase(id);
      for (auto i = borrowed.begin(); i != borrowed.end();) {
        if (i->first.second == id) {
          released.insert(released.end(), i->second.begin(), i->second.end());
          i = borrowed.erase(i);
        } else {
          ++i;
        }
      }
      for (auto i = held.begin(); i != held.end();) {
        if (i->second.owner == id) {
          released.push_back(i->second.cell);
          i = held.erase(i);
        } else {
          ++i;
        }
      }
    }
    for (auto* c : released)
      detail::release(c);
    if (!lost.empty())
      log(log_level::warning, "cluster", "node ", id.to_string(), " is gone (", why, "): ",
          lost.size(), " operations in flight there");
    for (auto& op : lost) {
      switch (op.what) {
        case pending_op::kind::task:
          if (op.attempt < op.opts.max_retries && !stopping) {
            retry_task(std::move(op));
            continue;
          }
          n.store.settle(op.result, detail::failure{errc::object_lost,
                                                    "node " + id.to_string() + " died while running task '"
                                                      + op.label + "' and it has no retries left (max_retries="
                                                      + std::to_string(op.opts.max_retries) + ")",
                                                    {}, {}});
          break;
        case pending_op::kind::actor_call:
          if (requeue_call(op))
            continue;
          n.store.settle(op.result, detail::failure{errc::actor_died,
                                                    "the actor's node " + id.to_string() + " is gone (" + why + ")",
                                                    {}, {}});
          break;
        case pending_op::kind::bundle:
          bundle_answered(op.group, op.bundle, false, "node " + id.to_string() + " is gone (" + why + ")");
          continue;
        case pending_op::kind::fetch:
          finish(op.fetch, false,
                 detail::failure{errc::object_lost,
                                 "object " + op.fetch->id.to_string() + " lived on node " + id.to_string()
                                   + ", which is gone (" + why + ")",
                                 {}, {}});
          continue;
      }
      detail::release(op.result);
    }
  }

  void retry_task(pending_op op) {
    ++op.attempt;
    auto demand = resource_set::from(op.opts.num_cpus, op.opts.resources);
    std::optional<node_id> where;
    try {
      auto placement = op.opts.placement;
      placement.affinity = {}; // the node it was bound to is gone
      where = place_impl(demand, placement, false);
    } catch (const std::exception&) {
    }
    log(log_level::info, "cluster", "running task '", op.label, "' again (attempt ", op.attempt + 1,
        ") on node ", where ? where->to_string() : n.id.to_string());
    if (!where) {
      submit_local_task(n.store, n.sched, n.tasks, n.id, *op.fn, std::move(op.args), op.opts, op.result);
      return;
    }
    send_task(*where, std::move(op));
  }

  /// Where the large ready objects the arguments refer to are held, so that the
  /// node fetches them from there (or finds them in place) without asking here.
  std::vector<wire::located_object> located_dependencies(const detail::args_holder& args) {
    std::vector<detail::object_cell*> deps;
    args.dependencies(deps);
    std::vector<wire::located_object> out;
    for (auto* c : deps) {
      std::lock_guard<std::mutex> guard{c->mu};
      if (c->current() == detail::object_cell::state::ready && c->remote && !c->value.value
          && !c->encoded)
        out.push_back({c->id, c->remote->node, c->remote->id, c->remote->type_name, c->remote->size});
    }
    return out;
  }

  /// Sends `bytes` to node endpoint `to` in chunks under `key`, for the request
  /// with that key which follows (messages from one sender arrive in order).
  void upload(const caf::actor& to, std::uint64_t key, const std::string& bytes) {
    for (std::size_t offset = 0; offset < bytes.size(); offset += wire::chunk_size) {
      auto len = std::min(wire::chunk_size, bytes.size() - offset);
      messages_sent.fetch_add(1, std::memory_order_relaxed);
      bytes_sent.fetch_add(len, std::memory_order_relaxed);
      caf::anon_send(to, upload_atom::value, endpoint, key, static_cast<std::uint64_t>(bytes.size()),
                     static_cast<std::uint64_t>(offset), bytes.substr(offset, len));
    }
  }

  /// A chunk of the arguments of a request still to come (endpoint thread).
  void on_upload(const caf::actor& from, std::uint64_t key, std::uint64_t total, std::uint64_t offset,
                 const std::string& chunk) {
    messages_received.fetch_add(1, std::memory_order_relaxed);
    bytes_received.fetch_add(chunk.size(), std::memory_order_relaxed);
    if (total > max_upload_bytes || offset + chunk.size() > total)
      return;
    std::lock_guard<std::mutex> guard{mu};
    auto& buf = uploads[{from.address(), key}];
    if (buf.size() != total)
      buf.resize(total);
    std::copy(chunk.begin(), chunk.end(), buf.begin() + static_cast<std::ptrdiff_t>(offset));
  }

  /// The arguments uploaded for request `key` from `from`.
  std::string take_upload(const caf::actor& from, std::uint64_t key) {
    std::lock_guard<std::mutex> guard{mu};
    auto i = uploads.find({from.address(), key});
    if (i == uploads.end())
      return {};
    auto out = std::move(i->second);
    uploads.erase(i);
    return out;
  }

  /// Small ready objects the arguments refer to, to send along.
  std::vector<wire::inline_object> inline_dependencies(const detail::args_holder& args) {
    std::vector<detail::object_cell*> deps;
    args.dependencies(deps);
    std::vector<wire::inline_object> out;
    for (auto* c : deps) {
      if (c->current() != detail::object_cell::state::ready)
        continue;
      {
        std::lock_guard<std::mutex> guard{c->mu};
        bool small = c->value.value ? c->value.ops->encode && c->bytes <= wire::inline_limit
                                    : c->encoded && c->encoded->bytes.size() <= wire::inline_limit;
        if (!small)
          continue;
      }
      try {
        auto [type, bytes] = encoded_value(n.store, c);
        if (bytes.size() <= wire::inline_limit)
          out.push_back({c->id, std::move(type), std::move(bytes)});
      } catch (const std::exception&) {
        // Not encodable: the node will ask for it and get the reason.
      }
    }
    return out;
  }

  void send_task(const node_id& where, pending_op op) {
    if (!lost_dependencies(*op.args).empty()) {
      // Rebuilding blocks: do it on a thread of its own, then send.
      auto shared = std::make_shared<pending_op>(std::move(op));
      std::lock_guard<std::mutex> guard{mu};
      restarters.emplace_back([this, shared] {
        for (auto* c : lost_dependencies(*shared->args))
          if (!rebuild(c)) {
            n.store.settle(shared->result,
                           detail::failure{errc::object_lost,
                                           "an argument of task '" + shared->label
                                             + "' was lost with its node and cannot be made again",
                                           {}, {}});
            detail::release(shared->result);
            return;
          }
        auto demand = resource_set::from(shared->opts.num_cpus, shared->opts.resources);
        std::optional<node_id> target;
        try {
          target = place_impl(demand, shared->opts.placement, false, shared->args.get());
        } catch (const std::exception&) {
        }
        if (target)
          send_task(*target, std::move(*shared));
        else
          submit_local_task(n.store, n.sched, n.tasks, n.id, *shared->fn, std::move(shared->args), shared->opts,
                            shared->result);
      });
      return;
    }
    wire::task_request req;
    req.function = op.fn->name;
    req.signature = op.fn->signature;
    req.options = op.opts;
    req.owner = n.id;
    req.inlined = inline_dependencies(*op.args);
    req.located = located_dependencies(*op.args);
    try {
      req.args = op.args->encode();
    } catch (const std::exception& e) {
      n.store.settle(op.result, detail::failure{errc::serialization_failed,
                                                "task '" + op.label + "' cannot run on node " + where.to_string()
                                                  + ": its arguments cannot be serialized: " + e.what(),
                                                {}, {}});
      detail::release(op.result);
      return;
    }
    op.target = where;
    caf::actor to;
    {
      std::lock_guard<std::mutex> guard{mu};
      to = endpoint_of_locked(where);
    }
    req.key = add_op(std::move(op));
    if (to) {
      if (req.args.size() > wire::chunk_size) {
        // Large arguments go ahead in chunks (one huge message is slow and costs
        // several times its size in memory); the request follows them.
        upload(to, req.key, req.args);
        req.args.clear();
        req.args_uploaded = true;
      }
      caf::anon_send(to, exec_atom::value, sent(wire::pack(req)), endpoint);
    }
    else
      node_down(where, "it is not in the node table");
  }

  // -- placement ------------------------------------------------------------------------

  /// Bytes of the arguments' objects on each node (owner values count for this
  /// node, large results for the node holding them).
  std::unordered_map<node_id, std::uint64_t> argument_bytes(const detail::args_holder& args) {
    std::vector<detail::object_cell*> deps;
    args.dependencies(deps);
    std::unordered_map<node_id, std::uint64_t> out;
    for (auto* c : deps) {
      std::lock_guard<std::mutex> guard{c->mu};
      if (c->remote)
        out[c->remote->node] += c->remote->size;
      else
        out[n.id] += c->bytes;
    }
    return out;
  }

  std::optional<node_id> place_impl(const resource_set& demand, const detail::placement_options& p,
                                    bool for_actor, const detail::args_holder* args = nullptr,
                                    bool* nowhere = nullptr) {
    if (nowhere)
      *nowhere = false;
    if (!p.affinity.value && alive_count.load(std::memory_order_relaxed) <= 1)
      return std::nullopt;
    struct candidate {
      node_id id;
      double score;
    };
    std::vector<candidate> fits;
    bool local_fits_total = false;
    auto local = n.sched.stats();
    double local_score = (local.running + local.pending) / std::max(local.total.cpu, 1.0);
    {
      std::lock_guard<std::mutex> guard{mu};
      for (std::size_t i = 0; i < view.nodes.size(); ++i) {
        const auto& rec = view.nodes[i];
        if (!reachable_locked(i) || dead.count(rec.id))
          continue;
        auto total = from_map(rec.total);
        if (p.affinity.value && rec.id == p.affinity) {
          if (total.fits(demand))
            return rec.id == n.id ? std::nullopt : std::optional<node_id>{rec.id};
          break;
        }
        if (total.cpu <= 0 || !total.fits(demand))
          continue;
        if (rec.id == n.id) {
          local_fits_total = true;
          fits.push_back({rec.id, local_score});
          continue;
        }
        auto f = in_flight.find(rec.id);
        double pending_here = f == in_flight.end() ? 0.0 : static_cast<double>(f->second);
        fits.push_back({rec.id, (static_cast<double>(rec.load) + pending_here) / std::max(total.cpu, 1.0)});
      }
    }
    if (p.affinity.value && !p.soft)
      throw error(errc::invalid_argument, "node " + p.affinity.to_string()
                                            + " is not alive or lacks " + demand.to_string()
                                            + ", and the node affinity is hard (soft=false)");
    if (fits.empty()) {
      if (nowhere)
        *nowhere = true;
      return std::nullopt;
    }
    if (p.strategy == scheduling_strategy::spread) {
      auto& c = fits[round_robin.fetch_add(1, std::memory_order_relaxed) % fits.size()];
      return c.id == n.id ? std::nullopt : std::optional<node_id>{c.id};
    }
    // Tasks stay here while this node has room: no network hop.
    if (!for_actor && local_fits_total && local.pending == 0 && local.available.fits(demand))
      return std::nullopt;
    // Else where most of their argument bytes are, if that is worth a move.
    if (args) {
      node_id best_node;
      std::uint64_t best_bytes = wire::inline_limit;
      for (const auto& entry : argument_bytes(*args)) {
        // Not a structured binding: clang before 16 cannot capture those in a lambda.
        const node_id& node = entry.first;
        const std::uint64_t bytes = entry.second;
        if (bytes > best_bytes
            && std::any_of(fits.begin(), fits.end(), [&](const auto& c) { return c.id == node; })) {
          best_node = node;
          best_bytes = bytes;
        }
      }
      if (best_node.value)
        return best_node == n.id ? std::nullopt : std::optional<node_id>{best_node};
    }
    auto best = std::min_element(fits.begin(), fits.end(),
                                 [](const auto& a, const auto& b) { return a.score < b.score; });
    return best->id == n.id ? std::nullopt : std::optional<node_id>{best->id};
  }

  // -- serving requests from other nodes --------------------------------------------------

  /// What a settled result answers its requester: the value inline if small, else
  /// a pointer to this node, which keeps the value until the requester drops it.
  wire::result answer(detail::object_cell* c, std::uint64_t key, const node_id& requester) {
    wire::result r;
    r.key = key;
    if (c->current() == detail::object_cell::state::failed) {
      r.why = *c->why;
      return r;
    }
    try {
      // Large values stay here, as they are; the requester fetches them (in
      // chunks, encoded then) or a task here uses them in place.
      std::size_t weight = 0;
      std::string type;
      {
        std::lock_guard<std::mutex> guard{c->mu};
        weight = c->bytes;
        type = c->value.value ? c->value.ops->name : c->encoded ? c->encoded->type_name : std::string();
      }
      if (weight > wire::inline_limit && requester.value && !type.empty()) {
        r.ok = true;
        r.size = weight;
        r.type_name = std::move(type);
        n.store.publish(c);
        detail::retain(c);
        {
          std::lock_guard<std::mutex> guard{mu};
          held.emplace(c->id, held_object{c, requester});
        }
        r.location = n.id;
        r.remote_id = c->id;
        return r;
      }
      runtime::reference_collector refs;
      auto [encoded_type, bytes] = encoded_value(n.store, c);
      auto named = refs.take();
      bool names_objects = !named.empty();
      for (auto* x : named)
        detail::release(x);
      r.ok = true;
      r.size = bytes.size();
      r.type_name = std::move(encoded_type);
      if ((bytes.size() <= wire::inline_limit && !names_objects) || !requester.value) {
        r.bytes = std::move(bytes);
        return r;
      }
      // Its weight was underestimated, or it names objects (made here, say, by a put
      // in the task) that must live until the requester borrows them, which it does
      // when it decodes the value: hold it here until the requester drops it.
      n.store.publish(c);
      detail::retain(c);
      {
        std::lock_guard<std::mutex> guard{mu};
        held.emplace(c->id, held_object{c, requester});
      }
      r.location = n.id;
      r.remote_id = c->id;
    } catch (const std::exception& e) {
      r.ok = false;
      r.why = detail::failure{errc::serialization_failed,
                              "the value of object " + c->id.to_string() + " on node " + n.id.to_string()
                                + " cannot be sent to node " + requester.to_string() + ": " + e.what(),
                              {}, {}};
    }
    return r;
  }

  void reply_when_settled(detail::object_cell* c, std::uint64_t key, const caf::actor& reply_to,
                          const node_id& requester) {
    c->on_settled([this, c, key, reply_to, requester] {
      auto r = answer(c, key, requester);
      caf::anon_send(reply_to, result_atom::value, sent(wire::pack(r)));
      detail::release(c);
    });
  }

  void reply_failure(std::uint64_t key, const caf::actor& reply_to, detail::failure why) {
    wire::result r;
    r.key = key;
    r.why = std::move(why);
    caf::anon_send(reply_to, result_atom::value, sent(wire::pack(r)));
  }

  void serve_task(const std::string& blob, const caf::actor& reply_to) {
    auto decoded = decode_payload<wire::task_request>(blob, "task request");
    if (!decoded)
      return;
    auto& req = *decoded;
    if (req.args_uploaded)
      req.args = take_upload(reply_to, req.key);
    const auto* fn = detail::function_named(req.function);
    if (!fn) {
      reply_failure(req.key, reply_to,
                    detail::failure{errc::task_failed,
                                    "function '" + req.function + "' is not registered on node "
                                      + n.id.to_string()
                                      + ": every node must run a program or load a library whose "
                                        "ACTORS_REMOTE lists it",
                                    req.function, n.id.to_string()});
      return;
    }
    // Objects sent along: stand them in before the arguments that name them are
    // decoded, so that no fetch is needed.
    std::vector<detail::object_cell*> adopted;
    for (auto& obj : req.inlined) {
      bool created = false;
      auto* c = foreign(obj.id, created);
      n.store.settle_encoded(c, std::move(obj.type_name), std::move(obj.bytes));
      adopted.push_back(c);
    }
    if (req.signature != fn->signature) {
      for (auto* c : adopted)
        detail::release(c);
      reply_failure(req.key, reply_to,
                    detail::failure{errc::task_failed,
                                    signature_mismatch("function", req.function, fn->signature, req.signature),
                                    req.function, n.id.to_string()});
      return;
    }
    for (const auto& obj : req.located)
      adopted.push_back(adopt_located(obj));
    detail::args_ptr args;
    try {
      args = fn->decode_args(req.args);
      for (auto* c : adopted)
        detail::release(c);
    } catch (const std::exception& e) {
      for (auto* c : adopted)
        detail::release(c);
      reply_failure(req.key, reply_to,
                    detail::failure{errc::serialization_failed,
                                    "the arguments of task '" + req.function + "' cannot be decoded on node "
                                      + n.id.to_string() + ": " + e.what(),
                                    {}, {}});
      return;
    }
    auto* result = n.store.create_pending();
    detail::retain(result); // one for the task, one for the reply
    submit_local_task(n.store, n.sched, n.tasks, n.id, *fn, std::move(args), std::move(req.options), result);
    reply_when_settled(result, req.key, reply_to, req.owner);
  }

  std::tuple<bool, std::string> serve_create(const std::string& blob) {
    try {
      auto req = wire::unpack<wire::actor_create_request>(blob, "actor creation");
      const auto* fn = detail::function_named(req.factory);
      if (!fn || !fn->construct)
        return {false, "actor factory '" + req.factory + "' is not registered on node " + n.id.to_string()
                         + ": every node must run a program or load a library whose ACTORS_REMOTE "
                           "lists it"};
      if (req.signature != fn->signature)
        return {false, signature_mismatch("actor factory", req.factory, fn->signature, req.signature)};
      auto args = fn->decode_args(req.args);
      auto* a = n.host.create(req.id, *fn, std::move(args), std::move(req.options), req.restarts);
      std::lock_guard<std::mutex> guard{mu};
      creator_holds.emplace(req.id, a);
      return {true, {}};
    } catch (const std::exception& e) {
      return {false, std::string("node ") + n.id.to_string() + " cannot create the actor: " + e.what()};
    }
  }

  void serve_call(const std::string& blob, const caf::actor& reply_to) {
    auto decoded = decode_payload<wire::actor_call>(blob, "actor call");
    if (!decoded)
      return;
    auto& req = *decoded;
    auto* a = n.host.find(req.id);
    if (!a) {
      reply_failure(req.key, reply_to,
                    detail::failure{errc::actor_died,
                                    "actor " + req.id.to_string() + " is not alive on node " + n.id.to_string(),
                                    {}, {}});
      return;
    }
    const auto* m = detail::method_named(req.method);
    detail::args_ptr args;
    try {
      if (!m)
        throw not_registered_error("method '" + req.method + "' is not registered on node "
                                   + n.id.to_string() + ": list it in ACTORS_REMOTE on every node");
      if (req.signature != m->signature)
        throw error(errc::task_failed, signature_mismatch("method", req.method, m->signature, req.signature));
      args = m->decode_args(req.args);
    } catch (const std::exception& e) {
      detail::release(a);
      reply_failure(req.key, reply_to, detail::failure{errc::task_failed, e.what(), req.method, n.id.to_string()});
      return;
    }
    auto* result = n.host.call(a, *m, std::move(args));
    detail::release(a);
    reply_when_settled(result, req.key, reply_to, node_id{});
  }

  bool serve_kill(std::uint64_t owner, std::uint64_t seq, bool no_restart) {
    auto* a = n.host.find(actor_id{owner, seq});
    if (!a)
      return false;
    n.host.kill(a, no_restart);
    detail::release(a);
    return true;
  }

  void serve_drop(std::uint64_t owner, std::uint64_t seq) {
    detail::actor_cell* a = nullptr;
    {
      std::lock_guard<std::mutex> guard{mu};
      auto i = creator_holds.find(actor_id{owner, seq});
      if (i == creator_holds.end())
        return;
      a = i->second;
      creator_holds.erase(i);
    }
    detail::release(a);
  }

  void serve_fetch(const std::string& blob, const caf::actor& reply_to) {
    auto decoded = decode_payload<wire::fetch_request>(blob, "fetch request");
    if (!decoded)
      return;
    auto& req = *decoded;
    auto* c = n.store.find(req.id);
    if (!c) {
      reply_failure(req.key, reply_to,
                    detail::failure{errc::object_lost,
                                    "object " + req.id.to_string() + " is no longer held by node "
                                      + n.id.to_string()
                                      + ": every reference to it was dropped before it was fetched",
                                    {}, {}});
      return;
    }
    c->on_settled([this, c, req, reply_to] {
      caf::anon_send(reply_to, result_atom::value, sent(wire::pack(chunk_of(c, req))));
      detail::release(c);
    });
  }

  /// One chunk of a settled object for a fetch, or where it is, or why not.
  wire::result chunk_of(detail::object_cell* c, const wire::fetch_request& req) {
    wire::result r;
    r.key = req.key;
    r.offset = req.offset;
    if (c->current() == detail::object_cell::state::failed) {
      r.why = *c->why;
      return r;
    }
    {
      std::lock_guard<std::mutex> guard{c->mu};
      if (c->remote && !c->value.value && !c->encoded) {
        r.ok = true;
        r.location = c->remote->node;
        r.remote_id = c->remote->id;
        r.size = c->remote->size;
        r.type_name = c->remote->type_name;
        return r;
      }
    }
    std::shared_ptr<const std::string> bytes;
    try {
      {
        std::lock_guard<std::mutex> guard{mu};
        auto i = transfers.find(c->id);
        if (i != transfers.end())
          bytes = i->second;
      }
      if (!bytes) {
        auto [type, encoded] = encoded_value(n.store, c);
        r.type_name = type;
        bytes = std::make_shared<const std::string>(std::move(encoded));
        if (bytes->size() > wire::chunk_size) {
          std::lock_guard<std::mutex> guard{mu};
          transfers.emplace(c->id, bytes);
        }
      } else {
        std::lock_guard<std::mutex> guard{c->mu};
        r.type_name = c->value.value ? c->value.ops->name : c->encoded ? c->encoded->type_name : std::string();
      }
    } catch (const std::exception& e) {
      r.why = detail::failure{errc::serialization_failed, std::string("cannot send object ") + c->id.to_string()
                                                            + ": " + e.what(),
                              {}, {}};
      return r;
    }
    r.ok = true;
    r.size = bytes->size();
    auto begin = std::min<std::uint64_t>(req.offset, bytes->size());
    auto end = std::min<std::uint64_t>(begin + wire::chunk_size, bytes->size());
    r.bytes.assign(bytes->data() + begin, bytes->data() + end);
    if (end == bytes->size() && bytes->size() > wire::chunk_size) {
      std::lock_guard<std::mutex> guard{mu};
      transfers.erase(c->id);
    }
    return r;
  }

  // -- placement groups ------------------------------------------------------------------

  void bundle_answered(const std::string& group, std::uint32_t index, bool ok, const std::string& why) {
    {
      std::lock_guard<std::mutex> guard{mu};
      auto g = groups.find(group);
      if (g == groups.end() || index >= g->second.reserved.size())
        return;
      if (ok)
        g->second.reserved[index] = true;
      else
        g->second.failure = why;
    }
    changed.notify_all();
  }

  /// Picks a node for each bundle from the node table.
  std::vector<node_id> place_bundles(const std::vector<std::map<std::string, double>>& bundles,
                                     scheduling_strategy strategy) {
    struct slot {
      node_id id;
      resource_set free;
      resource_set total;
      bool used = false;
    };
    std::vector<slot> slots;
    {
      std::lock_guard<std::mutex> guard{mu};
      for (std::size_t i = 0; i < view.nodes.size(); ++i)
        if (const auto& rec = view.nodes[i]; reachable_locked(i) && !rec.driver)
          slots.push_back({rec.id, from_map(rec.id == n.id ? to_map(n.sched.stats().available) : rec.available),
                           from_map(rec.total)});
    }
    if (slots.empty())
      slots.push_back({n.id, n.sched.stats().available, n.sched.stats().total});
    std::vector<node_id> out;
    std::size_t last = 0;
    for (const auto& b : bundles) {
      auto demand = from_map(b);
      slot* pick = nullptr;
      if (strategy == scheduling_strategy::spread) {
        for (auto& s : slots)
          if (!s.used && s.free.fits(demand)) {
            pick = &s;
            break;
          }
      } else if (last < slots.size() && slots[last].free.fits(demand)) {
        pick = &slots[last];
      }
      if (!pick)
        for (auto& s : slots)
          if (s.free.fits(demand)) {
            pick = &s;
            break;
          }
      if (!pick)
        for (auto& s : slots)
          if (s.total.fits(demand)) {
            pick = &s;
            break;
          }
      if (!pick) {
        out.push_back(node_id{});
        continue;
      }
      pick->free.subtract(demand);
      pick->used = true;
      last = static_cast<std::size_t>(pick - slots.data());
      out.push_back(pick->id);
    }
    return out;
  }

  static resource_set renamed(const std::map<std::string, double>& resources, const std::string& group,
                              std::uint32_t index) {
    resource_set r;
    for (const auto& [name, amount] : resources)
      r.custom.emplace_back(bundle_resource(name, group, index), amount);
    r.custom.emplace_back(bundle_resource("bundle", group, index), bundle_marker_total);
    std::sort(r.custom.begin(), r.custom.end());
    return r;
  }

  /// A work item that takes a bundle's resources and keeps them until removal.
  class bundle_reservation final : public work_item {
   public:
    bundle_reservation(impl& d, wire::bundle_request req, caf::actor reply_to)
      : work_item(from_map(req.resources)), d_(d), req_(std::move(req)), reply_to_(std::move(reply_to)) {}
    void run() override {
      bool removed = false;
      {
        std::lock_guard<std::mutex> guard{d_.mu};
        auto& h = d_.bundles[{req_.group, req_.index}];
        removed = h.removed;
        if (!removed) {
          h.taken = demand;
          h.offered = renamed(req_.resources, req_.group, req_.index);
          h.active = true;
        }
      }
      if (removed) {
        d_.n.sched.release(demand);
      } else {
        d_.n.sched.add_total(renamed(req_.resources, req_.group, req_.index));
        d_.report();
      }
      reply(!removed, removed ? "the group was removed before the bundle was reserved" : "");
    }
    void abandon(const std::string& reason) override {
      reply(false, reason);
    }
    bool releases_on_return() const override {
      return false;
    }
    std::string describe() const override {
      return "bundle " + std::to_string(req_.index) + " of placement group " + req_.group;
    }

   private:
    void reply(bool ok, const std::string& why) {
      if (!reply_to_) {
        d_.bundle_answered(req_.group, req_.index, ok, why);
        return;
      }
      wire::result r;
      r.key = req_.key;
      r.ok = ok;
      r.why.code = errc::invalid_argument;
      r.why.message = why;
      caf::anon_send(reply_to_, result_atom::value, d_.sent(wire::pack(r)));
    }
    impl& d_;
    wire::bundle_request req_;
    caf::actor reply_to_;
  };

  void reserve_bundle(wire::bundle_request req, const caf::actor& reply_to) {
    n.sched.submit(std::make_unique<bundle_reservation>(*this, std::move(req), reply_to));
  }

  void remove_bundle(const std::string& group, std::uint32_t index) {
    bundle_hold h;
    {
      std::lock_guard<std::mutex> guard{mu};
      auto& slot = bundles[{group, index}];
      if (!slot.active) {
        slot.removed = true; // not reserved yet: the reservation gives it back
        return;
      }
      h = slot;
      bundles.erase({group, index});
    }
    n.sched.remove_total(h.offered);
    n.sched.release(h.taken);
    report();
  }

  /// This node's rows for `actors list actors|tasks|objects` and the timeline.
  wire::state_table state(const std::string& what) {
    wire::state_table t;
    if (what == "actors") {
      t.columns = {"ACTOR", "CLASS", "NAME", "STATE", "RESTARTS"};
      t.rows = n.host.describe();
    } else if (what == "objects") {
      t.columns = {"OBJECT", "BYTES", "WHERE", "TYPE"};
      t.rows = n.store.describe(10000);
    } else if (what == "tasks") {
      t.columns = {"NAME", "STATE", "START_US", "END_US", "WORKER"};
      for (const auto& e : n.tasks.snapshot())
        t.rows.push_back({e.name, e.state == "running" ? "RUNNING" : e.state == "finished" ? "FINISHED" : "FAILED",
                          std::to_string(e.start_us), std::to_string(e.end_us), std::to_string(e.worker)});
      for (const auto& name : n.sched.pending_names(10000))
        t.rows.push_back({name, "PENDING", "", "", ""});
    } else if (what == "placement-groups") {
      t.columns = {"GROUP", "BUNDLES", "NODES", "STATE"};
      std::lock_guard<std::mutex> guard{mu};
      for (const auto& [id, g] : groups) {
        std::string bundles_text;
        std::string nodes_text;
        for (std::size_t i = 0; i < g.bundles.size(); ++i) {
          bundles_text += i ? " " : "";
          bundles_text += "{" + from_map(g.bundles[i]).to_string() + "}";
          nodes_text += (i ? " " : "") + (g.nodes[i].value ? g.nodes[i].to_string() : std::string("-"));
        }
        bool ready = std::all_of(g.reserved.begin(), g.reserved.end(), [](bool b) { return b; });
        t.rows.push_back({id, bundles_text, nodes_text,
                          !g.failure.empty() ? "FAILED" : ready ? "CREATED" : "PENDING"});
      }
    }
    return t;
  }

  void report() {
    auto control = control_actor();
    if (!control)
      return;
    auto s = n.sched.stats();
    auto a = n.host.stats();
    wire::node_report rep;
    rep.id = n.id;
    rep.total = to_map(s.total);
    rep.available = to_map(s.available);
    rep.load = s.running + s.pending + a.alive + a.creating;
    caf::anon_send(control, report_atom::value, wire::pack(rep));
  }

  // -- the head going away and coming back -------------------------------------------

  /// The connection to the head closed (it died or restarts). Work between live
  /// nodes goes on; a member reconnects in the background and joins again with the
  /// same id, or stops once --actors-head-reconnect-timeout has passed.
  void head_lost() {
    auto timeout = n.config.head_reconnect_timeout_ms;
    {
      std::lock_guard<std::mutex> guard{mu};
      if (stopping || reconnecting)
        return;
      if (timeout > 0) {
        reconnecting = true;
        restarters.emplace_back([this] { reconnect_to_head(); });
      }
    }
    if (control_client)
      control_client->link_lost();
    if (timeout > 0) {
      log(log_level::warning, "cluster", "lost the connection to the head at ", n.config.head_address,
          ": reconnecting for up to ", timeout / 1000.0,
          " s (--actors-head-reconnect-timeout); work between live nodes goes on");
      return;
    }
    give_up_on_head("reconnecting is off (--actors-head-reconnect-timeout=0)");
  }

  void give_up_on_head(const std::string& why) {
    if (n.config.driver) {
      log(log_level::error, "cluster", "the head at ", n.config.head_address, " is gone and ", why,
          ": named actors, new nodes and the node table are out of reach from now on; restart the "
          "cluster and this program");
      return;
    }
    log(log_level::error, "cluster", "the head at ", n.config.head_address, " is gone and ", why,
        ": this node stops; start it again once the head runs");
    end_serving(stop_cause::head_gone);
  }

  void reconnect_to_head() {
    using namespace std::chrono;
    auto started = steady_clock::now();
    auto deadline = started + milliseconds(n.config.head_reconnect_timeout_ms);
    auto delay = milliseconds(100);
    std::string last_error = "no attempt yet";
    auto [host, port] = split_address(n.config.head_address);
    for (int attempt = 1;; ++attempt) {
      {
        std::unique_lock<std::mutex> lock{mu};
        auto wake = std::min(steady_clock::now() + delay, deadline);
        if (changed.wait_until(lock, wake, [&] { return stopping || stopped; }))
          return;
      }
      if (steady_clock::now() >= deadline) {
        std::ostringstream why;
        why << "did not come back within " << n.config.head_reconnect_timeout_ms / 1000.0
            << " s (--actors-head-reconnect-timeout; last attempt: " << last_error << ")";
        give_up_on_head(why.str());
        return;
      }
      delay = std::min(delay * 2, milliseconds(2000));
      auto remote = sys.middleman().remote_actor(host, port);
      if (!remote) {
        last_error = sys.render(remote.error());
        continue;
      }
      join_answer answer;
      if (rejoin(*remote, answer)) {
        auto took = duration_cast<milliseconds>(steady_clock::now() - started).count();
        log(log_level::info, "cluster", "rejoined the cluster at ", n.config.head_address, " as node ",
            n.id.to_string(), " after ", took / 1000.0, " s (attempt ", attempt, ")");
        announce_names();
        return;
      }
      if (answer.refusal == wire::join_refusal::declared_dead && !n.config.driver) {
        log(log_level::warning, "cluster", "the head declared this node (", n.id.to_string(),
            ") dead while it was unreachable (longer than --heartbeat-timeout); its objects and actors "
            "were given up, so it starts again as a new node");
        end_serving(stop_cause::declared_dead);
        return;
      }
      if (answer.refusal == wire::join_refusal::declared_dead) {
        // A driver's work and objects were given up with it, and it cannot join
        // again under its id: what waits for the cluster would wait forever.
        auto why = "the head declared this program (node " + n.id.to_string()
                   + ") dead while it was unreachable for longer than --actors-heartbeat-timeout, and gave up "
                     "its work in the cluster: restart the program";
        log(log_level::error, "cluster", why);
        cut_off_from_cluster(why);
        return;
      }
      if (answer.answered) {
        give_up_on_head("the head refused this node: " + answer.reason);
        return;
      }
      last_error = answer.reason;
    }
  }

  /// The head's answer to a join request.
  struct join_answer {
    bool answered = false;
    bool accepted = false;
    wire::join_refusal refusal = wire::join_refusal::none;
    std::string reason;
  };

  /// Asks the control store behind `control` to take this node as `rec`.
  join_answer ask_to_join(const caf::actor& control, const wire::node_record& rec) {
    join_answer a;
    caf::scoped_actor self{sys};
    self
      ->request(control, blocking_timeout, join_atom::value, wire::protocol_version, n.config.token,
                wire::pack(rec), endpoint)
      .receive([&](caf::error& e) { a.reason = "the head did not answer: " + sys.render(e); },
               caf::others >> [&](caf::message_view& answer) -> caf::result<caf::message> {
                 auto m = answer.copy_content_to_message();
                 if (m.match_elements<bool, std::uint8_t, std::string>())
                   a = {true, m.get_as<bool>(0), static_cast<wire::join_refusal>(m.get_as<std::uint8_t>(1)),
                        m.get_as<std::string>(2)};
                 // A head of another protocol version answers in the shape every version reads.
                 else if (m.match_elements<bool, std::string>())
                   a = {true, m.get_as<bool>(0), wire::join_refusal::none, m.get_as<std::string>(1)};
                 else
                   a.reason = "the head answered the join request with " + to_string(m);
                 return caf::message{};
               });
    return a;
  }

  /// Joins the head behind `remote` again with this node's id, resources and
  /// address. False with `refused` set if it said no, with it empty if it did not
  /// answer.
  bool rejoin(const caf::actor& remote, join_answer& answer) {
    auto rec = joined_as;
    auto s = n.sched.stats();
    rec.total = to_map(s.total);
    rec.available = to_map(s.available);
    {
      // The restarted head numbers its node tables afresh.
      std::lock_guard<std::mutex> guard{mu};
      view.version = 0;
    }
    answer = ask_to_join(remote, rec);
    if (!answer.accepted)
      return false;
    {
      std::lock_guard<std::mutex> guard{mu};
      control = remote;
      reconnecting = false;
    }
    if (!joined_as.head) // the head does not reconnect to its own control store
      caf::anon_send(endpoint, watch_atom::value, remote);
    if (control_client)
      control_client->rebind(remote);
    return true;
  }

  /// Tells the restarted head the names of the actors hosted here.
  void announce_names() {
    for (const auto& a : n.host.named_actors()) {
      try {
        if (!control_client->register_name(a.name, named_actor_entry{a.id, a.class_name, n.id}))
          log(log_level::warning, "cluster", "actor ", a.id.to_string(), " is named '", a.name,
              "' but the restarted head gives that name to another actor");
      } catch (const std::exception& e) {
        log(log_level::warning, "cluster", "could not announce actor '", a.name, "' to the head: ", e.what());
      }
    }
  }

  /// Wakes wait_until_stopped with `cause` (the first cause given wins).
  void end_serving(stop_cause cause = stop_cause::requested) {
    {
      std::lock_guard<std::mutex> guard{mu};
      if (!stopped)
        why_stopped = cause;
      stopped = true;
    }
    changed.notify_all();
  }
};

namespace {

caf::behavior node_endpoint(endpoint_actor* self, cluster::impl* owner, std::uint64_t shutdown_key) {
  ignore_exit_messages(self, "cluster");
  self->state.owner = owner;
  self->state.shutdown_key = shutdown_key;
  self->set_down_handler([=](const caf::down_msg& dm) { self->state.owner->on_down(dm.source); });
  self->delayed_send(self, report_interval, tick_atom::value);
  return {
    [=](view_atom, const std::string& blob, const std::vector<caf::actor>& eps) {
      self->state.owner->apply_view(self, blob, eps);
    },
    [=](upload_atom, const caf::actor& from, std::uint64_t key, std::uint64_t total, std::uint64_t offset,
        const std::string& chunk) { self->state.owner->on_upload(from, key, total, offset, chunk); },
    [=](exec_atom, const std::string& blob, const caf::actor& reply_to) {
      self->state.owner->serve_task(blob, reply_to);
    },
    [=](create_actor_atom, const std::string& blob) { return self->state.owner->serve_create(blob); },
    [=](call_actor_atom, const std::string& blob, const caf::actor& reply_to) {
      self->state.owner->serve_call(blob, reply_to);
    },
    [=](kill_actor_atom, std::uint64_t owner, std::uint64_t seq, bool no_restart) {
      return self->state.owner->serve_kill(owner, seq, no_restart);
    },
    [=](drop_actor_atom, std::uint64_t owner, std::uint64_t seq) { self->state.owner->serve_drop(owner, seq); },
    [=](fetch_atom, const std::string& blob, const caf::actor& reply_to) {
      self->state.owner->serve_fetch(blob, reply_to);
    },
    [=](result_atom, const std::string& blob) { self->state.owner->on_result(blob); },
    [=](watch_atom, const caf::actor& who) { self->monitor(who); },
    [=](release_atom, const std::string& blob) { self->state.owner->serve_release(blob); },
    [=](borrow_atom, const std::string& blob, std::uint64_t who, bool borrow) {
      self->state.owner->on_borrow(blob, who, borrow);
    },
    [=](state_atom, const std::string& what, const std::string& token) -> std::tuple<bool, std::string> {
      if (token != self->state.owner->n.config.token) {
        log(log_level::warning, "cluster", "refused a state query with a wrong cluster token");
        return {false, std::string{}};
      }
      return {true, wire::pack(self->state.owner->state(what))};
    },
    [=](bundle_reserve_atom, const std::string& blob, const caf::actor& reply_to) {
      try {
        self->state.owner->reserve_bundle(wire::unpack<wire::bundle_request>(blob, "bundle request"), reply_to);
      } catch (const std::exception& e) {
        log(log_level::warning, "cluster", e.what());
      }
    },
    [=](bundle_remove_atom, const std::string& group, std::uint32_t index) {
      self->state.owner->remove_bundle(group, index);
    },
    [=](stop_node_atom, const std::string& token) {
      if (token == self->state.owner->n.config.token)
        self->state.owner->end_serving();
      else
        log(log_level::warning, "cluster", "refused a stop request with a wrong cluster token");
    },
    [=](shutdown_atom, std::uint64_t key) {
      if (key == self->state.shutdown_key)
        self->quit(caf::exit_reason::user_shutdown);
    },
    [=](tick_atom) {
      self->state.owner->report();
      self->delayed_send(self, report_interval, tick_atom::value);
    },
  };
}

cluster::impl* released_hook_target = nullptr;

void drop_remote(const detail::actor_cell& a) {
  auto* c = released_hook_target;
  if (!c)
    return;
  caf::actor to;
  {
    std::lock_guard<std::mutex> guard{c->mu};
    auto i = c->created.find(a.id);
    auto location = i != c->created.end() ? i->second.location : a.location;
    if (i != c->created.end() && !i->second.restarting)
      c->created.erase(i);
    to = c->endpoint_of_locked(location);
  }
  if (to)
    caf::anon_send(to, drop_actor_atom::value, a.id.owner, a.id.seq);
}

std::pair<std::string, std::uint16_t> split_address(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size())
    throw error(errc::invalid_argument,
                "address '" + address + "' is not HOST:PORT, e.g. 127.0.0.1:6380");
  int port = 0;
  try {
    port = std::stoi(address.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  if (port <= 0 || port > 65535)
    throw error(errc::invalid_argument, "address '" + address + "' has no valid port (1-65535)");
  return {address.substr(0, colon), static_cast<std::uint16_t>(port)};
}

} // namespace

cluster::cluster(node& n, caf::actor_system& sys) : impl_(new impl(n, sys)) {
  impl_->endpoint = sys.spawn(node_endpoint, impl_.get(), impl_->endpoint_shutdown_key);
  auto* d = impl_.get();
  n.store.fetch_remote = [d](detail::object_cell* c) { d->fetch_into(c); };
  n.store.drop_remote = [d](const detail::object_cell::remote_copy& where) { d->drop_held_for(where); };
  n.store.drop_borrow = [d](const object_id& id) { d->send_borrow(id, false); };
  released_hook_target = impl_.get();
  detail::on_remote_actor_released = &drop_remote;
}

cluster::~cluster() {
  stop();
}

std::uint16_t cluster::listen(control_store& control, const std::string& bind, std::uint16_t port) {
  auto res = impl_->sys.middleman().publish(control.handle(), port, bind.c_str(), true);
  if (!res)
    throw error(errc::invalid_argument, "cannot listen on " + bind + ":" + std::to_string(port) + ": "
                                          + impl_->sys.render(res.error())
                                          + "; is the port taken? pick another with --port");
  impl_->listen_bind = bind;
  impl_->listen_port = *res;
  impl_->served_control = control.handle();
  return *res;
}

caf::actor cluster::endpoint() const {
  return impl_->endpoint;
}

bool cluster::take_restarted_control(const caf::actor& fresh) {
  auto& d = *impl_;
  if (d.listen_port != 0) {
    // The port still serves the dead actor: serve the new one there instead.
    if (auto gone = d.sys.middleman().unpublish(d.served_control, d.listen_port); !gone)
      log(log_level::warning, "cluster", "could not stop serving the dead control store on port ", d.listen_port,
          ": ", d.sys.render(gone.error()));
    auto res = d.sys.middleman().publish(fresh, d.listen_port, d.listen_bind.c_str(), true);
    if (!res) {
      log(log_level::error, "cluster", "cannot serve the restarted control store on port ", d.listen_port, ": ",
          d.sys.render(res.error()));
      return false;
    }
    d.served_control = fresh;
  }
  impl::join_answer answer;
  if (!d.rejoin(fresh, answer)) {
    log(log_level::error, "cluster", "the restarted control store did not take this node back: ", answer.reason);
    return false;
  }
  return true;
}

void cluster::service_failed(const std::string& why) {
  log(log_level::error, "node", "node ", impl_->n.id.to_string(), " stops: ", why);
  impl_->end_serving(stop_cause::service_failed);
}

void cluster::join(control_store& control, const std::string& bind,
                   bool reachable, bool head, bool driver, int metrics_port) {
  auto& d = *impl_;
  {
    std::lock_guard<std::mutex> guard{d.mu};
    d.control = control.handle();
  }
  d.control_client = &control;
  if (!head)
    caf::anon_send(d.endpoint, watch_atom::value, d.control);
  if (reachable) {
    auto port = d.sys.middleman().publish(d.endpoint, 0, bind.c_str(), true);
    if (!port)
      throw error(errc::invalid_argument, "cannot open a port on " + bind + " for other nodes: "
                                            + d.sys.render(port.error()));
    d.address = bind + ":" + std::to_string(*port);
  } else {
    d.address = "in-process";
  }
  wire::node_record rec;
  rec.id = d.n.id;
  rec.address = d.address;
  rec.total = to_map(d.n.config.resources);
  rec.available = rec.total;
  rec.head = head;
  rec.driver = driver;
  rec.metrics_port = metrics_port;
  rec.pid = ::getpid();
  d.joined_as = rec;
  auto answer = d.ask_to_join(d.control, rec);
  if (!answer.accepted)
    throw error(errc::invalid_argument, "the cluster refused this node: " + answer.reason);
  std::unique_lock<std::mutex> lock{d.mu};
  bool seen = d.changed.wait_for(lock, blocking_timeout, [&] {
    return std::any_of(d.view.nodes.begin(), d.view.nodes.end(), [&](const auto& r) { return r.id == d.n.id; });
  });
  if (!seen)
    throw error(errc::invalid_argument, "joined the cluster but its node table never arrived");
}

std::optional<node_id> cluster::place(const resource_set& demand, const detail::placement_options& p,
                                      bool for_actor, const detail::args_holder* args, bool* nowhere) {
  return impl_->place_impl(demand, p, for_actor, args, nowhere);
}

detail::object_cell* cluster::park_task(const detail::function_entry& fn, detail::args_ptr args,
                                        detail::task_options opts) {
  auto& d = *impl_;
  auto* result = d.n.store.create_pending();
  detail::retain(result);
  pending_op op;
  op.what = pending_op::kind::task;
  op.result = result;
  op.fn = &fn;
  op.args = std::move(args);
  op.label = opts.name.empty() ? fn.name : opts.name;
  op.opts = std::move(opts);
  d.park(std::move(op));
  return result;
}

detail::object_cell* cluster::submit_remote_task(node_id where, const detail::function_entry& fn,
                                                 detail::args_ptr args, detail::task_options opts) {
  auto& d = *impl_;
  auto* result = d.n.store.create_pending();
  detail::retain(result); // one for the caller, one for the operation
  pending_op op;
  op.what = pending_op::kind::task;
  op.result = result;
  op.fn = &fn;
  op.args = std::move(args);
  op.label = opts.name.empty() ? fn.name : opts.name;
  op.opts = std::move(opts);
  // Like Ray, the owner resolves dependencies before it sends the task: small ones
  // then travel with it, and the node runs it at once.
  auto shared = std::make_shared<pending_op>(std::move(op));
  const auto& args_ref = *shared->args;
  when_ready(args_ref, [&d, where, shared] { d.send_task(where, std::move(*shared)); });
  return result;
}

void cluster::create_remote_actor(node_id where, const detail::function_entry& factory,
                                  const detail::args_holder& args, const detail::actor_options& opts,
                                  const actor_id& id) {
  auto& d = *impl_;
  wire::actor_create_request req;
  req.id = id;
  req.factory = factory.name;
  req.signature = factory.signature;
  req.args = args.encode();
  req.options = opts;
  caf::actor to;
  {
    std::lock_guard<std::mutex> guard{d.mu};
    to = d.endpoint_of_locked(where);
  }
  if (!to)
    throw error(errc::actor_died, "node " + where.to_string() + " is gone: cannot create the actor there");
  caf::scoped_actor self{d.sys};
  std::string why;
  bool ok = false;
  self->request(to, blocking_timeout, create_actor_atom::value, wire::pack(req))
    .receive(
      [&](bool created, const std::string& reason) {
        ok = created;
        why = reason;
      },
      [&](const caf::error& e) { why = "node " + where.to_string() + " did not answer: " + d.sys.render(e); });
  if (!ok)
    throw error(errc::actor_died, why);
  std::lock_guard<std::mutex> guard{d.mu};
  auto& c = d.created[id];
  c.factory = &factory;
  c.args = std::move(req.args);
  c.opts = opts;
  c.location = where;
}

detail::object_cell* cluster::call_remote_actor(detail::actor_cell* a, const detail::method_entry& m,
                                                detail::args_ptr args) {
  auto& d = *impl_;
  wire::actor_call req;
  req.id = a->id;
  req.method = m.name;
  req.signature = m.signature;
  req.args = args->encode();
  auto* result = d.n.store.create_pending();
  detail::retain(result);
  pending_op op;
  op.what = pending_op::kind::actor_call;
  op.target = a->location;
  op.result = result;
  op.args = std::move(args); // keeps argument objects alive until the call is answered
  op.actor = a->id;
  caf::actor to;
  {
    std::lock_guard<std::mutex> guard{d.mu};
    auto c = d.created.find(a->id);
    if (c != d.created.end()) {
      if (!c->second.death.empty()) {
        d.n.store.settle(result, detail::failure{errc::actor_died,
                                                 "actor " + a->id.to_string() + " is dead: " + c->second.death,
                                                 {}, {}});
        detail::release(result);
        return result;
      }
      op.target = c->second.location;
      if (c->second.restarting) {
        // Sent when the new instance exists, in the order made.
        req.key = d.next_key.fetch_add(1, std::memory_order_relaxed);
        op.call = wire::pack(req);
        c->second.waiting.push_back(op.call);
        c->second.waiting_keys.push_back(req.key);
        d.ops.emplace(req.key, std::move(op));
        return result;
      }
    }
    to = d.endpoint_of_locked(op.target);
  }
  auto target = op.target;
  // The call is kept encoded so that it can go again to a restarted instance.
  req.key = d.next_key.fetch_add(1, std::memory_order_relaxed);
  auto blob = wire::pack(req);
  op.call = blob;
  d.add_op(std::move(op), req.key);
  if (to)
    caf::anon_send(to, call_actor_atom::value, d.sent(blob), d.endpoint);
  else
    d.node_down(target, "it is not in the node table");
  return result;
}

void cluster::kill_remote_actor(detail::actor_cell* a, bool no_restart) {
  auto& d = *impl_;
  caf::actor to;
  {
    std::lock_guard<std::mutex> guard{d.mu};
    auto c = d.created.find(a->id);
    auto location = c != d.created.end() ? c->second.location : a->location;
    if (c != d.created.end() && no_restart)
      c->second.death = "it was killed";
    to = d.endpoint_of_locked(location);
  }
  if (!to)
    return; // its node is gone, and the actor with it
  caf::scoped_actor self{d.sys};
  self->request(to, blocking_timeout, kill_actor_atom::value, a->id.owner, a->id.seq, no_restart)
    .receive([](bool) {},
             [&](const caf::error& e) {
               throw error(errc::actor_died, "node " + a->location.to_string()
                                               + " did not confirm the kill: " + d.sys.render(e));
             });
}

detail::object_cell* cluster::resolve_foreign(const object_id& id) {
  auto& d = *impl_;
  bool created = false;
  auto* c = d.foreign(id, created);
  if (!created)
    return c;
  detail::retain(c); // one for the caller, one for the fetch
  auto fs = std::make_shared<fetch_state>();
  fs->id = id;
  fs->holder = node_id{id.owner};
  fs->done = [&d, c](bool ok, std::string type, std::string bytes, detail::failure why) {
    if (ok)
      d.n.store.settle_encoded(c, std::move(type), std::move(bytes));
    else
      d.n.store.settle(c, std::move(why));
    detail::release(c);
  };
  d.start_fetch(fs);
  return c;
}

std::string cluster::create_group(const std::vector<std::map<std::string, double>>& bundles,
                                  scheduling_strategy strategy) {
  auto& d = *impl_;
  auto id = random_token().substr(0, 12);
  auto where = d.place_bundles(bundles, strategy);
  {
    std::lock_guard<std::mutex> guard{d.mu};
    auto& g = d.groups[id];
    g.bundles = bundles;
    g.nodes = where;
    g.reserved.assign(bundles.size(), false);
  }
  for (std::uint32_t i = 0; i < bundles.size(); ++i) {
    wire::bundle_request req;
    req.group = id;
    req.index = i;
    req.resources = bundles[i];
    if (!where[i].value) {
      log(log_level::warning, "cluster", "bundle ", i, " of placement group ", id,
          " fits no node of the cluster; the group stays unready");
      continue;
    }
    if (where[i] == d.n.id) {
      d.reserve_bundle(std::move(req), caf::actor{});
      continue;
    }
    pending_op op;
    op.what = pending_op::kind::bundle;
    op.target = where[i];
    op.group = id;
    op.bundle = i;
    caf::actor to;
    {
      std::lock_guard<std::mutex> guard{d.mu};
      to = d.endpoint_of_locked(where[i]);
    }
    req.key = d.add_op(std::move(op));
    if (to)
      caf::anon_send(to, bundle_reserve_atom::value, d.sent(wire::pack(req)), d.endpoint);
  }
  return id;
}

bool cluster::wait_group(const std::string& id, std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  std::unique_lock<std::mutex> lock{d.mu};
  auto ready = [&] {
    auto g = d.groups.find(id);
    if (g == d.groups.end())
      throw error(errc::invalid_argument, "placement group " + id + " is not known here (removed?)");
    if (!g->second.failure.empty())
      throw error(errc::invalid_argument, "placement group " + id + " cannot be reserved: " + g->second.failure);
    if (!std::all_of(g->second.reserved.begin(), g->second.reserved.end(), [](bool b) { return b; }))
      return false;
    // Ready once placement here can see every bundle's resources.
    for (std::size_t i = 0; i < g->second.nodes.size(); ++i) {
      auto marker = bundle_resource("bundle", id, i);
      bool seen = false;
      for (const auto& rec : d.view.nodes)
        if (rec.id == g->second.nodes[i] && rec.total.count(marker))
          seen = true;
      if (!seen && d.alive_count.load() > 1)
        return false;
    }
    return true;
  };
  if (timeout.count() < 0) {
    d.changed.wait(lock, ready);
    return true;
  }
  return d.changed.wait_for(lock, timeout, ready);
}

void cluster::remove_group(const std::string& id) {
  auto& d = *impl_;
  std::vector<node_id> nodes;
  {
    std::lock_guard<std::mutex> guard{d.mu};
    auto g = d.groups.find(id);
    if (g == d.groups.end())
      return;
    nodes = g->second.nodes;
    d.groups.erase(g);
  }
  for (std::uint32_t i = 0; i < nodes.size(); ++i) {
    if (!nodes[i].value)
      continue;
    if (nodes[i] == d.n.id) {
      d.remove_bundle(id, i);
      continue;
    }
    caf::actor to;
    {
      std::lock_guard<std::mutex> guard{d.mu};
      to = d.endpoint_of_locked(nodes[i]);
    }
    if (to)
      caf::anon_send(to, bundle_remove_atom::value, id, i);
  }
}

std::string bundle_resource(const std::string& resource, const std::string& group, std::size_t index) {
  return resource + "_pg_" + group + "_" + std::to_string(index);
}

cluster::traffic_counts cluster::traffic() const {
  auto& d = *impl_;
  return {d.messages_sent.load(), d.messages_received.load(), d.bytes_sent.load(), d.bytes_received.load()};
}

std::string cluster::discovery_json() const {
  std::lock_guard<std::mutex> guard{impl_->mu};
  std::string out = "[";
  bool first = true;
  for (const auto& rec : impl_->view.nodes) {
    if (!rec.alive || rec.metrics_port <= 0)
      continue;
    auto colon = rec.address.rfind(':');
    std::string host = colon == std::string::npos || rec.address == "in-process" ? "127.0.0.1"
                                                                                  : rec.address.substr(0, colon);
    out += std::string(first ? "" : ",") + "{\"targets\":[\"" + host + ":" + std::to_string(rec.metrics_port)
           + "\"],\"labels\":{\"actors_node\":\"" + rec.id.to_string() + "\",\"actors_role\":\""
           + (rec.head ? "head" : rec.driver ? "driver" : "node") + "\"}}";
    first = false;
  }
  return out + "]";
}

void cluster::on_view_change(std::function<void()> fn) {
  std::lock_guard<std::mutex> guard{impl_->mu};
  impl_->view_changed = std::move(fn);
}

std::vector<node_info> cluster::nodes() const {
  std::lock_guard<std::mutex> guard{impl_->mu};
  std::vector<node_info> out;
  for (const auto& rec : impl_->view.nodes) {
    node_info i;
    i.id = rec.id;
    i.address = rec.address;
    i.alive = rec.alive;
    i.is_head = rec.head;
    i.is_driver = rec.driver;
    i.metrics_port = rec.metrics_port;
    i.resources_total = rec.total;
    i.resources_available = rec.id == impl_->n.id ? to_map(impl_->n.sched.stats().available) : rec.available;
    out.push_back(std::move(i));
  }
  std::stable_partition(out.begin(), out.end(), [](const auto& i) { return i.is_head; });
  return out;
}

bool cluster::wait_for_nodes(std::size_t count, std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  std::unique_lock<std::mutex> lock{d.mu};
  return d.changed.wait_for(lock, timeout, [&] {
    return static_cast<std::size_t>(std::count_if(d.view.nodes.begin(), d.view.nodes.end(),
                                                  [](const auto& r) { return r.alive; }))
           >= count;
  });
}

stop_cause cluster::wait_until_stopped() {
  auto& d = *impl_;
  std::unique_lock<std::mutex> lock{d.mu};
  d.changed.wait(lock, [&] { return d.stopped; });
  return d.why_stopped;
}

void cluster::request_stop() {
  impl_->end_serving();
}

bool cluster::stop_cluster(const std::string& token) {
  auto& d = *impl_;
  auto control = d.control_actor();
  if (!control)
    return false;
  caf::scoped_actor self{d.sys};
  bool ok = false;
  self->request(control, blocking_timeout, stop_cluster_atom::value, token)
    .receive([&](bool done) { ok = done; }, [](const caf::error&) {});
  return ok;
}

void cluster::stop() {
  auto& d = *impl_;
  std::vector<node_id> targets;
  std::vector<detail::actor_cell*> holds;
  {
    std::lock_guard<std::mutex> guard{d.mu};
    if (d.stopping)
      return;
    d.stopping = true;
    d.changed.notify_all();
    for (const auto& [key, op] : d.ops)
      targets.push_back(op.target);
    for (auto& [id, a] : d.creator_holds)
      holds.push_back(a);
    d.creator_holds.clear();
  }
  for (const auto& t : targets)
    d.node_down(t, "this node is shutting down");
  std::vector<pending_op> parked;
  {
    std::lock_guard<std::mutex> guard{d.mu};
    parked.swap(d.parked);
  }
  for (auto& op : parked) {
    d.n.store.settle(op.result, detail::failure{errc::object_lost,
                                                "the node stopped while task '" + op.label
                                                  + "' waited for a node with the resources it needs",
                                                {}, {}});
    detail::release(op.result);
  }
  for (auto* a : holds)
    detail::release(a);
  std::vector<detail::object_cell*> kept;
  {
    std::lock_guard<std::mutex> guard{d.mu};
    for (auto& [id, h] : d.held)
      kept.push_back(h.cell);
    d.held.clear();
    for (auto& [key, cells] : d.borrowed)
      kept.insert(kept.end(), cells.begin(), cells.end());
    d.borrowed.clear();
    d.transfers.clear();
  }
  decltype(d.lineage) lineage;
  {
    std::lock_guard<std::mutex> guard{d.mu};
    lineage.swap(d.lineage);
  }
  lineage.clear();
  for (auto* c : kept)
    detail::release(c);
  d.n.store.fetch_remote = nullptr;
  d.n.store.drop_remote = nullptr;
  d.n.store.drop_borrow = nullptr;
  std::vector<std::thread> connectors;
  {
    std::lock_guard<std::mutex> guard{d.mu};
    connectors.swap(d.connectors);
    for (auto& t : d.restarters)
      connectors.push_back(std::move(t));
    d.restarters.clear();

  }
  for (auto& t : connectors)
    t.join();
  if (released_hook_target == impl_.get()) {
    detail::on_remote_actor_released = nullptr;
    released_hook_target = nullptr;
  }
  caf::anon_send(d.endpoint, shutdown_atom::value, d.endpoint_shutdown_key);
}

std::unique_ptr<control_store> connect_control_store(caf::actor_system& sys, const std::string& address) {
  auto [host, port] = split_address(address);
  auto remote = sys.middleman().remote_actor(host, port);
  if (!remote)
    throw error(errc::invalid_argument, "no cluster answers at " + address + " (" + sys.render(remote.error())
                                          + "): start one with `actorsd --head`, or check the address "
                                            "and that the head is running");
  return std::make_unique<control_store>(sys, *remote);
}

} // namespace actors::runtime
