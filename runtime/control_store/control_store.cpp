#include "runtime/control_store/control_store.hpp"

#include "runtime/cluster/protocol.hpp"
#include "runtime/common/log.hpp"
#include "runtime/control_store/messages.hpp"

#include "actors/errors.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
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

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

struct control_store_state {
  // All owned by the control-store actor and touched only in its handlers.
  std::string token;
  wire::cluster_view view;
  std::vector<caf::actor> endpoints; // parallel to view.nodes
  bool dirty = false;
  std::unordered_map<std::string, wire::named_actor> names;
  static inline const char* name = "actors.control_store";
};

using store_actor = caf::stateful_actor<control_store_state>;

void broadcast(store_actor* self) {
  auto& st = self->state;
  st.dirty = false;
  ++st.view.version;
  auto blob = wire::pack(st.view);
  for (std::size_t i = 0; i < st.endpoints.size(); ++i)
    if (st.view.nodes[i].alive && st.endpoints[i])
      self->send(st.endpoints[i], view_atom::value, blob, st.endpoints);
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
  for (auto it = self->state.names.begin(); it != self->state.names.end();)
    it = it->second.location == rec.id ? self->state.names.erase(it) : std::next(it);
  broadcast(self);
}

caf::behavior control_store_actor(store_actor* self, std::string token) {
  self->state.token = std::move(token);
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& st = self->state;
    for (std::size_t i = 0; i < st.endpoints.size(); ++i)
      if (st.endpoints[i] && st.endpoints[i].address() == dm.source)
        mark_dead(self, i, "its connection closed (" + self->system().render(dm.reason) + ")",
                  dm.reason == caf::exit_reason::user_shutdown);
  });
  self->delayed_send(self, broadcast_interval, tick_atom::value);
  return {
    [=](join_atom, std::uint32_t version, const std::string& token, const std::string& record,
        const caf::actor& endpoint) -> std::tuple<bool, std::string> {
      auto& st = self->state;
      if (version != wire::protocol_version) {
        log(log_level::warning, "control_store", "refused a node speaking protocol version ", version);
        return {false, "the head speaks protocol version " + std::to_string(wire::protocol_version)
                         + " but this node speaks " + std::to_string(version)
                         + ": run the same version of actors on every node"};
      }
      if (token != st.token) {
        log(log_level::warning, "control_store", "refused a node that gave a wrong cluster token");
        return {false, "wrong cluster token: pass the head's token with --actors-token or "
                       "ACTORS_TOKEN (actorsd prints it and writes it to the session file)"};
      }
      wire::node_record rec;
      try {
        rec = wire::unpack<wire::node_record>(record, "node record");
      } catch (const std::exception& e) {
        return {false, e.what()};
      }
      for (const auto& n : st.view.nodes)
        if (n.id == rec.id && n.alive)
          return {false, "a live node with id " + rec.id.to_string() + " is already a member"};
      rec.alive = true;
      rec.joined_ms = now_ms();
      st.view.nodes.push_back(rec);
      st.endpoints.push_back(endpoint);
      self->monitor(endpoint);
      log(log_level::info, "control_store", "node ", rec.id.to_string(), " joined from ", rec.address);
      broadcast(self);
      return {true, {}};
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
            && (n.available != rep.available || n.load != rep.load || n.total != rep.total)) {
          bool total_changed = n.total != rep.total;
          n.total = std::move(rep.total);
          n.available = std::move(rep.available);
          n.load = rep.load;
          st.dirty = true;
          if (total_changed)
            broadcast(self); // placement needs new resources (bundles) at once
        }
    },
    [=](tick_atom) {
      if (self->state.dirty)
        broadcast(self);
      self->delayed_send(self, broadcast_interval, tick_atom::value);
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
      for (std::size_t i = 0; i < st.endpoints.size(); ++i)
        if (st.view.nodes[i].alive && st.endpoints[i])
          self->send(st.endpoints[i], stop_node_atom::value);
      return true;
    },
    [=](name_register_atom, const std::string& name, const std::string& entry) -> bool {
      try {
        auto e = wire::unpack<wire::named_actor>(entry, "named actor");
        return self->state.names.emplace(name, std::move(e)).second;
      } catch (const std::exception& e) {
        log(log_level::warning, "control_store", "refused a name registration: ", e.what());
        return false;
      }
    },
    [=](name_lookup_atom, const std::string& name) -> std::tuple<bool, std::string> {
      auto i = self->state.names.find(name);
      if (i == self->state.names.end())
        return {false, {}};
      return {true, wire::pack(i->second)};
    },
    [=](name_remove_atom, const std::string& name, std::uint64_t owner, std::uint64_t seq) {
      auto i = self->state.names.find(name);
      if (i != self->state.names.end() && i->second.id == actor_id{owner, seq})
        self->state.names.erase(i);
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
  caf::actor_system& sys;
  caf::actor actor;
  bool owned;
};

control_store::control_store(caf::actor_system& sys, std::string token)
  : impl_(new impl{sys, sys.spawn(control_store_actor, std::move(token)), true}) {}

control_store::control_store(caf::actor_system& sys, const caf::actor& remote)
  : impl_(new impl{sys, remote, false}) {}

control_store::~control_store() {
  stop();
}

const caf::actor& control_store::handle() const {
  return impl_->actor;
}

bool control_store::register_name(const std::string& name, const named_actor_entry& entry) {
  caf::scoped_actor self{impl_->sys};
  bool ok = false;
  auto blob = wire::pack(wire::named_actor{entry.id, entry.class_name, entry.location});
  self->request(impl_->actor, request_timeout, name_register_atom::value, name, blob)
    .receive([&](bool registered) { ok = registered; },
             [&](const caf::error& e) { unreachable_store(e, impl_->sys); });
  return ok;
}

std::optional<named_actor_entry> control_store::lookup_name(const std::string& name) {
  caf::scoped_actor self{impl_->sys};
  std::optional<named_actor_entry> out;
  self->request(impl_->actor, request_timeout, name_lookup_atom::value, name)
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
  if (impl_->actor)
    caf::anon_send(impl_->actor, name_remove_atom::value, name, id.owner, id.seq);
}

bool control_store::stop_cluster(const std::string& token) {
  caf::scoped_actor self{impl_->sys};
  bool ok = false;
  self->request(impl_->actor, request_timeout, stop_cluster_atom::value, token)
    .receive([&](bool done) { ok = done; }, [&](const caf::error& e) { unreachable_store(e, impl_->sys); });
  return ok;
}

std::string control_store::view(const std::string& token) {
  caf::scoped_actor self{impl_->sys};
  std::string out;
  bool ok = false;
  self->request(impl_->actor, request_timeout, list_atom::value, token)
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
  if (impl_->actor && impl_->owned)
    caf::anon_send_exit(impl_->actor, caf::exit_reason::user_shutdown);
  impl_->actor = nullptr;
}

} // namespace actors::runtime
