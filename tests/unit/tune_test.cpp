// The tuner on the embedded cluster: trials run as actors of a registered
// class, schedulers stop or replace them, failures become trial errors, and a
// run whose driver stopped is resumed from its storage. Links only the public
// libraries.

#include <actors/actors.hpp>
#include <actors/tune.hpp>

#include "tests/support/http.hpp"
#include "tests/support/processes.hpp"
#include "tests/unit/tune_trainers.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace tune = actors::tune;
namespace fs = std::filesystem;

namespace {

/// Earns 1 - |x - target| a step, the target moving from 0.2 to 0.8 halfway
/// through 20 steps; reports what it earned so far.
class Earner {
 public:
  explicit Earner(tune::config c) : x_(c.get<double>("x")) {}
  tune::metrics step() {
    ++steps_;
    total_ += 1 - std::abs(x_ - (steps_ <= 10 ? 0.2 : 0.8));
    return {{"earned", total_}};
  }
  std::string save() const {
    std::ostringstream out;
    out.precision(17);
    out << steps_ << " " << total_;
    return out.str();
  }
  void restore(const std::string& checkpoint) {
    std::istringstream in(checkpoint);
    in >> steps_ >> total_;
  }

 private:
  double x_;
  int steps_ = 0;
  double total_ = 0;
};
Earner make_earner(tune::config c) {
  return Earner(std::move(c));
}

/// Counts how many trials are inside step() at once (the embedded cluster runs
/// every actor in this process).
std::atomic<int> in_step{0};
std::atomic<int> most_in_step{0};

class Overlapper {
 public:
  explicit Overlapper(tune::config) {}
  tune::metrics step() {
    int now = ++in_step;
    for (int seen = most_in_step; now > seen && !most_in_step.compare_exchange_weak(seen, now);) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    --in_step;
    return {{"loss", 1}};
  }
};
Overlapper make_overlapper(tune::config c) {
  return Overlapper(std::move(c));
}

ACTORS_REMOTE(make_earner, &Earner::step, &Earner::save, &Earner::restore, make_overlapper, &Overlapper::step);

class Tune : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    actors::init_options opts;
    opts.num_cpus = 2;
    actors::init(opts);
  }
  static void TearDownTestSuite() {
    actors::shutdown();
  }
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tune_test_" + std::to_string(::getpid()) + "_"
                                        + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override {
    fs::remove_all(dir_);
  }
  fs::path dir_;
};

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// A resumed run of six 6-step counting trials: every trial ended TERMINATED
/// with its six steps counted in order (a trial that went on from its
/// checkpoint did so where it had stopped), and none of `finished_before` ran
/// again. `first_step_after_resume` holds each trial's first step seen by the
/// resumed run.
void expect_resumed(const tune::result_grid& r, const std::set<std::size_t>& finished_before,
                    const std::map<std::size_t, std::size_t>& first_step_after_resume) {
  ASSERT_EQ(r.trials().size(), 6u);
  for (const auto& t : r.trials()) {
    EXPECT_STREQ(tune::to_string(t.state), "TERMINATED") << t.error;
    ASSERT_EQ(t.history.size(), 6u) << "trial " << t.id;
    for (std::size_t i = 0; i < 6; ++i)
      EXPECT_EQ(t.history[i].values.at("count"), static_cast<double>(i + 1)) << "trial " << t.id;
  }
  for (auto id : finished_before)
    EXPECT_EQ(first_step_after_resume.count(id), 0u) << "finished trial " << id << " ran again";
  EXPECT_EQ(first_step_after_resume.size(), 6u - finished_before.size());
}

/// The value of the series `name` whose labels include `label`, or -1.
double sample(const std::string& text, const std::string& name, const std::string& label) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(name + "{", 0) == 0 && line.find(label) != std::string::npos)
      return std::stod(line.substr(line.rfind(' ') + 1));
  return -1;
}

int metrics_port() {
  for (const auto& n : actors::nodes())
    if (n.id == actors::current_node_id())
      return n.metrics_port;
  return 0;
}

std::size_t lines(const std::string& s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

} // namespace

