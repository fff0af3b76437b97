// Processes of one host share large values through shared memory (real actorsd
// processes on loopback): the driver maps a node's segment instead of reading a
// socket, and no segment outlives its node, killed or stopped. A process started
// with shared memory off makes and maps no segment: its values cross the socket.
#include "tests/cluster/job.hpp"
#include "tests/support/local_cluster.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/runtime_fixture.hpp"

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

/// The shared memory segments of node `id` now (their names carry its id).
std::vector<std::string> segments_of(const actors::node_id& id) {
  std::vector<std::string> out;
  std::string needle = ".";
  needle += id.to_string();
  needle += '.';
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm")) {
    auto name = e.path().filename().string();
    if (name.rfind("actors.", 0) == 0 && name.find(needle) != std::string::npos)
      out.push_back(name);
  }
  return out;
}

/// The live node that is neither the head nor a driver.
actors::node_id worker() {
  for (const auto& n : actors::nodes())
    if (n.alive && !n.is_head && !n.is_driver)
      return n.id;
  return {};
}

class SameHost : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster = std::make_unique<actors::test::local_cluster>("same-host-test");
    cluster->start_head(actors::test::one_cpu_daemon({"--head", "--port", "0"}));
    cluster->start_node(actors::test::one_cpu_daemon({}));
    cluster->join({}, 2);
    node = worker();
  }

  void TearDown() override {
    actors::test::tear_down(cluster);
  }

  std::unique_ptr<actors::test::local_cluster> cluster;
  actors::node_id node;
};

TEST_F(SameHost, ALargeResultIsReadFromTheNodesSharedMemory) {
  constexpr std::int64_t n = std::int64_t{1} << 21; // 16 MiB
  auto ref = actors::task(job::make_vec).node(node, false).remote(n);
  auto span = actors::get_span(ref, 30s);
  ASSERT_EQ(span.size(), static_cast<std::size_t>(n));
  EXPECT_EQ(span.front(), 1);
  EXPECT_EQ(span.back(), n);
  // The value lives in a segment of the node that made it.
  EXPECT_FALSE(segments_of(node).empty()) << "no shared memory segment of node " << node.to_string();
  // A plain get reads the same value.
  EXPECT_EQ(actors::get(ref).back(), n);
}

TEST_F(SameHost, KilledNodesSegmentsAreRemovedByTheNextNodeOnTheHost) {
  auto ref = actors::task(job::make_vec).node(node, false).remote(std::int64_t{1} << 21);
  ASSERT_EQ(actors::get_span(ref, 30s).size(), std::size_t{1} << 21);
  ASSERT_FALSE(segments_of(node).empty());
  cluster->nodes[0]->kill(SIGKILL);
  cluster->nodes[0]->wait_exit(10s);
  cluster->nodes.erase(cluster->nodes.begin()); // it does not stop cleanly: it is dead
  // Nobody unlinked them: the node died.
  EXPECT_FALSE(segments_of(node).empty());
  // The next node started on this host removes what dead processes left.
  cluster->start_node(actors::test::one_cpu_daemon({}));
  ASSERT_TRUE(actors::test::eventually([&] { return actors::test::local_cluster::daemons_alive() == 2; }, 10s))
    << cluster->logs();
  EXPECT_TRUE(actors::test::eventually([&] { return segments_of(node).empty(); }, 10s));
}

TEST_F(SameHost, NoSegmentOutlivesAStoppedCluster) {
  auto ref = actors::task(job::make_vec).node(node, false).remote(std::int64_t{1} << 21);
  ASSERT_EQ(actors::get_span(ref, 30s).size(), std::size_t{1} << 21);
  ASSERT_FALSE(segments_of(node).empty());
  std::vector<actors::node_id> ids;
  for (const auto& n : actors::nodes())
    ids.push_back(n.id);
  ref = {};
  actors::test::tear_down(cluster);
  for (const auto& id : ids)
    EXPECT_TRUE(segments_of(id).empty()) << "node " << id.to_string() << " left a segment";
}

/// A head, one node started with `node_flags`, and this program as a driver
/// with `driver`.
class SharedMemoryOff : public ::testing::Test {
 protected:
  void start(std::vector<std::string> node_flags, actors::init_options driver) {
    cluster = std::make_unique<actors::test::local_cluster>("shared-memory-off-test");
    cluster->start_head(actors::test::one_cpu_daemon({"--head", "--port", "0"}));
    cluster->start_node(actors::test::one_cpu_daemon(std::move(node_flags)));
    cluster->join(driver, 2);
    node = worker();
    ASSERT_TRUE(node.value) << cluster->logs();
  }

  void TearDown() override {
    actors::test::tear_down(cluster);
  }

  /// Values both ways between the driver and the node, of 16 MiB each, come out
  /// right, and nothing of either process is in /dev/shm meanwhile.
  void expect_values_cross_the_socket() {
    constexpr std::int64_t n = std::int64_t{1} << 21;
    auto made = actors::task(job::make_vec).node(node, false).remote(n);
    auto span = actors::get_span(made, 30s);
    ASSERT_EQ(span.size(), static_cast<std::size_t>(n));
    EXPECT_EQ(span.back(), n);
    EXPECT_EQ(actors::get(made).front(), 1);
    // A large argument from the driver to a task there.
    auto summed = actors::task(job::sum_vec).node(node, false).remote(job::make_vec(n));
    EXPECT_EQ(actors::get(summed, 30s), n * (n + 1) / 2);
    // And a large result of the node fed to another of its tasks by reference.
    EXPECT_EQ(actors::get(actors::task(job::sum_vec).node(node, false).remote(made), 30s), n * (n + 1) / 2);
    for (const auto& info : actors::nodes())
      EXPECT_TRUE(segments_of(info.id).empty()) << "node " << info.id.to_string() << " made a segment";
  }

  std::unique_ptr<actors::test::local_cluster> cluster;
  actors::node_id node;
};

TEST_F(SharedMemoryOff, ANodeWithoutSharedMemorySendsAndTakesLargeValuesOverTheSocket) {
  start({"--shared-memory", "false"}, {});
  expect_values_cross_the_socket();
}

TEST_F(SharedMemoryOff, ADriverWithoutSharedMemoryMapsNoSegmentOfANodeThatShares) {
  actors::init_options driver;
  driver.shared_memory = false;
  start({}, driver);
  expect_values_cross_the_socket();
}

} // namespace
