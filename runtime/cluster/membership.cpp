#include "runtime/cluster/membership.hpp"

#include "runtime/common/flag_names.hpp"
#include "runtime/common/log.hpp"

#include "actors/errors.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>

namespace actors::runtime {

namespace {

// How long the head may take to answer a member's probe before the member takes
// it for gone and reconnects (a head that restarted, or that holds the member
// dead, then says so): the heartbeat timeout, and 5 s at least. A cluster given
// a long heartbeat timeout for a slow network or busy hosts gets as long here.
std::chrono::milliseconds head_probe_timeout(const cluster_settings& s) {
  using std::chrono::milliseconds;
  return std::max<milliseconds>(std::chrono::seconds(5), milliseconds(s.heartbeat_timeout_ms));
}

// How long a join waits for the head's answer and for the first node table.
constexpr auto join_timeout = std::chrono::seconds(10);

} // namespace

void membership_listener::node_lost(const node_id&, const std::string&) {}
void membership_listener::node_gone_for_good(const node_id&) {}
void membership_listener::view_changed() {}
void membership_listener::cut_off(const std::string&) {}
void membership_listener::rejoined() {}

membership::membership(local_parts local, cluster_settings settings, head_link& head, transport& links)
  : local_(local), settings_(std::move(settings)), head_(head), links_(links) {}

membership::~membership() {
  stop();
}

void membership::add_listener(membership_listener& listener) {
  listeners_.push_back(&listener);
}

void membership::add_demand_source(const demand_source& source) {
  demand_sources_.push_back(&source);
}

template <class F>
void membership::tell(F&& f) {
  for (auto* l : listeners_)
    f(*l);
}

void membership::join(const wire::node_record& rec) {
  {
    std::lock_guard<std::mutex> guard{mu_};
    joined_as_ = rec;
  }
  auto answer = head_.join(rec);
  if (!answer.accepted)
    throw error(errc::invalid_argument, "the cluster refused this node: " + answer.reason);
  std::unique_lock<std::mutex> lock{mu_};
  bool seen = changed_.wait_for(lock, join_timeout, [&] {
    return std::any_of(view_.nodes.begin(), view_.nodes.end(), [&](const auto& r) { return r.id == local_.id; });
  });
  if (!seen)
    throw error(errc::invalid_argument, "joined the cluster but its node table never arrived");
}

wire::node_record membership::current_record() const {
  auto rec = joined_as_;
  auto s = local_.sched.stats();
  rec.total = s.total.to_map();
  rec.available = s.available.to_map();
  return rec;
}

bool membership::rejoin(join_answer& answer) {
  wire::node_record rec;
  {
    // The restarted control store numbers its node tables afresh.
    std::lock_guard<std::mutex> guard{mu_};
    view_.version = 0;
    rec = current_record();
  }
  answer = head_.join(rec);
  return answer.accepted;
}

void membership::rebuild_snapshot_locked() {
  auto snap = std::make_shared<cluster_snapshot>();
  std::size_t alive = 0;
  for (const auto& rec : view_.nodes) {
    if (!rec.alive)
      continue;
    ++alive;
    // A draining node is about to be removed by the autoscaler: no new work.
    if (rec.draining || dead_.count(rec.id) || (rec.id != local_.id && !links_.reaches(rec.id)))
      continue;
    snap->members.push_back({rec.id, rec.address, resource_set::from(0, rec.total),
                             resource_set::from(0, rec.available), static_cast<double>(rec.load), rec.head,
                             rec.driver});
  }
  alive_count_.store(alive, std::memory_order_relaxed);
  snapshot_ = std::move(snap);
}

void membership::apply_view(wire::cluster_view view) {
  std::vector<node_id> newly_dead;
  std::vector<node_id> gone_for_good;
  bool self_dead = false;
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (view.version < view_.version)
      return;
    // The head holds this node dead: it was cut off longer than the heartbeat
    // timeout but still reaches the head through another node.
    for (const auto& rec : view.nodes)
      self_dead = self_dead || (rec.id == local_.id && !rec.alive);
  }
  if (self_dead) {
    declared_dead_by_head();
    return;
  }
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (view.version < view_.version)
      return;
    for (const auto& rec : view.nodes)
      if (!rec.alive && rec.id != local_.id && held_dead_by_head_.insert(rec.id).second
          && connection_closed_.count(rec.id) && gone_for_good_.insert(rec.id).second)
        gone_for_good.push_back(rec.id);
    // A node this process knows dead stays dead, even while a restarted head
    // still waits for it to join again: ids do not come back.
    for (auto& rec : view.nodes)
      if (rec.alive && dead_.count(rec.id))
        rec.alive = false;
    view_ = std::move(view);
    for (const auto& rec : view_.nodes)
      if (!rec.alive && !dead_.count(rec.id))
        newly_dead.push_back(rec.id);
    rebuild_snapshot_locked();
  }
  changed_.notify_all();
  for (const auto& id : newly_dead)
    node_down(id, "the head declared it dead");
  for (const auto& id : gone_for_good)
    tell([&](membership_listener& l) { l.node_gone_for_good(id); });
  tell([](membership_listener& l) { l.view_changed(); });
}

