// The driver loop of a run. Everything here runs on the thread that called
// run() or resume(): the trials' state, the scheduler and the storage are owned
// by that thread alone, so nothing needs a lock. Trials run as actors; the loop
// waits for whichever step result comes first.

#include "storage.hpp"

#include <actors/tune/tuner.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <fstream>
#include <unistd.h>

namespace actors::tune {

const trial& result_grid::best() const {
  const trial* best = nullptr;
  for (const auto& t : trials_) {
    auto it = t.metrics.find(metric_);
    if (it == t.metrics.end() || std::isnan(it->second))
      continue;
    double v = it->second;
    if (!best || (mode_ == objective::min ? v < best->metrics.at(metric_) : v > best->metrics.at(metric_)))
      best = &t;
  }
  if (!best) {
    std::string first_error;
    for (const auto& t : trials_)
      if (!t.error.empty()) {
        first_error = " The first failure, trial " + std::to_string(t.id) + ": " + t.error;
        break;
      }
    throw error(errc::invalid_argument, "no trial reported the metric \"" + metric_ + "\" (" + std::to_string(count(trial_state::error)) + " of "
                                          + std::to_string(trials_.size()) + " trials failed)." + first_error);
  }
  return *best;
}

std::size_t result_grid::count(trial_state s) const {
  return static_cast<std::size_t>(std::count_if(trials_.begin(), trials_.end(),
                                                [s](const trial& t) { return t.state == s; }));
}

void result_grid::to_csv(const std::string& path) const {
  detail::write_file(path, detail::trials_csv(trials_));
}

namespace detail {

void check_resources(const std::map<std::string, double>& resources) {
  for (const auto& [name, amount] : resources)
    if (name.empty() || !std::isfinite(amount) || amount < 0)
      throw error(errc::invalid_argument, "resources: \"" + name + "\" = " + std::to_string(amount)
                                            + " is not a resource: give a name and an amount of 0 or more");
}

namespace {

bool finished(trial_state s) {
  return s == trial_state::terminated || s == trial_state::stopped || s == trial_state::error;
}

void check_settings(const run_settings& s) {
  if (s.metric.empty())
    throw error(errc::invalid_argument, "tuner: no metric: call .metric(\"loss\", tune::min) with a metric step() "
                                        "reports");
  if (s.max_steps == 0)
    throw error(errc::invalid_argument, "tuner: max_steps is 0: a trial needs at least one step");
  if (s.max_concurrent == 0)
    throw error(errc::invalid_argument, "tuner: max_concurrent is 0: give 1 or more trials at once");
  if (s.checkpoint_every == 0)
    throw error(errc::invalid_argument, "tuner: checkpoint_every is 0: give 1 or more steps");
  if (std::holds_alternative<pbt>(s.scheduler) && !s.can_checkpoint)
    throw error(errc::invalid_argument, "tuner: pbt copies checkpoints between trials: give "
                                        ".checkpoint(&Trainer::save, &Trainer::restore)");
  if (const auto* p = std::get_if<pbt>(&s.scheduler))
    for (const auto& [name, d] : p->mutations) {
      bool known = std::any_of(s.space.begin(), s.space.end(), [&](const auto& e) { return e.first == name; });
      if (!known)
        throw error(errc::invalid_argument, "pbt mutations name \"" + name + "\", which is not in the search "
                                            "space; mutate only parameters of the space");
    }
}

/// The Prometheus gauges of a run on the driver's /metrics endpoint.
class run_gauges {
 public:
  explicit run_gauges(const std::string& metric) : best_("actors_tune_best", "Best value of the run's metric so far", {{"metric", metric}}) {
    for (auto s : {trial_state::pending, trial_state::running, trial_state::terminated, trial_state::stopped,
                   trial_state::error})
      states_.emplace_back(s, ::actors::metrics::gauge("actors_tune_trials", "Trials of the tuning run by state",
                                                       {{"state", to_string(s)}}));
  }
  void update(const std::vector<trial>& trials, const std::string& metric, objective mode) {
    for (auto& [s, g] : states_)
      g.set(static_cast<double>(std::count_if(trials.begin(), trials.end(), [s = s](const trial& t) { return t.state == s; })));
    result_grid r(trials, metric, mode);
    try {
      best_.set(r.best().metrics.at(metric));
    } catch (const error&) {
    }
  }

