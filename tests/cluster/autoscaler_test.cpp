// The autoscaler with real processes: a head offering no CPUs (`actorsd --head
// --num-cpus 0 --autoscale FILE`) whose local provider starts actorsd nodes for
// work that waits and stops them when idle; and the command provider, with
// scripts that start and stop actorsd in the background.

#include "tests/cluster/job.hpp"
#include "tests/support/dashboard.hpp"
#include "tests/support/http.hpp"
#include "tests/support/local_cluster.hpp"

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using actors::test::local_cluster;
using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// Waits up to `limit` (stretched in a sanitizer build) for `ok`, checking
/// every 100 ms.
template <class F>
bool within(std::chrono::milliseconds limit, F ok) {
  auto deadline = clock_type::now() + actors::test::scaled(limit);
  while (clock_type::now() < deadline) {
    if (ok())
      return true;
    std::this_thread::sleep_for(100ms);
  }
  return ok();
}

/// `actors status` of the test's cluster.
std::string status(local_cluster& c, bool json = false) {
  std::vector<std::string> args{actors::test::env("ACTORS_CLI"), "--address", c.address, "--token", c.token, "status"};
  if (json)
    args.push_back("--json");
  return actors::test::run(args, c.dir + "/status.log").second;
}

/// Non-driver processes alive, launched by the autoscaler (the head is not).
int launched_alive() {
  int n = 0;
  for (const auto& i : actors::nodes())
    n += i.alive && !i.is_driver && !i.is_head;
  return n;
}

/// The head's /metrics text.
std::string head_metrics() {
  for (const auto& i : actors::nodes())
    if (i.alive && i.is_head)
      return actors::test::http_get(i.metrics_port, "/metrics");
  return {};
}

/// The value of the series `series` (name and labels as the text format writes
/// them) in a /metrics text; -1 if it is not there.
double metric(const std::string& text, const std::string& series) {
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos)
    return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

/// Node processes of this machine that an autoscaler launched for the cluster of
/// `token` (their command lines carry both).
int launched_processes(const std::string& token) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    n += cmdline.find("--launch-id") != std::string::npos && cmdline.find(token) != std::string::npos;
  }
  return n;
}

class Autoscaler : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster = std::make_unique<local_cluster>("autoscaler");
  }
  void TearDown() override {
    actors::test::tear_down(cluster);
  }

  /// The command line of a head with no CPUs and the autoscaler config `yaml`
  /// (written to DIR/autoscale.yaml), on `port`, saving its state in DIR/state.
  /// The launched nodes' logs are in DIR/head-spill/autoscaler.
  std::vector<std::string> head_command(const std::string& yaml, const std::string& port = "0") {
    auto file = cluster->dir + "/autoscale.yaml";
    std::ofstream(file) << yaml;
    return {actors::test::env("ACTORSD"), "--head", "--port", port, "--num-cpus", "0", "--metrics-port", "0",
            "--heartbeat-timeout", "1500", "--load", actors::test::env("JOB_LIBRARY"), "--spill-dir",
            cluster->dir + "/head-spill", "--state-dir", cluster->dir + "/state", "--autoscale", file};
  }

  /// Starts that head and joins it.
  void start(const std::string& yaml) {
    cluster->start_head(head_command(yaml));
    actors::init_options opts;
    cluster->join(opts, 1);
  }

  std::unique_ptr<local_cluster> cluster;
};

const char* cpu_and_gpu = R"(provider:
  type: local
idle_timeout_s: 3
node_types:
  cpu:
    resources: {CPU: 1}
    min_nodes: 0
    max_nodes: 3
  gpu:
    resources: {CPU: 1, GPU: 1}
    max_nodes: 1
)";

