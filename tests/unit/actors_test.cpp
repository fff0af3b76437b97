#include "tests/support/runtime_fixture.hpp"

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

std::atomic<int> counters_destroyed{0};

class Counter {
 public:
  explicit Counter(int start) : n_(std::make_shared<int>(start)) {}
  Counter(Counter&&) = default;
  ~Counter() {
    if (n_)
      ++counters_destroyed;
  }
  int add(int d) {
    return *n_ += d;
  }
  int value() const {
    return *n_;
  }
  int fail(int) {
    throw std::runtime_error("method failed on purpose");
  }
  bool restarted() const {
    return actors::was_restarted();
  }
  /// The namespace a task this actor submits works in.
  std::string namespace_of_its_tasks() const;
  /// Ends the actor once it returns.
  int quit() {
    actors::exit_actor();
    return *n_;
  }

 private:
  std::shared_ptr<int> n_;
};

Counter make_counter(int start) {
  return Counter(start);
}

std::string task_namespace() {
  return actors::current_namespace();
}

std::string child_task_namespace() {
  return actors::get(actors::task(task_namespace).remote());
}

std::string Counter::namespace_of_its_tasks() const {
  return actors::get(actors::task(task_namespace).remote());
}

std::unique_ptr<Counter> make_counter_ptr(int start) {
  return std::make_unique<Counter>(start);
}

Counter make_broken(int) {
  throw std::runtime_error("factory refuses");
}

int add_through(actors::actor_handle<Counter> c, int d) {
  return actors::get(c.task(&Counter::add).remote(d));
}

actors::actor_handle<Counter> spawn_from_task(int start) {
  return actors::actor(make_counter).remote(start);
}

