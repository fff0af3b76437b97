#include "runtime/cluster/caf_transport.hpp"
#include "runtime/cluster/caf_connect.hpp"
#include "runtime/cluster/message_lane.hpp"

#include "runtime/common/addresses.hpp"
#include "runtime/common/log.hpp"
#include "runtime/common/log_reader.hpp"
#include "runtime/common/network_thread.hpp"
#include "runtime/common/one_shot_threads.hpp"
#include "runtime/common/service_actor.hpp"
#include "runtime/common/silent_connections.hpp"
#include "runtime/secure/tls_gateway.hpp"
#include "runtime/wire/atoms.hpp"

#include "actors/errors.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <unordered_map>

namespace actors::runtime {

namespace {

using namespace msg;

// How often this node tells the head what it has free.
constexpr auto report_interval = std::chrono::milliseconds(100);

// At most this much waits for a node that no node table has listed yet.
constexpr std::size_t awaiting_bytes_limit = 64u << 20;

// A result or item made this soon after the last one sent to its peer waits to
// go with the others the endpoint gathers; one made later goes at once.
constexpr auto gather_window = std::chrono::microseconds(50);

// A connection to this node's lane port: a peer's message lane
// (runtime/cluster/message_lane.hpp).
struct incoming_lane {
  explicit incoming_lane(std::string token) : reader(std::move(token)) {}
  lane_reader reader;
  // From the hello.
  std::uint64_t lane = 0;
  node_id sender;
  // Set by the sender's marker, which comes over CAF after the last message the
  // sender sent that way: until then what the lane brings is held, in order.
  bool marked = false;
  // Not read while it holds more than the transport's lane_limits::hold_bytes: the
  // sender's lane waits (its socket fills) until the marker comes.
  bool paused = false;
  caf::actor from;
  std::vector<lane_reader::message> held;
  std::size_t held_bytes = 0;
  std::chrono::steady_clock::time_point hello_deadline;
  // Set at the hello: the marker must come by then.
  std::chrono::steady_clock::time_point marker_deadline;
  std::string peer; // "address:port", for the log
};

// A connection to the lane port has this long to say hello.
constexpr auto lane_hello_time = std::chrono::seconds(5);

struct endpoint_state {
  caf_transport::impl* owner = nullptr;
  std::set<caf::actor_addr> monitored;
  std::map<caf::io::connection_handle, incoming_lane> lanes;
  // Markers that came before their lane's hello, by lane number.
  std::map<std::uint64_t, caf::actor> early_markers;
  static inline const char* name = "actors.node_endpoint";
};

// The endpoint is a broker: it runs on the middleman's thread, which reads what
// peers send, so a message is handled in the pass that read it, with no
// hand-off to a scheduler thread (a sync task's round trip takes about a third
// less: tests/perf/notes.md). Its handlers must never block, since the node's network I/O waits
// while they run: requests, whose handlers may wait (an actor's factory from a
// job whose libraries are loading here), go to the request server.
using endpoint_actor = caf::io::stateful_broker<endpoint_state>;

caf::behavior node_endpoint(endpoint_actor* self, caf_transport::impl* owner, std::uint64_t shutdown_key);

// Answers the requests the endpoint delegates to it (ac_ask, and the log and
// state queries of the command line), on a scheduler thread.
caf::behavior request_server(caf::event_based_actor* self, caf_transport::impl* owner, std::uint64_t shutdown_key);

} // namespace

struct caf_transport::impl {
  impl(caf::actor_system& sys, std::string token, std::chrono::milliseconds unlisted_wait, lane_limits lanes)
    : sys(sys), token(std::move(token)), unlisted_wait(unlisted_wait), lane_receiving(lanes) {}

  caf::actor_system& sys;
  const std::string token;
  const std::chrono::milliseconds unlisted_wait;
  // A lane's marker, sent over CAF right after the accept, only waits for
  // what went over CAF before it: lane_receiving.marker_time is ample.
  const lane_limits lane_receiving;
  const std::uint64_t shutdown_key = new_shutdown_key();
  caf::actor endpoint;
  caf::actor requests;
  // Set once by start(), before the endpoint is published.
  std::atomic<message_handler*> messages{nullptr};
  std::atomic<endpoint_events*> events{nullptr};
  std::atomic<std::uint64_t> messages_sent{0};
  std::atomic<std::uint64_t> messages_received{0};
  std::atomic<std::uint64_t> bytes_sent{0};
  std::atomic<std::uint64_t> bytes_received{0};
  std::atomic<std::uint64_t> lane_messages_sent{0};
  std::atomic<std::uint64_t> lane_messages_received{0};

  // Guards everything below.
  mutable std::mutex mu;
  bool stopped = false;
  // The endpoints of the nodes, as the node tables list them.
  std::unordered_map<node_id, caf::actor> book;
  std::unordered_map<caf::actor_addr, node_id> ids;
  // Nodes this process knows dead: their ids do not come back.
  std::set<node_id> forgotten;
  // Messages for nodes no node table has listed yet. A node can hear of another
  // (an object's holder, a borrower) from a third before the head's table that
  // lists it arrives here: they go, in order, with that table, or are dropped
  // and the node reported once `unlisted_wait` passed without one.
  struct awaiting_sends {
    std::chrono::steady_clock::time_point deadline;
    std::size_t bytes = 0;
    std::vector<std::pair<message_kind, std::string>> queued;
  };
  std::unordered_map<node_id, awaiting_sends> awaiting;
  caf::actor head;
  // The head node's endpoint, from the node table (job requests go there), and
  // on the head the job service it hands them to.
  caf::actor head_endpoint;
  caf::actor jobs;
  // The control store this node serves (head), and where.
  caf::actor served_control;
  std::string control_bind;
  std::uint16_t control_port = 0;
  // Results and generator items on their way to each peer. One made when the
  // peer was sent nothing for `gather_window` goes at once; the others wait for
  // the endpoint, which sends what gathered meanwhile together, in order, one
  // message per run of a kind (result_batch, stream_item_batch).
  struct outbox {
    // Set while something waits to go.
    caf::actor to;
    std::vector<std::pair<message_kind, std::string>> queued;
    // The endpoint was asked to flush and has not sent all it took yet.
    bool flush_pending = false;
    std::chrono::steady_clock::time_point last_sent;
  };
  std::unordered_map<caf::actor_addr, outbox> outboxes;
  // Peers this node opened (or is opening) a direct connection to, and the threads
  // doing it.
  std::set<node_id> connected;
  one_shot_threads connectors;

