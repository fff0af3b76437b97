// White-box tests of one node's scheduler (runtime::scheduler) and the worker pool
// under it (runtime::worker_pool): when an item's demand is taken and given back,
// the order pending items start in, how a blocked task lends its CPU, infeasible
// demands, and stopping; and how long a get spins before it sleeps
// (runtime::short_wait). The items here are plain work_items driven by gates, so
// that every step can be observed between two latches.

#include "tests/support/gate.hpp"
#include "tests/support/runtime_fixture.hpp"

#include "runtime/scheduler/scheduler.hpp"
#include "runtime/scheduler/short_wait.hpp"
#include "runtime/scheduler/worker_pool.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

using actors::runtime::blocking_scope;
using actors::runtime::resource_set;
using actors::runtime::scheduler;
using actors::runtime::short_wait;
using actors::runtime::work_item;
using actors::runtime::worker_pool;
using actors::test::eventually;
using actors::test::gate;

// Every wait is bounded, so that a broken scheduler fails the test instead of
// hanging it.
constexpr auto bound = 10s;

resource_set cpus(double n) {
  return resource_set::from(n, actors::detail::resource_list{});
}

resource_set gpus(double n) {
  return resource_set::from(0, actors::detail::resource_list{{"GPU", n}});
}

/// What the items of one test did, in the order they did it.
class journal {
 public:
  void started(const std::string& name) {
    std::lock_guard<std::mutex> guard{mu_};
    started_.push_back(name);
    cv_.notify_all();
  }

  void abandoned(const std::string& name, const std::string& reason) {
    std::lock_guard<std::mutex> guard{mu_};
    abandoned_.emplace_back(name, reason);
    cv_.notify_all();
  }

  /// True once `n` items have started (within `limit`).
  bool wait_started(std::size_t n, std::chrono::milliseconds limit = bound) {
    std::unique_lock<std::mutex> lock{mu_};
    return cv_.wait_for(lock, limit, [&] { return started_.size() >= n; });
  }

  std::vector<std::string> started_names() const {
    std::lock_guard<std::mutex> guard{mu_};
    return started_;
  }

  std::vector<std::pair<std::string, std::string>> abandoned_items() const {
    std::lock_guard<std::mutex> guard{mu_};
    return abandoned_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> started_;
  std::vector<std::pair<std::string, std::string>> abandoned_;
};

/// An item that notes in the journal when it starts or is abandoned, then runs
/// `body` (if any) with its demand held.
class probe final : public work_item {
 public:
  probe(std::string name, resource_set demand, journal& log, std::function<void()> body = {},
        bool releases = true)
    : work_item(std::move(demand)), name_(std::move(name)), log_(log), body_(std::move(body)),
      releases_(releases) {}

  void run() override {
    log_.started(name_);
    if (body_)
      body_();
  }

  void abandon(const std::string& reason) override {
    log_.abandoned(name_, reason);
  }

  bool releases_on_return() const override {
    return releases_;
  }

  std::string describe() const override {
    return "probe '" + name_ + "'";
  }

 private:
  std::string name_;
  journal& log_;
  std::function<void()> body_;
  bool releases_;
};

/// A pool and a scheduler of their own per test. Gates are opened and the
/// scheduler and pool stopped at the end even when an assertion returned early,
/// so that no pool thread is left waiting.
class Scheduler : public ::testing::Test {
 protected:
  void make(double total_cpus, std::size_t max_running = 4) {
    pool_ = std::make_unique<worker_pool>(max_running, false);
    sched_ = std::make_unique<scheduler>(cpus(total_cpus), *pool_);
  }

  void TearDown() override {
    for (auto& g : gates_)
      g->open();
    if (sched_)
      sched_->stop();
    if (pool_)
      pool_->stop();
    sched_.reset();
    pool_.reset();
  }

  gate& new_gate() {
    gates_.push_back(std::make_unique<gate>());
    return *gates_.back();
  }

  void submit(std::string name, resource_set demand, std::function<void()> body = {}, bool releases = true) {
    sched_->submit(std::make_unique<probe>(std::move(name), std::move(demand), log_, std::move(body), releases));
  }

  /// A body that waits until `g` opens.
  static std::function<void()> until(gate& g) {
    return [&g] { g.wait(); };
  }