int hold_cpu(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

/// Counts the calls inside it at once.
class Overlap {
 public:
  /// Stays `ms` inside; returns how many calls were inside when it came in.
  int stay(int ms) {
    int now = ++inside_;
    int seen = most_.load();
    while (now > seen && !most_.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    --inside_;
    return now;
  }
  int most() const {
    return most_.load();
  }

 private:
  std::atomic<int> inside_{0};
  std::atomic<int> most_{0};
};

std::unique_ptr<Overlap> make_overlap() {
  return std::make_unique<Overlap>();
}

int fail_after(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  throw std::runtime_error("the awaited task failed on purpose");
}

/// An async actor: coroutine methods that wait without a thread, and a plain one.
class Waiter {
 public:
  actors::async<int> add_when_ready(actors::object_ref<int> ref) {
    ++inside_;
    most_ = std::max(most_, inside_);
    int v = co_await ref;
    --inside_;
    total_ += v;
    co_return total_;
  }
  actors::async<int> nap_and_count(int ms) {
    ++inside_;
    most_ = std::max(most_, inside_);
    co_await actors::sleep_for(std::chrono::milliseconds(ms));
    --inside_;
    co_return ++count_;
  }
  actors::async<int> sum_all(std::vector<actors::object_ref<int>> refs) {
    int sum = 0;
    for (int v : co_await actors::when_all(std::move(refs)))
      sum += v;
    co_return sum;
  }
  actors::async<void> nothing() {
    co_await actors::sleep_for(std::chrono::milliseconds(1));
  }
  /// Ends the actor after a co_await.
  actors::async<int> nap_and_quit() {
    co_await actors::sleep_for(std::chrono::milliseconds(5));
    actors::exit_actor();
    co_return total_;
  }
  int total() const {
    return total_;
  }
  int most() const {
    return most_;
  }

 private:
  // No locks: calls interleave only at co_await, on one thread at a time.
  int total_ = 0;
  int count_ = 0;
  int inside_ = 0;
  int most_ = 0;
};

/// Methods declared noexcept, plain and const.
class Quiet {
 public:
  int bump() noexcept {
    return ++n_;
  }
  int seen() const noexcept {
    return n_;
  }

 private:
  int n_ = 0;
};

Quiet make_quiet() {
  return {};
}

Waiter make_waiter() {
  return {};
}

ACTORS_REMOTE(make_counter, make_counter_ptr, make_broken, &Counter::add, &Counter::value,
              &Counter::fail, &Counter::restarted, &Counter::quit, add_through, spawn_from_task, hold_cpu, make_overlap,
              &Overlap::stay, &Overlap::most, fail_after, make_waiter, &Waiter::add_when_ready,
              &Waiter::nap_and_count, &Waiter::sum_all, &Waiter::nothing, &Waiter::total, &Waiter::most,
              make_quiet, &Quiet::bump, &Quiet::seen, &Waiter::nap_and_quit, task_namespace,
              child_task_namespace, &Counter::namespace_of_its_tasks);

class Actors : public actors::test::runtime_test {};

} // namespace

TEST_F(Actors, AThreadedActorRunsUpToMaxConcurrencyCallsAtOnce) {
  auto a = actors::actor(make_overlap).max_concurrency(4).remote();
  std::vector<actors::object_ref<int>> calls;
  for (int i = 0; i < 8; ++i)
    calls.push_back(a.task(&Overlap::stay).remote(200));
  actors::get(calls);
  // Four at once, each on a thread of the actor's own: more than this runtime's
  // two CPUs, and never more than max_concurrency.
  EXPECT_EQ(actors::get(a.task(&Overlap::most).remote()), 4);
}

TEST_F(Actors, AnActorRunsOneCallAtATimeByDefault) {
  auto a = actors::actor(make_overlap).remote();
  std::vector<actors::object_ref<int>> calls;
  for (int i = 0; i < 6; ++i)
    calls.push_back(a.task(&Overlap::stay).remote(20));
  for (int inside : actors::get(calls))
    EXPECT_EQ(inside, 1);
}

TEST_F(Actors, MaxConcurrencyBelowOneIsRefused) {
  try {
    actors::actor(make_overlap).max_concurrency(0);
    FAIL() << "max_concurrency(0) was taken";
  } catch (const actors::error& e) {
    EXPECT_EQ(e.code(), actors::errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("pass 1 or more"), std::string::npos) << e.what();
  }
}

TEST_F(Actors, AThreadedActorRestartsAndGoesWithItsLastHandle) {
  auto a = actors::actor(make_overlap).max_concurrency(3).max_restarts(1).remote();
  EXPECT_EQ(actors::get(a.task(&Overlap::stay).remote(1)), 1);
  actors::kill(a, false);
  std::vector<actors::object_ref<int>> calls;
  for (int i = 0; i < 3; ++i)
    calls.push_back(a.task(&Overlap::stay).remote(100));
  actors::get(calls);
  EXPECT_EQ(actors::get(a.task(&Overlap::most).remote()), 3) << "the rebuilt instance runs on the same threads";
  a = {};
}

TEST_F(Actors, ACoroutineMethodWaitsForARefWhileOtherCallsRun) {
  auto w = actors::actor(make_waiter).remote();
  auto slow = actors::task(hold_cpu).remote(300);
  auto first = w.task(&Waiter::add_when_ready).remote(slow);
  // The first call waits at co_await: the actor takes the next calls meanwhile.
  auto quick = w.task(&Waiter::add_when_ready).remote(actors::put(5));
  EXPECT_EQ(actors::get(quick, 5s), 5);
  EXPECT_EQ(actors::wait(std::vector<actors::object_ref<int>>{first}, 1, 0ms).ready.size(), 0u)
    << "the first call had to wait for its task";
  EXPECT_EQ(actors::get(first, 10s), 305);
  EXPECT_EQ(actors::get(w.task(&Waiter::total).remote()), 305);
}

TEST_F(Actors, AThousandSleepingCallsOfAnAsyncActorHoldNoThread) {
  auto w = actors::actor(make_waiter).remote();
  auto t0 = std::chrono::steady_clock::now();
  std::vector<actors::object_ref<int>> calls;
  for (int i = 0; i < 1000; ++i)
    calls.push_back(w.task(&Waiter::nap_and_count).remote(300));
  auto counts = actors::get(calls);
  auto took = std::chrono::steady_clock::now() - t0;
  std::sort(counts.begin(), counts.end());
  for (int i = 0; i < 1000; ++i)
    ASSERT_EQ(counts[static_cast<std::size_t>(i)], i + 1) << "a count was lost or repeated";
  EXPECT_EQ(actors::get(w.task(&Waiter::most).remote()), 1000) << "all were asleep at once";
  // One at a time, or a thread each on two CPUs, would take 300 s or 150 s.
  EXPECT_LT(took, 10s);
}

TEST_F(Actors, MaxConcurrencyCapsTheCallsAnAsyncActorInterleaves) {
  auto w = actors::actor(make_waiter).max_concurrency(3).remote();
  std::vector<actors::object_ref<int>> calls;
  for (int i = 0; i < 12; ++i)
    calls.push_back(w.task(&Waiter::nap_and_count).remote(20));
  actors::get(calls);
  EXPECT_EQ(actors::get(w.task(&Waiter::most).remote()), 3);
}

TEST_F(Actors, CoAwaitOfAFailedRefThrowsInTheCoroutine) {
  auto w = actors::actor(make_waiter).remote();
  auto bad = actors::task(fail_after).remote(10);
  try {
    actors::get(w.task(&Waiter::add_when_ready).remote(bad), 10s);
    FAIL() << "the call did not fail";
  } catch (const actors::task_error& e) {
    EXPECT_NE(std::string(e.what()).find("failed on purpose"), std::string::npos) << e.what();
  }
  EXPECT_EQ(actors::get(w.task(&Waiter::add_when_ready).remote(actors::put(2)), 5s), 2) << "the actor goes on";
}

TEST_F(Actors, WhenAllGivesEveryValueAndVoidCoroutinesEnd) {
  auto w = actors::actor(make_waiter).remote();
  std::vector<actors::object_ref<int>> refs;
  for (int i = 1; i <= 10; ++i)
    refs.push_back(actors::task(hold_cpu).remote(i));
  EXPECT_EQ(actors::get(w.task(&Waiter::sum_all).remote(refs), 10s), 55);
  EXPECT_NO_THROW(actors::get(w.task(&Waiter::nothing).remote(), 5s));
}

TEST_F(Actors, WhenAllHoldsNoThreadUntilTheLastRefIsReady) {
  auto w = actors::actor(make_waiter).remote();
  auto timer = actors::actor(make_waiter).remote();
  ASSERT_EQ(actors::get(w.task(&Waiter::total).remote()), 0);
  // Made by another async actor's sleeps: ready after 50 ms and 1500 ms, holding
  // no pool thread meanwhile.
  std::vector<actors::object_ref<int>> refs{timer.task(&Waiter::nap_and_count).remote(50),
                                            timer.task(&Waiter::nap_and_count).remote(1500)};
  auto sum = w.task(&Waiter::sum_all).remote(refs);
  // The first ref is ready by now; the call still waits for the second, without
  // the actor's thread: another call runs at once.
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(actors::get(w.task(&Waiter::add_when_ready).remote(actors::put(1)), 700ms), 1);
  EXPECT_EQ(actors::get(sum, 10s), 3);
}

TEST_F(Actors, KeepStateAcrossCalls) {
  auto c = actors::actor(make_counter).remote(10);
  EXPECT_EQ(actors::get(c.task(&Counter::add).remote(5)), 15);
  EXPECT_EQ(actors::get(c.task(&Counter::add).remote(5)), 20);
  EXPECT_EQ(actors::get(c.task(&Counter::value).remote()), 20);
}

TEST_F(Actors, CallsFromOneCallerRunInOrder) {
  auto c = actors::actor(make_counter).remote(0);
  std::vector<actors::object_ref<int>> refs;
  for (int i = 0; i < 2000; ++i)
    refs.push_back(c.task(&Counter::add).remote(1));
  auto values = actors::get(refs);
  for (int i = 0; i < 2000; ++i)
    ASSERT_EQ(values[i], i + 1);
}

TEST_F(Actors, CallsFromDifferentCallersInterleaveButKeepEachCallersOrder) {
  auto c = actors::actor(make_counter).remote(0);
  std::vector<std::vector<int>> seen(4);
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&, t] {
      std::vector<actors::object_ref<int>> refs;
      for (int i = 0; i < 500; ++i)
        refs.push_back(c.task(&Counter::add).remote(1));
      seen[t] = actors::get(refs);
    });
  for (auto& t : callers)
    t.join();
  for (const auto& s : seen)
    for (std::size_t i = 1; i < s.size(); ++i)
      ASSERT_LT(s[i - 1], s[i]);
  EXPECT_EQ(actors::get(c.task(&Counter::value).remote()), 2000);
}