  // Message lanes to the peers' endpoints (runtime/cluster/message_lane.hpp),
  // by the endpoint they lead to. Lock order: mu, lanes_mu, a path's mu.
  struct lane_path {
    std::mutex mu;
    node_id peer;
    caf::actor to;
    std::string host;
    std::uint16_t port = 0;
    enum class state { idle, opening, open, failed } st = state::idle;
    std::shared_ptr<message_lane> lane;
    // Out of `lanes`: the peer died, or the transport stopped.
    bool removed = false;
  };
  // Set by publish() when lanes are on (not under TLS), before any view.
  std::atomic<bool> lanes_on{false};
  std::uint16_t lane_port = 0;
  std::atomic<std::uint64_t> self_id{0};
  mutable std::mutex lanes_mu;
  std::unordered_map<caf::actor_addr, std::shared_ptr<lane_path>> lanes;
  // The threads opening lanes (connecting blocks); none starts once the
  // transport stopped.
  one_shot_threads lane_openers;

  caf::actor endpoint_of(const node_id& id) const {
    std::lock_guard<std::mutex> guard{mu};
    if (stopped)
      return {};
    auto i = book.find(id);
    return i == book.end() ? caf::actor{} : i->second;
  }

  /// Sends over the peer's message lane once it is open, else over CAF (and
  /// starts opening the lane on the first send). Every message to a peer comes
  /// through here, so the switch to the lane keeps their order.
  void counted_send(const caf::actor& to, message_kind kind, std::string payload) {
    messages_sent.fetch_add(1, std::memory_order_relaxed);
    bytes_sent.fetch_add(payload.size(), std::memory_order_relaxed);
    std::shared_ptr<lane_path> path;
    if (lanes_on.load(std::memory_order_relaxed)) {
      std::lock_guard<std::mutex> guard{lanes_mu};
      if (auto i = lanes.find(to.address()); i != lanes.end())
        path = i->second;
    }
    if (!path) {
      caf::anon_send(to, peer_atom::value, static_cast<std::uint8_t>(kind), std::move(payload), endpoint);
      return;
    }
    std::unique_lock<std::mutex> lock{path->mu};
    if (path->st == lane_path::state::open) {
      auto lane = path->lane;
      lock.unlock();
      lane_messages_sent.fetch_add(1, std::memory_order_relaxed);
      // A broken lane reports itself (lane_down_atom): the peer is taken as
      // after a closed connection, and this message is lost with it.
      if (lane->send(kind, payload) == message_lane::sent::flush_needed)
        caf::anon_send(endpoint, lane_flush_atom::value, to.address());
      return;
    }
    if (path->st == lane_path::state::idle)
      open_lane(path);
    // Under the path's lock: the marker that opens the lane comes after it.
    caf::anon_send(to, peer_atom::value, static_cast<std::uint8_t>(kind), std::move(payload), endpoint);
  }

  /// Starts opening the lane of `path` (whose lock is held) on a thread of its
  /// own: connect, hello, accept; then the marker over CAF, and the lane is open.
  void open_lane(const std::shared_ptr<lane_path>& path) {
    static std::atomic<std::uint64_t> counter{0};
    static const std::uint64_t seed = std::random_device{}() ^ (std::uint64_t{std::random_device{}()} << 32);
    const std::uint64_t lane_id = seed + (++counter) * 0x9e3779b97f4a7c15ULL;
    const std::uint64_t sender = self_id.load();
    if (!sender)
      return; // no node table yet: the next send tries again
    path->st = lane_path::state::opening;
    const bool started = lane_openers.start([this, path, lane_id, sender] {
      std::string why;
      const node_id peer = path->peer;
      caf::actor self_endpoint = endpoint;
      auto lane = message_lane::open(
        path->host, path->port, lane_id, sender, token, std::chrono::seconds(5),
        [self_endpoint, peer] { caf::anon_send(self_endpoint, lane_down_atom::value, peer.value); }, why);
      std::unique_lock<std::mutex> lock{path->mu};
      if (!lane || path->removed) {
        path->st = lane_path::state::failed;
        lock.unlock();
        if (lane)
          lane->close();
        else if (!path->removed)
          log(log_level::warning, "cluster", "no message lane to node ", peer.to_string(), " (", why,
              "): messages to it go over CAF's connection, which takes a thread hand-off more each");
        return;
      }
      caf::anon_send(path->to, lane_open_atom::value, lane_id, endpoint);
      path->lane = std::move(lane);
      path->st = lane_path::state::open;
    });
    if (!started)
      path->st = lane_path::state::failed; // stopping
  }