TEST_F(Tune, RunsEveryTrialAsAnActorAndFindsTheBest) {
  auto r = tune::tuner(make_quadratic, &Quadratic::step)
             .space({{"x", tune::uniform(0, 1)}})
             .metric("loss", tune::min)
             .num_samples(6)
             .max_steps(5)
             .max_concurrent(2)
             .resources({{"CPU", 1}})
             .storage(dir_.string())
             .run();
  ASSERT_EQ(r.trials().size(), 6u);
  double best = 1e9;
  for (const auto& t : r.trials()) {
    EXPECT_STREQ(tune::to_string(t.state), "TERMINATED") << t.error;
    ASSERT_EQ(t.history.size(), 5u);
    EXPECT_EQ(t.steps, 5u);
    // One actor per trial: its own count goes 1..5.
    for (std::size_t i = 0; i < 5; ++i)
      EXPECT_EQ(t.history[i].values.at("count"), static_cast<double>(i + 1));
    best = std::min(best, t.metrics.at("loss"));
  }
  EXPECT_EQ(r.best().metrics.at("loss"), best);
  EXPECT_EQ(r.best().steps, 5u);
  // Storage: results and every trial's history as CSV and JSON.
  EXPECT_EQ(lines(read(dir_ / "results.csv")), 7u);
  EXPECT_NE(read(dir_ / "results.json").find("\"TERMINATED\""), std::string::npos);
  for (int i = 0; i < 6; ++i) {
    auto d = dir_ / ("trial_" + std::to_string(i));
    EXPECT_EQ(lines(read(d / "history.csv")), 6u) << d;
    EXPECT_NE(read(d / "trial.json").find("\"history\""), std::string::npos) << d;
  }
  auto csv = dir_ / "copy.csv";
  r.to_csv(csv.string());
  auto text = read(csv);
  EXPECT_EQ(text.substr(0, text.find('\n')), "trial_id,state,steps,count,loss,config/x,error");
  EXPECT_EQ(lines(text), 7u);
  // The driver's Prometheus endpoint has the run's trials by state and its best.
  ASSERT_GT(metrics_port(), 0);
  auto scraped = actors::test::http_get(metrics_port(), "/metrics");
  EXPECT_EQ(sample(scraped, "actors_tune_trials", "state=\"TERMINATED\""), 6) << scraped;
  EXPECT_EQ(sample(scraped, "actors_tune_trials", "state=\"RUNNING\""), 0);
  EXPECT_DOUBLE_EQ(sample(scraped, "actors_tune_best", "metric=\"loss\""), best);
}

TEST_F(Tune, PrintsAProgressTableAndASummaryOnStderr) {
  ::testing::internal::CaptureStderr();
  auto r = tune::tuner(make_quadratic, &Quadratic::step)
             .space({{"x", tune::grid({0.25, 0.5, 0.75})}})
             .metric("loss", tune::min)
             .max_steps(3)
             .progress(tune::progress_table::always)
             .progress_every(0)
             .run();
  auto err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("trial  state        steps         loss  config"), std::string::npos) << err;
  EXPECT_NE(err.find("RUNNING"), std::string::npos) << err;
  EXPECT_NE(err.find("x=0.25"), std::string::npos) << err;
  EXPECT_NE(err.find("== tune finished: 3 trials: 3 TERMINATED, 0 STOPPED, 0 ERROR; best trial 1: loss=0.333333 "
                     "after 3 steps, x=0.5"),
            std::string::npos)
    << err;
  EXPECT_EQ(r.best().config.get<double>("x"), 0.5);
}

TEST_F(Tune, AtMostMaxConcurrentTrialsRunAtOnce) {
  auto run = [](std::size_t max_concurrent) {
    most_in_step = 0;
    auto r = tune::tuner(make_overlapper, &Overlapper::step)
               .space({{"x", tune::uniform(0, 1)}})
               .metric("loss", tune::min)
               .num_samples(6)
               .max_steps(4)
               .max_concurrent(max_concurrent)
               .resources({}) // no CPUs reserved: only max_concurrent limits them
               .run();
    EXPECT_EQ(r.count(tune::trial_state::terminated), 6u);
    return most_in_step.load();
  };
  EXPECT_EQ(run(1), 1);
  int three = run(3);
  EXPECT_LE(three, 3);
  EXPECT_GE(three, 2);
}

TEST_F(Tune, AshaStopsTrialsOnTheCluster) {
  std::size_t results = 0;
  auto r = tune::tuner(make_quadratic, &Quadratic::step)
             .space({{"x", tune::uniform(0, 1)}})
             .metric("loss", tune::min)
             .num_samples(9)
             .max_steps(9)
             .seed(4)
             .scheduler(tune::asha{.grace_steps = 1, .reduction_factor = 3})
             .max_concurrent(2)
             .on_result([&](const tune::trial&) { ++results; })
             .run();
  EXPECT_GT(r.count(tune::trial_state::stopped), 0u);
  EXPECT_GT(r.count(tune::trial_state::terminated), 0u);
  EXPECT_LT(results, 9u * 9u);
  EXPECT_EQ(r.best().steps, 9u);
}

