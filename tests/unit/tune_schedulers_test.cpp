// The schedulers' decisions on fixed synthetic objectives, driven by a small
// simulated run (trials stepped in turn, max_concurrent at once, as the tuner
// does) instead of a cluster. Pure: no runtime is started.

#include <actors/tune.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <limits>

namespace tune = actors::tune;

namespace {

/// One step of a synthetic trial: its config, the step number (1-based) and
/// its state (what a checkpoint holds) in; the metric's value out.
using objective_fn = std::function<double(const tune::config&, std::size_t, double&)>;

struct simulated_run {
  std::vector<double> last_value;
  std::vector<tune::trial_state> states;
  std::size_t total_steps = 0;

  double best(tune::objective mode) const {
    double b = mode == tune::min ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
    for (double v : last_value)
      b = mode == tune::min ? std::min(b, v) : std::max(b, v);
    return b;
  }
};

simulated_run simulate(std::vector<tune::config> configs, const tune::scheduler& sched, tune::objective mode,
                       std::size_t max_steps, std::size_t max_concurrent, const objective_fn& step_fn) {
  auto logic = tune::make_scheduler(sched, mode, max_steps, 1);
  std::size_t n = configs.size();
  simulated_run out;
  out.last_value.assign(n, mode == tune::min ? std::numeric_limits<double>::infinity()
                                             : -std::numeric_limits<double>::infinity());
  out.states.assign(n, tune::trial_state::pending);
  std::vector<double> state(n, 0);
  std::vector<std::size_t> steps(n, 0);
  std::deque<std::size_t> queue;
  for (std::size_t i = 0; i < n; ++i)
    queue.push_back(i);
  std::vector<std::size_t> live;
  while (!queue.empty() || !live.empty()) {
    while (live.size() < max_concurrent && !queue.empty()) {
      live.push_back(queue.front());
      out.states[queue.front()] = tune::trial_state::running;
      queue.pop_front();
    }
    std::vector<std::size_t> still;
    for (auto id : live) {
      double v = step_fn(configs[id], ++steps[id], state[id]);
      ++out.total_steps;
      out.last_value[id] = v;
      auto d = logic->on_result(id, steps[id], v, configs[id]);
      if (d.what == tune::decision::action::stop) {
        out.states[id] = tune::trial_state::stopped;
        logic->on_end(id);
      } else if (steps[id] >= max_steps) {
        out.states[id] = tune::trial_state::terminated;
        logic->on_end(id);
      } else {
        if (d.what == tune::decision::action::exploit) {
          state[id] = state[d.source];
          configs[id] = d.new_config;
        }
        still.push_back(id);
      }
    }
    live = std::move(still);
  }
  return out;
}

/// A loss that falls with training toward a floor set by how far x is from 0.3:
/// the ranking of trials is the same at every step.
double converging_loss(const tune::config& c, std::size_t step, double&) {
  double x = c.get<double>("x");
  return (x - 0.3) * (x - 0.3) + 1.0 / static_cast<double>(step);
}

} // namespace

TEST(TuneSchedulers, AshaNearlyMatchesFifoWithAFractionOfItsSteps) {
  auto configs = tune::sample({{"x", tune::uniform(0, 1)}}, 27, 11);
  auto fifo = simulate(configs, tune::fifo{}, tune::min, 81, 4, converging_loss);
  auto asha = simulate(configs, tune::asha{.grace_steps = 1, .reduction_factor = 3}, tune::min, 81, 4,
                       converging_loss);
  EXPECT_EQ(fifo.total_steps, 27u * 81u);
  EXPECT_LE(asha.best(tune::min), fifo.best(tune::min) * 1.02)
    << "asha " << asha.best(tune::min) << " fifo " << fifo.best(tune::min);
  EXPECT_LE(static_cast<double>(asha.total_steps), 0.4 * static_cast<double>(fifo.total_steps))
    << asha.total_steps << " of " << fifo.total_steps;
  EXPECT_GT(std::count(asha.states.begin(), asha.states.end(), tune::trial_state::stopped), 0);
}

