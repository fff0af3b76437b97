#pragma once

/// Parameter search with early stopping, on actors: search spaces and the
/// configurations drawn from them. See docs/guide/tune.md.

#include "actors/tune/space.hpp"