  /// The endpoint writes what gathered on the lane to `who`.
  void flush_lane(const caf::actor_addr& who) {
    std::shared_ptr<lane_path> path;
    {
      std::lock_guard<std::mutex> guard{lanes_mu};
      if (auto i = lanes.find(who); i != lanes.end())
        path = i->second;
    }
    if (!path)
      return;
    std::shared_ptr<message_lane> lane;
    {
      std::lock_guard<std::mutex> guard{path->mu};
      lane = path->lane;
    }
    if (lane)
      lane->flush();
  }

  /// Learns where the peers of `view` take message lanes (with `mu` held).
  void learn_lanes(const wire::cluster_view& view, const std::vector<caf::actor>& eps) {
    if (!lanes_on.load())
      return;
    std::vector<std::shared_ptr<message_lane>> dead;
    {
      std::lock_guard<std::mutex> guard{lanes_mu};
      for (std::size_t i = 0; i < eps.size(); ++i) {
        const auto& rec = view.nodes[i];
        if (!eps[i] || eps[i] == endpoint)
          continue;
        auto at = lanes.find(eps[i].address());
        if (!rec.alive || forgotten.count(rec.id)) {
          if (at != lanes.end()) {
            std::lock_guard<std::mutex> g{at->second->mu};
            at->second->removed = true;
            if (at->second->lane)
              dead.push_back(at->second->lane);
            lanes.erase(at);
          }
          continue;
        }
        auto colon = rec.lane_address.rfind(':');
        if (at != lanes.end() || colon == std::string::npos)
          continue;
        auto path = std::make_shared<lane_path>();
        path->peer = rec.id;
        path->to = eps[i];
        path->host = rec.lane_address.substr(0, colon);
        path->port = static_cast<std::uint16_t>(std::atoi(rec.lane_address.c_str() + colon + 1));
        lanes.emplace(eps[i].address(), std::move(path));
      }
    }
    for (auto& l : dead)
      l->close();
  }

  /// Closes the lanes to node `id` (it died), or all of them (`id` 0: stopping).
  void close_lanes(const node_id& id) {
    std::vector<std::shared_ptr<message_lane>> closing;
    {
      std::lock_guard<std::mutex> guard{lanes_mu};
      for (auto i = lanes.begin(); i != lanes.end();) {
        if (id.value && i->second->peer != id) {
          ++i;
          continue;
        }
        std::lock_guard<std::mutex> g{i->second->mu};
        i->second->removed = true;
        if (i->second->lane)
          closing.push_back(i->second->lane);
        i = lanes.erase(i);
      }
    }
    for (auto& l : closing)
      l->close();
    if (!id.value)
      lane_openers.wait_all();
  }

  /// Keeps a message for node `to`, which no node table has listed yet (with
  /// `mu` held). False if too much waits for it already.
  bool await_listing(const node_id& to, message_kind kind, std::string payload) {
    auto [i, first] = awaiting.try_emplace(to);
    auto& waiting = i->second;
    if (first)
      waiting.deadline = std::chrono::steady_clock::now() + unlisted_wait;
    if (waiting.bytes + payload.size() > awaiting_bytes_limit)
      return false;
    waiting.bytes += payload.size();
    waiting.queued.emplace_back(kind, std::move(payload));
    return true;
  }

  /// The nodes whose messages waited `unlisted_wait` for a node table listing
  /// them: their messages are dropped.
  std::vector<node_id> unlisted_too_long() {
    std::vector<node_id> out;
    auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> guard{mu};
    for (auto i = awaiting.begin(); i != awaiting.end();) {
      if (i->second.deadline <= now) {
        out.push_back(i->first);
        i = awaiting.erase(i);
      } else {
        ++i;
      }
    }
    return out;
  }

  /// Learns the endpoints a node table lists, and sends what waited for them. A
  /// node that has not joined a restarted head yet keeps the endpoint known for
  /// it, so that work between live nodes goes on while the head is away.
  void learn(const wire::cluster_view& view, const std::vector<caf::actor>& eps) {
    std::lock_guard<std::mutex> guard{mu};
    for (std::size_t i = 0; i < eps.size(); ++i)
      if (eps[i] == endpoint)
        self_id.store(view.nodes[i].id.value);
    learn_lanes(view, eps);
    for (std::size_t i = 0; i < eps.size(); ++i) {
      const auto& id = view.nodes[i].id;
      if (!view.nodes[i].alive)
        awaiting.erase(id); // the listeners hear that it died
      if (!eps[i] || forgotten.count(id))
        continue;
      book[id] = eps[i];
      ids[eps[i].address()] = id;
      if (view.nodes[i].head && view.nodes[i].alive)
        head_endpoint = eps[i];
      if (auto w = awaiting.find(id); w != awaiting.end()) {
        // Under `mu`: a send that finds the endpoint in the book comes after these.
        for (auto& [kind, payload] : w->second.queued)
          counted_send(eps[i], kind, std::move(payload));
        awaiting.erase(w);
      }
    }
  }