 private:
  std::vector<std::pair<trial_state, ::actors::metrics::gauge>> states_;
  ::actors::metrics::gauge best_;
};

std::string progress_table(const std::vector<trial>& trials, const std::string& metric) {
  std::string out = "== tune: ";
  std::map<std::string, int> counts;
  for (const auto& t : trials)
    ++counts[to_string(t.state)];
  for (const auto& [s, n] : counts)
    out += std::to_string(n) + " " + s + " ";
  out += "\n";
  char line[512];
  std::snprintf(line, sizeof line, "%-6s %-11s %6s %12s  %s\n", "trial", "state", "steps", metric.c_str(), "config");
  out += line;
  for (const auto& t : trials) {
    if (t.state == trial_state::pending)
      continue;
    auto it = t.metrics.find(metric);
    std::string value = it == t.metrics.end() ? "-" : param_value(it->second).to_string();
    std::snprintf(line, sizeof line, "%-6zu %-11s %6zu %12s  %s\n", t.id, to_string(t.state), t.steps, value.c_str(),
                  t.config.to_string().c_str());
    out += line;
  }
  return out;
}

/// A trial whose actor is alive, with its step in flight.
struct live_trial {
  std::size_t id;
  std::unique_ptr<trial_actor> actor;
  object_ref<tune::metrics> step;
  /// The restore sent before the first step, when the trial goes on from a
  /// checkpoint.
  std::optional<object_ref<void>> restore;
};

class run_loop {
 public:
  run_loop(const run_settings& s, const start_trial& start, bool resume)
    : s_(s), start_(start), storage_(s.storage), gauges_(s.metric) {
    check_settings(s);
    auto configs = sample(s.space, s.num_samples, s.seed);
    scheduler_ = make_scheduler(s.scheduler, s.mode, s.max_steps, s.seed);
    trials_.resize(configs.size());
    checkpoints_.resize(configs.size());
    for (std::size_t i = 0; i < configs.size(); ++i) {
      trials_[i].id = i;
      trials_[i].config = configs[i];
    }
    if (resume) {
      storage_.check_experiment(s, trials_.size());
      load_stored();
    } else {
      storage_.clear();
      storage_.write_experiment(s, trials_.size());
    }
    for (const auto& t : trials_)
      if (!finished(t.state))
        queue_.push_back(t.id);
  }

  result_grid run() {
    auto last_table = std::chrono::steady_clock::now();
    bool tables = s_.progress == progress_table::always
               || (s_.progress == progress_table::on_terminal && isatty(2) != 0);
    storage_.write_results(trials_, s_.metric);
    while (true) {
      while (live_.size() < s_.max_concurrent && !queue_.empty()) {
        auto id = queue_.front();
        queue_.pop_front();
        launch(id);
      }
      if (live_.empty())
        break;
      std::vector<object_ref<tune::metrics>> refs;
      for (const auto& l : live_)
        refs.push_back(l.step);
      auto ready = actors::wait(refs, 1, std::chrono::milliseconds(500)).ready;
      for (const auto& r : ready) {
        auto it = std::find_if(live_.begin(), live_.end(), [&](const live_trial& l) { return l.step == r; });
        if (it != live_.end())
          on_step(it);
      }
      gauges_.update(trials_, s_.metric, s_.mode);
      if (tables && std::chrono::steady_clock::now() - last_table >= std::chrono::duration<double>(s_.progress_seconds)) {
        std::fputs(progress_table(trials_, s_.metric).c_str(), stderr);
        last_table = std::chrono::steady_clock::now();
      }
    }
    storage_.write_results(trials_, s_.metric);
    gauges_.update(trials_, s_.metric, s_.mode);
    result_grid out(trials_, s_.metric, s_.mode);
    summary(out);
    return out;
  }

