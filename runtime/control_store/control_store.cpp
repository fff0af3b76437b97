#include "runtime/control_store/control_store.hpp"

#include "runtime/wire/protocol.hpp"
#include "runtime/common/log.hpp"
#include "runtime/common/service_actor.hpp"
#include "runtime/control_store/head_state.hpp"
#include "runtime/wire/atoms.hpp"

#include "actors/errors.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace actors::runtime {

namespace {

using namespace msg;

// The control store answers from memory; a reply slower than this means it is gone.
constexpr auto request_timeout = std::chrono::seconds(10);
// How often node reports are folded into a view sent to every node.
constexpr auto broadcast_interval = std::chrono::milliseconds(100);
// How long a restarted head waits for the nodes it knew to join again before it
// declares them dead. They retry every 2 s at most, so this leaves room for a
// loaded machine.
constexpr auto rejoin_grace = std::chrono::seconds(10);

// Connections lost within this window of the first are judged together: a head
// cut off from the network loses all of them within about one heartbeat.
constexpr auto loss_window = std::chrono::milliseconds(300);

using rejoin_deadline_atom = caf::atom_constant<caf::atom("ac_rjdead")>;
using loss_check_atom = caf::atom_constant<caf::atom("ac_losschk")>;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// The tables as last saved, kept in memory too: a control-store actor restarted
/// in the same process starts from it.
struct saved_tables {
  std::mutex mu;
  std::optional<head_state> latest;
};

struct control_store_state {
  // All owned by the control-store actor and touched only in its handlers.
  std::string token;
  wire::cluster_view view;
  std::vector<caf::actor> endpoints; // parallel to view.nodes
  bool dirty = false;
  std::unordered_map<std::string, wire::named_actor> names;
  // Placement groups by id.
  std::map<std::string, wire::group_record> groups;
  // Where the tables are saved as they change (empty: nowhere), and how many
  // times a head started from them.
  std::filesystem::path state_dir;
  std::uint64_t restarts = 0;
  std::uint64_t shutdown_key = 0;
  std::shared_ptr<saved_tables> saved;
  bool save_failed = false;
  // Members whose connection went away in the current loss window (alive, with
  // no endpoint), and why.
  std::vector<std::pair<node_id, std::string>> lost;
  static inline const char* name = "actors.control_store";
};

using store_actor = caf::stateful_actor<control_store_state>;

/// Saves the tables to the state directory, if there is one. Called after every
/// change of membership or names; resource reports are not saved (the nodes send
/// them again).
void persist(store_actor* self) {
  auto& st = self->state;
  head_state saved;
  saved.token = st.token;
  saved.view = st.view;
  saved.names.insert(st.names.begin(), st.names.end());
  saved.groups = st.groups;
  saved.restarts = st.restarts;
  {
    std::lock_guard<std::mutex> guard{st.saved->mu};
    st.saved->latest = saved;
  }
  if (st.state_dir.empty())
    return;
  try {
    save_head_state(st.state_dir, saved);
    if (st.save_failed)
      log(log_level::info, "control_store", "saving the head's state to ", st.state_dir.string(), " works again");
    st.save_failed = false;
  } catch (const std::exception& e) {
    if (!st.save_failed)
      log(log_level::error, "control_store", e.what(),
          "; a restarted head would not know the latest nodes and names: free space or fix the "
          "permissions of --state-dir");
    st.save_failed = true;
  }
}

void broadcast(store_actor* self) {
  auto& st = self->state;
  st.dirty = false;
  ++st.view.version;
  auto blob = wire::pack(st.view);
  for (std::size_t i = 0; i < st.endpoints.size(); ++i)
    if (st.view.nodes[i].alive && st.endpoints[i])
      self->send(st.endpoints[i], view_atom::value, blob, st.endpoints);
}

/// What goes with a dead node: the names of the actors it hosted, and the
/// placement groups it created that are not detached (their bundles' nodes give
/// them back themselves).
void forget_node(control_store_state& st, const node_id& id) {
  for (auto it = st.names.begin(); it != st.names.end();)
    it = it->second.location == id ? st.names.erase(it) : std::next(it);
  for (auto it = st.groups.begin(); it != st.groups.end();)
    it = it->second.creator == id && !it->second.detached ? st.groups.erase(it) : std::next(it);
}

void mark_dead(store_actor* self, std::size_t i, const std::string& why, bool orderly) {
  auto& rec = self->state.view.nodes[i];
  if (!rec.alive)
    return;
  rec.alive = false;
  rec.died_ms = now_ms();
  rec.available.clear();
  if (orderly)
    log(log_level::info, "control_store", "node ", rec.id.to_string(), " at ", rec.address, " left");
  else
    log(log_level::warning, "control_store", "node ", rec.id.to_string(), " at ", rec.address,
        " is dead: ", why);
  forget_node(self->state, rec.id);
  persist(self);
  broadcast(self);
}

/// Takes over the tables a previous control store saved: its nodes stay alive,
/// without an endpoint, until they join again or the grace period ends. The
/// previous head itself is dead, unless this is the same head (`same_head`: the
/// actor was restarted in the head's process), which joins again like the others.
void restore(store_actor* self, head_state saved, const node_id& same_head) {
  auto& st = self->state;
  st.view = std::move(saved.view);
  st.names.insert(saved.names.begin(), saved.names.end());
  st.groups = std::move(saved.groups);
  st.restarts = saved.restarts + 1;
  st.endpoints.assign(st.view.nodes.size(), caf::actor{});
  std::size_t waiting = 0;
  for (std::size_t i = 0; i < st.view.nodes.size(); ++i) {
    auto& rec = st.view.nodes[i];
    if (rec.head && rec.alive && rec.id != same_head) {
      rec.alive = false;
      rec.died_ms = now_ms();
      rec.available.clear();
      forget_node(st, rec.id);
    } else if (rec.alive) {
      ++waiting;
    }
  }
  log(log_level::info, "control_store", "restarted from ",
      same_head.value ? std::string{"its tables in memory"} : head_state_file(st.state_dir).string(), ": ",
      st.view.nodes.size(), " nodes known (", waiting, " to rejoin within ",
      std::chrono::duration_cast<std::chrono::seconds>(rejoin_grace).count(), " s), ", st.names.size(),
      " named actors");
  if (waiting > 0)
    self->delayed_send(self, rejoin_grace, rejoin_deadline_atom::value);
  persist(self);
}

caf::behavior control_store_actor(store_actor* self, std::string token, std::filesystem::path state_dir,
                                  std::optional<head_state> saved, node_id same_head, std::uint64_t shutdown_key,
                                  std::shared_ptr<saved_tables> tables) {
  ignore_exit_messages(self, "control_store");
  self->state.shutdown_key = shutdown_key;
  self->state.saved = std::move(tables);
  self->state.token = std::move(token);
  self->state.state_dir = std::move(state_dir);
  if (saved)
    restore(self, std::move(*saved), same_head);
  else
    persist(self);
  // A member that leaves is dead at once; one whose connection is lost is judged
  // at the end of the loss window, with the others lost in it (loss_check_atom).
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& st = self->state;
    for (std::size_t i = 0; i < st.endpoints.size(); ++i) {
      if (!st.endpoints[i] || st.endpoints[i].address() != dm.source)
        continue;
      auto why = "its connection closed (" + self->system().render(dm.reason) + ")";
      if (dm.reason == caf::exit_reason::user_shutdown) {
        mark_dead(self, i, why, true);
        continue;
      }
      st.endpoints[i] = caf::actor{};
      if (st.lost.empty())
        self->delayed_send(self, loss_window, loss_check_atom::value);
      st.lost.emplace_back(st.view.nodes[i].id, std::move(why));
    }
  });
  self->delayed_send(self, broadcast_interval, tick_atom::value);
  return {
    [=](join_atom, std::uint32_t version, const std::string& token, const std::string& record,
        const caf::actor& endpoint) -> caf::message {
      auto& st = self->state;
      if (version != wire::protocol_version) {
        log(log_level::warning, "control_store", "refused a node speaking protocol version ", version);
        return caf::make_message(false, "the head speaks protocol version " + std::to_string(wire::protocol_version)
                                          + " but this node speaks " + std::to_string(version)
                                          + ": run the same version of actors on every node");
      }
      auto refuse = [](wire::join_refusal why, std::string text) {
        return caf::make_message(false, static_cast<std::uint8_t>(why), std::move(text));
      };
      if (token != st.token) {
        log(log_level::warning, "control_store", "refused a node that gave a wrong cluster token");
        return refuse(wire::join_refusal::wrong_token,
                      "wrong cluster token: pass the head's token (actorsd --token, a program's "
                      "--actors-token, or ACTORS_TOKEN; actorsd prints it and writes it to the "
                      "session file)");
      }
      wire::node_record rec;
      try {
        rec = wire::unpack<wire::node_record>(record, "node record");
      } catch (const std::exception& e) {
        return refuse(wire::join_refusal::malformed_record, e.what());
      }
      auto accepted = caf::make_message(true, static_cast<std::uint8_t>(wire::join_refusal::none), std::string{});
      for (std::size_t i = 0; i < st.view.nodes.size(); ++i) {
        auto& known = st.view.nodes[i];
        if (known.id != rec.id)
          continue;
        // Lost in the current window and back already: the head was not the one
        // cut off from it, and its peers may have taken it for dead by now. It is
        // dead, as it would have been at the end of the window.
        for (auto l = st.lost.begin(); l != st.lost.end(); ++l)
          if (l->first == rec.id) {
            mark_dead(self, i, l->second, false);
            st.lost.erase(l);
            break;
          }
        if (!known.alive) {
          log(log_level::info, "control_store", "node ", rec.id.to_string(), " at ", rec.address,
              " came back after it was declared dead; told it to join as a new node");
          return refuse(wire::join_refusal::declared_dead,
                        "node " + rec.id.to_string() + " was declared dead; a node declared dead does "
                        "not come back under its old id: it joins as a new node");
        }
        if (st.endpoints[i])
          return refuse(wire::join_refusal::duplicate_id,
                        "a live node with id " + rec.id.to_string() + " is already a member: the head "
                          "still holds its earlier connection, and lets it go once that falls silent");
        // A node of the previous head's table, joining this restarted head.
        rec.alive = true;
        rec.joined_ms = known.joined_ms;
        known = rec;
        st.endpoints[i] = endpoint;
        self->monitor(endpoint);
        log(log_level::info, "control_store", "node ", rec.id.to_string(), " at ", rec.address,
            " rejoined after the head restarted or lost its connections");
        persist(self);
        broadcast(self);
        return accepted;
      }
      rec.alive = true;
      rec.joined_ms = now_ms();
      st.view.nodes.push_back(rec);
      st.endpoints.push_back(endpoint);
      self->monitor(endpoint);
      log(log_level::info, "control_store", "node ", rec.id.to_string(), " joined from ", rec.address);
      persist(self);
      broadcast(self);
      return accepted;
    },
    [=](loss_check_atom) {
      // Most members lost at once means that this head is the one cut off (its
      // host's link is down, say), not that they all died: they keep their ids,
      // alive without a connection, and reconnect when the link comes back (as
      // to a restarted head); whoever has not by the rejoin deadline is dead.
      // A few lost among many are dead now.
      auto& st = self->state;
      auto lost = std::exchange(st.lost, {});
      std::size_t members = 0;
      std::size_t missing = 0;
      for (std::size_t i = 0; i < st.view.nodes.size(); ++i)
        if (st.view.nodes[i].alive && !st.view.nodes[i].head) {
          ++members;
          missing += st.endpoints[i] ? 0 : 1;
        }
      if (missing >= 2 && missing * 2 > members) {
        log(log_level::warning, "control_store", "lost the connections to ", missing, " of ", members,
            " members at once: this head is probably the one cut off from the network; they stay members for ",
            std::chrono::duration_cast<std::chrono::seconds>(rejoin_grace).count(),
            " s to reconnect, and those that do not are declared dead then");
        self->delayed_send(self, rejoin_grace, rejoin_deadline_atom::value);
        return;
      }
      for (const auto& [id, why] : lost)
        for (std::size_t i = 0; i < st.view.nodes.size(); ++i)
          if (st.view.nodes[i].id == id && !st.endpoints[i])
            mark_dead(self, i, why, false);
    },
    [=](rejoin_deadline_atom) {
      auto& st = self->state;
      for (std::size_t i = 0; i < st.view.nodes.size(); ++i)
        if (st.view.nodes[i].alive && !st.endpoints[i])
          mark_dead(self, i,
                    "it did not rejoin within "
                      + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(rejoin_grace).count())
                      + " s of the head's restart",
                    false);
    },
    [=](report_atom, const std::string& blob) {
      auto& st = self->state;
      wire::node_report rep;
      try {
        rep = wire::unpack<wire::node_report>(blob, "node report");
      } catch (const std::exception& e) {
        log(log_level::warning, "control_store", e.what());
        return;
      }
      for (auto& n : st.view.nodes)
        if (n.id == rep.id && n.alive
            && (n.available != rep.available || n.load != rep.load || n.total != rep.total
                || n.pending != rep.pending || n.actors != rep.actors || n.objects != rep.objects)) {
          bool total_changed = n.total != rep.total;
          n.total = std::move(rep.total);
          n.available = std::move(rep.available);
          n.load = rep.load;
          n.pending = std::move(rep.pending);
          n.actors = rep.actors;
          n.objects = rep.objects;
          st.dirty = true;
          if (total_changed) {
            persist(self);
            broadcast(self); // placement needs new resources (bundles) at once
          }
        }
    },
    [=](tick_atom) {
      if (self->state.dirty)
        broadcast(self);
      self->delayed_send(self, broadcast_interval, tick_atom::value);
    },
    [=](ping_atom, std::uint64_t node) -> bool {
      // False for a node the table holds dead: it is told so.
      for (const auto& n : self->state.view.nodes)
        if (n.id.value == node)
          return n.alive;
      return true;
    },
    [=](drain_atom, const std::string& token, std::uint64_t node, bool draining) {
      auto& st = self->state;
      if (token != st.token) {
        log(log_level::warning, "control_store", "refused to drain a node for a caller with a wrong cluster token");
        return;
      }
      for (auto& n : st.view.nodes)
        if (n.id.value == node && n.alive && n.draining != draining) {
          n.draining = draining;
          broadcast(self); // placement stops, or starts again, sending it work at once
        }
    },
    [=](retire_atom, const std::string& token, std::uint64_t node) {
      // The autoscaler removes a drained node: it stops as `actors stop` stops
      // nodes, and leaves the table in order.
      auto& st = self->state;
      if (token != st.token)
        return;
      for (std::size_t i = 0; i < st.view.nodes.size(); ++i)
        if (st.view.nodes[i].id.value == node && st.view.nodes[i].alive && st.endpoints[i])
          self->send(st.endpoints[i], stop_node_atom::value, st.token);
    },
    [=](request_resources_atom, const std::string& blob) {
      auto& st = self->state;
      try {
        st.view.requested = wire::unpack<std::vector<std::map<std::string, double>>>(blob, "resource request");
        st.dirty = true;
      } catch (const std::exception& e) {
        log(log_level::warning, "control_store", "ignored a resource request: ", e.what());
      }
    },
    [=](autoscaler_atom, const std::string& token, const std::string& status) {
      auto& st = self->state;
      if (token == st.token && st.view.autoscaler != status) {
        st.view.autoscaler = status;
        st.dirty = true;
      }
    },
    [=](list_atom, const std::string& token) -> std::tuple<bool, std::string> {
      if (token != self->state.token) {
        log(log_level::warning, "control_store", "refused to list the nodes to a caller with a wrong cluster token");
        return {false, std::string{}};
      }
      return {true, wire::pack(self->state.view)};
    },
    [=](stop_cluster_atom, const std::string& token) -> bool {
      auto& st = self->state;
      if (token != st.token)
        return false;
      // The other nodes first; the head's own node a moment later, so that its
      // process does not exit before those messages have left (a node that missed
      // it would take the head for lost and try to reconnect).
      for (std::size_t i = 0; i < st.endpoints.size(); ++i)
        if (st.view.nodes[i].alive && st.endpoints[i] && !st.view.nodes[i].head)
          self->send(st.endpoints[i], stop_node_atom::value, st.token);
      for (std::size_t i = 0; i < st.endpoints.size(); ++i)
        if (st.view.nodes[i].alive && st.endpoints[i] && st.view.nodes[i].head)
          self->delayed_send(st.endpoints[i], std::chrono::milliseconds(300), stop_node_atom::value, st.token);
      return true;
    },
    [=](shutdown_atom, std::uint64_t key) {
      if (key == self->state.shutdown_key)
        self->quit(caf::exit_reason::user_shutdown);
    },
    [=](name_register_atom, const std::string& name, const std::string& entry) -> bool {
      try {
        auto e = wire::unpack<wire::named_actor>(entry, "named actor");
        auto [i, added] = self->state.names.emplace(name, e);
        if (!added && i->second.id != e.id)
          return false;
        // Same actor again: its node announces it after the head restarted, or it
        // was rebuilt elsewhere.
        i->second = std::move(e);
        persist(self);
        return true;
      } catch (const std::exception& e) {
        log(log_level::warning, "control_store", "refused a name registration: ", e.what());
        return false;
      }
    },
    [=](group_put_atom, const std::string& blob, bool fresh) -> std::tuple<bool, std::string> {
      auto& st = self->state;
      try {
        auto g = wire::unpack<wire::group_record>(blob, "placement group record");
        auto i = st.groups.find(g.id);
        if (!fresh) {
          // An update of a group removed meanwhile is dropped.
          if (i == st.groups.end())
            return {false, "placement group " + g.id + " was removed"};
          i->second = std::move(g);
          persist(self);
          return {true, {}};
        }
        if (!g.name.empty())
          for (const auto& [id, other] : st.groups)
            if (id != g.id && other.name == g.name && other.ns == g.ns)
              return {false, "a placement group named '" + g.name + "' exists already in namespace '" + g.ns
                               + "': choose another name, or find it with actors::get_placement_group"};
        st.groups[g.id] = std::move(g);
        persist(self);
        return {true, {}};
      } catch (const std::exception& e) {
        log(log_level::warning, "control_store", "refused a placement group record: ", e.what());
        return {false, e.what()};
      }
    },
    [=](group_find_atom, const std::string& id, const std::string& ns,
        const std::string& name) -> std::tuple<bool, std::string> {
      for (const auto& [key, g] : self->state.groups)
        if (id.empty() ? (!name.empty() && g.name == name && g.ns == ns) : key == id)
          return {true, wire::pack(g)};
      return {false, {}};
    },
    [=](group_remove_atom, const std::string& id) {
      if (self->state.groups.erase(id) > 0)
        persist(self);
    },
    [=](group_list_atom, const std::string& token) -> std::tuple<bool, std::string> {
      if (token != self->state.token)
        return {false, {}};
      std::vector<wire::group_record> all;
      for (const auto& [id, g] : self->state.groups)
        all.push_back(g);
      return {true, wire::pack(all)};
    },
    [=](name_lookup_atom, const std::string& name) -> std::tuple<bool, std::string> {
      auto i = self->state.names.find(name);
      if (i == self->state.names.end())
        return {false, {}};
      return {true, wire::pack(i->second)};
    },
    [=](name_remove_atom, const std::string& name, std::uint64_t owner, std::uint64_t seq) {
      auto i = self->state.names.find(name);
      if (i != self->state.names.end() && i->second.id == actor_id{owner, seq}) {
        self->state.names.erase(i);
        persist(self);
      }
    },
  };
}