  /// Opens a direct connection to every live peer of `view` this node has none
  /// to. Of two peers only the one with the smaller id connects: when both did at
  /// once, CAF kept one of the two connections and closed the other, and the
  /// close took the peer for dead. The head is left out, on both ends: every node
  /// is connected to it already.
  void connect(const wire::cluster_view& view, const std::vector<caf::actor>& eps) {
    std::lock_guard<std::mutex> guard{mu};
    if (stopped)
      return;
    node_id self;
    std::string self_host;
    bool self_head = false;
    for (std::size_t i = 0; i < eps.size(); ++i)
      if (eps[i] == endpoint) {
        self = view.nodes[i].id;
        self_host = view.nodes[i].host_id;
        self_head = view.nodes[i].head;
      }
    if (!self.value || self_head)
      return;
    for (const auto& rec : view.nodes) {
      if (!rec.alive || rec.id == self || rec.head || rec.id.value < self.value || rec.address == "in-process"
          || !book.count(rec.id) || forgotten.count(rec.id) || !connected.insert(rec.id).second)
        continue;
      auto colon = rec.address.rfind(':');
      if (colon == std::string::npos)
        continue;
      auto host = rec.address.substr(0, colon);
      auto port = static_cast<std::uint16_t>(std::stoi(rec.address.substr(colon + 1)));
      // A loopback address names a port on the peer's own host: dialled from
      // another host it would reach some other process, or none.
      if (is_loopback(host) && rec.host_id != self_host) {
        log(log_level::warning, "cluster", "node ", rec.id.to_string(), " advertises ", rec.address,
            ", a loopback address, from another host: messages to it go through the head (two hops instead of "
            "one); start it with --bind or --advertise-address set to an address this host can reach");
        continue;
      }
      connectors.start([this, host, port, id = rec.id] {
        auto res = connect_within(sys, host, port);
        if (!res)
          log(log_level::warning, "cluster", "cannot connect to node ", id.to_string(), " at ", host, ":", port,
              " (", sys.render(res.error()), "): messages to it go through the head (two hops instead of one); "
              "check that this host can reach that address, or set the node's --advertise-address");
      });
    }
  }

  /// Sends a result or an item (`kind`) to `to` at once if nothing is on its
  /// way there and nothing went there within `gather_window`, else queues it for
  /// the endpoint to send with the others when it flushes. So a lone result
  /// costs one message and no hand-off, and a flood one message per flush.
  void reply_batched(const caf::actor& to, message_kind kind, std::string payload) {
    const auto now = std::chrono::steady_clock::now();
    bool send_now = false;
    bool ask_flush = false;
    {
      std::lock_guard<std::mutex> guard{mu};
      auto& box = outboxes[to.address()];
      if (box.flush_pending || now - box.last_sent < gather_window) {
        box.to = to;
        box.queued.emplace_back(kind, std::move(payload));
        ask_flush = !box.flush_pending;
        box.flush_pending = true;
      } else {
        box.last_sent = now;
        send_now = true;
      }
    }
    if (send_now)
      counted_send(to, kind, std::move(payload));
    else if (ask_flush)
      caf::anon_send(endpoint, flush_atom::value, to.address());
  }

  /// The endpoint flushes what was gathered for `who`: each run of results or
  /// items in one message, in the order they came. What comes while it sends
  /// is queued too (flush_pending) and goes with the next flush.
  void flush(const caf::actor_addr& who) {
    caf::actor to;
    std::vector<std::pair<message_kind, std::string>> queued;
    {
      std::lock_guard<std::mutex> guard{mu};
      auto i = outboxes.find(who);
      if (i == outboxes.end())
        return;
      to = i->second.to;
      queued.swap(i->second.queued);
    }
    for (std::size_t first = 0; first < queued.size();) {
      const auto kind = queued[first].first;
      std::size_t end = first + 1;
      while (end < queued.size() && queued[end].first == kind)
        ++end;
      if (end - first == 1) {
        counted_send(to, kind, std::move(queued[first].second));
      } else {
        std::vector<std::string> run;
        run.reserve(end - first);
        for (std::size_t k = first; k < end; ++k)
          run.push_back(std::move(queued[k].second));
        if (kind == message_kind::result)
          counted_send(to, message_kind::result_batch, wire::pack(wire::result_batch{std::move(run)}));
        else
          counted_send(to, message_kind::stream_item_batch, wire::pack(wire::stream_item_batch{std::move(run)}));
      }
      first = end;
    }
    bool again = false;
    {
      std::lock_guard<std::mutex> guard{mu};
      auto i = outboxes.find(who);
      if (i == outboxes.end())
        return;
      i->second.last_sent = std::chrono::steady_clock::now();
      again = !i->second.queued.empty();
      i->second.flush_pending = again;
      if (!again)
        i->second.to = caf::actor{}; // an idle outbox keeps no proxy alive
    }
    if (again)
      caf::anon_send(endpoint, flush_atom::value, who);
  }

  node_id node_of(const caf::actor_addr& who) const {
    std::lock_guard<std::mutex> guard{mu};
    auto i = ids.find(who);
    return i == ids.end() ? node_id{} : i->second;
  }

  bool is_head(const caf::actor_addr& who) const {
    std::lock_guard<std::mutex> guard{mu};
    return head && head.address() == who;
  }

