#pragma once

#include "actors/detail/runtime.hpp"

#include <functional>

namespace actors::runtime {

/// Calls `then` once every object the arguments refer to has settled (ready or
/// failed): at once on this thread if they all have, else on the thread that
/// settles the last one.
void when_ready(const detail::args_holder& args, std::function<void()> then);

/// The first argument object that has not settled yet, or null.
detail::object_cell* first_unsettled(const detail::args_holder& args);

} // namespace actors::runtime
