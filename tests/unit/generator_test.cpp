// Generator tasks on the embedded runtime: functions returning
// actors::generator<T>, whose items the caller reads as an object_ref_stream<T>
// while the producer still runs.
#include "tests/support/runtime_fixture.hpp"

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

actors::generator<int> count_to(int n) {
  for (int i = 0; i < n; ++i)
    co_yield i;
}

std::atomic<bool> first_read{false};
std::atomic<bool> gated_done{false};

// Yields one item, then waits (holding no thread) until the test has read it.
actors::generator<std::string> gated() {
  co_yield std::string("first");
  while (!first_read.load())
    co_await actors::sleep_for(1ms);
  co_yield std::string("second");
  gated_done = true;
}

actors::generator<int> fails_after(int good) {
  for (int i = 0; i < good; ++i)
    co_yield i;
  throw std::runtime_error("the source broke after " + std::to_string(good) + " items");
}

std::atomic<int> produced{0};

actors::generator<int> counted(int n) {
  for (int i = 0; i < n; ++i) {
    co_yield i;
    ++produced;
  }
}

struct on_destroy {
  std::atomic<bool>* flag;
  ~on_destroy() {
    flag->store(true);
  }
};

std::atomic<bool> endless_stopped{false};
std::atomic<int> endless_made{0};

// Never ends by itself: only a cancel stops it.
actors::generator<int> endless(int pause_ms) {
  on_destroy guard{&endless_stopped};
  for (int i = 0;; ++i) {
    ++endless_made;
    co_yield i;
    if (pause_ms > 0)
      co_await actors::sleep_for(std::chrono::milliseconds(pause_ms));
  }
}

int twice(int v) {
  return 2 * v;
}

// Awaits a task per item.
actors::generator<int> doubled(int n) {
  for (int i = 0; i < n; ++i)
    co_yield co_await actors::task(twice).remote(i);
}

std::atomic<int> flaky_runs{0};

// Its first run breaks after three items; the run again yields all five.
actors::generator<int> flaky_stream() {
  const bool first = flaky_runs++ == 0;
  for (int i = 0; i < 5; ++i) {
    if (first && i == 3)
      throw std::runtime_error("transient failure in a generator");
    co_yield 10 * i;
  }
}

actors::generator<std::vector<double>> big_items(int n, int size) {
  for (int i = 0; i < n; ++i)
    co_yield std::vector<double>(static_cast<std::size_t>(size), double(i));
}

// A task that reads a stream of its own.
std::int64_t sum_of_stream(int n) {
  std::int64_t sum = 0;
  for (auto r : actors::task(count_to).remote(n))
    sum += actors::get(r);
  return sum;
}

std::atomic<bool> method_stopped{false};

// An actor with generator methods: an async actor, whose other calls run while a
// generator waits for room.
class Source {
 public:
  actors::generator<int> numbers(int n) {
    for (int i = 0; i < n; ++i) {
      ++made_;
      co_yield base_ + i;
    }
  }
  actors::generator<int> endless_items() {
    on_destroy guard{&method_stopped};
    for (;;) {
      ++made_;
      co_yield made_;
      co_await actors::sleep_for(1ms);
    }
  }
  int made() const {
    return made_;
  }

 private:
  int made_ = 0;
  int base_ = 100;
};

Source make_source() {
  return {};
}

ACTORS_REMOTE(count_to, gated, fails_after, counted, endless, twice, doubled, flaky_stream, big_items, sum_of_stream,
              make_source, &Source::numbers, &Source::endless_items, &Source::made);

class Generators : public actors::test::runtime_test {};

template <class T>
std::vector<T> read_all(actors::object_ref_stream<T>& s) {
  std::vector<T> out;
  for (auto r : s)
    out.push_back(actors::get(r));
  return out;
}

} // namespace

TEST_F(Generators, ItemsComeInOrderAsObjectsOfTheirOwn) {
  auto s = actors::task(count_to).remote(1000);
  static_assert(std::is_same_v<decltype(s), actors::object_ref_stream<int>>);
  std::vector<actors::object_ref<int>> refs;
  for (auto r : s)
    refs.push_back(r);
  ASSERT_EQ(refs.size(), 1000u);
  for (int i = 0; i < 1000; ++i)
    EXPECT_EQ(actors::get(refs[static_cast<std::size_t>(i)]), i);
  // Distinct objects, readable after the stream is gone.
  EXPECT_NE(refs[0].id(), refs[1].id());
  EXPECT_FALSE(s.next().has_value());
}