  /// True once nothing runs and nothing is pending (the last item's release, which
  /// follows its return, has been accounted).
  bool settles_idle() {
    return eventually([&] {
      auto s = sched_->stats();
      return s.running == 0 && s.pending == 0;
    });
  }

  scheduler& sched() {
    return *sched_;
  }

  // Gates outlive the pool: bodies still waiting on one refer to it.
  std::vector<std::unique_ptr<gate>> gates_;
  journal log_;
  std::unique_ptr<worker_pool> pool_;
  std::unique_ptr<scheduler> sched_;
};

// -- demand taken and given back ----------------------------------------------------------

TEST_F(Scheduler, ItemThatFitsStartsAtOnceAndOneThatDoesNotWaitsForTheRelease) {
  make(1);
  auto& first_done = new_gate();
  submit("first", cpus(1), until(first_done));
  ASSERT_TRUE(log_.wait_started(1));
  auto s = sched().stats();
  EXPECT_EQ(s.running, 1u);
  EXPECT_EQ(s.pending, 0u);
  EXPECT_DOUBLE_EQ(s.available.cpu, 0);
  EXPECT_DOUBLE_EQ(s.total.cpu, 1);

  auto& second_done = new_gate();
  submit("second", cpus(1), until(second_done));
  // The decision is taken inside submit: no CPU is free, so it must queue.
  s = sched().stats();
  EXPECT_EQ(s.pending, 1u);
  EXPECT_EQ(s.infeasible, 0u);
  EXPECT_EQ(s.running, 1u);
  EXPECT_EQ(log_.started_names(), std::vector<std::string>{"first"});
  EXPECT_EQ(sched().pending_names(10), std::vector<std::string>{"probe 'second'"});

  first_done.open();
  ASSERT_TRUE(log_.wait_started(2));
  EXPECT_EQ(log_.started_names(), (std::vector<std::string>{"first", "second"}));
  s = sched().stats();
  EXPECT_EQ(s.pending, 0u);
  // The second holds the CPU the first gave back.
  EXPECT_DOUBLE_EQ(s.available.cpu, 0);

  second_done.open();
  ASSERT_TRUE(settles_idle());
  EXPECT_DOUBLE_EQ(sched().stats().available.cpu, 1);
}

TEST_F(Scheduler, FractionalDemandsShareACpu) {
  make(1);
  auto& done = new_gate();
  for (int i = 0; i < 4; ++i)
    submit("quarter " + std::to_string(i), cpus(0.25), until(done));
  ASSERT_TRUE(log_.wait_started(4));
  auto s = sched().stats();
  EXPECT_EQ(s.running, 4u);
  EXPECT_EQ(s.pending, 0u);
  EXPECT_NEAR(s.available.cpu, 0, 1e-9);
  submit("fifth quarter", cpus(0.25), until(done));
  EXPECT_EQ(sched().stats().pending, 1u);
  done.open();
  ASSERT_TRUE(log_.wait_started(5));
  ASSERT_TRUE(settles_idle());
  EXPECT_NEAR(sched().stats().available.cpu, 1, 1e-9);
}

// -- order --------------------------------------------------------------------------------

TEST_F(Scheduler, PendingItemsOfOneShapeStartInSubmissionOrder) {
  make(1);
  auto& hold = new_gate();
  submit("holder", cpus(1), until(hold));
  ASSERT_TRUE(log_.wait_started(1));
  std::vector<std::string> expected{"holder"};
  for (int i = 0; i < 50; ++i) {
    expected.push_back("item " + std::to_string(i));
    submit(expected.back(), cpus(1));
  }
  EXPECT_EQ(sched().stats().pending, 50u);
  hold.open();
  // One CPU: they run one after another, so the start order is the queue's order.
  ASSERT_TRUE(log_.wait_started(expected.size()));
  EXPECT_EQ(log_.started_names(), expected);
  ASSERT_TRUE(settles_idle());
}

TEST_F(Scheduler, NewItemQueuesBehindPendingItemsOfItsShapeEvenWhenItWouldFit) {
  make(2);
  auto& hold_a = new_gate();
  auto& hold_b = new_gate();
  submit("a", cpus(1), until(hold_a));
  submit("b", cpus(1), until(hold_b));
  ASSERT_TRUE(log_.wait_started(2));
  submit("c", cpus(1));
  submit("d", cpus(1));
  EXPECT_EQ(sched().stats().pending, 2u);
  // One CPU comes back: c, the older of the two, takes it; then d.
  hold_a.open();
  ASSERT_TRUE(log_.wait_started(4));
  auto names = log_.started_names();
  EXPECT_EQ(std::vector<std::string>(names.begin() + 2, names.end()), (std::vector<std::string>{"c", "d"}));
  hold_b.open();
  ASSERT_TRUE(settles_idle());
}

TEST_F(Scheduler, SmallerShapeIsNotHeldBehindAPendingLargerOne) {
  make(2);
  auto& hold = new_gate();
  submit("one cpu", cpus(1), until(hold));
  ASSERT_TRUE(log_.wait_started(1));
  submit("two cpus", cpus(2));
  EXPECT_EQ(sched().stats().pending, 1u);
  // Order is kept per demand shape only: a one-CPU item fits and starts.
  auto& hold_small = new_gate();
  submit("another one cpu", cpus(1), until(hold_small));
  ASSERT_TRUE(log_.wait_started(2));
  EXPECT_EQ(log_.started_names()[1], "another one cpu");
  EXPECT_EQ(sched().stats().pending, 1u);
  hold.open();
  hold_small.open();
  ASSERT_TRUE(log_.wait_started(3));
  EXPECT_EQ(log_.started_names()[2], "two cpus");
  ASSERT_TRUE(settles_idle());
}

// -- blocked tasks ------------------------------------------------------------------------

TEST_F(Scheduler, BlockedTaskLendsItsCpu) {
  // One CPU and one pool slot: the second item can only start if the blocked one
  // gives back both.
  make(1, 1);
  gate& go_block = new_gate();
  gate& blocked = new_gate();
  gate& go_unblock = new_gate();
  gate& unblocked = new_gate();
  gate& go_finish = new_gate();
  submit("blocker", cpus(1), [&] {
    go_block.wait();
    {
      blocking_scope waiting; // what get() does while it waits
      blocked.open();
      go_unblock.wait();
    }
    unblocked.open();
    go_finish.wait();
  });
  ASSERT_TRUE(log_.wait_started(1));
  auto s = sched().stats();
  EXPECT_DOUBLE_EQ(s.available.cpu, 0);
  EXPECT_EQ(s.running, 1u);

  gate& second_done = new_gate();
  submit("second", cpus(1), until(second_done));
  s = sched().stats();
  EXPECT_EQ(s.pending, 1u);
  EXPECT_EQ(s.running, 1u);

  // Blocking lends the CPU: the second starts on it.
  go_block.open();
  ASSERT_TRUE(blocked.wait());
  ASSERT_TRUE(log_.wait_started(2));
  s = sched().stats();
  EXPECT_EQ(s.pending, 0u);
  EXPECT_EQ(s.running, 2u);
  EXPECT_DOUBLE_EQ(s.available.cpu, 0);

  // The second gives its CPU back; the blocked one still lends its own.
  second_done.open();
  ASSERT_TRUE(eventually([&] { return sched().stats().running == 1; }));
  EXPECT_DOUBLE_EQ(sched().stats().available.cpu, 1);

  // The scope ends: the blocker takes its CPU back, so new work has to wait.
  go_unblock.open();
  ASSERT_TRUE(unblocked.wait());
  s = sched().stats();
  EXPECT_DOUBLE_EQ(s.available.cpu, 0);
  EXPECT_EQ(s.running, 1u);
  submit("third", cpus(1));
  EXPECT_EQ(sched().stats().pending, 1u);
  EXPECT_EQ(log_.started_names().size(), 2u);

  go_finish.open();
  ASSERT_TRUE(log_.wait_started(3));
  EXPECT_EQ(log_.started_names()[2], "third");
  ASSERT_TRUE(settles_idle());
  EXPECT_DOUBLE_EQ(sched().stats().available.cpu, 1);
}

TEST_F(Scheduler, UnblockedTaskTakesItsCpuBackEvenIfThatOversubscribes) {
  make(1, 1);
  gate& blocked = new_gate();
  gate& go_unblock = new_gate();
  gate& unblocked = new_gate();
  gate& go_finish = new_gate();
  submit("blocker", cpus(1), [&] {
    {
      blocking_scope waiting;
      blocked.open();
      go_unblock.wait();
    }
    unblocked.open();
    go_finish.wait();
  });
  ASSERT_TRUE(blocked.wait());
  gate& borrower_done = new_gate();
  submit("borrower", cpus(1), until(borrower_done));
  ASSERT_TRUE(log_.wait_started(2));
  EXPECT_DOUBLE_EQ(sched().stats().available.cpu, 0);

  // The blocker wakes while the borrower still runs: one CPU, two holders.
  go_unblock.open();
  ASSERT_TRUE(unblocked.wait());
  auto s = sched().stats();
  EXPECT_DOUBLE_EQ(s.available.cpu, -1);
  EXPECT_EQ(s.running, 2u);

  // Nothing new starts until the node is back within its CPUs and one is free.
  submit("waiter", cpus(1));
  EXPECT_EQ(sched().stats().pending, 1u);
  borrower_done.open();
  ASSERT_TRUE(eventually([&] { return sched().stats().running == 1; }));
  s = sched().stats();
  EXPECT_DOUBLE_EQ(s.available.cpu, 0);
  EXPECT_EQ(s.pending, 1u);
  EXPECT_EQ(log_.started_names().size(), 2u);

  go_finish.open();
  ASSERT_TRUE(log_.wait_started(3));
  EXPECT_EQ(log_.started_names()[2], "waiter");
  ASSERT_TRUE(settles_idle());
  EXPECT_DOUBLE_EQ(sched().stats().available.cpu, 1);
}

TEST_F(Scheduler, BlockingScopeOffThePoolLendsNothing) {
  make(1);
  auto& hold = new_gate();
  submit("holder", cpus(1), until(hold));
  ASSERT_TRUE(log_.wait_started(1));
  {
    // The test thread holds no CPU: a scope here must not create one.
    blocking_scope waiting;
    EXPECT_DOUBLE_EQ(sched().stats().available.cpu, 0);
  }
  EXPECT_DOUBLE_EQ(sched().stats().available.cpu, 0);
  hold.open();
  ASSERT_TRUE(settles_idle());
}

// -- items that keep their demand ---------------------------------------------------------

TEST_F(Scheduler, ItemThatKeepsItsDemandHoldsItUntilReleased) {
  make(2);
  submit("reservation", cpus(1), {}, /*releases=*/false);
  ASSERT_TRUE(log_.wait_started(1));
  ASSERT_TRUE(settles_idle());
  // It returned, yet its CPU is still taken.
  auto s = sched().stats();
  EXPECT_EQ(s.running, 0u);
  EXPECT_DOUBLE_EQ(s.available.cpu, 1);

  submit("needs both", cpus(2));
  EXPECT_EQ(sched().stats().pending, 1u);
  EXPECT_EQ(sched().stats().infeasible, 0u);

  sched().release(cpus(1));
  ASSERT_TRUE(log_.wait_started(2));
  EXPECT_EQ(log_.started_names()[1], "needs both");
  ASSERT_TRUE(settles_idle());
  EXPECT_DOUBLE_EQ(sched().stats().available.cpu, 2);
}

// -- infeasible demands -------------------------------------------------------------------

TEST_F(Scheduler, InfeasibleDemandStaysPendingUntilAddTotalMakesItRunnable) {
  make(1);
  submit("gpu job", gpus(1));
  submit("big job", cpus(2));
  auto s = sched().stats();
  EXPECT_EQ(s.pending, 2u);
  EXPECT_EQ(s.infeasible, 2u);
  EXPECT_EQ(s.running, 0u);
  EXPECT_EQ(log_.started_names().size(), 0u);
  auto names = sched().pending_names(10);
  EXPECT_EQ(names.size(), 2u);
  EXPECT_NE(std::find(names.begin(), names.end(), "probe 'gpu job'"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "probe 'big job'"), names.end());
  EXPECT_EQ(sched().pending_names(1).size(), 1u);

  // A feasible item is not held up by infeasible ones.
  submit("small job", cpus(1));
  ASSERT_TRUE(log_.wait_started(1));
  EXPECT_EQ(log_.started_names()[0], "small job");

  sched().add_total(gpus(1));
  ASSERT_TRUE(log_.wait_started(2));
  EXPECT_EQ(log_.started_names()[1], "gpu job");
  s = sched().stats();
  EXPECT_EQ(s.infeasible, 1u);

  sched().add_total(cpus(1));
  ASSERT_TRUE(log_.wait_started(3));
  EXPECT_EQ(log_.started_names()[2], "big job");
  ASSERT_TRUE(settles_idle());
  s = sched().stats();
  EXPECT_EQ(s.infeasible, 0u);
  EXPECT_DOUBLE_EQ(s.total.cpu, 2);
  EXPECT_TRUE(s.total.fits(gpus(1)));
  EXPECT_EQ(s.available, s.total);
}

TEST_F(Scheduler, RemoveTotalTakesAddedResourcesAwayAgain) {
  make(1);
  sched().add_total(gpus(2));
  sched().remove_total(gpus(2));
  auto s = sched().stats();
  // No GPU entry of zero is left behind: the totals compare equal to a fresh node's.
  EXPECT_EQ(s.total, cpus(1));
  EXPECT_EQ(s.available, cpus(1));
  submit("gpu job", gpus(1));
  EXPECT_EQ(sched().stats().infeasible, 1u);
}

// -- stopping -----------------------------------------------------------------------------

TEST_F(Scheduler, StopAbandonsPendingItemsAndLaterSubmissions) {
  make(1);
  auto& hold = new_gate();
  submit("running", cpus(1), until(hold));
  ASSERT_TRUE(log_.wait_started(1));
  submit("queued 1", cpus(1));
  submit("queued 2", cpus(1));
  submit("infeasible", gpus(1));
  EXPECT_EQ(sched().stats().pending, 3u);

  sched().stop();
  auto dropped = log_.abandoned_items();
  ASSERT_EQ(dropped.size(), 3u);
  for (const auto& [name, reason] : dropped) {
    EXPECT_NE(reason.find("stopped"), std::string::npos) << reason;
    EXPECT_NE(reason.find("probe '" + name + "'"), std::string::npos) << reason;
  }
  auto s = sched().stats();
  EXPECT_EQ(s.pending, 0u);
  EXPECT_EQ(s.infeasible, 0u);

  // Abandoned inside submit, before it returns, even though it would fit later.
  submit("late", cpus(0));
  dropped = log_.abandoned_items();
  ASSERT_EQ(dropped.size(), 4u);
  EXPECT_EQ(dropped.back().first, "late");
  EXPECT_NE(dropped.back().second.find("stopped"), std::string::npos);

  // The running item is not abandoned: it finishes, and nothing starts after it.
  hold.open();
  ASSERT_TRUE(settles_idle());
  EXPECT_EQ(log_.started_names(), std::vector<std::string>{"running"});
  EXPECT_DOUBLE_EQ(sched().stats().available.cpu, 1);
}

TEST_F(Scheduler, NoMoreNodesAbandonsOnlyWorkThisNodeCanNeverRun) {
  make(1);
  auto& hold = new_gate();
  submit("running", cpus(1), until(hold));
  ASSERT_TRUE(log_.wait_started(1));
  submit("feasible", cpus(1));
  submit("gpu job", gpus(1));

  sched().no_more_nodes("the cluster is gone");
  auto dropped = log_.abandoned_items();
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].first, "gpu job");
  EXPECT_NE(dropped[0].second.find("GPU"), std::string::npos) << dropped[0].second;
  EXPECT_NE(dropped[0].second.find("the cluster is gone"), std::string::npos) << dropped[0].second;
  auto s = sched().stats();
  EXPECT_EQ(s.pending, 1u);
  EXPECT_EQ(s.infeasible, 0u);

  submit("late gpu job", gpus(1));
  EXPECT_EQ(log_.abandoned_items().size(), 2u);

  hold.open();
  ASSERT_TRUE(log_.wait_started(2));
  EXPECT_EQ(log_.started_names()[1], "feasible");
  ASSERT_TRUE(settles_idle());
}