[[noreturn]] void unreachable_store(const caf::error& e, caf::actor_system& sys) {
  throw error(errc::not_initialized,
              "the control store did not answer (" + sys.render(e)
                + "): the runtime is stopping or the head is gone");
}

} // namespace

struct control_store::impl {
  impl(caf::actor_system& sys, bool owned) : sys(sys), owned(owned) {}

  caf::actor_system& sys;
  bool owned;
  // Guards the handle: the cluster layer swaps it when the head comes back.
  mutable std::mutex mu;
  std::condition_variable rebound;
  caf::actor actor;
  // Stops the actor this process spawned (owned only).
  std::uint64_t shutdown_key = new_shutdown_key();
  // Owned only: what a restarted actor starts from.
  std::string token;
  std::filesystem::path state_dir;
  std::shared_ptr<saved_tables> tables = std::make_shared<saved_tables>();
  bool lost = false;
  bool stopped = false;

  /// The control store to ask, waiting for the head to come back if it is away.
  caf::actor current() {
    std::unique_lock<std::mutex> lock{mu};
    rebound.wait_for(lock, request_timeout, [&] { return !lost || stopped; });
    if (stopped || !actor)
      throw error(errc::not_initialized, "the control store is stopped: the runtime is shutting down");
    if (lost)
      throw error(errc::not_initialized,
                  "the head is unreachable and did not come back within "
                    + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(request_timeout).count())
                    + " s: check that the head runs (this node keeps trying to reconnect)");
    return actor;
  }
};

