#include "tests/support/runtime_fixture.hpp"

#include "runtime/node/node.hpp"
#include "runtime/scheduler/worker_pool.hpp"

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

std::int64_t square(std::int64_t x) {
  return x * x;
}

std::int64_t inc(std::int64_t x) {
  return x + 1;
}

std::int64_t fib(int n) {
  if (n < 2)
    return n;
  auto a = actors::task(fib).remote(n - 1);
  auto b = actors::task(fib).remote(n - 2);
  return actors::get(a) + actors::get(b);
}

std::int64_t needs_gpu(std::int64_t x) {
  return x;
}

std::int64_t sleepy(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

std::int64_t sum_refs(const std::vector<actors::object_ref<std::int64_t>>& refs) {
  std::int64_t total = 0;
  for (const auto& r : refs)
    total += actors::get(r);
  return total;
}

std::atomic<int> running{0};
std::atomic<int> max_running{0};

int track_concurrency(int ms) {
  int now = ++running;
  int seen = max_running.load();
  while (now > seen && !max_running.compare_exchange_weak(seen, now)) {
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  --running;
  return now;
}

std::atomic<int> flaky_calls{0};

int flaky(int fail_times) {
  if (flaky_calls++ < fail_times)
    throw std::runtime_error("transient failure");
  return 42;
}

std::atomic<int> side_effects{0};

void touch() {
  ++side_effects;
}

std::size_t vector_size(const std::vector<int>& v) {
  return v.size();
}

const void* address_of(const std::vector<int>& v) {
  return &v;
}

// A by-value parameter: where its elements are, after the task emptied it.
const void* elements_of(std::vector<int> v) {
  const void* at = v.data();
  v.clear();
  return at;
}

std::atomic<int> sum_calls{0};

// Sums its by-value parameter, empties it, and fails the first time.
std::int64_t sum_failing_once(std::vector<int> v) {
  const auto total = std::accumulate(v.begin(), v.end(), std::int64_t{0});
  v.clear();
  if (sum_calls++ == 0)
    throw std::runtime_error("the first attempt fails");
  return total;
}

std::int64_t negate(std::int64_t x) noexcept {
  return -x;
}

// Spinners that run until cancelled (or for `max_ms`), counting how many stopped
// because is_cancelled turned true.
std::atomic<int> spinning{0};
std::atomic<int> stopped_when_cancelled{0};

int spin_until_cancelled(int max_ms) {
  ++spinning;
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_ms);
  while (!actors::is_cancelled() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(1ms);
  --spinning;
  if (!actors::is_cancelled())
    return 0;
  ++stopped_when_cancelled;
  return 1;
}

// Submits a spinner of at most 3 s, then spins itself.
int spin_with_a_child() {
  auto child = actors::task(spin_until_cancelled).remote(3000);
  return spin_until_cancelled(30'000);
}

ACTORS_REMOTE(square, inc, fib, needs_gpu, sleepy, sum_refs, track_concurrency, flaky, touch,
              vector_size, address_of, elements_of, sum_failing_once, negate, spin_until_cancelled,
              spin_with_a_child);

class Tasks : public actors::test::runtime_test {};

class TasksOnOneCpu : public actors::test::one_cpu_runtime_test {};

class TasksWithGpu : public actors::test::runtime_test {
 protected:
  actors::init_options options() const override {
    actors::init_options o;
    o.num_cpus = 2;
    o.resources = {{"GPU", 1}};
    return o;
  }
};

std::size_t resident_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoul(line.substr(6));
  return 0;
}

} // namespace

TEST_F(Tasks, SquaresComeBackInOrder) {
  std::vector<actors::object_ref<std::int64_t>> refs;
  for (std::int64_t x : {1, 2, 3, 4, 5})
    refs.push_back(actors::task(square).remote(x));
  EXPECT_EQ(actors::get(refs), (std::vector<std::int64_t>{1, 4, 9, 16, 25}));
}

TEST_F(Tasks, ObjectRefArgumentIsResolvedBeforeTheCall) {
  auto ref = actors::task(inc).remote(std::int64_t{0});
  for (int i = 1; i < 1000; ++i)
    ref = actors::task(inc).remote(ref);
  EXPECT_EQ(actors::get(ref), 1000);
}

TEST_F(Tasks, RefsNestedInContainersStayRefs) {
  std::vector<actors::object_ref<std::int64_t>> refs;
  for (std::int64_t x = 1; x <= 10; ++x)
    refs.push_back(actors::task(square).remote(x));
  EXPECT_EQ(actors::get(actors::task(sum_refs).remote(refs)), 385);
}

TEST_F(TasksOnOneCpu, NestedTasksGiveTheirCpuBackWhileWaiting) {
  EXPECT_EQ(actors::get(actors::task(fib).remote(12), 60s), 144);
}

TEST_F(Tasks, GetWithTimeoutThrowsTimeoutError) {
  auto slow = actors::task(sleepy).remote(300);
  EXPECT_THROW(actors::get(slow, 10ms), actors::timeout_error);
  EXPECT_EQ(actors::get(slow), 300);
}

TEST_F(Tasks, WaitReturnsReadyAndPendingInInputOrder) {
  // The node has no GPU: these can never run, yet are not lost.
  std::vector<actors::object_ref<std::int64_t>> refs;
  refs.push_back(actors::task(needs_gpu).resource("GPU", 1).remote(std::int64_t{1}));
  refs.push_back(actors::task(square).remote(std::int64_t{2}));
  refs.push_back(actors::task(needs_gpu).resource("GPU", 1).remote(std::int64_t{3}));
  refs.push_back(actors::task(square).remote(std::int64_t{4}));
  auto w = actors::wait(refs, refs.size(), 200ms);
  ASSERT_EQ(w.ready.size(), 2u);
  ASSERT_EQ(w.pending.size(), 2u);
  EXPECT_EQ(w.ready[0], refs[1]);
  EXPECT_EQ(w.ready[1], refs[3]);
  EXPECT_EQ(w.pending[0], refs[0]);
  EXPECT_EQ(w.pending[1], refs[2]);
  EXPECT_EQ(actors::get(w.ready[1]), 16);
}

TEST_F(Tasks, WaitReturnsAsSoonAsEnoughAreReady) {
  std::vector<actors::object_ref<std::int64_t>> refs{actors::task(sleepy).remote(1500),
                                                     actors::task(sleepy).remote(1)};
  auto start = std::chrono::steady_clock::now();
  auto w = actors::wait(refs, 1, 10s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1000ms);
  ASSERT_EQ(w.ready.size(), 1u);
  EXPECT_EQ(w.ready[0], refs[1]);
}

TEST_F(Tasks, InfeasibleTaskStaysPendingAndIsReported) {
  auto ref = actors::task(needs_gpu).resource("GPU", 1).remote(std::int64_t{7});
  EXPECT_THROW(actors::get(ref, 50ms), actors::timeout_error);
  auto stats = actors::runtime::current_node()->sched.stats();
  EXPECT_EQ(stats.pending, 1u);
  EXPECT_EQ(stats.infeasible, 1u);
}

TEST_F(TasksWithGpu, CustomResourceLimitsConcurrency) {
  max_running = 0;
  std::vector<actors::object_ref<int>> refs;
  for (int i = 0; i < 4; ++i)
    refs.push_back(actors::task(track_concurrency).num_cpus(0).resource("GPU", 1).remote(20));
  actors::get(refs);
  EXPECT_EQ(max_running.load(), 1);
}

TEST_F(Tasks, CpuDemandLimitsConcurrency) {
  max_running = 0;
  std::vector<actors::object_ref<int>> refs;
  for (int i = 0; i < 4; ++i)
    refs.push_back(actors::task(track_concurrency).num_cpus(2).remote(20));
  actors::get(refs);
  EXPECT_EQ(max_running.load(), 1);
  max_running = 0;
  refs.clear();
  for (int i = 0; i < 6; ++i)
    refs.push_back(actors::task(track_concurrency).remote(50));
  actors::get(refs);
  EXPECT_EQ(max_running.load(), 2);
}

TEST_F(Tasks, ExceptionsAreNotRetriedUnlessAsked) {
  flaky_calls = 0;
  EXPECT_THROW(actors::get(actors::task(flaky).max_retries(3).remote(2)), actors::task_error);
  EXPECT_EQ(flaky_calls.load(), 1);
  flaky_calls = 0;
  EXPECT_EQ(actors::get(actors::task(flaky).max_retries(3).retry_exceptions(true).remote(2)), 42);
  EXPECT_EQ(flaky_calls.load(), 3);
  flaky_calls = 0;
  EXPECT_THROW(actors::get(actors::task(flaky).max_retries(1).retry_exceptions(true).remote(5)),
               actors::task_error);
  EXPECT_EQ(flaky_calls.load(), 2);
}

TEST_F(Tasks, VoidTaskCanBeAwaited) {
  side_effects = 0;
  actors::object_ref<void> done = actors::task(touch).remote();
  actors::get(done);
  EXPECT_EQ(side_effects.load(), 1);
}

TEST_F(Tasks, CancelledPendingTaskNeverRunsAndGetSaysSo) {
  auto ref = actors::task(needs_gpu).resource("GPU", 1).remote(std::int64_t{1});
  actors::cancel(ref);
  EXPECT_THROW(actors::get(ref), actors::task_cancelled_error);
}

TEST_F(Tasks, ARunningTaskSeesItWasCancelledAndStopsEarly) {
  stopped_when_cancelled = 0;
  EXPECT_FALSE(actors::is_cancelled()) << "outside a task";
  auto ref = actors::task(spin_until_cancelled).remote(30'000);
  ASSERT_TRUE(actors::test::eventually([] { return spinning.load() == 1; }, 10s));
  actors::cancel(ref);
  EXPECT_THROW(actors::get(ref), actors::task_cancelled_error);
  ASSERT_TRUE(actors::test::eventually([] { return stopped_when_cancelled.load() == 1; }, 10s));
  EXPECT_TRUE(actors::test::eventually([] { return spinning.load() == 0; }, 10s));
}

TEST_F(Tasks, ARecursiveCancelReachesTheTasksATaskSubmittedAndAPlainOneDoesNot) {
  for (bool recursive : {true, false}) {
    stopped_when_cancelled = 0;
    auto ref = actors::task(spin_with_a_child).remote();
    ASSERT_TRUE(actors::test::eventually([] { return spinning.load() == 2; }, 10s)) << "parent and child did not both start";
    actors::cancel(ref, {.recursive = recursive});
    if (recursive) {
      EXPECT_TRUE(actors::test::eventually([] { return stopped_when_cancelled.load() == 2; }, 10s)) << stopped_when_cancelled.load();
    } else {
      // The parent stops; its child goes on.
      ASSERT_TRUE(actors::test::eventually([] { return stopped_when_cancelled.load() == 1; }, 10s));
      std::this_thread::sleep_for(300ms);
      EXPECT_EQ(spinning.load(), 1) << "a plain cancel stopped the child too";
      EXPECT_EQ(stopped_when_cancelled.load(), 1);
    }
    // A child not cancelled ends at its 3 s bound, not counted.
    ASSERT_TRUE(actors::test::eventually([] { return spinning.load() == 0; }, 10s));
    EXPECT_EQ(stopped_when_cancelled.load(), recursive ? 2 : 1);
  }
}

TEST_F(Tasks, LargeVectorRoundTripsThroughATask) {
  std::vector<int> big(100'000);
  std::iota(big.begin(), big.end(), 0);
  EXPECT_EQ(actors::get(actors::task(vector_size).remote(big)), 100'000u);
  auto ref = actors::put(big);
  EXPECT_EQ(actors::get(ref), big);
}

TEST_F(Tasks, PutValueIsSharedNotCopiedWithinTheNode) {
  auto ref = actors::put(std::vector<int>(1000, 7));
  auto a = actors::get_shared(ref);
  auto b = actors::get_shared(ref);
  EXPECT_EQ(a.get(), b.get());
  // A task reading the object by const reference sees the stored value itself.
  EXPECT_EQ(actors::get(actors::task(address_of).remote(ref)), static_cast<const void*>(a.get()));
}

TEST_F(Tasks, AByValueArgumentIsMovedIntoTheTaskNotCopied) {
  std::vector<int> v(100'000, 7);
  const void* at = v.data();
  EXPECT_EQ(actors::get(actors::task(elements_of).remote(std::move(v))), at);
}

TEST_F(Tasks, AByValueArgumentIsCopiedWhileARetryMayNeedIt) {
  sum_calls = 0;
  auto ref = actors::task(sum_failing_once).max_retries(1).retry_exceptions(true).remote(std::vector<int>(1000, 7));
  EXPECT_EQ(actors::get(ref), 7000) << "the retry saw what the first attempt emptied";
  EXPECT_EQ(sum_calls.load(), 2);
}

TEST_F(Tasks, AByValueParameterGetsACopyOfAnObjectNeverTheObjectItself) {
  auto ref = actors::put(std::vector<int>(1000, 7));
  const void* stored = actors::get_shared(ref)->data();
  EXPECT_NE(actors::get(actors::task(elements_of).remote(ref)), stored);
  EXPECT_EQ(actors::get(ref), std::vector<int>(1000, 7));
}

TEST_F(Tasks, MemoryStaysFlatOverAMillionDroppedResults) {
  auto& store = actors::runtime::current_node()->store;
  auto batch = [] {
    std::vector<actors::object_ref<std::int64_t>> refs;
    refs.reserve(10'000);
    for (std::int64_t i = 0; i < 10'000; ++i)
      refs.push_back(actors::task(square).remote(i));
    EXPECT_EQ(actors::get(refs.back()), 9'999 * 9'999);
    actors::wait(refs);
  };
  for (int i = 0; i < 10; ++i)
    batch();
  auto baseline = resident_kib();
  for (int i = 0; i < 90; ++i)
    batch();
  ASSERT_TRUE(actors::test::eventually([&] { return store.stats().objects == 0; }));
  EXPECT_EQ(store.stats().bytes_in_memory, 0u);
  // A million results of ~100 bytes each would be ~100 MB if they leaked.
  // A sanitizer keeps freed memory in quarantine (256 MB by default), so RSS
  // grows without a leak; the counts above and LeakSanitizer at exit check there.
  if (!actors::test::sanitized) {
    EXPECT_LT(resident_kib(), baseline + 20 * 1024) << "RSS grew from " << baseline << " KiB";
  }
}

TEST_F(Tasks, UnregisteredFunctionIsAClearError) {
  auto unregistered = +[](int x) { return x; };
  try {
    actors::task(unregistered).remote(1);
    FAIL() << "expected not_registered_error";
  } catch (const actors::not_registered_error& e) {
    EXPECT_NE(std::string(e.what()).find("ACTORS_REMOTE"), std::string::npos) << e.what();
  }
}

// A burst of short jobs must not start a thread per job: threads that are starting,
// woken or spinning will take the queued jobs, and at most max_running run at once.
TEST(WorkerPool, BurstOfJobsStartsNoMoreThreadsThanCanRun) {
  for (bool spin : {true, false}) {
    SCOPED_TRACE(spin ? "spinning pool" : "sleeping pool");
    actors::runtime::worker_pool pool(2, spin);
    std::atomic<int> done{0};
    constexpr int jobs = 5000;
    for (int i = 0; i < jobs; ++i)
      pool.post([&done] { done.fetch_add(1, std::memory_order_relaxed); });
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (done.load() < jobs && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    EXPECT_EQ(done.load(), jobs);
    EXPECT_LE(pool.threads(), 2u);
  }
}

TEST_F(Tasks, NoexceptFunctionsRegisterAndRun) {
  EXPECT_EQ(actors::get(actors::task(negate).remote(std::int64_t{5})), -5);
}

TEST_F(Tasks, GetOfSeveralRefsWithATimeoutHasOneDeadlineForAll) {
  std::vector<actors::object_ref<std::int64_t>> quick{actors::task(square).remote(std::int64_t{3}),
                                                      actors::task(square).remote(std::int64_t{4})};
  EXPECT_EQ(actors::get(quick, 10s), (std::vector<std::int64_t>{9, 16}));
  // On 2 CPUs the third starts when one of the first two ends: all three take
  // 600 ms, though each would make a 400 ms timeout of its own.
  std::vector<actors::object_ref<std::int64_t>> slow{actors::task(sleepy).remote(300),
                                                     actors::task(sleepy).remote(300),
                                                     actors::task(sleepy).remote(300)};
  EXPECT_THROW(actors::get(slow, 400ms), actors::timeout_error);
  EXPECT_EQ(actors::get(slow, 10s), (std::vector<std::int64_t>{300, 300, 300}));
}

TEST_F(Tasks, AnEmptyNodeIdIsRefusedAsAnAffinity) {
  try {
    actors::task(square).node(actors::node_id{}, false);
    FAIL() << "node(node_id{}) was taken";
  } catch (const actors::error& e) {
    EXPECT_EQ(e.code(), actors::errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("node id is empty"), std::string::npos) << e.what();
  }
}
