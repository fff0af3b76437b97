// The autoscaler's pure parts: its config file, checked line by line, and the plan
// of which nodes to launch for given demand.
#include "runtime/autoscaler/autoscale_config.hpp"
#include "runtime/autoscaler/scaling_plan.hpp"
#include "tests/support/temp_dir.hpp"

#include "actors/errors.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <initializer_list>
#include <string>

using namespace actors::runtime;

namespace {

// A node_types section that is valid on its own (lines 1-4 of where it goes).
const std::string cpu_types = "node_types:\n  cpu:\n    resources: {CPU: 2}\n    max_nodes: 4\n";

// Expects `yaml` refused with a message that starts "auto.yaml:LINE: " and has each
// of `words` in it.
void expect_refused(const std::string& yaml, int line, std::initializer_list<std::string> words) {
  SCOPED_TRACE(yaml);
  try {
    parse_autoscale_config(yaml, "auto.yaml");
    ADD_FAILURE() << "accepted";
  } catch (const actors::error& e) {
    std::string what = e.what();
    EXPECT_EQ(e.code(), actors::errc::invalid_argument);
    auto prefix = "auto.yaml:" + std::to_string(line) + ": ";
    EXPECT_EQ(what.rfind(prefix, 0), 0u) << what << "\n  should start with " << prefix;
    for (const auto& word : words)
      EXPECT_NE(what.find(word), std::string::npos) << what << "\n  should mention " << word;
  }
}

node_type_config type(std::string name, resource_map resources, int max_nodes, int min_nodes = 0) {
  return {std::move(name), std::move(resources), min_nodes, max_nodes};
}

} // namespace

TEST(AutoscaleConfig, ParsesTheDocumentedExample) {
  auto config = parse_autoscale_config(R"(provider:
  type: command
  launch: "ssh {host} actorsd --address {address} --token {token} --num-cpus {num_cpus} --resources {resources} --launch-id {launch_id}"
  terminate: "ssh {host} pkill -f 'launch-id {launch_id}'"
  hosts: [10.0.0.5, 10.0.0.6]
idle_timeout_s: 30
upscaling_speed: 1.0
launch_timeout_s: 60
node_types:
  cpu:
    resources: {CPU: 2}
    min_nodes: 0
    max_nodes: 4
  gpu:
    resources: {CPU: 1, GPU: 1}
    max_nodes: 1
)",
                                       "auto.yaml");
  EXPECT_EQ(config.provider.type, provider_kind::command);
  EXPECT_EQ(config.provider.launch, "ssh {host} actorsd --address {address} --token {token} --num-cpus "
                                    "{num_cpus} --resources {resources} --launch-id {launch_id}");
  EXPECT_EQ(config.provider.terminate, "ssh {host} pkill -f 'launch-id {launch_id}'");
  EXPECT_EQ(config.provider.hosts, (std::vector<std::string>{"10.0.0.5", "10.0.0.6"}));
  EXPECT_EQ(config.idle_timeout_s, 30);
  EXPECT_EQ(config.upscaling_speed, 1.0);
  EXPECT_EQ(config.launch_timeout_s, 60);
  ASSERT_EQ(config.node_types.size(), 2u);
  EXPECT_EQ(config.node_types[0].name, "cpu") << "file order is kept";
  EXPECT_EQ(config.node_types[0].resources, (resource_map{{"CPU", 2}}));
  EXPECT_EQ(config.node_types[0].min_nodes, 0);
  EXPECT_EQ(config.node_types[0].max_nodes, 4);
  EXPECT_EQ(config.node_types[1].name, "gpu");
  EXPECT_EQ(config.node_types[1].resources, (resource_map{{"CPU", 1}, {"GPU", 1}}));
  EXPECT_EQ(config.node_types[1].max_nodes, 1);
}