TEST_F(Generators, TheCallerSeesTheFirstItemBeforeTheProducerEnds) {
  first_read = false;
  gated_done = false;
  auto s = actors::task(gated).remote();
  auto first = s.next(10s);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(actors::get(*first), "first");
  EXPECT_FALSE(gated_done.load()) << "the producer ended before its first item was read";
  first_read = true;
  auto second = s.next(10s);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(actors::get(*second), "second");
  EXPECT_FALSE(s.next(10s).has_value());
  EXPECT_TRUE(gated_done.load());
}

TEST_F(Generators, AnExceptionSurfacesAtTheNextItemAndTheItemsBeforeItStayGood) {
  auto s = actors::task(fails_after).remote(3);
  std::vector<actors::object_ref<int>> good;
  for (int i = 0; i < 3; ++i) {
    auto r = s.next(10s);
    ASSERT_TRUE(r.has_value());
    good.push_back(*r);
  }
  try {
    s.next(10s);
    FAIL() << "the fourth item did not throw";
  } catch (const actors::task_error& e) {
    EXPECT_NE(std::string(e.what()).find("broke after 3 items"), std::string::npos) << e.what();
  }
  // Still the failure, not an end.
  EXPECT_THROW(s.next(10s), actors::task_error);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(actors::get(good[static_cast<std::size_t>(i)]), i);
}

TEST_F(Generators, MaxBufferedPausesTheProducerUntilItemsAreRead) {
  produced = 0;
  auto s = actors::task(counted).max_buffered(2).remote(100);
  // It makes two items and waits: a third is never made while both are unread.
  ASSERT_TRUE(actors::test::eventually([] { return produced.load() >= 1; }, 10s));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(produced.load(), 1) << "the producer went past max_buffered unread items";
  ASSERT_TRUE(s.next(10s).has_value());
  EXPECT_TRUE(actors::test::eventually([] { return produced.load() == 2; }, 10s)) << produced.load();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(produced.load(), 2);
  std::vector<int> rest;
  for (auto r : s)
    rest.push_back(actors::get(r));
  ASSERT_EQ(rest.size(), 99u);
  EXPECT_EQ(rest.front(), 1);
  EXPECT_EQ(rest.back(), 99);
  EXPECT_EQ(produced.load(), 100);
}

TEST_F(Generators, WithoutMaxBufferedTheProducerRunsAhead) {
  produced = 0;
  auto s = actors::task(counted).remote(100);
  EXPECT_TRUE(actors::test::eventually([] { return produced.load() == 100; }, 10s)) << produced.load();
  EXPECT_EQ(read_all(s).size(), 100u);
}

TEST_F(Generators, DroppingTheStreamStopsARunningProducer) {
  endless_stopped = false;
  endless_made = 0;
  {
    auto s = actors::task(endless).remote(1);
    ASSERT_TRUE(s.next(10s).has_value());
    ASSERT_TRUE(actors::test::eventually([] { return endless_made.load() > 5; }, 10s));
  }
  EXPECT_TRUE(actors::test::eventually([] { return endless_stopped.load(); }, 10s))
    << "the generator still runs after its stream was dropped";
  const int made = endless_made.load();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(endless_made.load(), made);
}

TEST_F(Generators, DroppingTheStreamStopsAProducerWaitingForRoom) {
  endless_stopped = false;
  endless_made = 0;
  {
    auto s = actors::task(endless).max_buffered(3).remote(0);
    ASSERT_TRUE(actors::test::eventually([] { return endless_made.load() == 3; }, 10s));
  }
  EXPECT_TRUE(actors::test::eventually([] { return endless_stopped.load(); }, 10s))
    << "the generator waiting for room was not stopped";
  EXPECT_EQ(endless_made.load(), 3);
}