 private:
  void load_stored() {
    for (auto& st : storage_.read_trials(trials_.size())) {
      auto& t = trials_[st.t.id];
      t = std::move(st.t);
      if (finished(t.state)) {
        replay(t);
        continue;
      }
      // Not finished when the driver stopped: go on from the checkpoint, or
      // start again.
      t.state = trial_state::pending;
      std::size_t keep = st.checkpoint ? std::min(st.checkpoint_step, t.history.size()) : 0;
      t.history.resize(keep);
      t.steps = keep;
      t.metrics = keep ? t.history.back().values : tune::metrics{};
      if (st.checkpoint && keep) {
        checkpoints_[t.id] = std::move(st.checkpoint);
        checkpoint_steps_[t.id] = keep;
      }
      replay(t);
    }
  }

  /// Feeds a stored trial's results to the scheduler so that its rungs and
  /// medians hold what the run had seen.
  void replay(const trial& t) {
    for (const auto& r : t.history) {
      auto it = r.values.find(s_.metric);
      if (it != r.values.end())
        scheduler_->on_result(t.id, r.step, it->second, t.config);
    }
    if (finished(t.state))
      scheduler_->on_end(t.id);
  }

  void launch(std::size_t id) {
    auto& t = trials_[id];
    try {
      // Nothing here waits: the actor may wait for resources that trials in
      // flight hold, and only this loop ends those trials. The restore, sent
      // first, runs before the step (one caller's calls keep their order); its
      // outcome is read with the step's.
      auto actor = start_(t.config);
      std::optional<object_ref<void>> restore;
      if (checkpoints_[id])
        restore = actor->restore(*checkpoints_[id]);
      t.state = trial_state::running;
      auto step = actor->step();
      live_.push_back({id, std::move(actor), std::move(step), std::move(restore)});
    } catch (const std::exception& e) {
      fail(t, std::string("could not start: ") + e.what());
    }
    storage_.write_trial(t);
  }

  void fail(trial& t, const std::string& why) {
    t.state = trial_state::error;
    t.error = why;
    scheduler_->on_end(t.id);
    storage_.write_trial(t);
  }

  void end(std::vector<live_trial>::iterator it, trial_state s) {
    auto& t = trials_[it->id];
    t.state = s;
    scheduler_->on_end(t.id);
    storage_.write_trial(t);
    live_.erase(it);
  }

  /// The trial's actor died: go on from its last checkpoint on a new actor, or
  /// fail the trial once it died more than max_failures times.
  void restart(std::vector<live_trial>::iterator it, const std::string& why) {
    auto& t = trials_[it->id];
    ++t.failures;
    if (t.failures > s_.max_failures) {
      t.error = "its actor died " + std::to_string(t.failures) + " times, last: " + why
              + "; raise max_failures or check the nodes' logs";
      end(it, trial_state::error);
      return;
    }
    std::size_t keep = checkpoints_[t.id] ? std::min(checkpoint_steps_[t.id], t.history.size()) : 0;
    t.history.resize(keep);
    t.steps = keep;
    t.metrics = keep ? t.history.back().values : tune::metrics{};
    t.state = trial_state::pending;
    storage_.write_trial(t);
    auto id = it->id;
    live_.erase(it);
    queue_.push_front(id);
  }