TEST_F(Actors, UniquePtrFactoryWorks) {
  auto c = actors::actor(make_counter_ptr).remote(3);
  EXPECT_EQ(actors::get(c.task(&Counter::add).remote(4)), 7);
}

TEST_F(Actors, ExceptionInAMethodFailsThatCallOnly) {
  auto c = actors::actor(make_counter).remote(1);
  auto bad = c.task(&Counter::fail).remote(0);
  auto good = c.task(&Counter::add).remote(1);
  try {
    actors::get(bad);
    FAIL() << "expected task_error";
  } catch (const actors::task_error& e) {
    EXPECT_EQ(e.function(), "Counter::fail");
    EXPECT_EQ(e.original_message(), "method failed on purpose");
  }
  EXPECT_EQ(actors::get(good), 2);
}

TEST_F(Actors, ThrowingFactorySurfacesAtTheFirstCall) {
  auto c = actors::actor(make_broken).remote(0);
  try {
    actors::get(c.task(&Counter::value).remote());
    FAIL() << "expected actor_died_error";
  } catch (const actors::actor_died_error& e) {
    EXPECT_NE(std::string(e.what()).find("factory refuses"), std::string::npos) << e.what();
  }
}

TEST_F(Actors, NamedActorIsFoundByName) {
  auto c = actors::actor(make_counter).name("hits").remote(10);
  actors::get(c.task(&Counter::add).remote(5));
  auto found = actors::get_actor<Counter>("hits");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, c);
  EXPECT_EQ(actors::get(found->task(&Counter::value).remote()), 15);
}

