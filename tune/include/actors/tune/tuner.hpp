#pragma once

/// The tuner: runs one trial per sampled configuration, each as an actor of the
/// user's registered class, asks the scheduler after every step, and keeps the
/// results (and, with storage, writes them as it goes).
///
///     class Trainer {
///      public:
///       explicit Trainer(tune::config c);
///       tune::metrics step();                       // {{"loss", 0.31}}
///       std::string save() const;                   // optional checkpoint
///       void restore(const std::string& checkpoint);
///     };
///     Trainer make_trainer(tune::config c);
///     ACTORS_REMOTE(make_trainer, &Trainer::step, &Trainer::save, &Trainer::restore);
///
///     tune::result_grid r = tune::tuner(make_trainer, &Trainer::step)
///         .checkpoint(&Trainer::save, &Trainer::restore)
///         .space(space).metric("loss", tune::min)
///         .num_samples(20).max_steps(100).seed(1)
///         .scheduler(tune::asha{.grace_steps = 5, .reduction_factor = 3})
///         .max_concurrent(4).storage("runs/exp1")
///         .run();

#include "actors/actors.hpp"
#include "actors/tune/schedulers.hpp"
#include "actors/tune/space.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace actors::tune {

/// One step's result.
struct step_result {
  std::size_t step = 0; ///< 1-based
  tune::metrics values;
};

/// One trial of a run.
struct trial {
  std::size_t id = 0;
  /// The configuration it runs with now (pbt may have changed it).
  tune::config config;
  trial_state state = trial_state::pending;
  /// Steps done.
  std::size_t steps = 0;
  /// The last step's metrics (empty before the first).
  tune::metrics metrics;
  /// Every step's metrics, in order.
  std::vector<step_result> history;
  /// For an error: what failed and what to do.
  std::string error;
  /// Times its actor died (its node died) and it went on on a new one.
  std::size_t failures = 0;
};

/// The outcome of a run: every trial, and the best by the run's metric.
class result_grid {
 public:
  result_grid() = default;
  result_grid(std::vector<trial> trials, std::string metric, objective mode)
    : trials_(std::move(trials)), metric_(std::move(metric)), mode_(mode) {}

  /// The trial whose last value of the metric is best (of those that reported
  /// it). Throws actors::error (invalid_argument) when none did, saying how many
  /// trials failed and the first failure.
  const trial& best() const;
  const std::vector<trial>& trials() const noexcept {
    return trials_;
  }
  const std::string& metric() const noexcept {
    return metric_;
  }
  objective mode() const noexcept {
    return mode_;
  }
  /// How many trials ended in `s`.
  std::size_t count(trial_state s) const;
  /// Writes one row per trial (id, state, steps, last metrics, config, error)
  /// as CSV. Throws actors::error when the file cannot be written.
  void to_csv(const std::string& path) const;

 private:
  std::vector<trial> trials_;
  std::string metric_;
  objective mode_ = objective::min;
};

/// When the progress table prints on stderr.
enum class progress_table : std::uint8_t { on_terminal, always, never };

namespace detail {

/// A running trial's actor, behind the calls the driver loop makes (the
/// tuner's template side makes them typed calls on the user's class).
class trial_actor {
 public:
  virtual ~trial_actor() = default;
  virtual object_ref<tune::metrics> step() = 0;
  virtual object_ref<std::string> save() = 0;
  virtual object_ref<void> restore(const std::string& checkpoint) = 0;
};

/// Starts a trial's actor with a configuration.
using start_trial = std::function<std::unique_ptr<trial_actor>(const config&)>;

/// Everything a run is given.
struct run_settings {
  search_space space;
  std::string metric;
  objective mode = objective::min;
  std::size_t num_samples = 1;
  std::size_t max_steps = 100;
  std::uint64_t seed = 0;
  tune::scheduler scheduler = fifo{};
  std::size_t max_concurrent = 1;
  std::string storage;
  bool can_checkpoint = false;
  std::size_t checkpoint_every = 1;
  std::size_t max_failures = 3;
  double progress_seconds = 5;
  progress_table progress = progress_table::on_terminal;
  std::function<void(const trial&)> on_result;
};

/// The driver loop (tune/src/run.cpp). `resume` continues from settings.storage.
result_grid run_trials(const run_settings& settings, const start_trial& start, bool resume);

/// Splits a resources map into num_cpus and custom resources; throws for a
/// negative or non-finite amount.
void check_resources(const std::map<std::string, double>& resources);

template <class C>
class typed_trial_actor : public trial_actor {
 public:
  using step_fn = tune::metrics (C::*)();
  using save_fn = std::string (C::*)() const;
  using restore_fn = void (C::*)(const std::string&);

  typed_trial_actor(actor_handle<C> h, step_fn step, save_fn save, restore_fn restore)
    : h_(std::move(h)), step_(step), save_(save), restore_(restore) {}
  ~typed_trial_actor() override {
    // A trial's actor is unnamed: it would stop with its last handle, but a
    // stopped or replaced trial's actor should free its resources now.
    try {
      if (h_)
        actors::kill(h_);
    } catch (...) {
      // Already dead, or the runtime is stopping: nothing left to free.
    }
  }

