// White-box tests of one node's actor host (runtime::actor_host), built by hand
// with its own object store, task log, worker pool and scheduler as a node builds
// them: the order calls run in, restarts and death, and the actor's resource
// reservation. Calls go through the registry's entries for a small actor class,
// as actor_handle::task(...).remote(...) makes them.

#include "tests/support/gate.hpp"
#include "tests/support/runtime_fixture.hpp"
#include "tests/support/temp_dir.hpp"

#include "runtime/actor_host/actor_host.hpp"
#include "runtime/object_store/object_store.hpp"
#include "runtime/scheduler/scheduler.hpp"
#include "runtime/scheduler/task_log.hpp"
#include "runtime/scheduler/worker_pool.hpp"

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <typeinfo>
#include <vector>

using namespace std::chrono_literals;

namespace fs = std::filesystem;

namespace {

using actors::test::temp_dir;
using actors::errc;
using actors::detail::actor_cell;
using actors::detail::actor_options;
using actors::detail::object_cell;
using actors::runtime::actor_host;
using actors::runtime::object_store;
using actors::runtime::resource_set;
using actors::runtime::scheduler;
using actors::runtime::task_log;
using actors::runtime::worker_pool;
using actors::test::eventually;
using actors::test::gate;

constexpr auto bound = 10s;
const actors::node_id this_node{0xac7042};

/// Where a test stops the actor's code, and what the factory has done.
struct hooks_t {
  std::atomic<int> constructions{0};
  /// The construction with this number (1 = the first) waits at factory_gate.
  std::atomic<int> held_construction{0};
  gate factory_entered;
  gate factory_gate;
  /// Recorder::hold waits at method_gate.
  gate method_entered;
  gate method_gate;
};

// Set by the fixture for the duration of a test.
hooks_t* hooks = nullptr;

/// The actor under test: remembers the arguments of its calls.
class Recorder {
 public:
  explicit Recorder(int first) : seen_{first} {}

  /// How many values the instance holds after this one.
  int append(int x) {
    seen_.push_back(x);
    return static_cast<int>(seen_.size());
  }

  std::vector<int> seen() const {
    return seen_;
  }

  bool restarted() const {
    return actors::runtime::current_context().actor_restarted;
  }

  /// Keeps the actor busy until the test lets it go, so that calls pile up.
  int hold() {
    hooks->method_entered.open();
    hooks->method_gate.wait();
    return 0;
  }

 private:
  std::vector<int> seen_;
};

Recorder make_recorder(int first) {
  int n = ++hooks->constructions;
  if (n == hooks->held_construction.load()) {
    hooks->factory_entered.open();
    hooks->factory_gate.wait();
  }
  return Recorder(first);
}

Recorder make_broken(int) {
  ++hooks->constructions;
  throw std::runtime_error("factory refuses");
}

ACTORS_REMOTE(make_recorder, make_broken, &Recorder::append, &Recorder::seen, &Recorder::restarted,
              &Recorder::hold);

template <class F>
const actors::detail::function_entry& factory(F* f) {
  return actors::detail::function_of(reinterpret_cast<const void*>(f), typeid(f).name());
}

template <class M>
const actors::detail::method_entry& method(M m) {
  return actors::detail::method_of(actors::detail::method_key(m), typeid(Recorder).name());
}

resource_set cpus(double n) {
  return resource_set::from(n, actors::detail::resource_list{});
}

actor_options reserving(double num_cpus, int max_restarts = 0) {
  actor_options o;
  o.num_cpus = num_cpus;
  o.max_restarts = max_restarts;
  return o;
}

/// One node's worth of runtime parts per test, torn down in the node's order
/// (scheduler, host, pool) after every handle and result the test kept is
/// released. Gates open first, so that no pool thread is left waiting when an
/// assertion ended the test early.
class ActorHost : public ::testing::Test {
 protected:
  void make(double total_cpus, std::size_t threads = 4, actor_host::name_freed on_named_death = {}) {
    pool_ = std::make_unique<worker_pool>(threads, false);
    sched_ = std::make_unique<scheduler>(cpus(total_cpus), *pool_);
    host_ = std::make_unique<actor_host>(this_node, store_, *sched_, *pool_, log_, std::move(on_named_death));
  }