TEST_F(Actors, GetActorOfAnUnknownNameIsEmpty) {
  EXPECT_FALSE(actors::get_actor<Counter>("nobody").has_value());
}

TEST_F(Actors, DuplicateNameIsRefused) {
  auto c = actors::actor(make_counter).name("once").remote(0);
  EXPECT_THROW(actors::actor(make_counter).name("once").remote(0), actors::error);
}

TEST_F(Actors, NamesAreUniquePerNamespaceAndFoundInTheCallersOne) {
  // A program given no namespace has an anonymous one of its own.
  EXPECT_EQ(actors::current_namespace().rfind("anonymous-", 0), 0u) << actors::current_namespace();
  auto mine = actors::actor(make_counter).name("dup").remote(1);
  auto in_a = actors::actor(make_counter).name("dup").in_namespace("team-a").remote(2);
  auto in_b = actors::actor(make_counter).name("dup").in_namespace("team-b").remote(3);
  EXPECT_THROW(actors::actor(make_counter).name("dup").in_namespace("team-a").remote(0), actors::error);
  auto found = actors::get_actor<Counter>("dup");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, mine);
  EXPECT_EQ(actors::get_actor<Counter>("dup", actors::current_namespace()), found);
  EXPECT_EQ(actors::get_actor<Counter>("dup", "team-a"), std::optional{in_a});
  EXPECT_EQ(actors::get(actors::get_actor<Counter>("dup", "team-b")->task(&Counter::value).remote()), 3);
  EXPECT_FALSE(actors::get_actor<Counter>("dup", "team-c").has_value());
  try {
    actors::actor(make_counter).name("x").in_namespace("a/b").remote(0);
    FAIL() << "a namespace with a '/' was taken";
  } catch (const actors::error& e) {
    EXPECT_NE(std::string(e.what()).find("'/'"), std::string::npos) << e.what();
  }
}

TEST_F(Actors, TasksWorkInTheirCallersNamespace) {
  const auto mine = actors::current_namespace();
  EXPECT_EQ(actors::get(actors::task(task_namespace).remote()), mine);
  EXPECT_EQ(actors::get(actors::task(child_task_namespace).remote()), mine) << "a task's task";
  auto in_a = actors::actor(make_counter).in_namespace("team-a").remote(0);
  EXPECT_EQ(actors::get(in_a.task(&Counter::namespace_of_its_tasks).remote()), "team-a") << "an actor's task";
}

TEST(Namespaces, AProgramsNamespaceIsItsOptionAndIsChecked) {
  actors::init_options o;
  o.num_cpus = 1;
  o.ns = "payments";
  actors::init(o);
  EXPECT_EQ(actors::current_namespace(), "payments");
  auto c = actors::actor(make_counter).name("ledger").remote(0);
  EXPECT_TRUE(actors::get_actor<Counter>("ledger", "payments").has_value());
  actors::shutdown();
  o.ns = "pay/ments";
  try {
    actors::init(o);
    actors::shutdown();
    FAIL() << "a namespace with a '/' was taken";
  } catch (const actors::error& e) {
    EXPECT_EQ(e.code(), actors::errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("pay/ments"), std::string::npos) << e.what();
  }
}

