#pragma once

/// What every service actor of a node does to stay up against its peers.

#include "runtime/common/log.hpp"

#include <caf/atom.hpp>
#include <caf/system_messages.hpp>
#include <caf/scheduled_actor.hpp>

#include <cstdint>
#include <random>

namespace actors::runtime {

/// Stops one service actor; carries the key its node gave it.
using shutdown_atom = caf::atom_constant<caf::atom("ac_quit")>;

/// A key only this process knows, for stopping one service actor.
inline std::uint64_t new_shutdown_key() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) | rd();
}

/// CAF delivers exit messages from any peer that reaches a node's port, and a
/// service that obeyed one would leave its node running but deaf. Service actors
/// ignore them, logging the attempt, and stop only on shutdown_atom with the key
/// their node gave them.
inline void ignore_exit_messages(caf::scheduled_actor* self, const char* service) {
  self->set_exit_handler([self, service](caf::exit_msg& m) {
    log(log_level::warning, service, "ignored an exit message (", self->system().render(m.reason), ") from ",
        m.source ? caf::to_string(m.source) : std::string{"an anonymous sender"},
        ": a service stops only with its node");
  });
}

} // namespace actors::runtime
