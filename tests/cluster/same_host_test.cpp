// Processes of one host share large values through shared memory (real actorsd
// processes on loopback): the driver maps a node's segment instead of reading a
// socket, and no segment or spill directory outlives its node, killed or stopped. A process started
// with shared memory off makes and maps no segment: its values cross the socket.
// Values that do not go into a segment, but are 32 KiB or more, cross the data
// channel, not the node endpoint, also when their reader does not know their size.
#include "tests/cluster/job.hpp"
#include "tests/support/http.hpp"
#include "tests/support/local_cluster.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/runtime_fixture.hpp"

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
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

/// The spill directories process `pid` made for itself (their names are
/// `actors-spill-<pid ns>.<pid>.<start time>-XXXXXX`).
std::vector<std::string> spill_directories_of(pid_t pid) {
  std::vector<std::string> out;
  const std::string infix = "." + std::to_string(pid) + ".";
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::temp_directory_path())) {
    auto name = e.path().filename().string();
    if (name.rfind("actors-spill-", 0) != 0)
      continue;
    auto owner = name.substr(0, name.rfind('-'));
    auto first_dot = owner.find('.');
    if (first_dot != std::string::npos && owner.compare(first_dot, infix.size(), infix) == 0)
      out.push_back(e.path().string());
  }
  return out;
}

/// The value of the first sample of metric `name` on node `id`'s /metrics whose
/// line holds `label` (any, if empty); -1 if there is none.
double metric_of(const actors::node_id& id, const std::string& name, const std::string& label = {}) {
  for (const auto& n : actors::nodes()) {
    if (n.id != id || n.metrics_port <= 0)
      continue;
    auto text = actors::test::http_get(n.metrics_port, "/metrics");
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line))
      if (line.rfind(name, 0) == 0 && (line[name.size()] == '{' || line[name.size()] == ' ')
          && line.find(label) != std::string::npos)
        return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

/// The payload bytes node `id` has sent through its node endpoint so far
/// (actors_network_bytes_total{direction="sent"}); -1 if absent.
double endpoint_bytes_sent(const actors::node_id& id) {
  return metric_of(id, "actors_network_bytes_total", "direction=\"sent\"");
}

