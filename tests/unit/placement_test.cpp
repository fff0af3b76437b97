// Placement as pure functions (runtime/cluster/placement.hpp): where a task or an
// actor goes given the live nodes and this node's figures, and where a placement
// group's bundles go.
#include "runtime/cluster/placement.hpp"

#include "actors/detail/checks.hpp"
#include "actors/errors.hpp"

#include <gtest/gtest.h>

#include <set>

namespace {

using actors::node_id;
using actors::runtime::bundle_room;
using actors::runtime::choose_node;
using actors::runtime::placement_candidate;
using actors::runtime::placement_decision;
using actors::runtime::placement_request;
using actors::runtime::resource_set;
using actors::runtime::scheduler_stats;
using where = placement_decision::where;

const node_id self{1};
const node_id b{2};
const node_id c{3};
const node_id d4{4};

resource_set cpus(double n) {
  return resource_set::from(n, actors::detail::resource_list{});
}

placement_request task_needing(double cpu) {
  placement_request r;
  r.demand = cpus(cpu);
  return r;
}

scheduler_stats local_figures(double total, double available, std::size_t running = 0, std::size_t pending = 0) {
  scheduler_stats s;
  s.total = cpus(total);
  s.available = cpus(available);
  s.running = running;
  s.pending = pending;
  return s;
}

TEST(Placement, TaskStaysHereWhileThisNodeHasRoom) {
  std::vector<placement_candidate> nodes{{self, cpus(2), 0}, {b, cpus(8), 0}};
  auto d = choose_node(nodes, self, local_figures(2, 1, 1), task_needing(1), 0);
  EXPECT_EQ(d.at, where::here);
}

TEST(Placement, ActorGoesToTheLeastLoadedNodeEvenWithRoomHere) {
  std::vector<placement_candidate> nodes{{self, cpus(2), 0}, {b, cpus(2), 0}};
  auto req = task_needing(0.5);
  req.for_actor = true;
  // Here: 3 items on 2 CPUs; b: none.
  auto d = choose_node(nodes, self, local_figures(2, 1.5, 1, 2), req, 0);
  ASSERT_EQ(d.at, where::node);
  EXPECT_EQ(d.node, b);
}

TEST(Placement, ActorsHostedHereWeighInThisNodesLoad) {
  // Here: no task, but 3 actors on 2 CPUs (this node's candidate load is its
  // actors); b: one actor on 2 CPUs.
  std::vector<placement_candidate> nodes{{self, cpus(2), 3}, {b, cpus(2), 1}};
  auto req = task_needing(0);
  req.for_actor = true;
  auto d = choose_node(nodes, self, local_figures(2, 2), req, 0);
  ASSERT_EQ(d.at, where::node);
  EXPECT_EQ(d.node, b);
}

TEST(Placement, FullNodeSendsTaskToTheLeastLoadedOther) {
  std::vector<placement_candidate> nodes{{self, cpus(1), 0}, {b, cpus(4), 6}, {c, cpus(4), 1}};
  auto d = choose_node(nodes, self, local_figures(1, 0, 1, 3), task_needing(1), 0);
  ASSERT_EQ(d.at, where::node);
  EXPECT_EQ(d.node, c);
}

TEST(Placement, LoadIsWeighedPerCpu) {
  // b runs 4 on 8 CPUs (0.5 each), c runs 2 on 2 CPUs (1.0 each).
  std::vector<placement_candidate> nodes{{self, cpus(0), 0}, {b, cpus(8), 4}, {c, cpus(2), 2}};
  auto d = choose_node(nodes, self, local_figures(0, 0), task_needing(1), 0);
  ASSERT_EQ(d.at, where::node);
  EXPECT_EQ(d.node, b);
}

TEST(Placement, TaskGoesWhereMostOfItsArgumentBytesAre) {
  std::vector<placement_candidate> nodes{{self, cpus(1), 0}, {b, cpus(4), 5}, {c, cpus(4), 0}};
  auto req = task_needing(1);
  req.argument_bytes = {{b, 10 << 20}, {c, 1 << 20}, {self, 100}};
  auto d = choose_node(nodes, self, local_figures(1, 0, 1), req, 0);
  ASSERT_EQ(d.at, where::node);
  EXPECT_EQ(d.node, b) << "b holds most bytes, although c is less loaded";
}

TEST(Placement, SmallArgumentsDoNotDrawATask) {
  std::vector<placement_candidate> nodes{{self, cpus(1), 0}, {b, cpus(4), 5}, {c, cpus(4), 0}};
  auto req = task_needing(1);
  req.argument_bytes = {{b, actors::runtime::locality_threshold}};
  auto d = choose_node(nodes, self, local_figures(1, 0, 1), req, 0);
  ASSERT_EQ(d.at, where::node);
  EXPECT_EQ(d.node, c) << "at the threshold, load decides";
}

TEST(Placement, ArgumentsOnANodeThatCannotRunTheTaskDoNotDrawIt) {
  std::vector<placement_candidate> nodes{{self, cpus(1), 0}, {b, cpus(1), 0}, {c, cpus(4), 0}};
  auto req = task_needing(2);
  req.argument_bytes = {{b, 10 << 20}};
  auto d = choose_node(nodes, self, local_figures(1, 1), req, 0);
  ASSERT_EQ(d.at, where::node);
  EXPECT_EQ(d.node, c);
}

TEST(Placement, SpreadTakesTheNodesThatFitInTurn) {
  std::vector<placement_candidate> nodes{{self, cpus(2), 0}, {b, cpus(2), 0}, {c, cpus(1), 0}};
  auto req = task_needing(2);
  req.options.strategy = actors::spread;
  std::multiset<std::uint64_t> seen;
  for (std::uint64_t turn = 0; turn < 6; ++turn) {
    auto d = choose_node(nodes, self, local_figures(2, 2), req, turn);
    seen.insert(d.at == where::here ? self.value : d.node.value);
  }
  EXPECT_EQ(seen.count(self.value), 3u);
  EXPECT_EQ(seen.count(b.value), 3u);
  EXPECT_EQ(seen.count(c.value), 0u) << "c has 1 CPU: a 2-CPU task does not fit";
}

TEST(Placement, AffinityWinsOverRoomHere) {
  std::vector<placement_candidate> nodes{{self, cpus(4), 0}, {b, cpus(1), 9}};
  auto req = task_needing(1);
  req.options.affinity = b;
  auto d = choose_node(nodes, self, local_figures(4, 4), req, 0);
  ASSERT_EQ(d.at, where::node);
  EXPECT_EQ(d.node, b);
}

TEST(Placement, SoftAffinityToANodeThatCannotFallsBack) {
  std::vector<placement_candidate> nodes{{self, cpus(4), 0}, {b, cpus(1), 0}};
  auto req = task_needing(2);
  req.options.affinity = b;
  req.options.soft = true;
  auto d = choose_node(nodes, self, local_figures(4, 4), req, 0);
  EXPECT_EQ(d.at, where::here);
}

TEST(Placement, HardAffinityToANodeThatCannotIsRefused) {
  std::vector<placement_candidate> nodes{{self, cpus(4), 0}, {b, cpus(1), 0}};
  auto req = task_needing(2);
  req.options.affinity = b;
  req.options.soft = false;
  try {
    choose_node(nodes, self, local_figures(4, 4), req, 0);
    FAIL() << "a hard affinity that cannot be met must throw";
  } catch (const actors::error& e) {
    EXPECT_NE(std::string(e.what()).find("affinity is hard"), std::string::npos) << e.what();
  }
  req.options.affinity = node_id{99}; // not a live node at all
  EXPECT_THROW(choose_node(nodes, self, local_figures(4, 4), req, 0), actors::error);
}

TEST(Placement, NoNodeWithTheResourceIsNowhere) {
  std::vector<placement_candidate> nodes{{self, cpus(4), 0}, {b, cpus(4), 0}};
  auto req = task_needing(1);
  req.demand = resource_set::from(1, actors::detail::resource_list{{"GPU", 1}});
  auto d = choose_node(nodes, self, local_figures(4, 4), req, 0);
  EXPECT_EQ(d.at, where::nowhere);
}

TEST(Placement, NodesOfferingNoCpuTakeNoWork) {
  // A driver offers no CPU: even a task that needs none does not go there.
  std::vector<placement_candidate> nodes{{self, cpus(0), 0}, {b, cpus(1), 9}};
  auto d = choose_node(nodes, self, local_figures(0, 0), task_needing(0), 0);
  ASSERT_EQ(d.at, where::node);
  EXPECT_EQ(d.node, b);
}

// -- placement groups ----------------------------------------------------------------

std::vector<resource_set> bundles(std::initializer_list<double> cpu) {
  std::vector<resource_set> out;
  for (double x : cpu)
    out.push_back(cpus(x));
  return out;
}

TEST(PlacementGroups, PackPutsTwoOneCpuBundlesOnOneTwoCpuNode) {
  // The head has 1 CPU free, two nodes 2 each: both bundles go to one of them.
  std::vector<bundle_room> nodes{{self, cpus(1), cpus(1)}, {b, cpus(2), cpus(2)}, {c, cpus(2), cpus(2)}};
  auto out = actors::runtime::place_bundles(nodes, bundles({1, 1}), actors::pack);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], out[1]) << "PACK split the bundles over two nodes";
  EXPECT_NE(out[0], self);
}