control_store::control_store(caf::actor_system& sys, std::string token, std::filesystem::path state_dir)
  : impl_(new impl(sys, true)) {
  std::optional<head_state> saved;
  if (!state_dir.empty()) {
    saved = load_head_state(state_dir);
    if (saved && saved->token != token)
      throw error(errc::invalid_argument,
                  "the head state in " + state_dir.string()
                    + " belongs to a cluster with another token: start the head without --token to keep "
                      "that cluster's, or move the directory away to start a new cluster");
  }
  impl_->token = token;
  impl_->state_dir = state_dir;
  impl_->actor = sys.spawn(control_store_actor, std::move(token), std::move(state_dir), std::move(saved),
                           node_id{}, impl_->shutdown_key, impl_->tables);
}

caf::actor control_store::restart(const node_id& head) {
  std::optional<head_state> latest;
  {
    std::lock_guard<std::mutex> guard{impl_->tables->mu};
    latest = impl_->tables->latest;
  }
  std::lock_guard<std::mutex> guard{impl_->mu};
  if (!impl_->owned || impl_->stopped)
    return {};
  impl_->actor = impl_->sys.spawn(control_store_actor, impl_->token, impl_->state_dir, std::move(latest), head,
                                  impl_->shutdown_key, impl_->tables);
  return impl_->actor;
}