  void on_step(std::vector<live_trial>::iterator it) {
    auto& t = trials_[it->id];
    tune::metrics m;
    try {
      if (it->restore) {
        try {
          actors::get(*it->restore);
        } catch (const task_error& e) {
          t.error = "restore() threw: " + e.original_message();
          end(it, trial_state::error);
          return;
        }
        it->restore.reset();
      }
      m = actors::get(it->step);
    } catch (const task_error& e) {
      t.error = "step() threw: " + e.original_message();
      end(it, trial_state::error);
      return;
    } catch (const actor_died_error& e) {
      restart(it, e.what());
      return;
    } catch (const object_lost_error& e) {
      restart(it, e.what());
      return;
    } catch (const std::exception& e) {
      t.error = std::string("step() failed: ") + e.what();
      end(it, trial_state::error);
      return;
    }
    auto value = m.find(s_.metric);
    if (value == m.end()) {
      std::string have;
      for (const auto& [n, v] : m)
        have += (have.empty() ? "" : ", ") + n;
      t.error = "step() reported no metric \"" + s_.metric + "\" (it reported: " + (have.empty() ? "none" : have)
              + "); report it or pick one of these with .metric()";
      end(it, trial_state::error);
      return;
    }
    ++t.steps;
    t.metrics = m;
    t.history.push_back({t.steps, m});
    auto d = scheduler_->on_result(t.id, t.steps, value->second, t.config);
    if (s_.can_checkpoint && (t.steps % s_.checkpoint_every == 0 || d.what == decision::action::exploit)) {
      try {
        checkpoints_[t.id] = actors::get(it->actor->save());
        checkpoint_steps_[t.id] = t.steps;
        storage_.write_checkpoint(t.id, *checkpoints_[t.id], t.steps);
      } catch (const task_error& e) {
        t.error = "save() threw: " + e.original_message();
        end(it, trial_state::error);
        return;
      } catch (const actor_died_error& e) {
        restart(it, e.what());
        return;
      }
    }
    storage_.write_trial(t);
    storage_.write_results(trials_, s_.metric);
    if (s_.on_result)
      s_.on_result(t);
    if (d.what == decision::action::stop) {
      end(it, trial_state::stopped);
      return;
    }
    if (t.steps >= s_.max_steps) {
      end(it, trial_state::terminated);
      return;
    }
    if (d.what == decision::action::exploit && d.source != t.id && checkpoints_[d.source]) {
      exploit(it, d);
      return;
    }
    it->step = it->actor->step();
  }

  /// pbt: this trial goes on as a copy of `d.source` with a perturbed config,
  /// on a new actor built with that config and given the source's checkpoint.
  void exploit(std::vector<live_trial>::iterator it, const decision& d) {
    auto& t = trials_[it->id];
    // The source's last saved checkpoint, not a fresh save: the source may be
    // waiting for resources, and this loop must not wait on it.
    std::string checkpoint = *checkpoints_[d.source];
    t.config = d.new_config;
    checkpoints_[t.id] = checkpoint;
    checkpoint_steps_[t.id] = t.steps;
    storage_.write_checkpoint(t.id, checkpoint, t.steps);
    storage_.write_trial(t);
    auto id = it->id;
    live_.erase(it);
    queue_.push_front(id);
  }

  void summary(const result_grid& r) const {
    std::string out = "== tune finished: " + std::to_string(r.trials().size()) + " trials: "
                    + std::to_string(r.count(trial_state::terminated)) + " TERMINATED, "
                    + std::to_string(r.count(trial_state::stopped)) + " STOPPED, "
                    + std::to_string(r.count(trial_state::error)) + " ERROR";
    try {
      const auto& b = r.best();
      out += "; best trial " + std::to_string(b.id) + ": " + s_.metric + "=" + param_value(b.metrics.at(s_.metric)).to_string()
           + " after " + std::to_string(b.steps) + " steps, " + b.config.to_string();
    } catch (const error&) {
      out += "; no trial reported " + s_.metric;
    }
    std::fprintf(stderr, "%s\n", out.c_str());
  }

  const run_settings& s_;
  const start_trial& start_;
  run_storage storage_;
  run_gauges gauges_;
  std::unique_ptr<trial_scheduler> scheduler_;
  std::vector<trial> trials_;
  std::vector<std::optional<std::string>> checkpoints_;
  std::map<std::size_t, std::size_t> checkpoint_steps_;
  std::deque<std::size_t> queue_;
  std::vector<live_trial> live_;
};

} // namespace

result_grid run_trials(const run_settings& settings, const start_trial& start, bool resume) {
  run_loop loop(settings, start, resume);
  return loop.run();
}

} // namespace detail
} // namespace actors::tune
