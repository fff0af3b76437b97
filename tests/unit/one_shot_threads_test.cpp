// Tests of one_shot_threads (runtime/common/one_shot_threads.hpp): each job runs
// on a thread of its own that frees its stack as it ends, however many jobs a
// long-lived process starts; wait_all waits for the running ones and refuses
// new ones; a job that throws is logged, not fatal. Every wait is bounded.

#include "runtime/common/one_shot_threads.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <fstream>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;
using actors::runtime::one_shot_threads;

/// This process's virtual size in KiB (VmSize in /proc/self/status).
std::size_t virtual_kib() {
  std::ifstream status{"/proc/self/status"};
  std::string key;
  while (status >> key) {
    if (key == "VmSize:") {
      std::size_t kib = 0;
      status >> kib;
      return kib;
    }
    status.ignore(1 << 10, '\n');
  }
  return 0;
}

TEST(OneShotThreads, ThreadsThatEndedHoldNoStackHoweverManyJobsRan) {
  // Each thread's stack is 8 MiB of address space: 300 threads kept until the
  // end, as a vector of joinable threads keeps them, would add 2.4 GiB.
  one_shot_threads threads;
  const std::size_t before = virtual_kib();
  ASSERT_GT(before, 0u);
  for (int i = 0; i < 300; ++i) {
    std::promise<void> ran;
    auto done = ran.get_future();
    ASSERT_TRUE(threads.start([&ran] { ran.set_value(); }));
    ASSERT_EQ(done.wait_for(10s), std::future_status::ready) << "job " << i << " did not run";
  }
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (threads.running() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  EXPECT_EQ(threads.running(), 0u);
  const std::size_t after = virtual_kib();
  EXPECT_LT(after, before + 256 * 1024) << "virtual size grew from " << before << " to " << after << " KiB";
}

TEST(OneShotThreads, WaitAllWaitsForTheRunningJobsAndThenRefusesNewOnes) {
  one_shot_threads threads;
  std::atomic<int> finished{0};
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(threads.start([&finished] {
      std::this_thread::sleep_for(200ms);
      ++finished;
    }));
  EXPECT_EQ(threads.running(), 3u);
  threads.wait_all();
  EXPECT_EQ(finished.load(), 3);
  EXPECT_EQ(threads.running(), 0u);
  std::atomic<bool> ran{false};
  EXPECT_FALSE(threads.start([&ran] { ran = true; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(ran.load());
}

TEST(OneShotThreads, AJobThatThrowsIsLoggedAndTheOthersRunOn) {
  one_shot_threads threads;
  ASSERT_TRUE(threads.start([] { throw std::runtime_error("a job that fails"); }));
  std::atomic<bool> ran{false};
  ASSERT_TRUE(threads.start([&ran] { ran = true; }));
  threads.wait_all();
  EXPECT_TRUE(ran.load());
  EXPECT_EQ(threads.running(), 0u);
}

TEST(OneShotThreads, TheDestructorWaitsForTheJobs) {
  std::atomic<bool> finished{false};
  {
    one_shot_threads threads;
    ASSERT_TRUE(threads.start([&finished] {
      std::this_thread::sleep_for(100ms);
      finished = true;
    }));
  }
  EXPECT_TRUE(finished.load());
}

} // namespace
