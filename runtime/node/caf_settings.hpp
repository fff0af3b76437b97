#pragma once

/// The CAF settings of a node's actor system.

namespace caf {
class actor_system_config;
} // namespace caf

namespace actors::runtime {

/// Sets the scheduler and the io middleman of `cfg` for a node: heartbeats every
/// 200 ms on every connection, and CAF's connection timeout off. Silent
/// connections are closed by `silent_connections` instead (its header says why).
void apply_caf_settings(caf::actor_system_config& cfg);

} // namespace actors::runtime