void membership::node_down(const node_id& id, const std::string& why) {
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (!dead_.insert(id).second)
      return;
    for (auto& rec : view_.nodes)
      if (rec.id == id)
        rec.alive = false;
    rebuild_snapshot_locked();
  }
  if (id != local_.id)
    log(log_level::info, "cluster", "node ", id.to_string(), " is taken for dead: ", why);
  changed_.notify_all();
  tell([&](membership_listener& l) { l.node_lost(id, why); });
}

void membership::connection_closed(const node_id& id) {
  bool gone = false;
  {
    std::lock_guard<std::mutex> guard{mu_};
    gone = connection_closed_.insert(id).second && held_dead_by_head_.count(id) && gone_for_good_.insert(id).second;
  }
  node_down(id, "its connection closed");
  if (gone)
    tell([&](membership_listener& l) { l.node_gone_for_good(id); });
}

bool membership::is_dead(const node_id& id) const {
  std::lock_guard<std::mutex> guard{mu_};
  return dead_.count(id) > 0;
}

std::shared_ptr<const cluster_snapshot> membership::snapshot() const {
  std::lock_guard<std::mutex> guard{mu_};
  return snapshot_;
}

bool membership::offers(const node_id& id, const std::string& resource) const {
  std::lock_guard<std::mutex> guard{mu_};
  for (const auto& rec : view_.nodes)
    if (rec.id == id && rec.total.count(resource))
      return true;
  return false;
}

void membership::report() {
  auto s = local_.sched.stats();
  auto a = local_.host.stats();
  wire::node_report rep;
  rep.id = local_.id;
  rep.total = s.total.to_map();
  rep.available = s.available.to_map();
  rep.load = s.running + s.pending + a.alive + a.creating;
  rep.actors = a.alive + a.creating;
  rep.objects = local_.store.stats().objects;
  std::map<std::map<std::string, double>, std::uint64_t> shapes;
  local_.sched.count_pending(shapes);
  for (const auto* source : demand_sources_)
    source->count_waiting(shapes);
  for (auto& [shape, count] : shapes)
    rep.pending.push_back({shape, count});
  head_.report(rep);
  // Once a second a member checks that the head still answers and still holds
  // it alive (see head_link::probe).
  bool probe = false;
  std::uint64_t losses = 0;
  {
    std::lock_guard<std::mutex> guard{mu_};
    probe = !reconnecting_ && !stopping_ && ++reports_ % 10 == 0;
    losses = head_losses_;
  }
  if (probe)
    head_.probe(
      local_.id, head_probe_timeout(settings_),
      [this, losses] {
        {
          // Lost (and maybe rejoined) while the probe waited: it asked the head
          // that went away.
          std::lock_guard<std::mutex> guard{mu_};
          if (losses != head_losses_)
            return;
        }
        log(log_level::warning, "cluster", "the head at ", settings_.head_address, " did not answer within ",
            std::chrono::duration<double>(head_probe_timeout(settings_)).count(), " s");
        head_lost();
      },
      [this] { declared_dead_by_head(); });
}

// -- the head going away and coming back ---------------------------------------------

void membership::head_lost() {
  auto timeout = settings_.head_reconnect_timeout_ms;
  {
    std::lock_guard<std::mutex> guard{mu_};
    ++head_losses_;
    if (stopping_ || reconnecting_)
      return;
    if (timeout > 0) {
      reconnecting_ = true;
      reconnectors_.start([this] { reconnect_to_head(); });
    }
  }
  head_.lost();
  if (timeout > 0)
    return; // reconnect_to_head says so, unless the node stops first
  give_up_on_head("reconnecting is off (" + flag_name("head-reconnect-timeout") + "=0)");
}