TEST(AutoscaleConfig, OptionalKeysTakeTheirDefaults) {
  auto config = parse_autoscale_config("provider: {type: local}\n" + cpu_types, "auto.yaml");
  EXPECT_EQ(config.provider.type, provider_kind::local);
  EXPECT_TRUE(config.provider.launch.empty());
  EXPECT_EQ(config.idle_timeout_s, 60);
  EXPECT_EQ(config.upscaling_speed, 1.0);
  EXPECT_EQ(config.launch_timeout_s, 60);
  ASSERT_EQ(config.node_types.size(), 1u);
  EXPECT_EQ(config.node_types[0].min_nodes, 0);
}

TEST(AutoscaleConfig, LoadsAFileAndNamesItInMessages) {
  actors::test::temp_dir dir("autoscale");
  auto file = dir.path() / "auto.yaml";
  std::ofstream(file) << "provider: {type: local}\n" << cpu_types;
  EXPECT_EQ(load_autoscale_config(file).node_types.at(0).max_nodes, 4);
  std::ofstream(file) << "provider: {type: local}\nidle_timeout_s: -1\n" << cpu_types;
  try {
    load_autoscale_config(file);
    ADD_FAILURE() << "accepted";
  } catch (const actors::error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(file.string() + ":2: ", 0), 0u) << e.what();
  }
  EXPECT_THROW(load_autoscale_config(dir.path() / "missing.yaml"), actors::error);
}

TEST(AutoscaleConfig, SyntaxErrorNamesItsLine) {
  expect_refused("provider: {type: local}\nnode_types:\n  cpu: {resources: [CPU: 2}\n", 3, {"YAML syntax"});
}

TEST(AutoscaleConfig, UnknownKeysAreNamedWithTheAllowedOnes) {
  expect_refused("provider: {type: local}\nidle_timeout: 30\n" + cpu_types, 2,
                 {"'idle_timeout'", "idle_timeout_s", "upscaling_speed", "node_types"});
  expect_refused("provider:\n  type: local\n  kind: x\n" + cpu_types, 3, {"'kind'", "type, launch, terminate, hosts"});
  expect_refused("provider: {type: local}\n" + cpu_types + "    max_node: 2\n", 6,
                 {"'max_node'", "node type 'cpu'", "resources, min_nodes, max_nodes"});
  expect_refused("provider: {type: local}\nprovider: {type: local}\n" + cpu_types, 2, {"'provider'", "twice"});
}

TEST(AutoscaleConfig, WrongTypesNameTheKeyAndTheExpectedType) {
  expect_refused("provider: {type: local}\nnode_types:\n  cpu:\n    resources: {CPU: 2}\n    max_nodes: two\n", 5,
                 {"node_types.cpu.max_nodes", "whole number", "'two'"});
  expect_refused("provider: {type: local}\nnode_types:\n  cpu:\n    resources: {CPU: 2}\n    max_nodes: 2.5\n", 5,
                 {"max_nodes", "whole number"});
  expect_refused("provider: {type: local}\nnode_types:\n  cpu:\n    resources: 3\n    max_nodes: 4\n", 4,
                 {"node_types.cpu.resources", "mapping", "resources: {CPU: 2}"});
  expect_refused("provider: {type: local}\nnode_types:\n  cpu:\n    resources:\n      CPU: lots\n    max_nodes: 4\n", 5,
                 {"node_types.cpu.resources.CPU", "number", "'lots'"});
  expect_refused("provider: {type: local}\nupscaling_speed: fast\n" + cpu_types, 2, {"upscaling_speed", "number"});
  expect_refused("provider: {type: local}\n" + cpu_types + "  gpu: 1\n", 6, {"node_types.gpu", "mapping"});
  expect_refused("provider:\n  type: command\n  launch: a\n  terminate: b\n  hosts: 10.0.0.5\n" + cpu_types, 5,
                 {"provider.hosts", "list"});
  expect_refused("provider: local\n" + cpu_types, 1, {"provider", "mapping", "type: local"});
}