TEST(PlacementGroups, PackPrefersTheTightestNodeThatHoldsEverything) {
  std::vector<bundle_room> nodes{{self, cpus(8), cpus(8)}, {b, cpus(3), cpus(3)}, {c, cpus(2), cpus(2)}};
  auto out = actors::runtime::place_bundles(nodes, bundles({1, 1}), actors::pack);
  EXPECT_EQ(out[0], c);
  EXPECT_EQ(out[1], c);
}

TEST(PlacementGroups, PackUsesAsFewNodesAsItCan) {
  // No node holds all four; 3 fit on b, the last on c.
  std::vector<bundle_room> nodes{{self, cpus(1), cpus(1)}, {b, cpus(3), cpus(3)}, {c, cpus(2), cpus(2)}};
  auto out = actors::runtime::place_bundles(nodes, bundles({1, 1, 1, 1}), actors::pack);
  std::set<std::uint64_t> used;
  for (auto& n : out)
    used.insert(n.value);
  EXPECT_EQ(used.size(), 2u);
  EXPECT_EQ(std::count(out.begin(), out.end(), b), 3);
}

TEST(PlacementGroups, SpreadPutsEachBundleOnANodeOfItsOwn) {
  std::vector<bundle_room> nodes{{self, cpus(4), cpus(4)}, {b, cpus(4), cpus(4)}, {c, cpus(4), cpus(4)}};
  auto out = actors::runtime::place_bundles(nodes, bundles({1, 1, 1}), actors::spread);
  std::set<std::uint64_t> used;
  for (auto& n : out)
    used.insert(n.value);
  EXPECT_EQ(used.size(), 3u);
}

