// A flood of tiny tasks from one driver on a head and two nodes (real actorsd
// processes on loopback): every result is right and no process is declared dead,
// because the driver keeps a bounded window of tasks in flight to each node and
// the rest wait in the driver.
#include "tests/cluster/job.hpp"
#include "tests/support/local_cluster.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/runtime_fixture.hpp"

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

class Flood : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster = std::make_unique<actors::test::local_cluster>("flood-test");
    cluster->start_head(actors::test::one_cpu_daemon({"--head", "--port", "0"}));
    cluster->start_node(actors::test::one_cpu_daemon({}));
    cluster->start_node(actors::test::one_cpu_daemon({}));
    cluster->join({}, 3);
  }

  void TearDown() override {
    actors::test::tear_down(cluster);
  }

  std::unique_ptr<actors::test::local_cluster> cluster;
};

TEST_F(Flood, AMillionTinyTasksFromOneDriverAllComeBackAndNobodyIsDeclaredDead) {
  // A sanitizer build floods with a fifth: enough to fill every window and queue.
  const std::int64_t n = std::getenv("FLOOD_TASKS")         ? std::atoll(std::getenv("FLOOD_TASKS"))
                         : actors::test::sanitized ? 200'000
                                                   : 1'000'000;
  std::vector<actors::object_ref<std::int64_t>> refs;
  refs.reserve(static_cast<std::size_t>(n));
  auto t0 = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < n; ++i)
    refs.push_back(actors::task(job::inc).strategy(actors::spread).remote(i));
  auto submitted = std::chrono::steady_clock::now();
  auto ready = actors::wait(refs, refs.size(), 300s);
  auto drained = std::chrono::steady_clock::now();
  ASSERT_TRUE(ready.pending.empty()) << ready.pending.size() << " of " << n << " tasks not done after 300 s\n"
                                     << cluster->logs();
  auto values = actors::get(refs);
  for (std::int64_t i = 0; i < n; ++i)
    ASSERT_EQ(values[static_cast<std::size_t>(i)], i + 1) << "task " << i;
  auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  std::cout << n << " tasks: submitted in " << secs(t0, submitted) << " s, all results in " << secs(t0, drained)
            << " s (" << static_cast<double>(n) / secs(t0, drained) << " tasks/s)\n";
  for (const auto& node : actors::nodes())
    EXPECT_TRUE(node.alive) << "node " << node.id.to_string() << " was declared dead\n" << cluster->logs();
  EXPECT_EQ(actors::test::local_cluster::daemons_alive(), 3);
  EXPECT_EQ(cluster->head->output().find("is dead"), std::string::npos) << cluster->head->output();
}

} // namespace