TEST_F(Autoscaler, LaunchesNodesForWaitingTasksAndRemovesThemWhenIdle) {
  start(cpu_and_gpu);
  ASSERT_EQ(launched_alive(), 0);
  const int n = 60;
  auto t0 = clock_type::now();
  std::vector<actors::object_ref<std::int64_t>> refs;
  for (int i = 0; i < n; ++i)
    refs.push_back(actors::task(job::slow_square).remote(std::int64_t{i}, 200));
  EXPECT_TRUE(within(5s, [] { return launched_alive() >= 1; })) << "no node was launched within 5 s\n"
                                                                  << status(*cluster);
  auto got = actors::get(refs, actors::test::scaled(120s));
  double took = seconds_since(t0);
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(got[static_cast<std::size_t>(i)], std::int64_t{i} * i);
  // One 1-CPU node would take 60 x 200 ms = 12 s. A sanitizer build is too slow
  // for the figure to say anything.
  if (!actors::test::sanitized) {
    EXPECT_LT(took, 6.0) << status(*cluster);
  }
  auto text = status(*cluster);
  EXPECT_NE(text.find("Autoscaler"), std::string::npos) << text;
  EXPECT_NE(text.find("launched"), std::string::npos) << text;
  for (const auto& i : actors::nodes()) {
    if (i.alive && !i.is_driver && !i.is_head) {
      EXPECT_LE(i.resources_total.at("CPU"), 1.0);
    }
  }

  // Idle 3 s (idle_timeout_s), then drained and stopped: back to none within 5 s more.
  refs.clear();
  got.clear();
  auto idle_from = clock_type::now();
  EXPECT_TRUE(within(8s, [] { return launched_alive() == 0; })) << status(*cluster);
  EXPECT_GE(seconds_since(idle_from), 2.5) << "nodes were removed before they were idle for idle_timeout_s";
  text = status(*cluster);
  EXPECT_NE(text.find("removed node"), std::string::npos) << text;
  auto json = status(*cluster, true);
  EXPECT_NE(json.find("\"autoscaler\":{\"node_types\":{\"cpu\":{\"resources\":{\"CPU\":1.0},\"min\":0,"
                      "\"max\":3,\"running\":0,\"launching\":0}"),
            std::string::npos)
    << json;

  // The head's metrics count what happened.
  auto m = head_metrics();
  EXPECT_GE(metric(m, "actors_autoscaler_launches_total{node_type=\"cpu\"}"), 1) << m;
  EXPECT_EQ(metric(m, "actors_autoscaler_launches_total{node_type=\"gpu\"}"), 0) << m;
  EXPECT_EQ(metric(m, "actors_autoscaler_terminations_total{node_type=\"cpu\",reason=\"idle\"}"),
            metric(m, "actors_autoscaler_launches_total{node_type=\"cpu\"}"))
    << m;
  EXPECT_EQ(metric(m, "actors_autoscaler_nodes{node_type=\"cpu\",state=\"running\"}"), 0) << m;
  EXPECT_EQ(metric(m, "actors_autoscaler_launch_failures_total{node_type=\"cpu\"}"), 0) << m;
}

TEST_F(Autoscaler, TheHeadsMetricsShowWaitingDemandAndEveryMetricTheDashboardUses) {
  start(cpu_and_gpu);
  // A task no node type can run waits for good: its demand stays.
  auto stuck = actors::task(job::where_am_i).num_cpus(0).resource("TPU", 2).remote(1);
  std::string m;
  EXPECT_TRUE(within(10s, [&] {
    m = head_metrics();
    return metric(m, "actors_autoscaler_pending_demand{resource=\"TPU\"}") == 2;
  })) << m;
  EXPECT_EQ(metric(m, "actors_autoscaler_nodes{node_type=\"gpu\",state=\"launching\"}"), 0) << m;

  const auto dashboard = actors::test::dashboard_text();
  EXPECT_NE(dashboard.find("\"title\": \"Autoscaler\""), std::string::npos) << "no Autoscaler row";
  const auto used = actors::test::dashboard_metrics(dashboard);
  EXPECT_TRUE(used.count("actors_autoscaler_nodes") && used.count("actors_autoscaler_pending_demand"));
  for (const auto& n : used) {
    // Exported by the nodes that run dataset operators: dataset_cluster_test checks those.
    if (n.rfind("actors_dataset_", 0) == 0)
      continue;
    EXPECT_NE(m.find("# TYPE " + n + " "), std::string::npos) << "the dashboard uses " << n
                                                              << ", which the head does not export";
  }
}