  object_ref<tune::metrics> step() override {
    return h_.task(step_).remote();
  }
  object_ref<std::string> save() override {
    return h_.task(save_).remote();
  }
  object_ref<void> restore(const std::string& checkpoint) override {
    return h_.task(restore_).remote(checkpoint);
  }

 private:
  actor_handle<C> h_;
  step_fn step_;
  save_fn save_;
  restore_fn restore_;
};

} // namespace detail

/// Builds and runs a parameter search over actors of class C made by `factory`
/// (a registered function taking a tune::config), stepping each with `step`.
/// Every option has a default but space and metric. Use from the driver's
/// thread; run() blocks until every trial ended.
template <class C, class F>
class tuner {
 public:
  using step_fn = tune::metrics (C::*)();
  using save_fn = std::string (C::*)() const;
  using restore_fn = void (C::*)(const std::string&);

  tuner(F factory, step_fn step) : factory_(factory), step_(step) {}

  /// How to checkpoint a trial: needed by pbt; lets a trial whose node died go
  /// on from its last checkpoint, and resume() go on from where a trial was.
  tuner& checkpoint(save_fn save, restore_fn restore) {
    save_ = save;
    restore_ = restore;
    s_.can_checkpoint = save && restore;
    return *this;
  }
  /// Steps between checkpoints (default 1: after every step).
  tuner& checkpoint_every(std::size_t steps) {
    s_.checkpoint_every = steps;
    return *this;
  }
  tuner& space(search_space sp) {
    s_.space = std::move(sp);
    return *this;
  }
  /// The metric step() reports that trials are compared by, and whether lower
  /// (tune::min) or higher (tune::max) is better.
  tuner& metric(std::string name, objective mode) {
    s_.metric = std::move(name);
    s_.mode = mode;
    return *this;
  }
  /// Draws per grid point (default 1).
  tuner& num_samples(std::size_t n) {
    s_.num_samples = n;
    return *this;
  }
  /// The most steps a trial runs (default 100).
  tuner& max_steps(std::size_t n) {
    s_.max_steps = n;
    return *this;
  }
  tuner& seed(std::uint64_t seed) {
    s_.seed = seed;
    return *this;
  }
  /// fifo (the default), asha, median_stopping or pbt.
  tuner& scheduler(tune::scheduler sched) {
    s_.scheduler = std::move(sched);
    return *this;
  }
  /// Trials running at once (default 1).
  tuner& max_concurrent(std::size_t n) {
    s_.max_concurrent = n;
    return *this;
  }
  /// What each trial's actor reserves for its life (default {{"CPU", 1}}):
  /// "CPU" and custom resources.
  tuner& resources(std::map<std::string, double> r) {
    resources_ = std::move(r);
    return *this;
  }
  /// A directory for the run's state and results (CSV and JSON), written as the
  /// run goes; resume() reads it back.
  tuner& storage(std::string dir) {
    s_.storage = std::move(dir);
    return *this;
  }
  /// Times a trial's actor may die (its node died) before the trial is an error
  /// (default 3).
  tuner& max_failures(std::size_t n) {
    s_.max_failures = n;
    return *this;
  }
  /// Seconds between progress tables on stderr (default 5).
  tuner& progress_every(double seconds) {
    s_.progress_seconds = seconds;
    return *this;
  }
  /// Whether the progress table prints: only when stderr is a terminal (the
  /// default), always, or never. The summary at the end always prints.
  tuner& progress(progress_table when) {
    s_.progress = when;
    return *this;
  }
  /// Called on the driver's thread after each result of each trial, with the
  /// trial as it is then. What it throws ends the run (storage keeps what was
  /// done, for resume()).
  tuner& on_result(std::function<void(const trial&)> f) {
    s_.on_result = std::move(f);
    return *this;
  }

  /// Runs every trial. Throws actors::error (invalid_argument) for a bad space,
  /// scheduler, metric or option, before any trial starts; a trial that fails
  /// ends in trial_state::error and the run goes on.
  result_grid run() const {
    return detail::run_trials(s_, starter(), false);
  }
  /// Continues the run kept in storage(dir) whose driver stopped: finished trials
  /// stay as they are, the others go on from their last checkpoint (or start
  /// again). The other options must be those of the run.
  result_grid resume() const {
    return detail::run_trials(s_, starter(), true);
  }

 private:
  detail::start_trial starter() const {
    detail::check_resources(resources_);
    return [factory = factory_, step = step_, save = save_, restore = restore_,
            resources = resources_](const config& c) -> std::unique_ptr<detail::trial_actor> {
      auto b = actors::actor(factory);
      for (const auto& [name, amount] : resources) {
        if (name == "CPU")
          b.num_cpus(amount);
        else
          b.resource(name, amount);
      }
      return std::make_unique<detail::typed_trial_actor<C>>(b.remote(c), step, save, restore);
    };
  }

  F factory_;
  step_fn step_;
  save_fn save_ = nullptr;
  restore_fn restore_ = nullptr;
  std::map<std::string, double> resources_{{"CPU", 1}};
  detail::run_settings s_;
};

template <class C, class F>
tuner(F, tune::metrics (C::*)()) -> tuner<C, F>;

} // namespace actors::tune