TEST_F(Tune, AThrowingStepIsATrialErrorAndTheRunGoesOn) {
  auto r = tune::tuner(make_quadratic, &Quadratic::step)
             .space({{"x", tune::uniform(0, 1)}, {"fail_at", tune::grid({0, 2})}})
             .metric("loss", tune::min)
             .num_samples(2)
             .max_steps(4)
             .max_concurrent(2)
             .run();
  ASSERT_EQ(r.trials().size(), 4u);
  for (const auto& t : r.trials()) {
    if (t.config.get<int>("fail_at") == 2) {
      EXPECT_STREQ(tune::to_string(t.state), "ERROR");
      EXPECT_NE(t.error.find("step() threw"), std::string::npos) << t.error;
      EXPECT_NE(t.error.find("diverged at step 2"), std::string::npos) << t.error;
      EXPECT_EQ(t.steps, 1u);
    } else {
      EXPECT_STREQ(tune::to_string(t.state), "TERMINATED") << t.error;
    }
  }
  EXPECT_EQ(r.best().config.get<int>("fail_at"), 0);
}

TEST_F(Tune, AnUnknownMetricFailsTheTrialsSayingWhatStepReported) {
  auto r = tune::tuner(make_quadratic, &Quadratic::step)
             .space({{"x", tune::uniform(0, 1)}})
             .metric("accuracy", tune::max)
             .num_samples(2)
             .max_steps(3)
             .run();
  for (const auto& t : r.trials()) {
    EXPECT_STREQ(tune::to_string(t.state), "ERROR");
    EXPECT_NE(t.error.find("no metric \"accuracy\""), std::string::npos) << t.error;
    EXPECT_NE(t.error.find("count, loss"), std::string::npos) << t.error;
  }
  try {
    r.best();
    ADD_FAILURE() << "best() of a run where no trial reported the metric";
  } catch (const actors::error& e) {
    EXPECT_NE(std::string(e.what()).find("2 of 2 trials failed"), std::string::npos) << e.what();
  }
}

TEST_F(Tune, AFactoryThatThrowsIsATrialErrorNamingWhatFailed) {
  // The trainer reads "x", which this space does not have.
  auto r = tune::tuner(make_quadratic, &Quadratic::step)
             .space({{"y", tune::uniform(0, 1)}})
             .metric("loss", tune::min)
             .num_samples(2)
             .max_steps(3)
             .max_failures(1)
             .run();
  for (const auto& t : r.trials()) {
    EXPECT_STREQ(tune::to_string(t.state), "ERROR");
    EXPECT_NE(t.error.find("config has no parameter \"x\""), std::string::npos) << t.error;
    EXPECT_EQ(t.steps, 0u);
  }
}

TEST_F(Tune, BadOptionsAreRefusedBeforeAnyTrialStarts) {
  auto refused = [](auto&& run) -> std::string {
    try {
      run();
    } catch (const actors::error& e) {
      EXPECT_EQ(e.code(), actors::errc::invalid_argument);
      return e.what();
    }
    return "(accepted)";
  };
  auto base = [] {
    return tune::tuner(make_quadratic, &Quadratic::step).space({{"x", tune::uniform(0, 1)}}).max_steps(2);
  };
  EXPECT_NE(refused([&] { base().run(); }).find("no metric"), std::string::npos);
  EXPECT_NE(refused([&] { base().metric("loss", tune::min).space({{"x", tune::uniform(1, 0)}}).run(); }).find("\"x\""),
            std::string::npos);
  EXPECT_NE(refused([&] {
              base().metric("loss", tune::min).scheduler(tune::pbt{.mutations = {{"x", tune::uniform(0, 1)}}}).run();
            }).find(".checkpoint("),
            std::string::npos);
  EXPECT_NE(refused([&] { base().metric("loss", tune::min).max_concurrent(0).run(); }).find("max_concurrent"),
            std::string::npos);
  EXPECT_NE(refused([&] { base().metric("loss", tune::min).resources({{"CPU", -1}}).run(); }).find("CPU"),
            std::string::npos);
  EXPECT_NE(refused([&] { base().metric("loss", tune::min).storage(dir_.string()).resume(); }).find("no run to resume"),
            std::string::npos);
}