control_store::control_store(caf::actor_system& sys, const caf::actor& remote) : impl_(new impl(sys, false)) {
  impl_->actor = remote;
}

control_store::~control_store() {
  stop();
}

caf::actor control_store::handle() const {
  std::lock_guard<std::mutex> guard{impl_->mu};
  return impl_->lost ? caf::actor{} : impl_->actor;
}

void control_store::link_lost() {
  std::lock_guard<std::mutex> guard{impl_->mu};
  impl_->lost = true;
}

void control_store::rebind(const caf::actor& remote) {
  {
    std::lock_guard<std::mutex> guard{impl_->mu};
    impl_->actor = remote;
    impl_->lost = false;
  }
  impl_->rebound.notify_all();
}

bool control_store::register_name(const std::string& name, const named_actor_entry& entry) {
  auto to = impl_->current();
  caf::scoped_actor self{impl_->sys};
  bool ok = false;
  auto blob = wire::pack(wire::named_actor{entry.id, entry.class_name, entry.location});
  self->request(to, request_timeout, name_register_atom::value, name, blob)
    .receive([&](bool registered) { ok = registered; },
             [&](const caf::error& e) { unreachable_store(e, impl_->sys); });
  return ok;
}

std::optional<named_actor_entry> control_store::lookup_name(const std::string& name) {
  auto to = impl_->current();
  caf::scoped_actor self{impl_->sys};
  std::optional<named_actor_entry> out;
  self->request(to, request_timeout, name_lookup_atom::value, name)
    .receive(
      [&](bool found, const std::string& blob) {
        if (found) {
          auto e = wire::unpack<wire::named_actor>(blob, "named actor");
          out = named_actor_entry{e.id, e.class_name, e.location};
        }
      },
      [&](const caf::error& e) { unreachable_store(e, impl_->sys); });
  return out;
}