  void received(const std::string& payload) {
    messages_received.fetch_add(1, std::memory_order_relaxed);
    bytes_received.fetch_add(payload.size(), std::memory_order_relaxed);
  }
};

namespace {

// Hands a message from a peer to the remote layer, on the network thread.
void deliver(caf_transport::impl* d, message_kind k, const std::string& payload, const caf::actor& from) {
  on_network_thread = true; // the middleman's: see endpoint_actor above
  d->received(payload);
  auto* messages = d->messages.load();
  if (!messages)
    return;
  // Only requests are answered: the others need no way back (and a result,
  // the most frequent message, costs no allocation for one).
  bool answered = k == message_kind::task || k == message_kind::task_batch || k == message_kind::actor_call
                  || k == message_kind::fetch || k == message_kind::bundle_reserve;
  messages->on_message(k, payload,
                       answered && from ? return_address{std::make_shared<const caf::actor>(from)} : return_address{});
}

// Closes a lane connection whose bytes broke the format, saying why.
void drop_lane(endpoint_actor* self, caf::io::connection_handle hdl, const std::string& why) {
  auto& lanes = self->state.lanes;
  auto i = lanes.find(hdl);
  std::string peer = i != lanes.end() ? i->second.peer : std::string("a peer");
  log(log_level::warning, "cluster", "closed the message lane from ", peer, ": ", why);
  self->close(hdl);
  if (i != lanes.end())
    lanes.erase(i);
}

// Delivers what a lane held until its marker came.
void release_held(caf_transport::impl* d, incoming_lane& in) {
  auto held = std::move(in.held);
  in.held.clear();
  in.held_bytes = 0;
  d->lane_messages_received.fetch_add(held.size(), std::memory_order_relaxed);
  for (auto& m : held)
    deliver(d, m.kind, m.payload, in.from);
}

caf::behavior node_endpoint(endpoint_actor* self, caf_transport::impl* owner, std::uint64_t shutdown_key) {
  ignore_exit_messages(self, "cluster");
  self->state.owner = owner;
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto* d = self->state.owner;
    auto* events = d->events.load();
    if (!events)
      return;
    if (d->is_head(dm.source)) {
      events->on_head_down();
      return;
    }
    if (auto id = d->node_of(dm.source); id.value)
      events->on_peer_down(id);
  });
  self->delayed_send(self, report_interval, tick_atom::value);
  return {
    [=](peer_atom, std::uint8_t kind, const std::string& payload, const caf::actor& from) {
      deliver(self->state.owner, static_cast<message_kind>(kind), payload, from);
    },
    // Message lanes (runtime/cluster/message_lane.hpp): the port, the
    // connections to it, what they bring, and the markers that open them.
    [=](lane_listen_atom, const std::string& bind) -> std::uint16_t {
      auto listening = self->add_tcp_doorman(0, bind.c_str(), true);
      if (!listening) {
        log(log_level::warning, "cluster", "cannot open a message lane port on ", bind, " (",
            self->system().render(listening.error()), "): peers send to this node over CAF's connections");
        return 0;
      }
      return listening->second;
    },
    [=](const caf::io::new_connection_msg& m) {
      auto& in = self->state.lanes.emplace(m.handle, incoming_lane{self->state.owner->token}).first->second;
      in.hello_deadline = std::chrono::steady_clock::now() + lane_hello_time;
      in.peer = self->remote_addr(m.handle) + ":" + std::to_string(self->remote_port(m.handle));
      self->configure_read(m.handle, caf::io::receive_policy::at_most(64u << 10));
    },
    [=](caf::io::new_data_msg& m) {
      auto* d = self->state.owner;
      auto i = self->state.lanes.find(m.handle);
      if (i == self->state.lanes.end())
        return;
      auto& in = i->second;
      std::vector<lane_reader::event> events;
      in.reader.feed(m.buf.data(), m.buf.size(), events);
      for (auto& e : events) {
        if (auto* h = std::get_if<lane_reader::hello>(&e)) {
          auto answer = lane_accept(h->status);
          self->write(m.handle, answer.size(), answer.data());
          self->flush(m.handle);
          if (h->status != lane_accepted) {
            drop_lane(self, m.handle,
                      h->status == lane_bad_token ? "it gave a wrong cluster token" : "it speaks another lane version");
            return;
          }
          in.lane = h->lane;
          in.sender = node_id{h->sender};
          in.marker_deadline = std::chrono::steady_clock::now() + d->lane_receiving.marker_time;
          auto early = self->state.early_markers.find(in.lane);
          if (early != self->state.early_markers.end()) {
            in.marked = true;
            in.from = std::move(early->second);
            self->state.early_markers.erase(early);
          }
        } else if (auto* msg = std::get_if<lane_reader::message>(&e)) {
          if (in.marked) {
            d->lane_messages_received.fetch_add(1, std::memory_order_relaxed);
            deliver(d, msg->kind, msg->payload, in.from);
          } else {
            in.held_bytes += msg->payload.size();
            in.held.push_back(std::move(*msg));
            if (!in.paused && in.held_bytes > d->lane_receiving.hold_bytes) {
              // The marker is behind what went over CAF before: read no more
              // until it comes (what this read brought is held).
              self->halt(m.handle);
              in.paused = true;
            }
          }
        } else {
          drop_lane(self, m.handle, std::get<lane_reader::broken>(e).why);
          return;
        }
      }
    },
    [=](const caf::io::connection_closed_msg& m) { self->state.lanes.erase(m.handle); },
    [=](const caf::io::acceptor_closed_msg&) {
      log(log_level::warning, "cluster", "the message lane port closed: peers that have no lane here yet send over "
                                         "CAF's connections");
    },
    [=](lane_open_atom, std::uint64_t lane, const caf::actor& from) {
      for (auto& [hdl, in] : self->state.lanes)
        if (in.reader.greeted() && in.lane == lane && !in.marked) {
          in.marked = true;
          in.from = from;
          release_held(self->state.owner, in);
          if (in.paused) {
            in.paused = false;
            self->trigger(hdl);
          }
          return;
        }
      // The hello has not come yet (or never does: a bounded few are kept).
      auto& early = self->state.early_markers;
      if (early.size() >= 1024)
        early.erase(early.begin());
      early[lane] = from;
    },
    [=](lane_flush_atom, const caf::actor_addr& who) { self->state.owner->flush_lane(who); },
    [=](lane_down_atom, std::uint64_t node) {
      if (auto* events = self->state.owner->events.load()) {
        log(log_level::warning, "cluster", "the message lane to node ", node_id{node}.to_string(),
            " broke: taken as its connection closing");
        events->on_peer_down(node_id{node});
      }
    },
    [=](ask_atom a, std::uint8_t kind, const std::string& payload) {
      self->state.owner->received(payload);
      return self->delegate(self->state.owner->requests, a, kind, payload);
    },
    [=](view_atom, const std::string& blob, const std::vector<caf::actor>& eps) {
      auto* d = self->state.owner;
      auto* events = d->events.load();
      if (!events)
        return;
      wire::cluster_view view;
      try {
        view = wire::unpack<wire::cluster_view>(blob, "node table");
      } catch (const std::exception& e) {
        log(log_level::warning, "cluster", e.what());
        return;
      }
      if (eps.size() != view.nodes.size())
        return;
      d->learn(view, eps);
      for (const auto& ep : eps)
        if (ep && ep != d->endpoint && self->state.monitored.insert(ep.address()).second)
          self->monitor(ep);
      events->on_view(view);
      d->connect(view, eps);
    },
    [=](watch_atom, const caf::actor& who) { self->monitor(who); },
    [=](job_atom a, const std::string& op, const std::string& token,
        const std::string& payload) -> caf::result<caf::message> {
      caf::actor jobs;
      {
        std::lock_guard<std::mutex> guard{self->state.owner->mu};
        jobs = self->state.owner->jobs;
      }
      if (!jobs)
        return caf::make_message(false, std::string("this node is not the head: send job requests to the head"));
      return self->delegate(jobs, a, op, token, payload);
    },
    [=](flush_atom, const caf::actor_addr& who) { self->state.owner->flush(who); },
    // Reading a log file and gathering state rows take their time: the request
    // server answers them, off the network thread.
    [=](log_atom a, std::uint64_t target, const std::string& token, std::uint64_t from, std::uint64_t inode,
        std::uint32_t tail) {
      return self->delegate(self->state.owner->requests, a, target, token, from, inode, tail);
    },
    [=](state_atom a, const std::string& what, const std::string& token) {
      return self->delegate(self->state.owner->requests, a, what, token);
    },
    [=](stop_node_atom, const std::string& token) {
      auto* d = self->state.owner;
      if (token != d->token) {
        log(log_level::warning, "cluster", "refused a stop request with a wrong cluster token");
        return;
      }
      if (auto* events = d->events.load())
        events->on_stop_request();
    },
    [=](shutdown_atom, std::uint64_t key) {
      if (key == shutdown_key)
        self->quit(caf::exit_reason::user_shutdown);
    },
    [=](tick_atom) {
      const auto now = std::chrono::steady_clock::now();
      std::vector<std::pair<caf::io::connection_handle, std::string>> late;
      for (auto& [hdl, in] : self->state.lanes) {
        if (!in.reader.greeted() && now > in.hello_deadline) {
          late.emplace_back(hdl, "no hello within " + std::to_string(lane_hello_time.count()) + " s");
        } else if (in.reader.greeted() && !in.marked && now > in.marker_deadline) {
          const auto ms = self->state.owner->lane_receiving.marker_time.count();
          late.emplace_back(hdl, "its marker did not come over CAF within "
                                   + (ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms")
                                   + " of the hello (its sender died, or it is no peer of this cluster)");
        }
      }
      for (auto& [hdl, why] : late)
        drop_lane(self, hdl, why);
      if (auto* events = self->state.owner->events.load()) {
        for (const auto& id : self->state.owner->unlisted_too_long())
          events->on_peer_unlisted(id);
        events->on_tick();
      }
      self->delayed_send(self, report_interval, tick_atom::value);
    },
  };
}

caf::behavior request_server(caf::event_based_actor* self, caf_transport::impl* owner, std::uint64_t shutdown_key) {
  ignore_exit_messages(self, "cluster");
  return {
    [=](ask_atom, std::uint8_t kind, const std::string& payload) -> std::string {
      auto* messages = owner->messages.load();
      if (!messages)
        return wire::pack(wire::request_answer{false, "the node is not serving yet"});
      try {
        return messages->on_request(static_cast<request_kind>(kind), payload);
      } catch (const std::exception& e) {
        log(log_level::warning, "cluster", "a request of kind ", static_cast<int>(kind), " failed: ", e.what());
        return wire::pack(wire::request_answer{false, std::string("the node could not answer: ") + e.what()});
      }
    },
    [=](log_atom, std::uint64_t target, const std::string& token, std::uint64_t from, std::uint64_t inode,
        std::uint32_t tail) -> caf::result<bool, std::string, std::uint64_t, std::uint64_t> {
      auto* d = owner;
      if (token != d->token) {
        log(log_level::warning, "cluster", "refused a log request with a wrong cluster token");
        return {false, std::string("wrong or missing cluster token"), std::uint64_t{0}, std::uint64_t{0}};
      }
      if (target != 0) {
        auto ep = d->endpoint_of(node_id{target});
        if (!ep)
          return {false, "node " + node_id{target}.to_string() + " is not in this node's table (dead, or never joined)",
                  std::uint64_t{0}, std::uint64_t{0}};
        if (ep != d->endpoint) {
          // Asked on behalf of a caller that may not reach that node itself.
          auto answer = self->make_response_promise();
          self->request(ep, std::chrono::seconds(10), log_atom::value, std::uint64_t{0}, token, from, inode, tail)
            .then(
              [answer](bool ok, std::string& text, std::uint64_t next, std::uint64_t file) mutable {
                answer.deliver(ok, std::move(text), next, file);
              },
              [answer, target](const caf::error&) mutable {
                answer.deliver(false, "node " + node_id{target}.to_string() + " did not answer within 10 s",
                               std::uint64_t{0}, std::uint64_t{0});
              });
          return answer;
        }
      }
      auto file = log_file();
      if (file.empty())
        return {false, std::string("this process keeps no log file (a program's embedded cluster logs to its stderr)"),
                std::uint64_t{0}, std::uint64_t{0}};
      try {
        auto chunk = read_log_chunk(file, from, inode, std::min<std::uint32_t>(tail, 1'000'000));
        return {true, std::move(chunk.text), chunk.next, chunk.inode};
      } catch (const std::exception& e) {
        return {false, std::string(e.what()), std::uint64_t{0}, std::uint64_t{0}};
      }
    },
    [=](state_atom, const std::string& what, const std::string& token) -> std::tuple<bool, std::string> {
      auto* d = owner;
      auto* events = d->events.load();
      if (token != d->token || !events) {
        log(log_level::warning, "cluster", "refused a state query with a wrong cluster token");
        return {false, std::string{}};
      }
      return {true, wire::pack(events->on_state_query(what))};
    },
    [=](shutdown_atom, std::uint64_t key) {
      if (key == shutdown_key)
        self->quit(caf::exit_reason::user_shutdown);
    },
  };
}

} // namespace

