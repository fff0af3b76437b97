// Coroutine tasks: functions returning actors::async<T>, run by the embedded
// runtime. They keep their resources from start to end and hold no thread while
// they wait at a co_await.
#include "tests/support/runtime_fixture.hpp"

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

int slow_value(int v, int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return v;
}

int broken(int) {
  throw std::runtime_error("the awaited task failed on purpose");
}

int twice(int v) {
  return 2 * v;
}

actors::async<int> add_when_ready(actors::object_ref<int> a, int b) {
  int v = co_await a;
  co_return v + b;
}

actors::async<int> sum_all(std::vector<actors::object_ref<int>> refs) {
  int sum = 0;
  for (int v : co_await actors::when_all(std::move(refs)))
    sum += v;
  co_return sum;
}

// Makes a task and awaits it: work a coroutine task starts itself.
actors::async<int> twice_later(int v) {
  co_return co_await actors::task(twice).remote(v);
}

std::atomic<int> inside{0};
std::atomic<int> most_inside{0};

actors::async<int> nap(int ms) {
  int now = ++inside;
  int seen = most_inside.load();
  while (now > seen && !most_inside.compare_exchange_weak(seen, now)) {
  }
  co_await actors::sleep_for(std::chrono::milliseconds(ms));
  --inside;
  co_return ms;
}

std::atomic<int> flaky_runs{0};

actors::async<int> flaky_coroutine(int fail_times) {
  co_await actors::sleep_for(std::chrono::milliseconds(1));
  if (flaky_runs++ < fail_times)
    throw std::runtime_error("transient failure after a co_await");
  co_return 7;
}

actors::async<void> just_wait(int ms) {
  co_await actors::sleep_for(std::chrono::milliseconds(ms));
}

ACTORS_REMOTE(slow_value, broken, twice, add_when_ready, sum_all, twice_later, nap, flaky_coroutine, just_wait);

int threads_now() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Threads:", 0) == 0)
      return std::stoi(line.substr(8));
  return -1;
}

class CoroutineTasks : public actors::test::runtime_test {};

class CoroutineTasksOnOneCpu : public actors::test::one_cpu_runtime_test {};

} // namespace

TEST_F(CoroutineTasks, ACoroutineTaskAwaitsARefMadeByAnotherTask) {
  auto slow = actors::task(slow_value).remote(40, 100);
  auto r = actors::task(add_when_ready).remote(slow, 2);
  static_assert(std::is_same_v<decltype(r), actors::object_ref<int>>);
  EXPECT_EQ(actors::get(r, 10s), 42);
}

TEST_F(CoroutineTasks, WhenAllAndTasksStartedInsideTheCoroutine) {
  std::vector<actors::object_ref<int>> refs;
  for (int i = 1; i <= 10; ++i)
    refs.push_back(actors::task(slow_value).remote(i, 10));
  EXPECT_EQ(actors::get(actors::task(sum_all).remote(refs), 10s), 55);
  EXPECT_EQ(actors::get(actors::task(twice_later).remote(21), 10s), 42);
  EXPECT_NO_THROW(actors::get(actors::task(just_wait).remote(5), 10s));
}

TEST_F(CoroutineTasks, SuspendedCoroutineTasksHoldNoThread) {
  inside = 0;
  most_inside = 0;
  const int before = threads_now();
  std::vector<actors::object_ref<int>> naps;
  // 300 of them fit the node's 2 CPUs at 0.005 each: all start, and all sleep
  // at once. A thread each would be 300 threads.
  for (int i = 0; i < 300; ++i)
    naps.push_back(actors::task(nap).num_cpus(0.005).remote(1000));
  ASSERT_TRUE(actors::test::eventually([] { return inside.load() == 300; }, 10s))
    << "only " << inside.load() << " were asleep at once";
  EXPECT_LT(threads_now(), before + 50) << "threads before: " << before;
  for (int ms : actors::get(naps))
    EXPECT_EQ(ms, 1000);
  EXPECT_EQ(most_inside.load(), 300);
}

TEST_F(CoroutineTasksOnOneCpu, ACoroutineTaskKeepsItsCpuWhileItWaits) {
  auto waiting = actors::task(nap).remote(2000);
  ASSERT_TRUE(actors::test::eventually([] { return inside.load() >= 1; }, 5s));
  // The only CPU is the coroutine's until it ends: a task needing it waits.
  auto after = actors::task(twice).remote(1);
  auto early = actors::wait(std::vector{after}, 1, 300ms);
  EXPECT_EQ(early.ready.size(), 0u) << "ran while the coroutine task held the CPU";
  EXPECT_EQ(actors::get(waiting, 10s), 2000);
  EXPECT_EQ(actors::get(after, 10s), 2);
}

TEST_F(CoroutineTasks, CoAwaitOfAFailedRefFailsTheTaskWithThatError) {
  auto bad = actors::task(broken).remote(1);
  try {
    actors::get(actors::task(add_when_ready).remote(bad, 1), 10s);
    FAIL() << "expected the coroutine task to fail";
  } catch (const actors::task_error& e) {
    EXPECT_NE(std::string(e.what()).find("failed on purpose"), std::string::npos) << e.what();
  }
  // The CPUs came back: more work runs.
  EXPECT_EQ(actors::get(actors::task(add_when_ready).remote(actors::put(1), 1), 10s), 2);
}

TEST_F(CoroutineTasks, AThrowingCoroutineTaskIsRetriedWhenAsked) {
  flaky_runs = 0;
  auto r = actors::task(flaky_coroutine).max_retries(3).retry_exceptions(true).remote(2);
  EXPECT_EQ(actors::get(r, 10s), 7);
  EXPECT_EQ(flaky_runs.load(), 3);
  flaky_runs = 0;
  EXPECT_THROW(actors::get(actors::task(flaky_coroutine).remote(1), 10s), actors::task_error);
}

TEST_F(CoroutineTasks, CoAwaitOutsideTheRuntimeSaysWhereItWorks) {
  // Driving the coroutine by hand is not the runtime running it.
  auto ref = actors::task(slow_value).remote(1, 200);
  struct sink : actors::detail::async_completion {
    std::exception_ptr error;
    bool ended = false;
    void finished(actors::detail::value_box) override {
      ended = true;
    }
    void failed(std::exception_ptr e) override {
      ended = true;
      error = e;
    }
    bool yielded(actors::detail::value_box, std::coroutine_handle<>) override {
      return true;
    }
  } done;
  auto h = add_when_ready(ref, 1).release(&done);
  h.resume();
  ASSERT_TRUE(done.ended);
  ASSERT_TRUE(done.error);
  try {
    std::rethrow_exception(done.error);
  } catch (const actors::error& e) {
    EXPECT_NE(std::string(e.what()).find("coroutine task"), std::string::npos) << e.what();
  }
  actors::get(ref);
}
