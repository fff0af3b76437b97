// The autoscaler's rounds over a node table, with a fake provider and a clock
// the test moves: launches, launches that never join, idle nodes drained and
// stopped, min_nodes and request_resources keeping nodes; and the example
// config files of examples/autoscale.

#include "runtime/autoscaler/autoscaler.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <unistd.h>
#include <filesystem>
#include <set>
#include <string>
#include <utility>
#include <vector>

using namespace actors::runtime;
using namespace std::chrono_literals;

namespace {

class fake_provider final : public node_provider {
 public:
  launch_place launch(const launch_spec& spec) override {
    launched.push_back(spec);
    return {"host-" + spec.launch_id, static_cast<int>(launched.size())};
  }
  bool adopt(const std::string& launch_id, const node_type_config& type, const launch_place& where) override {
    adopted.push_back({launch_id, type.name, where.host, where.pid});
    return gone.count(launch_id) == 0;
  }
  void terminate(const std::string& launch_id) override {
    terminated.push_back(launch_id);
  }
  std::vector<std::pair<std::string, std::string>> failures() override {
    return std::exchange(failed, {});
  }

  std::vector<launch_spec> launched;
  std::vector<std::string> terminated;
  std::vector<std::pair<std::string, std::string>> failed;
  struct adoption {
    std::string launch_id, type, host;
    int pid;
  };
  std::vector<adoption> adopted;
  // Launches adopt() reports as ended.
  std::set<std::string> gone;
};

autoscale_config one_type(int min_nodes, int max_nodes) {
  autoscale_config c;
  c.idle_timeout_s = 10;
  c.launch_timeout_s = 30;
  c.node_types.push_back({"cpu", {{"CPU", 1}}, min_nodes, max_nodes});
  return c;
}

wire::node_record head() {
  wire::node_record r;
  r.id = actors::node_id{1};
  r.head = true;
  r.total = r.available = {{"CPU", 0}};
  return r;
}

/// A node that joined for launch `spec`, idle.
wire::node_record joined(const launch_spec& spec, std::uint64_t id) {
  wire::node_record r;
  r.id = actors::node_id{id};
  r.launch_id = spec.launch_id;
  r.total = r.available = spec.type.resources;
  return r;
}

wire::node_record driver_waiting_for(std::uint64_t tasks) {
  wire::node_record r;
  r.id = actors::node_id{2};
  r.driver = true;
  r.total = r.available = {{"CPU", 0}};
  if (tasks)
    r.pending.push_back({{{"CPU", 1}}, tasks});
  return r;
}

bool has_event(const autoscaler& a, const std::string& text) {
  for (const auto& e : a.status().events)
    if (e.find(text) != std::string::npos)
      return true;
  return false;
}

TEST(AutoscalerRounds, LaunchesForWaitingWorkAndMatchesTheNodeThatJoins) {
  fake_provider p;
  autoscaler a(one_type(0, 3), p, "127.0.0.1:6380", "tok");
  auto t = autoscaler::clock_type::now();
  wire::cluster_view v;
  v.nodes = {head(), driver_waiting_for(2)};
  EXPECT_TRUE(a.step(v, t).drain.empty());
  ASSERT_EQ(p.launched.size(), 2u);
  EXPECT_EQ(p.launched[0].head_address, "127.0.0.1:6380");
  EXPECT_EQ(p.launched[0].token, "tok");
  EXPECT_NE(p.launched[0].launch_id, p.launched[1].launch_id);
  EXPECT_EQ(a.status().node_types.at(0).launching, 2);
  // Still waiting, but the launches cover it: no more.
  a.step(v, t + 1s);
  EXPECT_EQ(p.launched.size(), 2u);
  v.nodes.push_back(joined(p.launched[0], 10));
  v.nodes.push_back(joined(p.launched[1], 11));
  a.step(v, t + 2s);
  EXPECT_EQ(a.status().node_types.at(0).running, 2);
  EXPECT_EQ(a.status().node_types.at(0).launching, 0);
  EXPECT_TRUE(has_event(a, "joined"));
}

TEST(AutoscalerRounds, ALaunchThatNeverJoinsIsStoppedCountedAndBackedOff) {
  fake_provider p;
  autoscaler a(one_type(0, 3), p, "h:1", "tok");
  auto t = autoscaler::clock_type::now();
  wire::cluster_view v;
  v.nodes = {head(), driver_waiting_for(1)};
  a.step(v, t);
  ASSERT_EQ(p.launched.size(), 1u);
  a.step(v, t + 31s);
  ASSERT_EQ(p.terminated.size(), 1u);
  EXPECT_EQ(p.terminated[0], p.launched[0].launch_id);
  EXPECT_EQ(a.figures().launch_failures.at("cpu"), 1u);
  EXPECT_TRUE(has_event(a, "did not join within 30 s"));
  // The next launch of the type waits 5 s.
  a.step(v, t + 33s);
  EXPECT_EQ(p.launched.size(), 1u);
  a.step(v, t + 37s);
  EXPECT_EQ(p.launched.size(), 2u);
}

TEST(AutoscalerRounds, AFailedLaunchCommandIsReportedWithItsOutput) {
  fake_provider p;
  autoscaler a(one_type(0, 3), p, "h:1", "tok");
  auto t = autoscaler::clock_type::now();
  wire::cluster_view v;
  v.nodes = {head(), driver_waiting_for(1)};
  a.step(v, t);
  p.failed.emplace_back(p.launched[0].launch_id, "the launch command exited with status 3: no capacity");
  a.step(v, t + 1s);
  EXPECT_TRUE(has_event(a, "no capacity"));
  EXPECT_EQ(a.figures().launch_failures.at("cpu"), 1u);
}

TEST(AutoscalerRounds, AnIdleNodeIsDrainedThenStoppedButNotBelowMinNodes) {
  fake_provider p;
  autoscaler a(one_type(1, 3), p, "h:1", "tok");
  auto t = autoscaler::clock_type::now();
  wire::cluster_view v;
  v.nodes = {head(), driver_waiting_for(2)};
  a.step(v, t);
  ASSERT_EQ(p.launched.size(), 2u) << "one for min_nodes and one more for the demand";
  v.nodes = {head(), driver_waiting_for(0), joined(p.launched[0], 10), joined(p.launched[1], 11)};
  a.step(v, t + 1s); // both idle from now on
  EXPECT_TRUE(a.step(v, t + 5s).drain.empty()) << "idle for less than idle_timeout_s";
  auto drained = a.step(v, t + 12s).drain;
  ASSERT_EQ(drained.size(), 1u) << "min_nodes keeps the other";
  EXPECT_TRUE(p.terminated.empty()) << "drained first, stopped a round later";
  for (auto& n : v.nodes)
    if (n.id == drained[0])
      n.draining = true;
  auto stopped = a.step(v, t + 14s).stop;
  ASSERT_EQ(stopped.size(), 1u) << "told to leave the cluster";
  EXPECT_EQ(stopped[0], drained[0]);
  ASSERT_EQ(p.terminated.size(), 1u);
  EXPECT_TRUE(has_event(a, "removed node"));
  EXPECT_EQ(a.figures().terminations.at("cpu").at("idle"), 1u);
}

TEST(AutoscalerRounds, ADrainingNodeThatGotWorkTakesWorkAgain) {
  fake_provider p;
  autoscaler a(one_type(0, 3), p, "h:1", "tok");
  auto t = autoscaler::clock_type::now();
  wire::cluster_view v;
  v.nodes = {head(), driver_waiting_for(1)};
  a.step(v, t);
  ASSERT_EQ(p.launched.size(), 1u);
  auto n = joined(p.launched[0], 10);
  v.nodes = {head(), driver_waiting_for(0), n};
  a.step(v, t + 1s);
  ASSERT_EQ(a.step(v, t + 12s).drain.size(), 1u);
  // A task placed before the mark reached its owner runs there.
  v.nodes[2].draining = true;
  v.nodes[2].load = 1;
  v.nodes[2].available = {{"CPU", 0}};
  auto r = a.step(v, t + 13s);
  EXPECT_TRUE(r.stop.empty()) << "a busy node is not stopped";
  ASSERT_EQ(r.undrain.size(), 1u) << "it would stay draining, and unused, for good";
  EXPECT_EQ(r.undrain[0], n.id);
  EXPECT_TRUE(has_event(a, "got work while draining"));
  // Idle again: drained again only after idle_timeout_s.
  v.nodes[2] = n;
  EXPECT_TRUE(a.step(v, t + 14s).drain.empty());
  EXPECT_EQ(a.step(v, t + 25s).drain.size(), 1u);
}

TEST(AutoscalerRounds, ANodeWithWorkAnActorOrAnObjectIsNotIdle) {
  fake_provider p;
  autoscaler a(one_type(0, 3), p, "h:1", "tok");
  auto t = autoscaler::clock_type::now();
  wire::cluster_view v;
  v.nodes = {head(), driver_waiting_for(1)};
  a.step(v, t);
  ASSERT_EQ(p.launched.size(), 1u);
  auto n = joined(p.launched[0], 10);
  for (int what = 0; what < 3; ++what) {
    auto busy = n;
    if (what == 0)
      busy.actors = 1;
    else if (what == 1)
      busy.objects = 1;
    else
      busy.available = {{"CPU", 0}};
    v.nodes = {head(), driver_waiting_for(0), busy};
    EXPECT_TRUE(a.step(v, t + std::chrono::seconds(100 * (what + 1))).drain.empty()) << what;
    EXPECT_TRUE(a.step(v, t + std::chrono::seconds(100 * (what + 1) + 50)).drain.empty()) << what;
  }
}

TEST(AutoscalerRounds, RequestedResourcesKeepIdleNodes) {
  fake_provider p;
  autoscaler a(one_type(0, 3), p, "h:1", "tok");
  auto t = autoscaler::clock_type::now();
  wire::cluster_view v;
  v.nodes = {head()};
  v.requested = {{{"CPU", 1}}, {{"CPU", 1}}};
  a.step(v, t);
  ASSERT_EQ(p.launched.size(), 2u);
  v.nodes = {head(), joined(p.launched[0], 10), joined(p.launched[1], 11)};
  a.step(v, t + 1s);
  EXPECT_TRUE(a.step(v, t + 60s).drain.empty()) << "asked for: kept";
  v.requested.clear();
  a.step(v, t + 61s);
  EXPECT_EQ(a.step(v, t + 72s).drain.size(), 2u);
}

/// A launches file of its own, removed at the end.
struct launches_file {
  launches_file()
    : path(std::filesystem::temp_directory_path()
           / ("autoscaler-launches-" + std::to_string(::getpid()) + "-" + std::to_string(++made))) {}
  ~launches_file() {
    std::filesystem::remove(path);
  }
  std::filesystem::path path;
  static inline int made = 0;
};

TEST(AutoscalerRounds, ARestartedHeadTakesOverTheLaunchesOfThePreviousOne) {
  launches_file file;
  auto t = autoscaler::clock_type::now();
  wire::cluster_view v;
  fake_provider before;
  {
    autoscaler a(one_type(0, 3), before, "h:1", "tok", file.path);
    v.nodes = {head(), driver_waiting_for(2)};
    a.step(v, t);
    ASSERT_EQ(before.launched.size(), 2u);
    // One joined, one still starting when the head process ends.
    v.nodes = {head(), driver_waiting_for(1), joined(before.launched[0], 10)};
    a.step(v, t + 1s);
  }
  ASSERT_TRUE(std::filesystem::exists(file.path));

  // The restarted head sees the same table (its nodes rejoin) and the same demand.
  fake_provider after;
  autoscaler b(one_type(0, 3), after, "h:1", "tok", file.path);
  ASSERT_EQ(after.adopted.size(), 2u);
  for (const auto& adoption : after.adopted) {
    EXPECT_EQ(adoption.type, "cpu");
    EXPECT_EQ(adoption.host, "host-" + adoption.launch_id) << "where each launch runs is kept";
  }
  b.step(v, t + 2s);
  EXPECT_TRUE(after.launched.empty()) << "the starting launch covers the demand: nothing is started twice";
  EXPECT_EQ(b.status().node_types.at(0).running, 1);
  EXPECT_EQ(b.status().node_types.at(0).launching, 1);
  EXPECT_TRUE(has_event(b, "launches: 2 still there, 0 ended"));
  // The second joins; both go idle and are removed by the new head.
  v.nodes = {head(), driver_waiting_for(0), joined(before.launched[0], 10), joined(before.launched[1], 11)};
  b.step(v, t + 3s);
  auto drained = b.step(v, t + 14s).drain;
  ASSERT_EQ(drained.size(), 2u);
  for (auto& n : v.nodes)
    n.draining = n.draining || n.id == drained[0] || n.id == drained[1];
  EXPECT_EQ(b.step(v, t + 16s).stop.size(), 2u);
  EXPECT_EQ(after.terminated.size(), 2u) << "the adopted launches are ended through the provider";

  // A third head finds no launches left to take over.
  fake_provider third;
  autoscaler c(one_type(0, 3), third, "h:1", "tok", file.path);
  EXPECT_TRUE(third.adopted.empty());
}

TEST(AutoscalerRounds, SavedLaunchesThatEndedOrDoNotComeBackAreDropped) {
  launches_file file;
  auto t = autoscaler::clock_type::now();
  wire::cluster_view v;
  v.nodes = {head(), driver_waiting_for(2)};
  fake_provider before;
  {
    autoscaler a(one_type(0, 3), before, "h:1", "tok", file.path);
    a.step(v, t);
    ASSERT_EQ(before.launched.size(), 2u);
  }
  fake_provider after;
  after.gone.insert(before.launched[0].launch_id);
  autoscaler b(one_type(0, 3), after, "h:1", "tok", file.path);
  v.nodes = {head(), driver_waiting_for(0)};
  b.step(v, t);
  EXPECT_TRUE(has_event(b, "took over the previous head process's launches: 1 still there, 1 ended"));
  b.step(v, t + 31s);
  ASSERT_EQ(after.terminated.size(), 1u);
  EXPECT_EQ(after.terminated[0], before.launched[1].launch_id);
  EXPECT_TRUE(has_event(b, "did not come back"));
  EXPECT_EQ(b.figures().launch_failures.at("cpu"), 0u) << "not a failed launch of this head";
  // A node of an ended launch that shows up anyway is not taken over.
  v.nodes = {head(), joined(before.launched[0], 10)};
  b.step(v, t + 32s);
  EXPECT_EQ(b.status().node_types.at(0).running, 0);
}

TEST(AutoscalerRounds, ANodeWithALaunchIdNobodyKnowsIsTakenOverByItsResources) {
  fake_provider p;
  autoscaler a(one_type(0, 3), p, "h:1", "tok");
  auto t = autoscaler::clock_type::now();
  launch_spec stray{"previous-7", {"cpu", {{"CPU", 1}}, 0, 3}, "h:1", "tok"};
  wire::cluster_view v;
  v.nodes = {head(), joined(stray, 10)};
  a.step(v, t);
  EXPECT_EQ(a.status().node_types.at(0).running, 1);
  EXPECT_TRUE(has_event(a, "took over node"));
  EXPECT_EQ(a.step(v, t + 11s).drain.size(), 1u) << "idle: removed like the head's own";
}

TEST(AutoscalerRounds, FiguresCountNodesByTypeAndStateAndDemandByResource) {
  fake_provider p;
  autoscaler a(one_type(0, 3), p, "h:1", "tok");
  auto f = a.figures();
  EXPECT_EQ(f.nodes.at("cpu").at("running"), 0);
  EXPECT_EQ(f.launches.at("cpu"), 0u) << "every node type has its counters from the start";
  EXPECT_EQ(f.terminations.at("cpu").at("died"), 0u);
  auto t = autoscaler::clock_type::now();
  wire::cluster_view v;
  v.nodes = {head(), driver_waiting_for(5)};
  a.step(v, t);
  f = a.figures();
  EXPECT_EQ(f.nodes.at("cpu").at("launching"), 3) << "max_nodes";
  EXPECT_EQ(f.launches.at("cpu"), 3u);
  EXPECT_DOUBLE_EQ(f.pending.at("CPU"), 5.0);
  v.nodes.push_back(joined(p.launched[0], 10));
  a.step(v, t + 1s);
  f = a.figures();
  EXPECT_EQ(f.nodes.at("cpu").at("running"), 1);
  EXPECT_EQ(f.nodes.at("cpu").at("launching"), 2);
}

TEST(AutoscalerRounds, TheExampleConfigsParse) {
  const char* dir = std::getenv("EXAMPLES_DIR");
  ASSERT_NE(dir, nullptr) << "EXAMPLES_DIR is not set (meson sets it)";
  for (const char* file : {"local.yaml", "ssh.yaml", "kubernetes/autoscale.yaml"}) {
    auto c = load_autoscale_config(std::string(dir) + "/autoscale/" + file);
    EXPECT_FALSE(c.node_types.empty()) << file;
  }
}

} // namespace