void control_store::remove_name(const std::string& name, const actor_id& id) {
  if (auto to = handle())
    caf::anon_send(to, name_remove_atom::value, name, id.owner, id.seq);
}

bool control_store::add_group(const wire::group_record& g, std::string& why) {
  auto to = impl_->current();
  caf::scoped_actor self{impl_->sys};
  bool ok = false;
  self->request(to, request_timeout, group_put_atom::value, wire::pack(g), true)
    .receive(
      [&](bool added, const std::string& reason) {
        ok = added;
        why = reason;
      },
      [&](const caf::error& e) { unreachable_store(e, impl_->sys); });
  return ok;
}

void control_store::update_group(const wire::group_record& g) {
  if (auto to = handle())
    caf::anon_send(to, group_put_atom::value, wire::pack(g), false);
}

std::optional<wire::group_record> control_store::find_group(const std::string& id, const std::string& ns,
                                                            const std::string& name) {
  auto to = impl_->current();
  caf::scoped_actor self{impl_->sys};
  std::optional<wire::group_record> out;
  self->request(to, request_timeout, group_find_atom::value, id, ns, name)
    .receive(
      [&](bool found, const std::string& blob) {
        if (found)
          out = wire::unpack<wire::group_record>(blob, "placement group record");
      },
      [&](const caf::error& e) { unreachable_store(e, impl_->sys); });
  return out;
}

