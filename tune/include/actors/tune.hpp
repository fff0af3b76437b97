#pragma once

/// Parameter search with early stopping, on actors: search spaces, schedulers
/// (fifo, asha, median_stopping, pbt) and the tuner that runs each trial as an
/// actor. See docs/guide/tune.md.

#include "actors/tune/schedulers.hpp"
#include "actors/tune/space.hpp"
#include "actors/tune/tuner.hpp"