TEST_F(Autoscaler, ARestartedHeadKeepsTheNodesItLaunchedAndStillRemovesThem) {
  const std::string keep_one = std::string(cpu_and_gpu).replace(std::string(cpu_and_gpu).find("min_nodes: 0"), 12,
                                                                "min_nodes: 1");
  start(keep_one);
  const auto port = cluster->address.substr(cluster->address.rfind(':') + 1);
  ASSERT_TRUE(within(20s, [&] { return launched_processes(cluster->token) == 1 && launched_alive() == 1; }))
    << status(*cluster);

  // The head dies and comes back on its port and state directory, config unchanged.
  cluster->head->kill(SIGKILL);
  ASSERT_TRUE(cluster->head->wait_exit(5s).has_value());
  cluster->head = std::make_unique<actors::test::process>(head_command(keep_one, port), cluster->dir + "/head2.log");
  ASSERT_TRUE(within(20s, [&] { return status(*cluster, true).find("\"running\":1") != std::string::npos; }))
    << status(*cluster) << cluster->head->output();
  // Its min_nodes is met by the node it took over: none is started twice.
  std::this_thread::sleep_for(4s);
  EXPECT_EQ(launched_processes(cluster->token), 1) << status(*cluster);
  EXPECT_NE(status(*cluster).find("1 still there"), std::string::npos) << status(*cluster);

  // Once more, now with min_nodes 0: the node it took over goes when idle.
  cluster->head->kill(SIGKILL);
  ASSERT_TRUE(cluster->head->wait_exit(5s).has_value());
  cluster->head = std::make_unique<actors::test::process>(head_command(cpu_and_gpu, port), cluster->dir + "/head3.log");
  EXPECT_TRUE(within(30s, [&] { return launched_processes(cluster->token) == 0; }))
    << "the launched node outlived its idle timeout\n"
    << status(*cluster) << cluster->head->output();
  EXPECT_NE(status(*cluster).find("removed node"), std::string::npos) << status(*cluster);
}

TEST_F(Autoscaler, LaunchesOnlyTheNodeTypeAGpuTaskNeeds) {
  start(cpu_and_gpu);
  auto ref = actors::task(job::where_am_i).num_cpus(0).resource("GPU", 1).remote(1);
  auto where = actors::get(ref);
  int gpus = 0, cpus = 0;
  for (const auto& i : actors::nodes()) {
    if (!i.alive || i.is_driver || i.is_head)
      continue;
    if (i.resources_total.count("GPU")) {
      ++gpus;
      EXPECT_EQ(i.id.to_string(), where);
    } else {
      ++cpus;
    }
  }
  EXPECT_EQ(gpus, 1) << status(*cluster);
  EXPECT_EQ(cpus, 0) << status(*cluster);
}

TEST_F(Autoscaler, WorkNoNodeTypeCanHoldIsInfeasibleAndLaunchesNothing) {
  start(cpu_and_gpu);
  auto ref = actors::task(job::where_am_i).resource("TPU", 1).remote(1);
  std::string text;
  EXPECT_TRUE(within(5s, [&] {
    text = status(*cluster);
    return text.find("infeasible (no node type holds it): {CPU: 1, TPU: 1}") != std::string::npos;
  })) << text;
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(launched_alive(), 0) << status(*cluster);
}

TEST_F(Autoscaler, ANodeHostingAnActorIsNotRemoved) {
  start(cpu_and_gpu);
  auto counter = actors::actor(job::make_counter).num_cpus(1).remote(std::int64_t{5});
  EXPECT_EQ(actors::get(counter.task(&job::Counter::add).remote(std::int64_t{1})), 6);
  ASSERT_EQ(launched_alive(), 1);
  // Well past idle_timeout_s: the actor keeps its node.
  std::this_thread::sleep_for(6s);
  EXPECT_EQ(launched_alive(), 1) << status(*cluster);
  EXPECT_EQ(actors::get(counter.task(&job::Counter::add).remote(std::int64_t{1})), 7);
  actors::kill(counter);
  EXPECT_TRUE(within(10s, [] { return launched_alive() == 0; })) << status(*cluster);
}

TEST_F(Autoscaler, RequestedResourcesKeepNodesUpUntilWithdrawn) {
  start(cpu_and_gpu);
  actors::request_resources({{{"CPU", 1}}, {{"CPU", 1}}, {{"CPU", 1}}});
  EXPECT_TRUE(within(10s, [] { return launched_alive() == 3; })) << status(*cluster);
  // Idle, but asked for: they stay.
  std::this_thread::sleep_for(5s);
  EXPECT_EQ(launched_alive(), 3) << status(*cluster);
  actors::request_resources({});
  EXPECT_TRUE(within(10s, [] { return launched_alive() == 0; })) << status(*cluster);
}