TEST_F(Generators, NextWithATimeoutThrowsWhenNoItemComes) {
  first_read = false;
  auto s = actors::task(gated).remote();
  ASSERT_TRUE(s.next(10s).has_value());
  EXPECT_THROW(s.next(50ms), actors::timeout_error);
  first_read = true;
  EXPECT_TRUE(s.next(10s).has_value());
  EXPECT_FALSE(s.next(10s).has_value());
  // An empty stream has nothing, and says so at once.
  actors::object_ref_stream<int> none;
  EXPECT_FALSE(none.next().has_value());
  EXPECT_EQ(none.begin(), none.end());
}

TEST_F(Generators, AGeneratorAwaitsRefsBetweenItems) {
  auto s = actors::task(doubled).remote(20);
  auto items = read_all(s);
  ASSERT_EQ(items.size(), 20u);
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(items[static_cast<std::size_t>(i)], 2 * i);
}

TEST_F(Generators, ARunAgainAfterAnExceptionSkipsTheItemsAlreadyReceived) {
  flaky_runs = 0;
  auto s = actors::task(flaky_stream).retry_exceptions(true).max_retries(1).remote();
  EXPECT_EQ(read_all(s), (std::vector<int>{0, 10, 20, 30, 40}));
  EXPECT_EQ(flaky_runs.load(), 2);
}

TEST_F(Generators, LargeItemsAndATaskReadingAStreamOfItsOwn) {
  auto s = actors::task(big_items).remote(4, 1 << 18);
  int i = 0;
  for (auto r : s) {
    auto v = actors::get(r);
    ASSERT_EQ(v.size(), std::size_t{1} << 18);
    EXPECT_EQ(v.front(), double(i));
    ++i;
  }
  EXPECT_EQ(i, 4);
  EXPECT_EQ(actors::get(actors::task(sum_of_stream).remote(100), 10s), 4950);
}

TEST_F(Generators, AnActorsGeneratorMethodStreamsAndItsOtherCallsRunWhileItWaits) {
  auto source = actors::actor(make_source).remote();
  auto s = source.task(&Source::numbers).max_buffered(2).remote(10);
  static_assert(std::is_same_v<decltype(s), actors::object_ref_stream<int>>);
  // Two made, then it waits for room: another call of the actor runs meanwhile.
  ASSERT_TRUE(actors::test::eventually([&] { return actors::get(source.task(&Source::made).remote(), 10s) == 2; }, 10s));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(actors::get(source.task(&Source::made).remote(), 10s), 2);
  std::vector<int> items = read_all(s);
  ASSERT_EQ(items.size(), 10u);
  EXPECT_EQ(items.front(), 100);
  EXPECT_EQ(items.back(), 109);
  EXPECT_EQ(actors::get(source.task(&Source::made).remote(), 10s), 10);
}

TEST_F(Generators, DroppingAMethodsStreamStopsTheGenerator) {
  method_stopped = false;
  auto source = actors::actor(make_source).remote();
  {
    auto s = source.task(&Source::endless_items).remote();
    ASSERT_TRUE(s.next(10s).has_value());
  }
  EXPECT_TRUE(actors::test::eventually([] { return method_stopped.load(); }, 10s))
    << "the generator method still runs after its stream was dropped";
  const int made = actors::get(source.task(&Source::made).remote(), 10s);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(actors::get(source.task(&Source::made).remote(), 10s), made);
  // Paused at max_buffered: stopped too.
  method_stopped = false;
  {
    auto s = source.task(&Source::endless_items).max_buffered(1).remote();
    ASSERT_TRUE(actors::test::eventually([&] { return actors::get(source.task(&Source::made).remote(), 10s) == made + 1; }, 10s));
  }
  EXPECT_TRUE(actors::test::eventually([] { return method_stopped.load(); }, 10s));
}

TEST_F(Generators, CancellingAStreamStopsItsProducerAndItsReadersHearIt) {
  endless_stopped = false;
  endless_made = 0;
  auto s = actors::task(endless).remote(1);
  auto copy = s;
  ASSERT_TRUE(s.next(10s).has_value());
  actors::cancel(s);
  EXPECT_TRUE(actors::test::eventually([] { return endless_stopped.load(); }, 10s))
    << "the generator still runs after its stream was cancelled";
  EXPECT_THROW(copy.next(1s), actors::task_cancelled_error);
  EXPECT_THROW(s.next(), actors::task_cancelled_error);
}
