#pragma once

/// Parameter search with early stopping, on actors: search spaces and the
/// configurations drawn from them, and schedulers (fifo, asha,
/// median_stopping, pbt). See docs/guide/tune.md.

#include "actors/tune/schedulers.hpp"
#include "actors/tune/space.hpp"