TEST_F(Autoscaler, PlacementGroupBundlesThatFitNoNodeLaunchNodesAndTheGroupBecomesReady) {
  start(cpu_and_gpu);
  actors::placement_group pg({{{"CPU", 1}}, {{"CPU", 1}}}, actors::scheduling_strategy::spread);
  EXPECT_TRUE(pg.wait(20s)) << "the group's bundles got no nodes\n" << status(*cluster);
  EXPECT_EQ(launched_alive(), 2) << status(*cluster);
  auto where = actors::get(actors::task(job::where_am_i).placement_group(pg, 0).remote(1));
  auto other = actors::get(actors::task(job::where_am_i).placement_group(pg, 1).remote(1));
  EXPECT_NE(where, other) << "SPREAD put both bundles on one node";
  // Reserved bundles keep their nodes past idle_timeout_s; removed, they let them go.
  std::this_thread::sleep_for(5s);
  EXPECT_EQ(launched_alive(), 2) << status(*cluster);
  pg.remove();
  EXPECT_TRUE(within(10s, [] { return launched_alive() == 0; })) << status(*cluster);
}

TEST_F(Autoscaler, ALaunchedNodeKilledDuringAJobIsReplaced) {
  start(cpu_and_gpu);
  const int n = 30;
  std::vector<actors::object_ref<std::int64_t>> refs;
  for (int i = 0; i < n; ++i)
    refs.push_back(actors::task(job::slow_square).remote(std::int64_t{i}, 300));
  ASSERT_TRUE(within(10s, [] { return launched_alive() >= 1; })) << status(*cluster);
  std::this_thread::sleep_for(1s);
  // Kill one launched node the hard way.
  std::int64_t victim = 0;
  for (const auto& i : actors::nodes())
    if (i.alive && !i.is_driver && !i.is_head) {
      victim = i.pid;
      break;
    }
  ASSERT_GT(victim, 0);
  ASSERT_EQ(::kill(static_cast<pid_t>(victim), SIGKILL), 0);
  auto got = actors::get(refs, actors::test::scaled(120s));
  for (int i = 0; i < n; ++i)
    EXPECT_EQ(got[static_cast<std::size_t>(i)], std::int64_t{i} * i);
  // Seen as its process ending (the local provider) or as its leaving the table.
  auto text = status(*cluster);
  EXPECT_TRUE(text.find("(cpu) stopped: its node process was killed") != std::string::npos
              || text.find("left the cluster") != std::string::npos)
    << text;
  EXPECT_NE(text.find("launched 1 x cpu"), std::string::npos) << "no replacement was launched\n" << text;
}

TEST_F(Autoscaler, TheCommandProviderRunsLaunchAndTerminateCommandsAndRetriesAFailedLaunch) {
  // The launch script fails the first time (no marker file yet), then starts
  // actorsd in the background; the terminate script stops it by its launch id.
  auto marker = cluster->dir + "/tried";
  auto launch = cluster->dir + "/launch.sh";
  std::ofstream(launch) << "#!/bin/sh\n"
                        << "if [ ! -e " << marker << " ]; then touch " << marker
                        << "; echo 'no capacity in zone a' >&2; exit 3; fi\n"
                        << "nohup " << actors::test::env("ACTORSD") << " --address \"$1\" --token \"$2\" --num-cpus \"$3\""
                        << " --metrics-port -1 --load " << actors::test::env("JOB_LIBRARY")
                        << " --launch-id \"$4\" > " << cluster->dir << "/launched-$4.log 2>&1 &\n";
  auto terminate = cluster->dir + "/terminate.sh";
  std::ofstream(terminate) << "#!/bin/sh\npkill -TERM -f \"launch-id $1\\$\" || true\n";
  std::string yaml = "provider:\n  type: command\n  launch: \"sh " + launch
                     + " {address} {token} {num_cpus} {launch_id}\"\n  terminate: \"sh " + terminate
                     + " {launch_id}\"\nidle_timeout_s: 2\nnode_types:\n  cpu:\n    resources: {CPU: 1}\n"
                       "    max_nodes: 1\n";
  start(yaml);
  auto t0 = clock_type::now();
  auto ref = actors::task(job::square).remote(std::int64_t{7});
  EXPECT_EQ(actors::get(ref), 49);
  // The failed launch is reported, and the retry came after its backoff (5 s).
  EXPECT_GE(seconds_since(t0), 4.5);
  auto text = status(*cluster);
  EXPECT_NE(text.find("no capacity in zone a"), std::string::npos) << text;
  EXPECT_TRUE(within(10s, [] { return launched_alive() == 0; })) << status(*cluster);
}

} // namespace
