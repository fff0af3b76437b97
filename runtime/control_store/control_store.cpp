#include "runtime/control_store/control_store.hpp"

#include "actors/errors.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <tuple>
#include <unordered_map>

namespace actors::runtime {

namespace {

using name_register_atom = caf::atom_constant<caf::atom("cs_nreg")>;
using name_lookup_atom = caf::atom_constant<caf::atom("cs_nfind")>;
using name_remove_atom = caf::atom_constant<caf::atom("cs_ndel")>;

// The control store answers from memory; a reply slower than this means it is gone.
constexpr auto request_timeout = std::chrono::seconds(10);

struct control_store_state {
  // Owned by the control-store actor; touched only in its handlers.
  std::unordered_map<std::string, named_actor_entry> names;
  static inline const char* name = "actors.control_store";
};

caf::behavior control_store_actor(caf::stateful_actor<control_store_state>* self) {
  return {
    [=](name_register_atom, const std::string& name, std::uint64_t owner, std::uint64_t seq,
        const std::string& cls) -> bool {
      return self->state.names.emplace(name, named_actor_entry{actor_id{owner, seq}, cls}).second;
    },
    [=](name_lookup_atom, const std::string& name)
      -> std::tuple<bool, std::uint64_t, std::uint64_t, std::string> {
      auto i = self->state.names.find(name);
      if (i == self->state.names.end())
        return {false, 0, 0, {}};
      return {true, i->second.id.owner, i->second.id.seq, i->second.class_name};
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
};

control_store::control_store(caf::actor_system& sys)
  : impl_(new impl{sys, sys.spawn(control_store_actor)}) {}

control_store::~control_store() {
  stop();
}

bool control_store::register_name(const std::string& name, const named_actor_entry& entry) {
  caf::scoped_actor self{impl_->sys};
  bool ok = false;
  self
    ->request(impl_->actor, request_timeout, name_register_atom::value, name, entry.id.owner,
              entry.id.seq, entry.class_name)
    .receive([&](bool registered) { ok = registered; },
             [&](const caf::error& e) { unreachable_store(e, impl_->sys); });
  return ok;
}

std::optional<named_actor_entry> control_store::lookup_name(const std::string& name) {
  caf::scoped_actor self{impl_->sys};
  std::optional<named_actor_entry> out;
  self->request(impl_->actor, request_timeout, name_lookup_atom::value, name)
    .receive(
      [&](bool found, std::uint64_t owner, std::uint64_t seq, const std::string& cls) {
        if (found)
          out = named_actor_entry{actor_id{owner, seq}, cls};
      },
      [&](const caf::error& e) { unreachable_store(e, impl_->sys); });
  return out;
}

void control_store::remove_name(const std::string& name, const actor_id& id) {
  if (impl_->actor)
    caf::anon_send(impl_->actor, name_remove_atom::value, name, id.owner, id.seq);
}

void control_store::stop() {
  if (impl_->actor) {
    caf::anon_send_exit(impl_->actor, caf::exit_reason::user_shutdown);
    impl_->actor = nullptr;
  }
}

} // namespace actors::runtime