  void SetUp() override {
    hooks = &hooks_;
  }

  void TearDown() override {
    hooks_.factory_gate.open();
    hooks_.method_gate.open();
    for (auto* c : results_)
      actors::detail::release(c);
    results_.clear();
    for (auto* a : actors_)
      actors::detail::release(a);
    actors_.clear();
    if (host_) {
      sched_->stop();
      host_->stop();
      pool_->stop();
    }
    host_.reset();
    sched_.reset();
    pool_.reset();
    hooks = nullptr;
  }

  actor_host& host() {
    return *host_;
  }
  scheduler& sched() {
    return *sched_;
  }

  /// A Recorder actor whose instance starts holding `first`; the test keeps the
  /// handle's reference until the end.
  actor_cell* spawn(int first, actor_options opts = {}, Recorder (*f)(int) = make_recorder) {
    auto* a = host().create(host().next_id(), factory(f), actors::detail::make_args<int>(first), std::move(opts));
    actors_.push_back(a);
    return a;
  }

  /// Drops the test's reference to an actor now (the last handle goes).
  void drop(actor_cell* a) {
    std::erase(actors_, a);
    actors::detail::release(a);
  }

  object_cell* keep(object_cell* c) {
    std::lock_guard<std::mutex> guard{results_mu_};
    results_.push_back(c);
    return c;
  }

  object_cell* append(actor_cell* a, int x) {
    return keep(host().call(a, method(&Recorder::append), actors::detail::make_args<int>(x)));
  }
  object_cell* seen(actor_cell* a) {
    return keep(host().call(a, method(&Recorder::seen), actors::detail::make_args<>()));
  }
  object_cell* restarted(actor_cell* a) {
    return keep(host().call(a, method(&Recorder::restarted), actors::detail::make_args<>()));
  }
  object_cell* hold(actor_cell* a) {
    return keep(host().call(a, method(&Recorder::hold), actors::detail::make_args<>()));
  }

  /// True if the cell settles (ready or failed) within the bound.
  static bool settles(object_cell* c) {
    auto done = std::make_shared<gate>();
    c->on_settled([done] { done->open(); });
    return done->wait(bound);
  }

  static std::string failure_text(object_cell* c) {
    std::lock_guard<std::mutex> guard{c->mu};
    return c->why ? c->why->message : std::string();
  }

  /// The value a call settled with; a failed or late call fails the test.
  template <class T>
  T value_of(object_cell* c) {
    if (!settles(c)) {
      ADD_FAILURE() << "object " << c->id.to_string() << " did not settle within " << bound.count() << " s";
      return T{};
    }
    if (c->current() != object_cell::state::ready) {
      ADD_FAILURE() << "object " << c->id.to_string() << " failed: " << failure_text(c);
      return T{};
    }
    return *static_cast<const T*>(store_.value(c, actors::detail::ops_of<T>()).get());
  }

  /// The failure code a call settled with (errc::none if it did not fail).
  errc failure_of(object_cell* c) {
    if (!settles(c)) {
      ADD_FAILURE() << "object " << c->id.to_string() << " did not settle within " << bound.count() << " s";
      return errc::none;
    }
    if (c->current() != object_cell::state::failed)
      return errc::none;
    std::lock_guard<std::mutex> guard{c->mu};
    return c->why->code;
  }

