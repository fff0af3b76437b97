#pragma once

/// Checks the builders of tasks and actors make on what a user passes them.

#include "actors/errors.hpp"
#include "actors/ids.hpp"

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

} // namespace actors::detail