TEST(PlacementGroups, SpreadDoublesUpOnlyWhenNodesRunOut) {
  std::vector<bundle_room> nodes{{self, cpus(4), cpus(4)}, {b, cpus(4), cpus(4)}};
  auto out = actors::runtime::place_bundles(nodes, bundles({1, 1, 1}), actors::spread);
  EXPECT_NE(out[0], out[1]);
  EXPECT_TRUE(out[2] == self || out[2] == b);
}

TEST(PlacementGroups, BundleWithNoFreeRoomWaitsOnANodeThatCanHoldIt) {
  // b has the CPUs in total but none free now: the bundle waits there.
  std::vector<bundle_room> nodes{{self, cpus(0.5), cpus(1)}, {b, cpus(0), cpus(4)}};
  auto out = actors::runtime::place_bundles(nodes, bundles({2}), actors::pack);
  EXPECT_EQ(out[0], b);
}

TEST(PlacementGroups, SpreadQueuesABundleWithNoRoomNowAwayFromTheGroupsOthers) {
  // c is busy at its last report; b is free. Queued behind bundle 0 on b (1 CPU
  // in all), bundle 1 would wait forever: it waits on c, which frees up.
  std::vector<bundle_room> nodes{{b, cpus(1), cpus(1)}, {c, cpus(0), cpus(1)}};
  auto out = actors::runtime::place_bundles(nodes, bundles({1, 1}), actors::spread);
  EXPECT_EQ(out[0], b);
  EXPECT_EQ(out[1], c);
}

TEST(PlacementGroups, ABundleIsNeverQueuedOnANodeTooSmallForItAndTheGroupsOthersThere) {
  std::vector<bundle_room> nodes{{b, cpus(1), cpus(1)}};
  for (auto strategy : {actors::pack, actors::spread}) {
    auto out = actors::runtime::place_bundles(nodes, bundles({1, 1}), strategy);
    EXPECT_EQ(out[0], b);
    EXPECT_FALSE(out[1].value) << "queued on b behind bundle 0, which holds b's only CPU";
  }
  // With 2 CPUs in all and none free, both wait there.
  std::vector<bundle_room> two{{b, cpus(0), cpus(2)}};
  auto out = actors::runtime::place_bundles(two, bundles({1, 1}), actors::spread);
  EXPECT_EQ(out[0], b);
  EXPECT_EQ(out[1], b);
}

TEST(PlacementGroups, WithRoomOnlyABundleWithNoFreeRoomNowIsUnplaced) {
  // Bundles that waited for a node are placed again as nodes join: only where
  // there is room, so that the second one waits for the next node.
  std::vector<bundle_room> nodes{{b, cpus(1), cpus(1)}};
  auto out = actors::runtime::place_bundles(nodes, bundles({1, 1}), actors::spread, true);
  EXPECT_EQ(out[0], b);
  EXPECT_FALSE(out[1].value) << "queued behind the first on a full node";
}