caf_transport::caf_transport(caf::actor_system& sys, std::string token, std::chrono::milliseconds unlisted_wait,
                             lane_limits lanes)
  : impl_(new impl(sys, std::move(token), unlisted_wait, lanes)) {
  impl_->requests = sys.spawn(request_server, impl_.get(), impl_->shutdown_key);
  impl_->endpoint = sys.middleman().spawn_broker(node_endpoint, impl_.get(), impl_->shutdown_key);
}

caf_transport::~caf_transport() {
  stop();
}

void caf_transport::start(message_handler& messages, endpoint_events& events) {
  impl_->messages.store(&messages);
  impl_->events.store(&events);
}

void caf_transport::serve_jobs(const caf::actor& jobs) {
  std::lock_guard<std::mutex> guard{impl_->mu};
  impl_->jobs = jobs;
}

std::optional<std::string> caf_transport::ask_jobs(const std::string& op, std::string payload,
                                                   std::chrono::milliseconds timeout, std::string& why) {
  caf::actor head;
  {
    // On the head, straight to its job service: this node's endpoint may be the
    // thread waiting for the answer (a task of the job waiting for its library).
    std::lock_guard<std::mutex> guard{impl_->mu};
    head = impl_->jobs ? impl_->jobs : impl_->head_endpoint;
  }
  if (!head) {
    why = "no head is in the node table";
    return std::nullopt;
  }
  std::optional<std::string> out;
  caf::scoped_actor self{impl_->sys};
  self->request(head, timeout, job_atom::value, op, impl_->token, std::move(payload))
    .receive(
      [&](bool ok, std::string& answer) {
        if (ok)
          out = std::move(answer);
        else
          why = "the head refused: " + answer;
      },
      [&](const caf::error& e) { why = "the head did not answer: " + impl_->sys.render(e); });
  return out;
}