// -- worker pool --------------------------------------------------------------------------

TEST(WorkerPool, RunsAtMostMaxRunningJobsAtOnce) {
  worker_pool pool(2, false);
  gate release;
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  journal log;
  for (int i = 0; i < 3; ++i)
    pool.post([&, i] {
      int now = ++running;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      log.started("job " + std::to_string(i));
      release.wait();
      --running;
    });
  ASSERT_TRUE(log.wait_started(2));
  // Nothing signals that a job did not start: give a third one time to break the
  // limit if it could.
  EXPECT_FALSE(log.wait_started(3, 100ms));
  release.open();
  ASSERT_TRUE(log.wait_started(3));
  pool.stop();
  EXPECT_EQ(most.load(), 2);
}

TEST(WorkerPool, BlockedJobLetsAnotherRunInItsPlace) {
  worker_pool pool(1, false);
  gate go_block;
  gate go_unblock;
  journal log;
  pool.post([&] {
    log.started("blocker");
    go_block.wait();
    pool.on_block();
    go_unblock.wait();
    pool.on_unblock();
  });
  ASSERT_TRUE(log.wait_started(1));
  pool.post([&] { log.started("other"); });
  // The only slot is taken until the blocker says it blocks.
  EXPECT_FALSE(log.wait_started(2, 100ms));
  go_block.open();
  ASSERT_TRUE(log.wait_started(2));
  EXPECT_EQ(log.started_names()[1], "other");
  go_unblock.open();
  pool.stop();
}

