// The per-task memory limit: the budget operator new keeps on a thread, and tasks
// past their limit (node-wide or their own) failing while the runtime goes on.

#include "runtime/common/task_memory.hpp"
#include "tests/support/runtime_fixture.hpp"

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr std::size_t MiB = std::size_t{1} << 20;

// Sanitizers bring their own operator new, which wins over the runtime's: no
// limit is kept there.
constexpr bool limits_kept = !actors::test::sanitized;

std::int64_t fill_mib(int mib) {
  std::vector<std::unique_ptr<char[]>> held;
  for (int i = 0; i < mib; ++i) {
    held.emplace_back(new char[MiB]);
    held.back()[0] = static_cast<char>(i);
  }
  return static_cast<std::int64_t>(held.size() * MiB);
}

// A pointer the compiler cannot see through, so that new/delete pairs stay.
char* volatile sink = nullptr;

} // namespace

ACTORS_REMOTE(fill_mib);

TEST(TaskMemoryBudget, CountsAllocationsLessFreesOnItsThreadOnly) {
  if (!limits_kept)
    GTEST_SKIP() << "a sanitizer's operator new is in use";
  actors::runtime::task_memory_budget budget{64 * MiB};
  EXPECT_EQ(budget.in_use(), 0);
  sink = new char[MiB];
  EXPECT_GE(budget.in_use(), static_cast<std::int64_t>(MiB));
  std::thread other([] { delete[] new char[8 * MiB]; });
  other.join();
  EXPECT_LT(budget.in_use(), static_cast<std::int64_t>(2 * MiB)) << "another thread's allocation was counted";
  delete[] sink;
  EXPECT_LE(budget.in_use(), 4096) << "the free was not counted";
}

TEST(TaskMemoryBudget, RefusesTheAllocationThatPassesTheLimitAndNothingElse) {
  if (!limits_kept)
    GTEST_SKIP() << "a sanitizer's operator new is in use";
  actors::runtime::task_memory_budget budget{4 * MiB};
  sink = new char[3 * MiB];
  try {
    sink = new char[2 * MiB];
    ADD_FAILURE() << "an allocation past the limit succeeded";
  } catch (const actors::runtime::task_memory_exceeded& e) {
    EXPECT_EQ(e.requested, 2 * MiB);
    EXPECT_EQ(e.limit, 4 * MiB);
    EXPECT_GE(e.in_use, static_cast<std::int64_t>(3 * MiB));
  }
  // Within the limit, allocations still work; the nothrow form returns null.
  char* volatile small = new char[512 * 1024];
  delete[] small;
  char* volatile refused = new (std::nothrow) char[2 * MiB];
  EXPECT_EQ(refused, nullptr);
  {
    // Exempt code is counted but never refused.
    actors::runtime::task_memory_exempt exempt;
    char* volatile taken = new char[2 * MiB];
    EXPECT_GE(budget.in_use(), static_cast<std::int64_t>(5 * MiB));
    delete[] taken;
  }
  delete[] sink;
}

TEST(TaskMemoryBudget, NoBudgetNoCount) {
  actors::runtime::task_memory_budget none{0};
  auto* p = new char[64 * MiB];
  EXPECT_EQ(none.in_use(), 0);
  delete[] p;
}

TEST(TaskMemoryLimit, TaskPastTheNodesLimitFailsAndTheNextRuns) {
  if (!limits_kept)
    GTEST_SKIP() << "a sanitizer's operator new is in use";
  actors::init_options opts;
  opts.num_cpus = 2;
  opts.metrics_port = -1;
  opts.task_memory_limit = 32 * MiB;
  actors::init(opts);
  try {
    actors::get(actors::task(fill_mib).remote(64));
    ADD_FAILURE() << "a task allocating 64 MiB under a 32 MiB limit succeeded";
  } catch (const actors::task_error& e) {
    std::string text = e.what();
    EXPECT_NE(text.find("past its memory limit of " + std::to_string(32 * MiB) + " bytes"), std::string::npos) << text;
    EXPECT_NE(text.find("--task-memory-limit"), std::string::npos) << text;
    EXPECT_NE(text.find("fill_mib"), std::string::npos) << text;
  }
  EXPECT_EQ(actors::get(actors::task(fill_mib).remote(8)), static_cast<std::int64_t>(8 * MiB));
  // A task may ask for less than the node's limit, not more.
  EXPECT_THROW(actors::get(actors::task(fill_mib).memory(4 * MiB).remote(8)), actors::task_error);
  EXPECT_THROW(actors::get(actors::task(fill_mib).memory(256 * MiB).remote(48)), actors::task_error);
  actors::shutdown();
}

TEST(TaskMemoryLimit, FlagSetsTheNodesLimit) {
  if (!limits_kept)
    GTEST_SKIP() << "a sanitizer's operator new is in use";
  std::vector<std::string> args{"prog", "--actors-num-cpus=1", "--actors-metrics-port=-1",
                                "--actors-task-memory-limit=16M"};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  actors::init(static_cast<int>(argv.size()), argv.data());
  EXPECT_THROW(actors::get(actors::task(fill_mib).remote(32)), actors::task_error);
  EXPECT_EQ(actors::get(actors::task(fill_mib).remote(4)), static_cast<std::int64_t>(4 * MiB));
  actors::shutdown();
}