TEST_F(Tune, PbtCopiesTheCheckpointsOfTheBestTrials) {
  auto r = tune::tuner(make_earner, &Earner::step)
             .checkpoint(&Earner::save, &Earner::restore)
             .space({{"x", tune::uniform(0, 1)}})
             .metric("earned", tune::max)
             .num_samples(6)
             .max_steps(20)
             .seed(2)
             .scheduler(tune::pbt{.interval_steps = 4, .quantile = 0.34, .mutations = {{"x", tune::uniform(0, 1)}}})
             .max_concurrent(6)
             .resources({})
             .run();
  auto sampled = tune::sample({{"x", tune::uniform(0, 1)}}, 6, 2);
  std::size_t changed = 0;
  for (const auto& t : r.trials()) {
    EXPECT_STREQ(tune::to_string(t.state), "TERMINATED") << t.error;
    EXPECT_EQ(t.steps, 20u);
    if (!(t.config == sampled[t.id]))
      ++changed;
  }
  EXPECT_GT(changed, 0u);
}

TEST_F(Tune, ResumeFinishesARunWhoseDriverStoppedWithoutRepeatingFinishedTrials) {
  auto make = [&] {
    return tune::tuner(make_quadratic, &Quadratic::step)
      .checkpoint(&Quadratic::save, &Quadratic::restore)
      .space({{"x", tune::uniform(0, 1)}})
      .metric("loss", tune::min)
      .num_samples(6)
      .max_steps(6)
      .seed(9)
      .max_concurrent(2)
      .storage(dir_.string());
  };
  // The driver "dies" after 15 results: what on_result throws ends run() at once.
  std::set<std::size_t> finished_first;
  std::size_t results = 0;
  struct driver_stopped {};
  EXPECT_THROW(make()
                 .on_result([&](const tune::trial& t) {
                   if (t.steps == 6)
                     finished_first.insert(t.id);
                   if (++results == 15)
                     throw driver_stopped{};
                 })
                 .run(),
               driver_stopped);
  ASSERT_FALSE(finished_first.empty());
  ASSERT_LT(finished_first.size(), 6u);

  std::map<std::size_t, std::size_t> first_step_after_resume;
  auto r = make()
             .on_result([&](const tune::trial& t) { first_step_after_resume.try_emplace(t.id, t.steps); })
             .resume();
  expect_resumed(r, finished_first, first_step_after_resume);
  // A trial that was midway went on from its checkpoint, not from step 1.
  bool went_on = std::any_of(first_step_after_resume.begin(), first_step_after_resume.end(),
                             [](const auto& e) { return e.second > 1; });
  EXPECT_TRUE(went_on);
}

TEST_F(Tune, ResumeFinishesARunWhoseDriverProcessWasKilled) {
  const char* driver = std::getenv("TUNE_DRIVER");
  ASSERT_NE(driver, nullptr) << "set TUNE_DRIVER to the tune_driver program (meson test does)";
  fs::create_directories(dir_);
  auto finished_in = [&](std::size_t id) {
    return read(dir_ / ("trial_" + std::to_string(id)) / "trial.json").find("\"TERMINATED\"") != std::string::npos;
  };
  {
    actors::test::process child({driver, dir_.string()}, (dir_ / "driver.log").string());
    // Killed once two trials are done and the others are not.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::size_t done = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      auto results = read(dir_ / "results.json");
      done = 0;
      for (auto at = results.find("\"TERMINATED\""); at != std::string::npos; at = results.find("\"TERMINATED\"", at + 1))
        ++done;
      if (done >= 2)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_GE(done, 2u) << child.output();
    child.kill(SIGKILL);
    ASSERT_TRUE(child.wait_exit(std::chrono::seconds(10)).has_value());
  }
  std::set<std::size_t> finished_before;
  for (std::size_t id = 0; id < 6; ++id)
    if (finished_in(id))
      finished_before.insert(id);
  ASSERT_GE(finished_before.size(), 2u);
  ASSERT_LT(finished_before.size(), 6u) << "the driver finished before it was killed";

  std::map<std::size_t, std::size_t> first_step_after_resume;
  auto r = slow_run(dir_.string())
             .on_result([&](const tune::trial& t) { first_step_after_resume.try_emplace(t.id, t.steps); })
             .resume();
  expect_resumed(r, finished_before, first_step_after_resume);
}