void control_store::remove_group(const std::string& id) {
  if (auto to = handle())
    caf::anon_send(to, group_remove_atom::value, id);
}

std::vector<wire::group_record> control_store::groups(const std::string& token) {
  auto to = impl_->current();
  caf::scoped_actor self{impl_->sys};
  std::vector<wire::group_record> out;
  bool ok = false;
  self->request(to, request_timeout, group_list_atom::value, token)
    .receive(
      [&](bool accepted, const std::string& blob) {
        ok = accepted;
        if (ok)
          out = wire::unpack<std::vector<wire::group_record>>(blob, "placement groups");
      },
      [&](const caf::error& e) { unreachable_store(e, impl_->sys); });
  if (!ok)
    throw error(errc::invalid_argument, "the head refused to list the placement groups: wrong or missing cluster token");
  return out;
}

void control_store::request_resources(const std::string& bundles) {
  if (auto to = handle())
    caf::anon_send(to, request_resources_atom::value, bundles);
}

bool control_store::stop_cluster(const std::string& token) {
  auto to = impl_->current();
  caf::scoped_actor self{impl_->sys};
  bool ok = false;
  self->request(to, request_timeout, stop_cluster_atom::value, token)
    .receive([&](bool done) { ok = done; }, [&](const caf::error& e) { unreachable_store(e, impl_->sys); });
  return ok;
}

std::string control_store::view(const std::string& token) {
  auto to = impl_->current();
  caf::scoped_actor self{impl_->sys};
  std::string out;
  bool ok = false;
  self->request(to, request_timeout, list_atom::value, token)
    .receive(
      [&](bool accepted, const std::string& blob) {
        ok = accepted;
        out = blob;
      },
      [&](const caf::error& e) { unreachable_store(e, impl_->sys); });
  if (!ok)
    throw error(errc::invalid_argument,
                "the head refused to list its nodes: wrong or missing cluster token (pass --token or "
                "ACTORS_TOKEN; on the head's machine the session file provides it)");
  return out;
}

void control_store::stop() {
  caf::actor mine;
  {
    std::lock_guard<std::mutex> guard{impl_->mu};
    if (impl_->owned)
      mine = impl_->actor;
    impl_->actor = nullptr;
    impl_->stopped = true;
  }
  impl_->rebound.notify_all();
  if (mine)
    caf::anon_send(mine, shutdown_atom::value, impl_->shutdown_key);
}

} // namespace actors::runtime
