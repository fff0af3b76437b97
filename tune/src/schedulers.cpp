// The schedulers' decision logic. Every value is turned into a score where lower
// is better (the value itself for min, its negation for max), so each scheduler
// is written once.

#include "actors/tune/schedulers.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

namespace actors::tune {

namespace {

[[noreturn]] void bad_option(const std::string& what) {
  throw error(errc::invalid_argument, "scheduler: " + what);
}

/// Linear-interpolated percentile (0..100) of `xs`, not empty.
double percentile(std::vector<double> xs, double pct) {
  std::sort(xs.begin(), xs.end());
  double pos = pct / 100.0 * static_cast<double>(xs.size() - 1);
  auto lo = static_cast<std::size_t>(std::floor(pos));
  auto hi = std::min(lo + 1, xs.size() - 1);
  return xs[lo] + (xs[hi] - xs[lo]) * (pos - static_cast<double>(lo));
}

class fifo_logic : public trial_scheduler {
 public:
  decision on_result(std::size_t, std::size_t, double, const config&) override {
    return {};
  }
};

class asha_logic : public trial_scheduler {
 public:
  asha_logic(const asha& o, double sign, std::size_t max_steps) : factor_(o.reduction_factor), sign_(sign) {
    if (o.grace_steps == 0)
      bad_option("asha grace_steps is 0: give 1 or more steps before the first rung");
    if (!(o.reduction_factor > 1) || !std::isfinite(o.reduction_factor))
      bad_option("asha reduction_factor must be above 1 (3 keeps the top third at each rung)");
    for (double m = static_cast<double>(o.grace_steps); m < static_cast<double>(max_steps); m *= factor_)
      rungs_.push_back({static_cast<std::size_t>(std::llround(m)), {}});
  }

  decision on_result(std::size_t trial, std::size_t step, double value, const config&) override {
    double score = sign_ * value;
    // The highest rung the trial has just reached and not yet recorded at.
    for (auto it = rungs_.rbegin(); it != rungs_.rend(); ++it) {
      if (step < it->milestone || it->recorded.count(trial))
        continue;
      std::vector<double> others;
      for (const auto& [t, s] : it->recorded)
        others.push_back(s);
      it->recorded[trial] = score;
      decision d;
      if (!others.empty() && score > percentile(std::move(others), 100.0 / factor_))
        d.what = decision::action::stop;
      return d;
    }
    return {};
  }

 private:
  struct rung {
    std::size_t milestone;
    std::map<std::size_t, double> recorded; // trial -> score
  };
  double factor_;
  double sign_;
  std::vector<rung> rungs_;
};

class median_logic : public trial_scheduler {
 public:
  median_logic(const median_stopping& o, double sign) : o_(o), sign_(sign) {}

  decision on_result(std::size_t trial, std::size_t step, double value, const config&) override {
    auto& mine = scores_[trial];
    mine.emplace_back(step, sign_ * value);
    if (step < o_.grace_steps)
      return {};
    std::vector<double> means;
    for (const auto& [t, results] : scores_)
      if (t != trial && !results.empty() && results.front().first <= step)
        means.push_back(running_mean(results, step));
    if (means.size() < std::max<std::size_t>(o_.min_samples, 1))
      return {};
    decision d;
    if (running_mean(mine, step) > percentile(std::move(means), 50))
      d.what = decision::action::stop;
    return d;
  }

 private:
  static double running_mean(const std::vector<std::pair<std::size_t, double>>& results, std::size_t step) {
    double sum = 0;
    std::size_t n = 0;
    for (const auto& [s, v] : results)
      if (s <= step) {
        sum += v;
        ++n;
      }
    return n ? sum / static_cast<double>(n) : 0;
  }

  median_stopping o_;
  double sign_;
  std::map<std::size_t, std::vector<std::pair<std::size_t, double>>> scores_;
};

class pbt_logic : public trial_scheduler {
 public:
  pbt_logic(const pbt& o, double sign, std::uint64_t seed) : o_(o), sign_(sign), state_(seed ^ 0x5bd1e995ULL) {
    if (o.interval_steps == 0)
      bad_option("pbt interval_steps is 0: give the number of steps between perturbations");
    if (!(o.quantile > 0 && o.quantile <= 0.5))
      bad_option("pbt quantile must be in (0, 0.5]: the share of trials replaced, and of trials copied");
    if (!(o.resample_probability >= 0 && o.resample_probability <= 1))
      bad_option("pbt resample_probability must be in [0, 1]");
    if (o.mutations.empty())
      bad_option("pbt has no mutations: name the parameters it may perturb and their domains");
    check_space(o.mutations);
  }