  hooks_t hooks_;
  temp_dir dir_;
  object_store store_{this_node, 64 << 20, dir_.path()};
  task_log log_;
  std::unique_ptr<worker_pool> pool_;
  std::unique_ptr<scheduler> sched_;
  std::unique_ptr<actor_host> host_;
  std::mutex results_mu_;
  std::vector<object_cell*> results_;
  std::vector<actor_cell*> actors_;
};

std::vector<int> counting(int first, int n) {
  std::vector<int> v{first};
  for (int i = 0; i < n; ++i)
    v.push_back(i);
  return v;
}

// -- order --------------------------------------------------------------------------------

TEST_F(ActorHost, CallsRunInTheOrderTheyWereMade) {
  make(2);
  auto* a = spawn(-1);
  auto* busy = hold(a);
  ASSERT_TRUE(hooks_.method_entered.wait());
  // The actor is stuck in hold: every call below is queued before any runs, and
  // more of them than one drain job takes at a time.
  constexpr int n = 500;
  std::vector<object_cell*> calls;
  for (int i = 0; i < n; ++i)
    calls.push_back(append(a, i));
  for (auto* c : calls)
    EXPECT_EQ(c->current(), object_cell::state::pending);
  hooks_.method_gate.open();
  EXPECT_EQ(value_of<int>(busy), 0);
  // Each call saw exactly the calls made before it.
  for (int i = 0; i < n; ++i)
    EXPECT_EQ(value_of<int>(calls[i]), i + 2) << "call " << i;
  EXPECT_EQ(value_of<std::vector<int>>(seen(a)), counting(-1, n));
}

TEST_F(ActorHost, CallsMadeBeforeTheInstanceExistsWaitForItInOrder) {
  make(2);
  hooks_.held_construction = 1;
  auto* a = spawn(-1);
  ASSERT_TRUE(hooks_.factory_entered.wait());
  std::vector<object_cell*> calls;
  for (int i = 0; i < 100; ++i)
    calls.push_back(append(a, i));
  EXPECT_EQ(host().stats().creating, 1u);
  EXPECT_EQ(calls.back()->current(), object_cell::state::pending);
  hooks_.factory_gate.open();
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(value_of<int>(calls[i]), i + 2) << "call " << i;
  EXPECT_EQ(value_of<std::vector<int>>(seen(a)), counting(-1, 100));
  EXPECT_EQ(host().stats().alive, 1u);
}

TEST_F(ActorHost, EachCallersCallsKeepTheirOrderAmongOtherCallers) {
  make(2);
  auto* a = spawn(-1);
  constexpr int callers = 4;
  constexpr int per_caller = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < callers; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < per_caller; ++i)
        append(a, t * 1'000'000 + i);
    });
  for (auto& t : threads)
    t.join();
  // Queued after every call above, so it sees all of them.
  auto all = value_of<std::vector<int>>(seen(a));
  ASSERT_EQ(all.size(), 1u + callers * per_caller);
  std::vector<int> next(callers, 0);
  for (std::size_t k = 1; k < all.size(); ++k) {
    int t = all[k] / 1'000'000;
    int i = all[k] % 1'000'000;
    ASSERT_GE(t, 0);
    ASSERT_LT(t, callers);
    EXPECT_EQ(i, next[t]) << "caller " << t << " out of order at position " << k;
    next[t] = i + 1;
  }
  for (int t = 0; t < callers; ++t)
    EXPECT_EQ(next[t], per_caller);
}

// -- restarts and death -------------------------------------------------------------------

TEST_F(ActorHost, RestartRebuildsTheInstanceFromItsFactory) {
  make(2);
  auto* a = spawn(7, reserving(0, /*max_restarts=*/1));
  append(a, 1);
  EXPECT_EQ(value_of<int>(append(a, 2)), 3);
  EXPECT_FALSE(value_of<bool>(restarted(a)));

  host().kill(a, /*no_restart=*/false);
  // The new instance starts from the factory's state, not the old one's.
  EXPECT_EQ(value_of<int>(append(a, 3)), 2);
  EXPECT_EQ(value_of<std::vector<int>>(seen(a)), (std::vector<int>{7, 3}));
  EXPECT_TRUE(value_of<bool>(restarted(a)));
  EXPECT_EQ(hooks_.constructions.load(), 2);
  auto s = host().stats();
  EXPECT_EQ(s.restarts_total, 1u);
  EXPECT_EQ(s.alive, 1u);
}

