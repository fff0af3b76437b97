#pragma once

/// The one header a user includes: tasks, objects, actors and the runtime's
/// lifetime. See docs/getting-started.md.

#include "actors/actor.hpp"
#include "actors/async.hpp"
#include "actors/errors.hpp"
#include "actors/generator.hpp"
#include "actors/ids.hpp"
#include "actors/init.hpp"
#include "actors/metrics.hpp"
#include "actors/nodes.hpp"
#include "actors/object_ref.hpp"
#include "actors/placement_group.hpp"
#include "actors/registry.hpp"
#include "actors/scheduling.hpp"
#include "actors/serialization.hpp"
#include "actors/shared_span.hpp"
#include "actors/task.hpp"
#include "actors/version.hpp"
