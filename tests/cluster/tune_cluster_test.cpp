// The tuner on real processes (a head and two nodes on loopback): a trial
// whose node is killed mid-run goes on from its checkpoint on another node,
// and the run ends with every trial done.

#include "tests/cluster/tune_job.hpp"
#include "tests/support/local_cluster.hpp"
#include "tests/support/processes.hpp"

#include <actors/actors.hpp>
#include <actors/tune.hpp>

#include <gtest/gtest.h>

#include <csignal>

namespace tune = actors::tune;
using actors::test::process;

namespace {

/// A head and two nodes of one CPU each, fresh for each test: the tests kill nodes.
class TuneCluster : public ::testing::Test {
 protected:
  actors::test::local_cluster cluster{"tune-test"};

  std::vector<std::string> daemon(std::vector<std::string> extra) {
    std::vector<std::string> args{actors::test::env("ACTORSD"), "--num-cpus", "1", "--metrics-port", "-1",
                                  "--heartbeat-timeout", "1500", "--load", actors::test::env("TUNE_JOB_LIBRARY")};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  void SetUp() override {
    cluster.start_head(daemon({"--head", "--port", "0"}));
    for (int i = 0; i < 2; ++i)
      cluster.start_node(daemon({}));
    actors::init_options opts;
    opts.metrics_port = -1;
    opts.heartbeat_timeout_ms = 1500;
    cluster.join(opts, 3);
  }

  void TearDown() override {
    cluster.stop();
    cluster.clean_up(::testing::Test::HasFailure());
  }
};

} // namespace

TEST_F(TuneCluster, ATrialWhoseNodeIsKilledGoesOnFromItsCheckpointElsewhere) {
  // Three trials of one CPU on three one-CPU processes: one trial per process.
  // At its third step, the first trial found on a node (not the head) loses
  // that node.
  pid_t killed = 0;
  std::size_t victim = 0;
  auto r = tune::tuner(tunejob::make_slow_trainer, &tunejob::slow_trainer::step)
             .checkpoint(&tunejob::slow_trainer::save, &tunejob::slow_trainer::restore)
             .space({{"x", tune::uniform(0, 1)}})
             .metric("loss", tune::min)
             .num_samples(3)
             .max_steps(12)
             .max_concurrent(3)
             .resources({{"CPU", 1}})
             .on_result([&](const tune::trial& t) {
               if (killed || t.steps < 3)
                 return;
               auto pid = static_cast<pid_t>(t.metrics.at("pid"));
               for (auto& node : cluster.nodes)
                 if (node->pid() == pid) {
                   node->kill(SIGKILL);
                   killed = pid;
                   victim = t.id;
                 }
             })
             .run();
  ASSERT_NE(killed, 0) << "no trial ran on a node";
  for (const auto& t : r.trials()) {
    EXPECT_STREQ(tune::to_string(t.state), "TERMINATED") << "trial " << t.id << ": " << t.error;
    ASSERT_EQ(t.history.size(), 12u) << "trial " << t.id;
    // The trainer's own count follows the history: the new actor went on from
    // the checkpoint, not from the start.
    for (std::size_t i = 0; i < 12; ++i)
      EXPECT_EQ(t.history[i].values.at("count"), static_cast<double>(i + 1)) << "trial " << t.id;
  }
  const auto& v = r.trials()[victim];
  EXPECT_GE(v.failures, 1u);
  EXPECT_NE(static_cast<pid_t>(v.history.back().values.at("pid")), killed);
}