TEST(AutoscaleConfig, ProviderTypeMustBeLocalOrCommand) {
  expect_refused("provider:\n  type: aws\n" + cpu_types, 2, {"provider.type", "local or command", "'aws'"});
  expect_refused("provider:\n  hosts: [a]\n" + cpu_types, 1, {"provider", "type: local"});
  expect_refused(cpu_types, 1, {"missing provider", "type: local"});
}

TEST(AutoscaleConfig, CommandProviderNeedsLaunchAndTerminate) {
  expect_refused("provider:\n  type: command\n  terminate: stop {launch_id}\n" + cpu_types, 1,
                 {"provider.launch", "missing"});
  expect_refused("provider:\n  type: command\n  launch: start {launch_id}\n" + cpu_types, 1,
                 {"provider.terminate", "missing"});
  expect_refused("provider:\n  type: command\n  launch: \"\"\n  terminate: stop\n" + cpu_types, 3,
                 {"provider.launch", "non-empty"});
}

TEST(AutoscaleConfig, LocalProviderRefusesCommandSettings) {
  for (const std::string key : {"launch: x", "terminate: x", "hosts: [a]"})
    expect_refused("provider:\n  type: local\n  " + key + "\n" + cpu_types, 3,
                   {"provider." + key.substr(0, key.find(':')), "type: command"});
}

TEST(AutoscaleConfig, CommandTemplatesUseOnlyKnownPlaceholders) {
  expect_refused("provider:\n  type: command\n  launch: start {hostname}\n  terminate: stop\n" + cpu_types, 3,
                 {"provider.launch", "{hostname}", "{host}", "{launch_id}", "{node_type}"});
  expect_refused("provider:\n  type: command\n  launch: start\n  terminate: \"kill {pid}\"\n" + cpu_types, 4,
                 {"provider.terminate", "{pid}"});
  expect_refused("provider:\n  type: command\n  launch: \"awk '{print}'\"\n  terminate: stop\n" + cpu_types, 3,
                 {"provider.launch", "{print}", "{{"});
  auto config = parse_autoscale_config(
    "provider:\n  type: command\n  launch: \"awk '{{print}}' {node_type}\"\n  terminate: stop\n" + cpu_types,
    "auto.yaml");
  EXPECT_EQ(config.provider.launch, "awk '{{print}}' {node_type}") << "the template is kept as written";
}

TEST(AutoscaleConfig, HostPlaceholderNeedsHosts) {
  expect_refused("provider:\n  type: command\n  launch: ssh {host} start\n  terminate: stop\n" + cpu_types, 3,
                 {"provider.launch", "{host}", "provider.hosts", "hosts: ["});
  expect_refused("provider:\n  type: command\n  launch: start\n  terminate: ssh {host} stop\n  hosts: []\n" +
                   cpu_types,
                 4, {"provider.terminate", "provider.hosts"});
}

TEST(AutoscaleConfig, DurationsAndSpeedMustBePositive) {
  expect_refused("provider: {type: local}\nidle_timeout_s: 0\n" + cpu_types, 2, {"idle_timeout_s", "greater than 0"});
  expect_refused("provider: {type: local}\n" + cpu_types + "launch_timeout_s: -5\n", 6,
                 {"launch_timeout_s", "greater than 0"});
  expect_refused("provider: {type: local}\nupscaling_speed: 0\n" + cpu_types, 2, {"upscaling_speed", "greater than 0"});
}