TEST_F(Actors, NamedActorOutlivesItsHandlesUntilKilled) {
  {
    auto c = actors::actor(make_counter).name("kept").remote(7);
    actors::get(c.task(&Counter::value).remote());
  }
  auto found = actors::get_actor<Counter>("kept");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(actors::get(found->task(&Counter::value).remote()), 7);
  actors::kill(*found);
  EXPECT_FALSE(actors::get_actor<Counter>("kept").has_value());
}

TEST_F(Actors, KilledActorFailsLaterCalls) {
  auto c = actors::actor(make_counter).remote(0);
  actors::get(c.task(&Counter::add).remote(1));
  actors::kill(c);
  EXPECT_THROW(actors::get(c.task(&Counter::add).remote(1)), actors::actor_died_error);
}

TEST_F(Actors, KillWithRestartBuildsAFreshInstance) {
  auto c = actors::actor(make_counter).max_restarts(1).remote(10);
  EXPECT_EQ(actors::get(c.task(&Counter::add).remote(5)), 15);
  EXPECT_FALSE(actors::get(c.task(&Counter::restarted).remote()));
  actors::kill(c, /*no_restart=*/false);
  EXPECT_EQ(actors::get(c.task(&Counter::value).remote()), 10);
  EXPECT_TRUE(actors::get(c.task(&Counter::restarted).remote()));
  actors::kill(c, /*no_restart=*/false); // no restarts left
  EXPECT_THROW(actors::get(c.task(&Counter::value).remote()), actors::actor_died_error);
}

TEST_F(Actors, DroppingTheLastHandleStopsAnUnnamedActor) {
  int before = counters_destroyed.load();
  {
    auto c = actors::actor(make_counter).remote(0);
    actors::get(c.task(&Counter::add).remote(1));
  }
  EXPECT_TRUE(actors::test::eventually([&] { return counters_destroyed.load() > before; }));
}

TEST_F(Actors, ADetachedActorOutlivesItsHandlesEvenUnnamed) {
  int before = counters_destroyed.load();
  {
    auto c = actors::actor(make_counter).lifetime(actors::detached).remote(0);
    actors::get(c.task(&Counter::add).remote(1));
  }
  // An unnamed one, dropped the same way, goes at once (the test above).
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(counters_destroyed.load(), before) << "a detached actor lives until killed or the cluster stops";
}

TEST_F(Actors, HandlesTravelIntoAndOutOfTasks) {
  auto c = actors::actor(make_counter).remote(100);
  EXPECT_EQ(actors::get(actors::task(add_through).remote(c, 1)), 101);
  auto made = actors::get(actors::task(spawn_from_task).remote(5));
  EXPECT_EQ(actors::get(made.task(&Counter::add).remote(1)), 6);
}

TEST_F(Actors, HandlesAreHashableAndComparable) {
  auto a = actors::actor(make_counter).remote(0);
  auto b = actors::actor(make_counter).remote(0);
  auto a2 = a;
  EXPECT_EQ(a, a2);
  EXPECT_FALSE(a == b);
  EXPECT_EQ(std::hash<actors::actor_handle<Counter>>{}(a), std::hash<actors::actor_handle<Counter>>{}(a2));
}

TEST_F(Actors, ThousandsOfIdleActorsFitOnTwoCpus) {
  std::vector<actors::actor_handle<Counter>> many;
  for (int i = 0; i < 3000; ++i)
    many.push_back(actors::actor(make_counter).remote(i));
  std::vector<actors::object_ref<int>> refs;
  for (auto& a : many)
    refs.push_back(a.task(&Counter::add).remote(1));
  auto values = actors::get(refs);
  for (int i = 0; i < 3000; ++i)
    ASSERT_EQ(values[i], i + 1);
}

TEST_F(Actors, NumCpusReservesForTheActorsLife) {
  auto c = actors::actor(make_counter).num_cpus(2).remote(0);
  actors::get(c.task(&Counter::value).remote());
  auto blocked = actors::task(hold_cpu).remote(1);
  EXPECT_THROW(actors::get(blocked, 100ms), actors::timeout_error);
  actors::kill(c);
  EXPECT_EQ(actors::get(blocked, 10s), 1);
}

