// Tests of serial_executor (runtime/common/serial_executor.hpp): work runs in
// the order posted on one thread that is not the poster's, a failing piece does
// not stop the rest, and stop() drops what has not started and refuses more.
// Every wait is bounded.

#include "runtime/common/serial_executor.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using actors::runtime::serial_executor;

/// A flag one thread sets and another waits for, at most `limit`.
struct latch {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  void release() {
    {
      std::lock_guard<std::mutex> guard{mu};
      open = true;
    }
    cv.notify_all();
  }
  bool wait(std::chrono::milliseconds limit = 10s) {
    std::unique_lock<std::mutex> lock{mu};
    return cv.wait_for(lock, limit, [&] { return open; });
  }
};

TEST(SerialExecutor, RunsWorkInTheOrderPostedOnOneThreadOfItsOwn) {
  serial_executor ex;
  std::mutex mu;
  std::vector<int> order;
  std::vector<std::thread::id> threads;
  latch done;
  for (int i = 0; i < 100; ++i)
    ASSERT_TRUE(ex.post([&, i] {
      std::lock_guard<std::mutex> guard{mu};
      order.push_back(i);
      threads.push_back(std::this_thread::get_id());
      if (i == 99)
        done.release();
    }));
  ASSERT_TRUE(done.wait()) << "the work did not run within 10 s";
  std::lock_guard<std::mutex> guard{mu};
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(order[static_cast<std::size_t>(i)], i);
  for (const auto& t : threads) {
    EXPECT_EQ(t, threads.front()) << "the work ran on more than one thread";
    EXPECT_NE(t, std::this_thread::get_id()) << "the work ran on the poster's thread";
  }
}

TEST(SerialExecutor, AFailingPieceDoesNotStopTheRest) {
  serial_executor ex;
  latch done;
  ASSERT_TRUE(ex.post([] { throw std::runtime_error("this piece fails"); }));
  ASSERT_TRUE(ex.post([&] { done.release(); }));
  EXPECT_TRUE(done.wait()) << "the piece after a failing one did not run";
}

TEST(SerialExecutor, StopWaitsForThePieceRunningDropsTheRestAndRefusesMore) {
  serial_executor ex;
  latch started, go;
  std::atomic<bool> first_finished{false};
  std::atomic<int> later_ran{0};
  auto counted = std::make_shared<int>(0);
  ASSERT_TRUE(ex.post([&] {
    started.release();
    go.wait();
    first_finished = true;
  }));
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(ex.post([&, counted] { ++later_ran; }));
  ASSERT_TRUE(started.wait());
  EXPECT_EQ(counted.use_count(), 6) << "the queued pieces should hold what they captured";
  std::thread stopper([&] { ex.stop(); });
  std::this_thread::sleep_for(50ms);
  go.release();
  stopper.join();
  EXPECT_TRUE(first_finished) << "stop returned before the running piece finished";
  EXPECT_EQ(later_ran, 0) << "pieces queued before stop ran after it";
  EXPECT_EQ(counted.use_count(), 1) << "the dropped pieces were not destroyed";
  EXPECT_FALSE(ex.post([&] { ++later_ran; })) << "a post after stop was taken";
  ex.stop(); // idempotent
  EXPECT_EQ(later_ran, 0);
}

TEST(SerialExecutor, StopWithNothingPostedReturnsAtOnce) {
  serial_executor ex;
  auto t0 = std::chrono::steady_clock::now();
  ex.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

} // namespace