TEST(AutoscaleConfig, NodeCountsAndAmountsAreInRange) {
  expect_refused("provider: {type: local}\nnode_types:\n  cpu:\n    resources: {CPU: 2, GPU: -1}\n    max_nodes: 4\n",
                 4, {"node_types.cpu.resources.GPU", "0 or more"});
  expect_refused("provider: {type: local}\nnode_types:\n  cpu:\n    resources: {CPU: 2}\n    min_nodes: -1\n"
                 "    max_nodes: 4\n",
                 5, {"node_types.cpu.min_nodes", "0 or more"});
  expect_refused("provider: {type: local}\nnode_types:\n  cpu:\n    resources: {CPU: 2}\n    min_nodes: 3\n"
                 "    max_nodes: 2\n",
                 6, {"node_types.cpu.max_nodes", "less than min_nodes", "at least 3"});
  expect_refused("provider: {type: local}\nnode_types:\n  cpu:\n    resources: {CPU: 2}\n    min_nodes: 1\n", 3,
                 {"'cpu'", "no max_nodes", "max_nodes: 4"});
}

TEST(AutoscaleConfig, NodeTypesMustBeGivenNamedAndOfferSomething) {
  expect_refused("provider: {type: local}\n", 1, {"missing node_types", "node_types: {cpu:"});
  expect_refused("provider: {type: local}\nnode_types: {}\n", 2, {"node_types", "non-empty"});
  expect_refused("provider: {type: local}\nnode_types:\n", 2, {"node_types", "non-empty"});
  expect_refused("provider: {type: local}\nnode_types:\n  cpu:\n    max_nodes: 4\n", 3,
                 {"'cpu'", "no resources", "resources: {CPU: 2}"});
  expect_refused("provider: {type: local}\nnode_types:\n  cpu:\n    resources: {CPU: 0}\n    max_nodes: 4\n", 4,
                 {"node_types.cpu.resources", "no positive amount"});
  expect_refused("provider: {type: local}\nnode_types:\n  \"\":\n    resources: {CPU: 1}\n    max_nodes: 4\n", 3,
                 {"empty name", "cpu:"});
  expect_refused("", 1, {"provider", "node_types"});
}

TEST(ExpandCommand, SubstitutesPlaceholdersAndLiteralBraces) {
  EXPECT_EQ(expand_command("ssh {host} run --id {launch_id} '{{x}}'", {{"host", "10.0.0.5"}, {"launch_id", "7"}},
                           "auto.yaml"),
            "ssh 10.0.0.5 run --id 7 '{x}'");
}

TEST(ExpandCommand, RefusesUnknownPlaceholdersAndLoneBraces) {
  for (const std::string templ : {"run {nope}", "run {host", "run }"}) {
    try {
      expand_command(templ, {{"host", "h"}}, "auto.yaml");
      ADD_FAILURE() << templ << " accepted";
    } catch (const actors::error& e) {
      std::string what = e.what();
      EXPECT_EQ(what.rfind("auto.yaml: ", 0), 0u) << what;
      EXPECT_NE(what.find(templ), std::string::npos) << what;
      EXPECT_NE(what.find("{host}"), std::string::npos) << what << "\n  should list the known placeholders";
    }
  }
}

TEST(ScalingPlan, LaunchesUpToMinNodes) {
  plan_input in;
  in.types = {type("cpu", {{"CPU", 2}}, 5, 3), type("gpu", {{"GPU", 1}}, 2, 1)};
  in.running = {{"cpu", 1}};
  in.launching = {{"cpu", 1}, {"gpu", 1}};
  EXPECT_EQ(plan_scaling(in).launch, (std::map<std::string, int>{{"cpu", 1}}));
}

TEST(ScalingPlan, FreeCapacityOfLiveNodesComesFirst) {
  plan_input in;
  in.types = {type("cpu", {{"CPU", 2}}, 4)};
  in.node_free = {{{"CPU", 1}}, {{"CPU", 2}}};
  in.node_total = {{{"CPU", 2}}, {{"CPU", 2}}};
  in.pending = {{{{"CPU", 1}}, 3}};
  EXPECT_TRUE(plan_scaling(in).launch.empty());
  in.pending = {{{{"CPU", 1}}, 4}};
  EXPECT_EQ(plan_scaling(in).launch, (std::map<std::string, int>{{"cpu", 1}}));
}