caf::actor caf_transport::endpoint() const {
  return impl_->endpoint;
}

namespace {

// With TLS, CAF serves loopback only, behind the process's gateway.
const char* const behind_gateway = "127.0.0.1";

} // namespace

std::uint16_t caf_transport::publish(const std::string& bind) {
  auto* gateway = tls_gateway::of_this_process();
  auto port = impl_->sys.middleman().publish(impl_->endpoint, 0, gateway ? behind_gateway : bind.c_str(), true);
  if (!port)
    throw error(errc::invalid_argument,
                "cannot open a port on " + bind + " for other nodes: " + impl_->sys.render(port.error()));
  silent_connections::of_this_process().watch_port(&impl_->sys, *port);
  if (!gateway) {
    // Message lanes bypass CAF and would bypass the TLS gateway too: off with it.
    caf::scoped_actor self{impl_->sys};
    self->request(impl_->endpoint, std::chrono::seconds(10), lane_listen_atom::value, bind)
      .receive([&](std::uint16_t lane_port) { impl_->lane_port = lane_port; },
               [&](const caf::error&) { impl_->lane_port = 0; });
    impl_->lanes_on.store(impl_->lane_port != 0);
  }
  return gateway ? gateway->serve(bind, 0, *port) : *port;
}

std::uint16_t caf_transport::lane_port() const {
  return impl_->lane_port;
}

std::uint16_t caf_transport::serve_control(const caf::actor& control, const std::string& bind, std::uint16_t port) {
  auto* gateway = tls_gateway::of_this_process();
  auto res = gateway ? impl_->sys.middleman().publish(control, 0, behind_gateway, true)
                     : impl_->sys.middleman().publish(control, port, bind.c_str(), true);
  if (!res)
    throw error(errc::invalid_argument, "cannot listen on " + bind + ":" + std::to_string(port) + ": "
                                          + impl_->sys.render(res.error())
                                          + "; is the port taken? pick another with --port");
  silent_connections::of_this_process().watch_port(&impl_->sys, *res);
  auto outside = gateway ? gateway->serve(bind, port, *res) : *res;
  std::lock_guard<std::mutex> guard{impl_->mu};
  impl_->control_bind = gateway ? behind_gateway : bind;
  impl_->control_port = *res;
  impl_->served_control = control;
  return outside;
}