TEST_F(ActorHost, CallsQueuedAroundARestartReachTheNewInstance) {
  make(2);
  auto* a = spawn(7, reserving(0, /*max_restarts=*/1));
  auto* busy = hold(a);
  ASSERT_TRUE(hooks_.method_entered.wait());
  // Queued before the kill, while the old instance is busy.
  auto* before = append(a, 1);
  hooks_.held_construction = 2;
  host().kill(a, /*no_restart=*/false);
  ASSERT_TRUE(hooks_.factory_entered.wait());
  // Queued while the new instance is being built.
  auto* during = append(a, 2);
  auto rows = host().describe();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][3], "RESTARTING");
  EXPECT_EQ(rows[0][4], "1");

  // The call that was running when the kill came finishes on the old instance.
  hooks_.method_gate.open();
  EXPECT_EQ(value_of<int>(busy), 0);
  EXPECT_EQ(before->current(), object_cell::state::pending);
  hooks_.factory_gate.open();
  EXPECT_EQ(value_of<int>(before), 2);
  EXPECT_EQ(value_of<int>(during), 3);
  EXPECT_EQ(value_of<std::vector<int>>(seen(a)), (std::vector<int>{7, 1, 2}));
  EXPECT_TRUE(value_of<bool>(restarted(a)));
}

TEST_F(ActorHost, KillWithNoRestartsLeftFailsLaterCallsWithActorDied) {
  make(2);
  auto* a = spawn(0, reserving(0, /*max_restarts=*/1));
  EXPECT_EQ(value_of<int>(append(a, 1)), 2);
  host().kill(a, false);
  EXPECT_TRUE(value_of<bool>(restarted(a)));
  host().kill(a, false);
  auto* late = append(a, 2);
  EXPECT_EQ(failure_of(late), errc::actor_died);
  EXPECT_NE(failure_text(late).find("no restarts left"), std::string::npos) << failure_text(late);
  EXPECT_EQ(hooks_.constructions.load(), 2);
  auto s = host().stats();
  EXPECT_EQ(s.dead, 1u);
  EXPECT_EQ(s.alive, 0u);
  EXPECT_EQ(s.restarts_total, 1u);
}

TEST_F(ActorHost, KillWithNoRestartEndsTheActorWhateverRestartsAreLeft) {
  make(2);
  auto* a = spawn(0, reserving(0, /*max_restarts=*/3));
  EXPECT_EQ(value_of<int>(append(a, 1)), 2);
  host().kill(a, /*no_restart=*/true);
  auto* late = append(a, 2);
  EXPECT_EQ(failure_of(late), errc::actor_died);
  EXPECT_NE(failure_text(late).find("it was killed"), std::string::npos) << failure_text(late);
  EXPECT_EQ(hooks_.constructions.load(), 1);
  EXPECT_EQ(host().stats().restarts_total, 0u);
  // Killing the dead is harmless.
  host().kill(a, false);
  EXPECT_EQ(hooks_.constructions.load(), 1);
}

TEST_F(ActorHost, LiveCountFollowsCreationRestartsDeathsAndForgottenActors) {
  make(2);
  auto* killed = spawn(0, reserving(0, /*max_restarts=*/1));
  auto* restarted_one = spawn(0, reserving(0, /*max_restarts=*/1));
  auto* dropped = spawn(0);
  // Counted from its creation on, before the factory has run.
  EXPECT_EQ(host().live_count(), 3u);
  EXPECT_EQ(value_of<int>(append(killed, 1)), 2);
  host().kill(killed, /*no_restart=*/true);
  EXPECT_EQ(host().live_count(), 2u);
  host().kill(restarted_one, /*no_restart=*/false);
  EXPECT_EQ(host().live_count(), 2u) << "a restarting actor is not dead";
  EXPECT_TRUE(value_of<bool>(restarted(restarted_one)));
  drop(dropped);
  EXPECT_TRUE(eventually([&] { return host().live_count() == 1; })) << host().live_count();
  // Killing the dead again takes nothing off.
  host().kill(killed, true);
  host().kill(killed, false);
  auto* broken = spawn(0, reserving(0), make_broken);
  EXPECT_EQ(failure_of(append(broken, 1)), errc::actor_died);
  auto* fresh = spawn(0);
  EXPECT_EQ(value_of<int>(append(fresh, 1)), 2);
  EXPECT_EQ(host().live_count(), 2u);
  auto s = host().stats();
  EXPECT_EQ(host().live_count(), s.alive + s.creating);
}