TEST_F(Actors, ActorNeedingAMissingResourceStaysPending) {
  auto c = actors::actor(make_counter).resource("GPU", 1).remote(0);
  EXPECT_THROW(actors::get(c.task(&Counter::value).remote(), 100ms), actors::timeout_error);
}

TEST_F(Actors, ObjectRefArgumentsToMethodsAreResolvedInOrder) {
  auto c = actors::actor(make_counter).remote(0);
  auto slow = actors::task(hold_cpu).remote(50);
  auto first = c.task(&Counter::add).remote(slow); // waits for the task's 50
  auto second = c.task(&Counter::add).remote(1);   // queued behind it
  EXPECT_EQ(actors::get(first), 50);
  EXPECT_EQ(actors::get(second), 51);
}

TEST_F(Actors, NoexceptMethodsRegisterAndRun) {
  auto q = actors::actor(make_quiet).remote();
  EXPECT_EQ(actors::get(q.task(&Quiet::bump).remote()), 1);
  EXPECT_EQ(actors::get(q.task(&Quiet::bump).remote()), 2);
  EXPECT_EQ(actors::get(q.task(&Quiet::seen).remote()), 2);
}

TEST_F(Actors, AnEmptyNodeIdIsRefusedAsAnAffinity) {
  EXPECT_THROW(actors::actor(make_quiet).node(actors::node_id{}), actors::error);
}

TEST_F(Actors, ExitActorEndsTheActorOnceTheCallReturnsWithoutARestart) {
  auto c = actors::actor(make_counter).name("leaving").max_restarts(3).remote(4);
  EXPECT_EQ(actors::get(c.task(&Counter::add).remote(1)), 5);
  auto last = c.task(&Counter::quit).remote();
  auto later = c.task(&Counter::value).remote();
  EXPECT_EQ(actors::get(last, 5s), 5) << "the call that ends the actor delivers its result";
  EXPECT_THROW(actors::get(later, 5s), actors::actor_died_error);
  try {
    actors::get(c.task(&Counter::value).remote(), 5s);
    FAIL() << "a call after exit_actor ran";
  } catch (const actors::actor_died_error& e) {
    EXPECT_NE(std::string(e.what()).find("exit_actor"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(actors::test::eventually([] { return !actors::get_actor<Counter>("leaving").has_value(); }))
    << "the name was not freed";
}

TEST_F(Actors, ExitActorInACoroutineMethodEndsTheAsyncActor) {
  auto w = actors::actor(make_waiter).max_restarts(2).remote();
  EXPECT_EQ(actors::get(w.task(&Waiter::nap_and_quit).remote(), 5s), 0);
  EXPECT_THROW(actors::get(w.task(&Waiter::total).remote(), 5s), actors::actor_died_error);
}

TEST_F(Actors, ExitActorOutsideAnActorMethodIsRefused) {
  try {
    actors::exit_actor();
    FAIL() << "exit_actor outside an actor method was taken";
  } catch (const actors::error& e) {
    EXPECT_EQ(e.code(), actors::errc::invalid_argument);
  }
}

TEST_F(Actors, GetIfExistsReturnsTheLiveActorOfThatName) {
  auto a = actors::actor(make_counter).name("shared").get_if_exists().remote(10);
  auto b = actors::actor(make_counter).name("shared").get_if_exists().remote(99);
  EXPECT_EQ(a, b);
  EXPECT_EQ(actors::get(a.task(&Counter::add).remote(1)), 11);
  EXPECT_EQ(actors::get(b.task(&Counter::value).remote()), 11) << "the second remote built another";
  try {
    actors::actor(make_quiet).name("shared").get_if_exists().remote();
    FAIL() << "an actor of another class was returned";
  } catch (const actors::error& e) {
    EXPECT_EQ(e.code(), actors::errc::type_mismatch) << e.what();
  }
  EXPECT_THROW(actors::actor(make_counter).get_if_exists().remote(1), actors::error) << "no name";
  // Once the holder is gone, the name is made anew.
  actors::kill(a);
  EXPECT_TRUE(actors::test::eventually([] { return !actors::get_actor<Counter>("shared").has_value(); }));
  auto c = actors::actor(make_counter).name("shared").get_if_exists().remote(7);
  EXPECT_EQ(actors::get(c.task(&Counter::value).remote()), 7);
}