bool caf_transport::serve_restarted_control(const caf::actor& fresh) {
  auto& d = *impl_;
  caf::actor dead;
  std::string bind;
  std::uint16_t port = 0;
  {
    std::lock_guard<std::mutex> guard{d.mu};
    dead = d.served_control;
    bind = d.control_bind;
    port = d.control_port;
  }
  if (port == 0)
    return true; // an embedded node serves no port
  // The port still serves the dead actor: serve the new one there instead.
  if (auto gone = d.sys.middleman().unpublish(dead, port); !gone)
    log(log_level::warning, "cluster", "could not stop serving the dead control store on port ", port, ": ",
        d.sys.render(gone.error()));
  auto res = d.sys.middleman().publish(fresh, port, bind.c_str(), true);
  if (!res) {
    log(log_level::error, "cluster", "cannot serve the restarted control store on port ", port, ": ",
        d.sys.render(res.error()));
    return false;
  }
  std::lock_guard<std::mutex> guard{d.mu};
  d.served_control = fresh;
  return true;
}

void caf_transport::watch_head(const caf::actor& control, bool monitor) {
  {
    std::lock_guard<std::mutex> guard{impl_->mu};
    impl_->head = control;
  }
  if (monitor)
    caf::anon_send(impl_->endpoint, watch_atom::value, control);
}

void caf_transport::stop() {
  {
    std::lock_guard<std::mutex> guard{impl_->mu};
    if (impl_->stopped)
      return;
    impl_->stopped = true;
  }
  impl_->connectors.wait_all();
  impl_->close_lanes(node_id{});
  impl_->messages.store(nullptr);
  impl_->events.store(nullptr);
  if (!impl_->endpoint)
    return;
  // Waits for the endpoint to end: messages queued before the shutdown (a node
  // table, say) are still handled, and they read this transport's state, which
  // goes with it.
  caf::scoped_actor self{impl_->endpoint.home_system()};
  self->send(impl_->endpoint, shutdown_atom::value, impl_->shutdown_key);
  self->send(impl_->requests, shutdown_atom::value, impl_->shutdown_key);
  self->wait_for(impl_->endpoint, impl_->requests);
}

bool caf_transport::send(const node_id& to, message_kind kind, std::string payload) {
  caf::actor ep;
  {
    std::lock_guard<std::mutex> guard{impl_->mu};
    if (impl_->stopped)
      return false;
    auto i = impl_->book.find(to);
    if (i == impl_->book.end()) {
      // A node known dead is out of the book for good: only the others wait.
      if (!to.value || impl_->forgotten.count(to))
        return false;
      return impl_->await_listing(to, kind, std::move(payload));
    }
    ep = i->second;
  }
  impl_->counted_send(ep, kind, std::move(payload));
  return true;
}

void caf_transport::reply(const return_address& to, message_kind kind, std::string payload) {
  const auto* ep = static_cast<const caf::actor*>(to.handle());
  if (!ep || !*ep)
    return;
  if (kind == message_kind::result || kind == message_kind::stream_item)
    impl_->reply_batched(*ep, kind, std::move(payload));
  else
    impl_->counted_send(*ep, kind, std::move(payload));
}

std::optional<std::string> caf_transport::request(const node_id& to, request_kind kind, std::string payload,
                                                  std::chrono::milliseconds timeout, std::string& why) {
  auto ep = impl_->endpoint_of(to);
  if (!ep) {
    why = "node " + to.to_string() + " is not in the node table";
    return std::nullopt;
  }
  impl_->messages_sent.fetch_add(1, std::memory_order_relaxed);
  impl_->bytes_sent.fetch_add(payload.size(), std::memory_order_relaxed);
  std::optional<std::string> out;
  caf::scoped_actor self{impl_->sys};
  self->request(ep, timeout, ask_atom::value, static_cast<std::uint8_t>(kind), std::move(payload))
    .receive([&](std::string& answer) { out = std::move(answer); },
             [&](const caf::error& e) { why = impl_->sys.render(e); });
  return out;
}

bool caf_transport::reaches(const node_id& id) const {
  std::lock_guard<std::mutex> guard{impl_->mu};
  return impl_->book.count(id) > 0;
}

void caf_transport::forget(const node_id& id) {
  if (id.value)
    impl_->close_lanes(id);
  std::lock_guard<std::mutex> guard{impl_->mu};
  impl_->forgotten.insert(id);
  impl_->awaiting.erase(id);
  if (auto b = impl_->book.find(id); b != impl_->book.end())
    impl_->outboxes.erase(b->second.address());
  // `ids` keeps the endpoint's address: a connection that closes later is still
  // reported as this node's (membership::connection_closed).
  impl_->book.erase(id);
}

traffic_counts caf_transport::traffic() const {
  return {impl_->messages_sent.load(),      impl_->messages_received.load(),      impl_->bytes_sent.load(),
          impl_->bytes_received.load(),     impl_->lane_messages_sent.load(), impl_->lane_messages_received.load()};
}

caf::expected<caf::actor> connect_within(caf::actor_system& sys, const std::string& peer_host, std::uint16_t peer_port,
                                         std::chrono::milliseconds timeout) {
  // With TLS, CAF dials the gateway's loopback port for that peer instead.
  std::string host = peer_host;
  std::uint16_t port = peer_port;
  if (auto* gateway = tls_gateway::of_this_process()) {
    port = gateway->route_to(peer_host, peer_port);
    host = behind_gateway;
  }
  silent_connections::of_this_process().watch_peer(&sys, host, port);
  caf::expected<caf::actor> result{caf::sec::request_timeout};
  caf::scoped_actor self{sys};
  self->request(sys.middleman().actor_handle(), timeout, caf::connect_atom::value, host, port)
    .receive([&](const caf::node_id&, caf::strong_actor_ptr& published,
                 const std::set<std::string>&) { result = caf::actor_cast<caf::actor>(std::move(published)); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace actors::runtime