TEST_F(ActorHost, KillingForGoodFailsTheCallsStillQueued) {
  make(2);
  auto* a = spawn(0);
  auto* busy = hold(a);
  ASSERT_TRUE(hooks_.method_entered.wait());
  std::vector<object_cell*> queued;
  for (int i = 0; i < 3; ++i)
    queued.push_back(append(a, i));
  host().kill(a, true);
  for (auto* c : queued)
    EXPECT_EQ(failure_of(c), errc::actor_died);
  hooks_.method_gate.open();
  EXPECT_EQ(value_of<int>(busy), 0);
}

TEST_F(ActorHost, FactoryThatThrowsLeavesADeadActor) {
  make(2);
  auto* a = spawn(0, reserving(1), make_broken);
  auto* c = append(a, 1);
  EXPECT_EQ(failure_of(c), errc::actor_died);
  EXPECT_NE(failure_text(c).find("factory refuses"), std::string::npos) << failure_text(c);
  // Its reservation was taken to run the factory and goes back with the death.
  EXPECT_TRUE(eventually([&] { return sched().stats().available.cpu == 2; }));
}

TEST_F(ActorHost, NamedActorOutlivesItsHandlesUntilKilled) {
  // Shared with the callback, which must stay valid whenever the host calls it.
  auto freed = std::make_shared<std::vector<std::string>>();
  make(2, 4, [freed](const actors::actor_id& id, const std::string& name) {
    freed->push_back(name + " " + id.to_string());
  });
  actor_options o;
  o.name = "recorder";
  auto* a = spawn(5, o);
  const auto id = a->id;
  EXPECT_EQ(value_of<int>(append(a, 1)), 2);
  drop(a);
  // The host holds a named actor: found again, with the same instance.
  auto* again = host().find(id);
  ASSERT_NE(again, nullptr);
  actors_.push_back(again);
  EXPECT_EQ(value_of<std::vector<int>>(seen(again)), (std::vector<int>{5, 1}));
  auto named = host().named_actors();
  ASSERT_EQ(named.size(), 1u);
  EXPECT_EQ(named[0].name, "recorder");
  EXPECT_EQ(named[0].id, id);

  host().kill(again, true);
  EXPECT_EQ(*freed, std::vector<std::string>{"recorder " + id.to_string()});
  EXPECT_TRUE(host().named_actors().empty());
}

// -- the reservation ----------------------------------------------------------------------

TEST_F(ActorHost, ActorHoldsItsReservationForLifeAndGivesItBackWhenKilled) {
  make(2);
  auto* a = spawn(0, reserving(1, /*max_restarts=*/1));
  EXPECT_EQ(value_of<int>(append(a, 1)), 2);
  auto s = sched().stats();
  // The creation returned but kept its CPU.
  EXPECT_DOUBLE_EQ(s.available.cpu, 1);
  EXPECT_EQ(s.pending, 0u);

  // A restart reuses the reservation: neither a second CPU nor none.
  host().kill(a, false);
  EXPECT_TRUE(value_of<bool>(restarted(a)));
  EXPECT_TRUE(eventually([&] { return sched().stats().running == 0; }));
  EXPECT_DOUBLE_EQ(sched().stats().available.cpu, 1);

  host().kill(a, true);
  EXPECT_DOUBLE_EQ(sched().stats().available.cpu, 2);
}

TEST_F(ActorHost, DroppingTheLastHandleGivesTheReservationBack) {
  make(2);
  auto* a = spawn(0, reserving(1));
  EXPECT_EQ(value_of<int>(append(a, 1)), 2);
  EXPECT_DOUBLE_EQ(sched().stats().available.cpu, 1);
  drop(a);
  // The call's own hold on the actor may go a moment after its result settled.
  EXPECT_TRUE(eventually([&] { return sched().stats().available.cpu == 2; }));
  auto s = host().stats();
  EXPECT_EQ(s.alive + s.creating + s.dead, 0u);
}

