#pragma once

/// Checks the builders of tasks and actors make on what a user passes them.

#include "actors/errors.hpp"
#include "actors/ids.hpp"
#include "actors/scheduling.hpp"

#include <string>

namespace actors::detail {

/// False for every T, so that a static_assert fires only when its template is used.
template <class T>
inline constexpr bool always_false = false;

/// Refuses an empty node id given as a node affinity: it names no node, and
/// taking it for "no affinity" would hide the caller's mistake.
inline void check_affinity(const node_id& id, const char* where) {
  if (!id.value)
    throw error(errc::invalid_argument, std::string(where)
                                          + ": the node id is empty (node_id{}); pass the id of a live node, "
                                            "from actors::nodes(), or leave the affinity out");
}

/// Refuses a strategy that only placement groups have: a single task or actor
/// has nothing to keep together or apart.
inline void check_strategy(scheduling_strategy s, const char* where) {
  if (s == scheduling_strategy::strict_pack || s == scheduling_strategy::strict_spread)
    throw error(errc::invalid_argument,
                std::string(where) + ": strict_pack and strict_spread are strategies of placement groups; for one "
                                     "task or actor use actors::spread or actors::pack, or run it in a placement "
                                     "group's bundle with .placement_group(pg, index)");
}

} // namespace actors::detail