  decision on_result(std::size_t trial, std::size_t step, double value, const config& current) override {
    auto& me = trials_[trial];
    me.score = sign_ * value;
    me.current = current;
    if (step % o_.interval_steps != 0 || trials_.size() < 2)
      return {};
    std::vector<std::size_t> order;
    for (const auto& [t, s] : trials_)
      order.push_back(t);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return trials_[a].score < trials_[b].score; });
    auto n = order.size();
    auto q = static_cast<std::size_t>(std::ceil(static_cast<double>(n) * o_.quantile));
    q = std::min(q, n / 2);
    if (q == 0)
      return {};
    auto pos = static_cast<std::size_t>(std::find(order.begin(), order.end(), trial) - order.begin());
    if (pos < n - q)
      return {};
    decision d;
    d.what = decision::action::exploit;
    d.source = order[below(q)];
    d.new_config = mutate(trials_[d.source].current);
    me.current = d.new_config;
    me.score = trials_[d.source].score;
    return d;
  }

  void on_end(std::size_t trial) override {
    // An ended trial's checkpoint stays worth copying; it keeps its place.
    (void)trial;
  }

 private:
  std::size_t below(std::size_t n) {
    std::uint64_t s = state_;
    auto v = static_cast<std::size_t>(unit_bits(s) % n);
    state_ = s;
    return v;
  }
  static std::uint64_t unit_bits(std::uint64_t& s) {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double coin() {
    return static_cast<double>(unit_bits(state_) >> 11) * 0x1.0p-53;
  }

  config mutate(config c) {
    for (const auto& [name, d] : o_.mutations) {
      bool resample = !c.contains(name) || coin() < o_.resample_probability;
      if (resample) {
        c.set(name, draw(d, state_));
        continue;
      }
      const param_value& v = c.at(name);
      bool up = coin() < 0.5;
      switch (d.type) {
        case domain::kind::uniform:
        case domain::kind::loguniform: {
          double x = std::clamp(v.as_double() * (up ? 1.2 : 0.8), d.low, d.high);
          c.set(name, x);
          break;
        }
        case domain::kind::randint: {
          double x = std::round(v.as_double() * (up ? 1.2 : 0.8));
          if (x == v.as_double())
            x += up ? 1 : -1;
          c.set(name, static_cast<long long>(std::clamp(x, d.low, d.high - 1)));
          break;
        }
        case domain::kind::choice:
        case domain::kind::grid: {
          auto it = std::find(d.values.begin(), d.values.end(), v);
          if (it == d.values.end()) {
            c.set(name, draw(d, state_));
            break;
          }
          auto i = static_cast<std::size_t>(it - d.values.begin());
          if (up && i + 1 < d.values.size())
            ++i;
          else if (!up && i > 0)
            --i;
          c.set(name, d.values[i]);
          break;
        }
      }
    }
    return c;
  }

  struct member {
    double score = 0;
    config current;
  };
  pbt o_;
  double sign_;
  std::uint64_t state_;
  std::map<std::size_t, member> trials_;
};

} // namespace

const char* to_string(trial_state s) noexcept {
  switch (s) {
    case trial_state::pending: return "PENDING";
    case trial_state::running: return "RUNNING";
    case trial_state::terminated: return "TERMINATED";
    case trial_state::stopped: return "STOPPED";
    case trial_state::error: return "ERROR";
  }
  return "?";
}

std::unique_ptr<trial_scheduler> make_scheduler(const scheduler& s, objective mode, std::size_t max_steps,
                                                std::uint64_t seed) {
  double sign = mode == objective::min ? 1.0 : -1.0;
  if (const auto* a = std::get_if<asha>(&s))
    return std::make_unique<asha_logic>(*a, sign, max_steps);
  if (const auto* m = std::get_if<median_stopping>(&s))
    return std::make_unique<median_logic>(*m, sign);
  if (const auto* p = std::get_if<pbt>(&s))
    return std::make_unique<pbt_logic>(*p, sign, seed);
  return std::make_unique<fifo_logic>();
}

std::string name_of(const scheduler& s) {
  static const char* names[] = {"fifo", "asha", "median_stopping", "pbt"};
  return names[s.index()];
}

} // namespace actors::tune