TEST(ScalingPlan, PicksTheCheapestTypeThatFits) {
  plan_input in;
  in.types = {type("big", {{"CPU", 4}}, 4), type("small", {{"CPU", 1}}, 4)};
  in.pending = {{{{"CPU", 1}}, 1}};
  EXPECT_EQ(plan_scaling(in).launch, (std::map<std::string, int>{{"small", 1}}));
  in.pending = {{{{"CPU", 3}}, 1}};
  EXPECT_EQ(plan_scaling(in).launch, (std::map<std::string, int>{{"big", 1}}));
}

TEST(ScalingPlan, KeepsGpuNodesForWorkThatNeedsThem) {
  plan_input in;
  in.types = {type("cpu", {{"CPU", 1}}, 1), type("gpu", {{"CPU", 1}, {"GPU", 1}}, 1)};
  in.pending = {{{{"CPU", 1}}, 3}};
  EXPECT_EQ(plan_scaling(in).launch, (std::map<std::string, int>{{"cpu", 1}}))
    << "CPU work waits for the cpu type's room rather than take a GPU node";
  in.pending = {{{{"CPU", 1}, {"GPU", 1}}, 1}, {{{"CPU", 1}}, 1}};
  EXPECT_EQ(plan_scaling(in).launch, (std::map<std::string, int>{{"cpu", 1}, {"gpu", 1}}));
  in.types = {type("gpu", {{"CPU", 4}, {"GPU", 1}}, 2)};
  in.pending = {{{{"CPU", 1}}, 1}};
  EXPECT_EQ(plan_scaling(in).launch, (std::map<std::string, int>{{"gpu", 1}})) << "the only type that fits";
}

TEST(ScalingPlan, PacksSeveralItemsIntoOnePlannedNode) {
  plan_input in;
  in.types = {type("big", {{"CPU", 4}}, 4)};
  in.pending = {{{{"CPU", 1}}, 4}};
  EXPECT_EQ(plan_scaling(in).launch, (std::map<std::string, int>{{"big", 1}}));
  in.pending = {{{{"CPU", 1}}, 4}, {{{"CPU", 3}}, 1}};
  EXPECT_EQ(plan_scaling(in).launch, (std::map<std::string, int>{{"big", 2}})) << "3+1 and 1+1+1";
}

TEST(ScalingPlan, NeverGoesPastMaxNodes) {
  plan_input in;
  in.types = {type("cpu", {{"CPU", 1}}, 3)};
  in.running = {{"cpu", 1}};
  in.launching = {{"cpu", 1}};
  in.pending = {{{{"CPU", 1}}, 10}};
  auto plan = plan_scaling(in);
  EXPECT_EQ(plan.launch, (std::map<std::string, int>{{"cpu", 1}}));
  EXPECT_TRUE(plan.infeasible.empty()) << "work that waits for room is not infeasible";
}

TEST(ScalingPlan, ShapeNoTypeOrNodeCanHoldIsInfeasibleOnce) {
  plan_input in;
  in.types = {type("cpu", {{"CPU", 2}}, 4)};
  in.node_free = {{{"CPU", 2}}};
  in.node_total = {{{"CPU", 2}}};
  in.pending = {{{{"CPU", 1}, {"GPU", 1}}, 5}, {{{"GPU", 1}, {"CPU", 1}, {"TPU", 0}}, 2}};
  in.requested = {{{"GPU", 1}, {"CPU", 1}}};
  auto plan = plan_scaling(in);
  EXPECT_TRUE(plan.launch.empty());
  ASSERT_EQ(plan.infeasible.size(), 1u);
  EXPECT_EQ(describe(plan.infeasible[0]), "{CPU: 1, GPU: 1}");
}