/// Has a task on `node` put make_vec(n), reads it here through its reference
/// alone (so this process knows neither its size nor where it is until it
/// asks), checks it, and returns the payload bytes `node` sent through its
/// endpoint meanwhile; -1 if that cannot be told.
double endpoint_bytes_to_read_a_put(const actors::node_id& node, std::int64_t n) {
  const double before = endpoint_bytes_sent(node);
  EXPECT_GE(before, 0) << "no actors_network_bytes_total on node " << node.to_string();
  auto refs = actors::get(actors::task(job::put_vec_here).node(node, false).remote(n), 30s);
  EXPECT_EQ(refs.size(), 1u);
  if (before < 0 || refs.size() != 1)
    return -1;
  auto v = actors::get(refs[0], 30s);
  EXPECT_EQ(v.size(), static_cast<std::size_t>(n));
  if (!v.empty()) {
    EXPECT_EQ(v.front(), 1);
    EXPECT_EQ(v.back(), n);
  }
  return endpoint_bytes_sent(node) - before;
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
    cluster->start_node(actors::test::one_cpu_daemon({"--metrics-port", "0"}));
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
  // A plain get reads the same value (copied out of the segment, element for element).
  auto whole = actors::get(ref);
  ASSERT_EQ(whole.size(), static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    ASSERT_EQ(whole[static_cast<std::size_t>(i)], i + 1) << "element " << i << " of the value read by get";
}

TEST_F(SameHost, WhatAKilledNodeLeftIsRemovedByTheNextNodeOnTheHost) {
  auto ref = actors::task(job::make_vec).node(node, false).remote(std::int64_t{1} << 21);
  ASSERT_EQ(actors::get_span(ref, 30s).size(), std::size_t{1} << 21);
  ASSERT_FALSE(segments_of(node).empty());
  const pid_t killed = cluster->nodes[0]->pid();
  ASSERT_EQ(spill_directories_of(killed).size(), 1u) << "node " << node.to_string() << " (pid " << killed
                                                      << ") has no spill directory of its own";
  cluster->nodes[0]->kill(SIGKILL);
  cluster->nodes[0]->wait_exit(10s);
  cluster->nodes.erase(cluster->nodes.begin()); // it does not stop cleanly: it is dead
  // Nobody removed them: the node died.
  EXPECT_FALSE(segments_of(node).empty());
  EXPECT_EQ(spill_directories_of(killed).size(), 1u);
  // The next node started on this host removes what dead processes left.
  cluster->start_node(actors::test::one_cpu_daemon({}));
  ASSERT_TRUE(actors::test::eventually([&] { return actors::test::local_cluster::daemons_alive() == 2; }, 10s))
    << cluster->logs();
  EXPECT_TRUE(actors::test::eventually([&] { return segments_of(node).empty(); }, 10s));
  EXPECT_TRUE(spill_directories_of(killed).empty()) << "the killed node's spill directory is still there";
}

TEST_F(SameHost, NoSegmentOrSpillDirectoryOutlivesAStoppedCluster) {
  auto ref = actors::task(job::make_vec).node(node, false).remote(std::int64_t{1} << 21);
  ASSERT_EQ(actors::get_span(ref, 30s).size(), std::size_t{1} << 21);
  ASSERT_FALSE(segments_of(node).empty());
  std::vector<actors::node_id> ids;
  for (const auto& n : actors::nodes())
    ids.push_back(n.id);
  std::vector<pid_t> pids{cluster->head->pid()};
  for (const auto& p : cluster->nodes)
    pids.push_back(p->pid());
  for (pid_t pid : pids)
    ASSERT_EQ(spill_directories_of(pid).size(), 1u) << "pid " << pid << " has no spill directory of its own";
  ref = {};
  actors::test::tear_down(cluster);
  for (const auto& id : ids)
    EXPECT_TRUE(segments_of(id).empty()) << "node " << id.to_string() << " left a segment";
  for (pid_t pid : pids)
    EXPECT_TRUE(spill_directories_of(pid).empty()) << "pid " << pid << " left its spill directory";
}

TEST_F(SameHost, AValueTooSmallForASegmentComesOverTheDataChannel) {
  // 40 KiB: under the 64 KiB from which values are shared, over the 32 KiB from
  // which they take the data channel.
  const double sent = endpoint_bytes_to_read_a_put(node, 5 * 1024);
  EXPECT_GE(sent, 0);
  EXPECT_LT(sent, 20.0 * 1024) << "node " << node.to_string() << " sent " << sent
                               << " bytes through its endpoint for a 40 KiB value";
  EXPECT_TRUE(segments_of(node).empty()) << "a 40 KiB value went into a segment";
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

TEST_F(SharedMemoryOff, AValueWhoseSizeItsReaderDoesNotKnowComesWholeOverTheDataChannel) {
  start({"--shared-memory", "false", "--metrics-port", "0"}, {});
  // 4 MiB. The node's endpoint says how large it is and sends none of its
  // bytes (a first chunk would be 1 MiB): the data channel carries them.
  const double sent = endpoint_bytes_to_read_a_put(node, std::int64_t{1} << 19);
  EXPECT_GE(sent, 0);
  EXPECT_LT(sent, 256.0 * 1024) << "node " << node.to_string() << " sent " << sent
                                << " bytes through its endpoint for a 4 MiB value";
}

TEST_F(SharedMemoryOff, ALargeArgumentOfAnActorCallCrossesTheDataChannelAndTheCallsKeepTheirOrder) {
  start({"--shared-memory", "false", "--metrics-port", "0"}, {});
  auto counter = actors::actor(job::make_counter).node(node, false).remote(std::int64_t{0});
  ASSERT_EQ(actors::get(counter.task(&job::Counter::value).remote(), 30s), 0);
  const double before = metric_of(node, "actors_network_bytes_total", "direction=\"received\"");
  ASSERT_GE(before, 0) << "no actors_network_bytes_total on node " << node.to_string();
  // 32 MiB, then a small call right behind it: the node fetches the vector
  // from this process before the first call runs, and the second waits for it.
  constexpr std::int64_t n = std::int64_t{1} << 22;
  constexpr std::int64_t sum = n * (n + 1) / 2;
  auto big = counter.task(&job::Counter::add_all).remote(job::make_vec(n));
  auto small = counter.task(&job::Counter::add).remote(std::int64_t{1});
  EXPECT_EQ(actors::get(big, 30s), sum);
  EXPECT_EQ(actors::get(small, 30s), sum + 1) << "the small call ran before the large one made before it";
  const double received = metric_of(node, "actors_network_bytes_total", "direction=\"received\"") - before;
  EXPECT_LT(received, 1024.0 * 1024) << "node " << node.to_string() << " received " << received
                                     << " bytes through its endpoint for a call with a 32 MiB argument";
  // Many calls with large arguments in a row, each with a small one behind it.
  std::vector<actors::object_ref<std::int64_t>> calls;
  for (int i = 0; i < 8; ++i) {
    calls.push_back(counter.task(&job::Counter::add_all).remote(job::make_vec(std::int64_t{1} << 15)));
    calls.push_back(counter.task(&job::Counter::add).remote(std::int64_t{1}));
  }
  auto results = actors::get(calls, 30s);
  std::int64_t expected = sum + 1;
  constexpr std::int64_t piece = (std::int64_t{1} << 15) * ((std::int64_t{1} << 15) + 1) / 2;
  for (std::size_t i = 0; i < results.size(); ++i) {
    expected += i % 2 == 0 ? piece : 1;
    EXPECT_EQ(results[i], expected) << "call " << i << " ran out of order";
  }
}

TEST_F(SharedMemoryOff, CopiesOfValuesReadFromANodeGoPastTheReadersStoreLimitAndComeBackWhenReadAgain) {
  // The driver reads eight 2 MiB results the node holds and keeps every
  // reference: 16 MiB of copies in an 8 MiB store.
  actors::init_options driver;
  driver.shared_memory = false;
  driver.object_store_bytes = std::size_t{8} << 20;
  driver.metrics_port = 0;
  start({"--shared-memory", "false"}, driver);
  constexpr std::int64_t n = std::int64_t{1} << 18;
  std::vector<actors::object_ref<std::vector<std::int64_t>>> refs;
  for (std::int64_t i = 0; i < 8; ++i)
    refs.push_back(actors::task(job::make_vec).node(node, false).remote(n + i));
  for (int pass = 0; pass < 2; ++pass)
    for (std::int64_t i = 0; i < 8; ++i) {
      auto v = actors::get(refs[static_cast<std::size_t>(i)], 30s);
      ASSERT_EQ(v.size(), static_cast<std::size_t>(n + i)) << "pass " << pass;
      EXPECT_EQ(v.back(), n + i) << "pass " << pass;
    }
  const auto me = actors::current_node_id();
  const double held = metric_of(me, "actors_object_store_bytes");
  const double dropped = metric_of(me, "actors_object_store_dropped_copy_bytes_total");
  std::cout << "driver store: " << static_cast<std::int64_t>(held) << " bytes held, "
            << static_cast<std::int64_t>(dropped) << " bytes of copies dropped\n";
  ASSERT_GE(held, 0) << "the driver serves no actors_object_store_bytes";
  EXPECT_LE(held, 8.0 * (1 << 20)) << "copies stayed counted over the limit";
  // The first pass dropped at least the 8 MiB past the limit; the second read
  // every copy again.
  EXPECT_GE(dropped, 16.0 * (1 << 20)) << "copies dropped: " << dropped << " bytes";
}

} // namespace