void membership::give_up_on_head(const std::string& why) {
  if (settings_.driver) {
    log(log_level::error, "cluster", "the head at ", settings_.head_address, " is gone and ", why,
        ": named actors, new nodes and the node table are out of reach from now on; restart the "
        "cluster and this program");
    std::lock_guard<std::mutex> guard{mu_};
    if (!stopping_)
      reconnectors_.start([this] { watch_peers_without_head(); });
    return;
  }
  log(log_level::error, "cluster", "the head at ", settings_.head_address, " is gone and ", why,
      ": this node stops; start it again once the head runs");
  end_serving(stop_cause::head_gone);
}

// Without its head a driver no longer hears which nodes died, and what it sends
// to a node it has no direct connection to went through the head and is lost
// with it: work waiting there would wait forever. So every heartbeat timeout (a
// second at least) it asks each node it holds alive whether it serves, and takes
// one that does not answer within that time for dead, as when a connection
// closes: what waited there goes again elsewhere or fails.
void membership::watch_peers_without_head() {
  using namespace std::chrono;
  const auto timeout = milliseconds(std::max(1000, settings_.heartbeat_timeout_ms));
  for (;;) {
    std::vector<node_id> peers;
    {
      std::unique_lock<std::mutex> lock{mu_};
      if (changed_.wait_for(lock, timeout, [&] { return stopping_ || stopped_; }))
        return;
      for (const auto& rec : view_.nodes)
        if (rec.alive && rec.id != local_.id && !dead_.count(rec.id))
          peers.push_back(rec.id);
    }
    for (const auto& id : peers) {
      std::string why;
      if (links_.request(id, request_kind::ping, {}, timeout, why))
        continue;
      {
        std::lock_guard<std::mutex> guard{mu_};
        if (stopping_ || stopped_)
          return;
      }
      std::ostringstream what;
      what << "it did not answer within " << timeout.count() / 1000.0 << " s (" << why
           << "), and the head that would say whether it lives is gone";
      node_down(id, what.str());
    }
  }
}

void membership::declared_dead_by_head() {
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (declared_dead_)
      return;
    declared_dead_ = true;
  }
  if (!settings_.driver) {
    log(log_level::warning, "cluster", "the head declared this node (", local_.id.to_string(),
        ") dead while it was unreachable (longer than --heartbeat-timeout); its objects and actors "
        "were given up, so it starts again as a new node");
    end_serving(stop_cause::declared_dead);
    return;
  }
  // A driver's work and objects were given up with it, and it cannot join again
  // under its id: what waits for the cluster would wait forever.
  auto why = "the head declared this program (node " + local_.id.to_string()
             + ") dead while it was unreachable for longer than " + flag_name("heartbeat-timeout") + ", and gave up "
               "its work in the cluster: restart the program";
  log(log_level::error, "cluster", why);
  tell([&](membership_listener& l) { l.cut_off(why); });
  local_.sched.no_more_nodes(why);
}

void membership::reconnect_to_head() {
  using namespace std::chrono;
  auto started = steady_clock::now();
  auto deadline = started + milliseconds(settings_.head_reconnect_timeout_ms);
  auto delay = milliseconds(100);
  std::string last_error = "no attempt yet";
  for (int attempt = 1;; ++attempt) {
    wire::node_record rec;
    {
      std::unique_lock<std::mutex> lock{mu_};
      auto wake = std::min(steady_clock::now() + delay, deadline);
      if (changed_.wait_until(lock, wake, [&] { return stopping_ || stopped_; }))
        return;
      // A restarted head numbers its node tables afresh.
      view_.version = 0;
      rec = current_record();
    }
    // Said after the first pause: a head that stops the cluster closes the
    // connection about when its stop request arrives, and then this node stops
    // within the pause, with nothing to warn about.
    if (attempt == 1)
      log(log_level::warning, "cluster", "lost the connection to the head at ", settings_.head_address,
          ": reconnecting for up to ", settings_.head_reconnect_timeout_ms / 1000.0, " s (",
          flag_name("head-reconnect-timeout"), "); work between live nodes goes on");
    if (steady_clock::now() >= deadline) {
      std::ostringstream why;
      why << "did not come back within " << settings_.head_reconnect_timeout_ms / 1000.0
          << " s (" << flag_name("head-reconnect-timeout") << "; last attempt: " << last_error << ")";
      give_up_on_head(why.str());
      return;
    }
    delay = std::min(delay * 2, milliseconds(2000));
    auto answer = head_.reconnect(rec, last_error);
    if (!answer)
      continue;
    if (answer->accepted) {
      {
        std::lock_guard<std::mutex> guard{mu_};
        reconnecting_ = false;
      }
      auto took = duration_cast<milliseconds>(steady_clock::now() - started).count();
      log(log_level::info, "cluster", "rejoined the cluster at ", settings_.head_address, " as node ",
          local_.id.to_string(), " after ", took / 1000.0, " s (attempt ", attempt, ")");
      tell([](membership_listener& l) { l.rejoined(); });
      return;
    }
    if (answer->refusal == wire::join_refusal::declared_dead) {
      declared_dead_by_head();
      return;
    }
    // The head still holds this node's previous connection: it has not seen
    // it close yet (the close was lost with the link, say). It lets it go when
    // that connection falls silent, and answers the next attempt then.
    if (answer->refusal == wire::join_refusal::duplicate_id) {
      last_error = answer->reason;
      continue;
    }
    if (answer->answered) {
      give_up_on_head("the head refused this node: " + answer->reason);
      return;
    }
    last_error = answer->reason;
  }
}