TEST(WorkerPool, StopRunsTheJobsStillQueuedThenJoins) {
  worker_pool pool(1, false);
  gate release;
  journal log;
  pool.post([&] {
    log.started("first");
    release.wait();
  });
  ASSERT_TRUE(log.wait_started(1));
  pool.post([&] { log.started("second"); });
  pool.post([&] { log.started("third"); });
  auto stopped = std::async(std::launch::async, [&] { pool.stop(); });
  // stop waits for the running job, so it cannot have returned yet.
  EXPECT_EQ(stopped.wait_for(50ms), std::future_status::timeout);
  release.open();
  ASSERT_EQ(stopped.wait_for(bound), std::future_status::ready);
  EXPECT_EQ(log.started_names(), (std::vector<std::string>{"first", "second", "third"}));
  EXPECT_EQ(pool.threads(), 0u);
}

} // namespace

namespace {

/// Runs `f` on a thread of its own: short_wait remembers the last wait per thread.
template <class F>
void on_fresh_thread(F f) {
  std::thread(f).join();
}

} // namespace

TEST(ShortWait, NeverSpinsWithOneProcessor) {
  on_fresh_thread([] {
    int calls = 0;
    short_wait cluster{true, 1};
    EXPECT_EQ(cluster.budget(), 0us);
    EXPECT_FALSE(cluster.spin([&] { return ++calls > 1000; }));
    EXPECT_EQ(calls, 1) << "it spun";
    short_wait embedded{false, 1};
    EXPECT_EQ(embedded.budget(), 0us);
  });
}