TEST_F(ActorHost, ActorWaitsForItsReservationAndItsCallsWaitWithIt) {
  make(1);
  auto* a = spawn(0, reserving(2));
  auto* c = append(a, 1);
  auto s = sched().stats();
  EXPECT_EQ(s.pending, 1u);
  EXPECT_EQ(s.infeasible, 1u);
  EXPECT_EQ(host().stats().creating, 1u);
  EXPECT_EQ(c->current(), object_cell::state::pending);
  EXPECT_EQ(hooks_.constructions.load(), 0);

  sched().add_total(cpus(1));
  EXPECT_EQ(value_of<int>(c), 2);
  EXPECT_DOUBLE_EQ(sched().stats().available.cpu, 0);
  host().kill(a, true);
  EXPECT_DOUBLE_EQ(sched().stats().available.cpu, 2);
}

// -- creations that are no longer wanted --------------------------------------------------
// A creation waiting in the scheduler when its actor is killed gives its demand
// back without running the factory, a restart does not queue a second creation
// while one is still waiting, and a creation whose factory was running when the
// actor restarted drops what it built.

// An actor killed while its creation still waits for resources must not take
// them when the creation finally gets its turn, nor run its factory.
TEST_F(ActorHost, ActorKilledBeforeItsCreationRanTakesNoReservation) {
  make(1);
  auto* first = spawn(0, reserving(1));
  EXPECT_EQ(value_of<int>(append(first, 1)), 2);
  auto* second = spawn(0, reserving(1));
  EXPECT_EQ(sched().stats().pending, 1u);
  host().kill(second, true);
  EXPECT_EQ(failure_of(append(second, 1)), errc::actor_died);

  // Frees the CPU the second creation waits for.
  host().kill(first, true);
  EXPECT_TRUE(eventually([&] {
    auto s = sched().stats();
    return s.pending == 0 && s.running == 0;
  }));
  EXPECT_DOUBLE_EQ(sched().stats().available.cpu, 1) << "a dead actor kept its reservation";
  EXPECT_EQ(hooks_.constructions.load(), 1) << "the factory ran for an actor already dead";
}

// A restart asked for before the first creation ran must not leave a second
// creation behind: it would hold a place in the queue while the actor lives, and
// once the actor dies it would build it again and keep its reservation for ever.
TEST_F(ActorHost, RestartBeforeTheFirstCreationRanBuildsTheActorOnce) {
  make(1);
  auto* first = spawn(0, reserving(1));
  EXPECT_EQ(value_of<int>(append(first, 1)), 2);
  auto* second = spawn(0, reserving(1, /*max_restarts=*/1));
  EXPECT_EQ(sched().stats().pending, 1u);
  host().kill(second, false);

  host().kill(first, true);
  EXPECT_EQ(value_of<int>(append(second, 1)), 2);
  EXPECT_EQ(sched().stats().pending, 0u) << "a second creation of a live actor still waits";

  host().kill(second, true);
  EXPECT_TRUE(eventually([&] {
    auto s = sched().stats();
    return s.pending == 0 && s.running == 0;
  }));
  EXPECT_DOUBLE_EQ(sched().stats().available.cpu, 1) << "a dead actor kept its reservation";
  EXPECT_EQ(hooks_.constructions.load(), 2) << "the factory ran again for an actor already dead";
}

// A restart asked for while the factory runs builds the actor again on the same
// reservation; the instance the interrupted factory returns is dropped, so no call
// reaches it.
TEST_F(ActorHost, RestartWhileTheFactoryRunsDropsWhatItBuilds) {
  make(2);
  hooks_.held_construction = 1;
  auto* a = spawn(7, reserving(1, /*max_restarts=*/1));
  ASSERT_TRUE(hooks_.factory_entered.wait());
  host().kill(a, false);
  EXPECT_EQ(value_of<int>(append(a, 1)), 2);
  hooks_.factory_gate.open();
  EXPECT_TRUE(eventually([&] { return sched().stats().running == 0; }));
  EXPECT_EQ(value_of<std::vector<int>>(seen(a)), (std::vector<int>{7, 1}));
  EXPECT_EQ(hooks_.constructions.load(), 2);
  EXPECT_DOUBLE_EQ(sched().stats().available.cpu, 1);
  host().kill(a, true);
  EXPECT_DOUBLE_EQ(sched().stats().available.cpu, 2);
}

} // namespace
