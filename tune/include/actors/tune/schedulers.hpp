#pragma once

/// Trial schedulers: after each result of a trial, whether it goes on, stops, or
/// (pbt) takes over another trial's checkpoint with a perturbed config. Pure
/// decision logic over (trial, step, value): it runs no trial itself, so it is
/// tested without a cluster.

#include "actors/tune/space.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>

namespace actors::tune {

/// Whether the metric is better low (loss) or high (accuracy).
enum class objective : std::uint8_t { min, max };
inline constexpr objective min = objective::min;
inline constexpr objective max = objective::max;

/// Where a trial is: waiting for a slot, running, done (max_steps reached),
/// stopped early by the scheduler, or failed (step() threw, its actor could not
/// be built, or it died more often than max_failures).
enum class trial_state : std::uint8_t { pending, running, terminated, stopped, error };

/// "PENDING", "RUNNING", "TERMINATED", "STOPPED", "ERROR".
const char* to_string(trial_state s) noexcept;

/// Every trial runs to max_steps.
struct fifo {};

/// Asynchronous successive halving: rungs at grace_steps x reduction_factor^k
/// steps (below max_steps); a trial reaching a rung whose value is not in the
/// top 1/reduction_factor of the values recorded at that rung so far stops.
struct asha {
  std::size_t grace_steps = 1;
  double reduction_factor = 3;
};

/// From grace_steps on, a trial whose running average is worse than the median
/// of the other trials' running averages at the same step stops, once at least
/// min_samples other trials have results.
struct median_stopping {
  std::size_t grace_steps = 1;
  std::size_t min_samples = 3;
};

/// Population based training: every interval_steps, a trial in the bottom
/// quantile of the latest results copies the checkpoint of one in the top
/// quantile and goes on with that trial's config perturbed by `mutations`: a
/// continuous or integer parameter is multiplied by 0.8 or 1.2 (kept in its
/// bounds), a choice or grid one moves to a neighbouring value; either is drawn
/// afresh with resample_probability. Needs tuner::checkpoint.
struct pbt {
  std::size_t interval_steps = 10;
  double quantile = 0.25;
  search_space mutations;
  double resample_probability = 0.25;
};

/// One of the schedulers above.
using scheduler = std::variant<fifo, asha, median_stopping, pbt>;

/// What a scheduler says after a result.
struct decision {
  enum class action : std::uint8_t { go_on, stop, exploit };
  action what = action::go_on;
  /// exploit: the trial whose checkpoint to load.
  std::size_t source = 0;
  /// exploit: the config to go on with.
  config new_config;
};

/// The decision logic of one scheduler over one run. Not thread-safe: the tuner
/// calls it from its driver loop only.
class trial_scheduler {
 public:
  virtual ~trial_scheduler() = default;
  /// Trial `trial` with config `current` reported `value` of the run's metric
  /// after `step` steps (1-based).
  virtual decision on_result(std::size_t trial, std::size_t step, double value, const config& current) = 0;
  /// The trial ended (finished, stopped or failed): no more results come from it.
  virtual void on_end(std::size_t /*trial*/) {}
};

/// The logic of `s` for a run whose metric is better by `mode` and whose trials
/// run at most `max_steps`; `seed` drives pbt's choices. Throws actors::error
/// (invalid_argument) for bad options (reduction_factor <= 1, a quantile outside
/// (0, 0.5], interval_steps 0, a bad mutation domain).
std::unique_ptr<trial_scheduler> make_scheduler(const scheduler& s, objective mode, std::size_t max_steps,
                                                std::uint64_t seed);

/// "fifo", "asha", "median_stopping" or "pbt".
std::string name_of(const scheduler& s);

} // namespace actors::tune