TEST(PlacementGroups, SpreadPlacesALaterBundleAwayFromTheGroupsOthers) {
  // b holds bundle 0 already (its report may still show the room free).
  std::vector<bundle_room> nodes{{b, cpus(1), cpus(1), true}, {c, cpus(1), cpus(1)}};
  auto out = actors::runtime::place_bundles(nodes, bundles({1}), actors::spread, true);
  EXPECT_EQ(out[0], c);
}

TEST(PlacementGroups, BundleNoNodeCanEverHoldIsUnplaced) {
  std::vector<bundle_room> nodes{{self, cpus(2), cpus(2)}, {b, cpus(2), cpus(2)}};
  auto out = actors::runtime::place_bundles(nodes, bundles({1, 3}), actors::pack);
  EXPECT_TRUE(out[0].value);
  EXPECT_FALSE(out[1].value);
}

TEST(PlacementGroups, StrictPackPutsAllBundlesOnOneNodeOrNone) {
  // Three 1-CPU bundles; only d4 has room for all of them.
  std::vector<bundle_room> nodes{{b, cpus(2), cpus(2)}, {c, cpus(2), cpus(2)}, {d4, cpus(3), cpus(4)}};
  auto out = actors::runtime::place_bundles(nodes, bundles({1, 1, 1}), actors::strict_pack, true);
  EXPECT_EQ(std::count(out.begin(), out.end(), d4), 3);
  // No node with room for all three now: with room only, none is placed.
  nodes[2].free = cpus(1);
  out = actors::runtime::place_bundles(nodes, bundles({1, 1, 1}), actors::strict_pack, true);
  EXPECT_TRUE(std::none_of(out.begin(), out.end(), [](const node_id& n) { return n.value != 0; }))
    << "STRICT_PACK placed part of the group";
  // Otherwise all wait together on d4, the node whose total holds them all.
  out = actors::runtime::place_bundles(nodes, bundles({1, 1, 1}), actors::strict_pack);
  EXPECT_EQ(std::count(out.begin(), out.end(), d4), 3);
  // And with no node that can ever hold them all, none is placed.
  out = actors::runtime::place_bundles(nodes, bundles({2, 2, 1}), actors::strict_pack);
  EXPECT_TRUE(std::none_of(out.begin(), out.end(), [](const node_id& n) { return n.value != 0; }));
}

TEST(PlacementGroups, StrictPackPlacesTheRestOnlyWithTheGroupsOthers) {
  // d4 holds some of the group already: the rest go there or nowhere.
  std::vector<bundle_room> nodes{{b, cpus(4), cpus(4)}, {d4, cpus(0), cpus(2), true}};
  auto out = actors::runtime::place_bundles(nodes, bundles({1}), actors::strict_pack, true);
  EXPECT_FALSE(out[0].value) << "went to a node without the group's other bundles";
  nodes[1].free = cpus(1);
  out = actors::runtime::place_bundles(nodes, bundles({1}), actors::strict_pack, true);
  EXPECT_EQ(out[0], d4);
}

TEST(PlacementGroups, StrictSpreadNeverDoublesUp) {
  // Two nodes, three bundles: SPREAD doubles up, STRICT_SPREAD leaves the third out.
  std::vector<bundle_room> nodes{{self, cpus(4), cpus(4)}, {b, cpus(4), cpus(4)}};
  auto out = actors::runtime::place_bundles(nodes, bundles({1, 1, 1}), actors::strict_spread);
  EXPECT_TRUE(out[0].value && out[1].value);
  EXPECT_NE(out[0], out[1]);
  EXPECT_FALSE(out[2].value) << "a third bundle went to a node holding another";
  // A bundle with no room now waits on a node holding none of the group.
  std::vector<bundle_room> busy{{b, cpus(1), cpus(1)}, {c, cpus(0), cpus(1)}, {d4, cpus(0), cpus(1), true}};
  out = actors::runtime::place_bundles(busy, bundles({1, 1}), actors::strict_spread);
  EXPECT_EQ(out[0], b);
  EXPECT_EQ(out[1], c);
}

TEST(PlacementGroups, StrictStrategiesAreRefusedForASingleTaskOrActor) {
  EXPECT_THROW(actors::detail::check_strategy(actors::strict_pack, "task(f).strategy(s)"), actors::error);
  EXPECT_THROW(actors::detail::check_strategy(actors::strict_spread, "task(f).strategy(s)"), actors::error);
  EXPECT_NO_THROW(actors::detail::check_strategy(actors::spread, "task(f).strategy(s)"));
}

} // namespace