TEST(ShortWait, EmbeddedSpinsBrieflyAfterAnyWait) {
  on_fresh_thread([] {
    {
      short_wait first{false, 2};
      EXPECT_EQ(first.budget(), short_wait::embedded_spin);
      std::this_thread::sleep_for(2ms);
    }
    short_wait after_long{false, 2};
    EXPECT_EQ(after_long.budget(), short_wait::embedded_spin);
  });
}

TEST(ShortWait, ClusterSpinsForARoundTripOnlyAfterAShortWait) {
  on_fresh_thread([] {
    {
      short_wait first{true, 2};
      EXPECT_EQ(first.budget(), short_wait::cluster_spin) << "a thread's first wait spins";
    }
    {
      short_wait after_short{true, 2};
      EXPECT_EQ(after_short.budget(), short_wait::cluster_spin);
      std::this_thread::sleep_for(2ms); // longer than short_enough
    }
    {
      short_wait after_long{true, 2};
      EXPECT_EQ(after_long.budget(), 0us) << "a thread that waited long spun again";
    }
    short_wait after_short_again{true, 2};
    EXPECT_EQ(after_short_again.budget(), short_wait::cluster_spin);
  });
}

TEST(ShortWait, SpinEndsWhenDoneOrWhenTheBudgetIsSpent) {
  on_fresh_thread([] {
    {
      int calls = 0;
      short_wait w{true, 2};
      EXPECT_TRUE(w.spin([&] { return ++calls == 3; }));
      EXPECT_EQ(calls, 3);
    }
    auto start = std::chrono::steady_clock::now();
    short_wait w{true, 2};
    EXPECT_FALSE(w.spin([] { return false; }));
    EXPECT_GE(std::chrono::steady_clock::now() - start, short_wait::cluster_spin);
  });
}