TEST(ScalingPlan, ShapeALiveNodeCouldHoldWaitsWithoutLaunch) {
  plan_input in;
  in.types = {type("cpu", {{"CPU", 2}}, 4)};
  in.node_free = {{{"CPU", 0}, {"GPU", 0}}};
  in.node_total = {{{"CPU", 2}, {"GPU", 1}}};
  in.pending = {{{{"GPU", 1}}, 3}};
  auto plan = plan_scaling(in);
  EXPECT_TRUE(plan.launch.empty());
  EXPECT_TRUE(plan.infeasible.empty());
}

TEST(ScalingPlan, LaunchingNodesAbsorbDemand) {
  plan_input in;
  in.types = {type("cpu", {{"CPU", 2}}, 8)};
  in.launching = {{"cpu", 2}};
  in.pending = {{{{"CPU", 1}}, 4}};
  EXPECT_TRUE(plan_scaling(in).launch.empty());
  in.pending = {{{{"CPU", 1}}, 5}};
  EXPECT_EQ(plan_scaling(in).launch, (std::map<std::string, int>{{"cpu", 1}}));
}

TEST(ScalingPlan, RequestedBundlesAskForTotalCapacity) {
  plan_input in;
  in.types = {type("cpu", {{"CPU", 1}}, 4)};
  in.node_free = {{{"CPU", 0}}};
  in.node_total = {{{"CPU", 1}}};
  in.requested = {{{"CPU", 1}}, {{"CPU", 1}}, {{"CPU", 1}}};
  EXPECT_EQ(plan_scaling(in).launch, (std::map<std::string, int>{{"cpu", 2}}));
}

TEST(ScalingPlan, RequestedBundlesCountNodesPlannedForPendingWork) {
  plan_input in;
  in.types = {type("cpu", {{"CPU", 2}}, 4)};
  in.pending = {{{{"CPU", 2}}, 1}};
  in.requested = {{{"CPU", 2}}};
  EXPECT_EQ(plan_scaling(in).launch, (std::map<std::string, int>{{"cpu", 1}}))
    << "the node planned for the pending work already is the capacity requested";
}

TEST(ScalingPlan, UpscalingSpeedCapsNewLaunches) {
  plan_input in;
  in.types = {type("cpu", {{"CPU", 1}}, 100)};
  in.pending = {{{{"CPU", 1}}, 20}};
  EXPECT_EQ(plan_scaling(in).launch, (std::map<std::string, int>{{"cpu", 5}}));
  in.running = {{"cpu", 10}};
  in.launching = {{"cpu", 4}};
  in.upscaling_speed = 1.5;
  EXPECT_EQ(plan_scaling(in).launch, (std::map<std::string, int>{{"cpu", 11}})) << "floor(1.5 * 10) - 4";
}

TEST(ScalingPlan, CapDropsTheLatestPlannedLaunches) {
  plan_input in;
  in.types = {type("base", {{"CPU", 1}}, 10, 3), type("work", {{"W", 1}}, 10), type("asked", {{"R", 1}}, 10)};
  in.pending = {{{{"W", 1}}, 3}};
  in.requested = {{{"R", 1}}};
  EXPECT_EQ(plan_scaling(in).launch, (std::map<std::string, int>{{"base", 3}, {"work", 2}}))
    << "min_nodes, then pending work, then requested bundles";
}

TEST(ScalingPlan, HugeBacklogStaysBounded) {
  plan_input in;
  in.types = {type("cpu", {{"CPU", 1}}, 1'000'000)};
  in.running = {{"cpu", 1000}};
  in.pending = {{{{"CPU", 1}}, 1'000'000'000}};
  EXPECT_EQ(plan_scaling(in).launch, (std::map<std::string, int>{{"cpu", 1000}}));
}

TEST(ScalingPlan, DescribesShapes) {
  EXPECT_EQ(describe({{"GPU", 0.5}, {"CPU", 1}}), "{CPU: 1, GPU: 0.5}");
  EXPECT_EQ(describe({}), "{}");
}