// -- what the node table says ----------------------------------------------------------

std::vector<node_info> membership::nodes() const {
  auto local_available = local_.sched.stats().available.to_map();
  std::lock_guard<std::mutex> guard{mu_};
  std::vector<node_info> out;
  out.reserve(view_.nodes.size());
  for (const auto& rec : view_.nodes) {
    auto& i = out.emplace_back();
    i.id = rec.id;
    i.address = rec.address;
    i.alive = rec.alive;
    i.is_head = rec.head;
    i.is_driver = rec.driver;
    i.metrics_port = rec.metrics_port;
    i.data_address = rec.data_address;
    i.lane_address = rec.lane_address;
    i.object_store_bytes = rec.object_store_bytes;
    i.pid = rec.pid;
    i.resources_total = rec.total;
    i.resources_available = rec.id == local_.id ? local_available : rec.available;
  }
  std::stable_partition(out.begin(), out.end(), [](const auto& i) { return i.is_head; });
  return out;
}

std::optional<wire::node_record> membership::record(const node_id& id) const {
  std::lock_guard<std::mutex> guard{mu_};
  for (const auto& rec : view_.nodes)
    if (rec.id == id)
      return rec;
  return std::nullopt;
}

std::vector<wire::node_record> membership::records() const {
  std::lock_guard<std::mutex> guard{mu_};
  return view_.nodes;
}

bool membership::wait_for_nodes(std::size_t count, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock{mu_};
  return changed_.wait_for(lock, timeout, [&] {
    return static_cast<std::size_t>(
             std::count_if(view_.nodes.begin(), view_.nodes.end(), [](const auto& r) { return r.alive; }))
           >= count;
  });
}

std::string membership::discovery_json() const {
  std::lock_guard<std::mutex> guard{mu_};
  auto out = nlohmann::ordered_json::array();
  for (const auto& rec : view_.nodes) {
    if (!rec.alive || rec.metrics_port <= 0)
      continue;
    auto colon = rec.address.rfind(':');
    std::string host = colon == std::string::npos || rec.address == "in-process" ? "127.0.0.1"
                                                                                  : rec.address.substr(0, colon);
    out.push_back({{"targets", nlohmann::ordered_json::array({host + ":" + std::to_string(rec.metrics_port)})},
                   {"labels",
                    {{"actors_node", rec.id.to_string()},
                     {"actors_role", rec.head ? "head" : rec.driver ? "driver" : "node"}}}});
  }
  return out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

// -- stopping ----------------------------------------------------------------------------

stop_cause membership::wait_until_stopped() {
  std::unique_lock<std::mutex> lock{mu_};
  changed_.wait(lock, [&] { return stopped_; });
  return why_stopped_;
}

void membership::end_serving(stop_cause cause) {
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (!stopped_)
      why_stopped_ = cause;
    stopped_ = true;
  }
  changed_.notify_all();
}

bool membership::stopping() const {
  std::lock_guard<std::mutex> guard{mu_};
  return stopping_;
}

void membership::stop() {
  head_.stop_probing();
  {
    std::lock_guard<std::mutex> guard{mu_};
    stopping_ = true;
  }
  changed_.notify_all();
  reconnectors_.wait_all();
}

} // namespace actors::runtime
