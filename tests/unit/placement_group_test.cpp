#include "tests/support/runtime_fixture.hpp"

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <chrono>

using namespace std::chrono_literals;

namespace {

int twice(int x) {
  return 2 * x;
}

ACTORS_REMOTE(twice);

class PlacementGroups : public actors::test::runtime_test {};

} // namespace

TEST_F(PlacementGroups, ReservedBundlesRunTheirWorkAndHoldResourcesFromOthers) {
  actors::placement_group pg({{{"CPU", 1}}, {{"CPU", 1}}});
  ASSERT_TRUE(pg.wait(5s));
  EXPECT_EQ(pg.bundle_count(), 2u);
  EXPECT_EQ(actors::get(actors::task(twice).placement_group(pg, 0).remote(1), 5s), 2);
  EXPECT_EQ(actors::get(actors::task(twice).placement_group(pg, 1).remote(2), 5s), 4);
  // Both CPUs are in the group: work outside it waits.
  auto outside = actors::task(twice).remote(3);
  EXPECT_THROW(actors::get(outside, 100ms), actors::timeout_error);
  pg.remove();
  EXPECT_EQ(actors::get(outside, 5s), 6);
}

TEST_F(PlacementGroups, BundleThatFitsNowhereLeavesTheGroupUnready) {
  actors::placement_group pg({{{"CPU", 1}}, {{"GPU", 1}}});
  EXPECT_FALSE(pg.wait(100ms));
  pg.remove();
}

TEST_F(PlacementGroups, ActorsCanLiveInABundle) {
  actors::placement_group pg({{{"CPU", 1}}});
  ASSERT_TRUE(pg.wait(5s));
  auto outside = actors::task(twice).num_cpus(2).remote(1);
  EXPECT_THROW(actors::get(outside, 100ms), actors::timeout_error) << "one CPU is in the group";
  pg.remove();
  EXPECT_EQ(actors::get(outside, 5s), 2);
}

TEST_F(PlacementGroups, WorkForAnUnreadyBundleWaits) {
  actors::placement_group pg({{{"CPU", 3}}}); // more than the node's two CPUs
  auto inside = actors::task(twice).placement_group(pg, 0).remote(1);
  EXPECT_THROW(actors::get(inside, 100ms), actors::timeout_error);
  pg.remove();
}
