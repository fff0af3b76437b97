#pragma once

/// Connecting to another process's middleman, with a bound on how long it takes.
/// Included only by the files that talk to CAF.

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace actors::runtime {

/// How long a connection to a node (or the head) may take to be set up: the TCP
/// connect and CAF's handshake. A peer that accepts but stays silent (frozen, or
/// its host cut off after the SYN) costs the caller this long, not forever.
constexpr std::chrono::seconds connect_timeout{10};

/// Opens a connection to the middleman at `host`:`port` (or finds the one open
/// already) and returns the actor published there: an invalid handle when none
/// is. Fails with `caf::sec::request_timeout` after `timeout`; CAF's own
/// `middleman::connect` and `remote_actor` wait without a bound.
caf::expected<caf::actor> connect_within(caf::actor_system& sys, const std::string& host, std::uint16_t port,
                                         std::chrono::milliseconds timeout = connect_timeout);

} // namespace actors::runtime
