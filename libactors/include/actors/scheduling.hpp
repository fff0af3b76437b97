#pragma once

/// How the scheduler picks nodes for tasks, actors and placement-group bundles.

#include <cstdint>

namespace actors {

/// How the scheduler picks nodes for a task, an actor or a placement group's bundles.
enum class scheduling_strategy : std::uint8_t {
  /// This node while it has free resources, else the node holding most of the
  /// arguments' bytes, else the least-loaded node that fits.
  default_policy = 0,
  /// Round-robin over the nodes that fit, to spread work out.
  spread = 1,
  /// Keep together on as few nodes as possible (placement groups).
  pack = 2,
  /// Placement groups only: every bundle on one node, or the group waits.
  strict_pack = 3,
  /// Placement groups only: each bundle on a node of its own, or it waits.
  strict_spread = 4,
};

inline constexpr scheduling_strategy spread = scheduling_strategy::spread;
inline constexpr scheduling_strategy pack = scheduling_strategy::pack;
inline constexpr scheduling_strategy strict_pack = scheduling_strategy::strict_pack;
inline constexpr scheduling_strategy strict_spread = scheduling_strategy::strict_spread;

/// How long an actor lives, named or not: while the process that created it runs
/// (the default), or, detached, until it is killed.
enum class actor_lifetime : std::uint8_t {
  with_creator = 0,
  detached = 1,
};

inline constexpr actor_lifetime detached = actor_lifetime::detached;

} // namespace actors