TEST(TuneSchedulers, AshaInMaxModeKeepsTheHighest) {
  auto configs = tune::sample({{"x", tune::uniform(0, 1)}}, 27, 5);
  auto accuracy = [](const tune::config& c, std::size_t step, double& s) { return -converging_loss(c, step, s); };
  auto fifo = simulate(configs, tune::fifo{}, tune::max, 27, 3, accuracy);
  auto asha = simulate(configs, tune::asha{.grace_steps = 1, .reduction_factor = 3}, tune::max, 27, 3, accuracy);
  EXPECT_GE(asha.best(tune::max), fifo.best(tune::max) * 1.02); // values are negative: 2% below
  EXPECT_LT(asha.total_steps, fifo.total_steps / 2);
}

TEST(TuneSchedulers, MedianStoppingStopsTheObviouslyBadTrials) {
  std::vector<tune::config> configs;
  for (double x : {0.3, 0.31, 0.29, 0.32, 0.28, 0.95, 1.0, 0.9, 0.99})
    configs.push_back(tune::config{{"x", x}});
  auto r = simulate(configs, tune::median_stopping{.grace_steps = 3}, tune::min, 30, 4, converging_loss);
  // The best trial runs to the end; every far-off one is stopped. (Near ties
  // among the good ones may go either way: that is the median rule.)
  EXPECT_STREQ(tune::to_string(r.states[0]), "TERMINATED");
  for (std::size_t i = 5; i < configs.size(); ++i)
    EXPECT_STREQ(tune::to_string(r.states[i]), "STOPPED") << "bad trial " << i;
  // Stopped at the grace period, not near the end: at most 3 + 1 steps each.
  std::size_t good_steps_at_most = 5 * 30;
  EXPECT_LE(r.total_steps, good_steps_at_most + 4 * 4);
  auto fifo = simulate(configs, tune::fifo{}, tune::min, 30, 4, converging_loss);
  EXPECT_EQ(r.best(tune::min), fifo.best(tune::min));
}

TEST(TuneSchedulers, PbtBeatsFifoWhenTheBestParameterMovesHalfway) {
  // Each step earns 1 - |x - target|; the target is 0.2 for the first half and
  // 0.8 for the second, so no fixed x earns more than 0.7 per step on average.
  // The metric is what a trial earned so far (its checkpointed state).
  const std::size_t max_steps = 100;
  auto earn = [max_steps](const tune::config& c, std::size_t step, double& total) {
    double target = step <= max_steps / 2 ? 0.2 : 0.8;
    total += 1 - std::abs(c.get<double>("x") - target);
    return total;
  };
  auto configs = tune::sample({{"x", tune::uniform(0, 1)}}, 8, 3);
  auto fifo = simulate(configs, tune::fifo{}, tune::max, max_steps, 8, earn);
  auto pbt = simulate(configs,
                      tune::pbt{.interval_steps = 5, .quantile = 0.25, .mutations = {{"x", tune::uniform(0, 1)}}},
                      tune::max, max_steps, 8, earn);
  EXPECT_LE(fifo.best(tune::max), 0.7 * max_steps + 1e-9);
  EXPECT_GT(pbt.best(tune::max), fifo.best(tune::max) + 3) << "pbt " << pbt.best(tune::max) << " fifo "
                                                           << fifo.best(tune::max);
}

TEST(TuneSchedulers, BadOptionsAreRefused) {
  auto refuses = [](const tune::scheduler& s) {
    try {
      tune::make_scheduler(s, tune::min, 10, 0);
    } catch (const actors::error& e) {
      return e.code() == actors::errc::invalid_argument;
    }
    return false;
  };
  EXPECT_TRUE(refuses(tune::asha{.grace_steps = 1, .reduction_factor = 1}));
  EXPECT_TRUE(refuses(tune::asha{.grace_steps = 0}));
  EXPECT_TRUE(refuses(tune::pbt{.interval_steps = 0, .mutations = {{"x", tune::uniform(0, 1)}}}));
  EXPECT_TRUE(refuses(tune::pbt{.interval_steps = 5, .quantile = 0.7, .mutations = {{"x", tune::uniform(0, 1)}}}));
  tune::pbt no_mutations;
  EXPECT_TRUE(refuses(no_mutations));
  EXPECT_FALSE(refuses(tune::fifo{}));
}
