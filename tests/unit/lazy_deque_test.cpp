// lazy_deque: a FIFO queue that makes its deque on the first push.

#include "runtime/common/lazy_deque.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace {

using actors::runtime::lazy_deque;

TEST(LazyDeque, ANeverUsedQueueIsEmptyAndIteratesNothing) {
  lazy_deque<int> q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.size(), 0u);
  int seen = 0;
  for (int x : q)
    seen += x + 1;
  EXPECT_EQ(seen, 0);
}

TEST(LazyDeque, ElementsLeaveInTheOrderTheyCame) {
  lazy_deque<std::unique_ptr<int>> q;
  for (int i = 0; i < 1000; ++i)
    q.push_back(std::make_unique<int>(i));
  EXPECT_EQ(q.size(), 1000u);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_FALSE(q.empty());
    EXPECT_EQ(*q.front(), i);
    q.pop_front();
  }
  EXPECT_TRUE(q.empty());
}

TEST(LazyDeque, AMovedFromQueueClearedIsEmptyAndTheMovedOneKeepsTheElements) {
  lazy_deque<int> q;
  q.push_back(1);
  q.push_back(2);
  auto taken = std::move(q);
  q.clear();
  EXPECT_TRUE(q.empty());
  std::vector<int> got(taken.begin(), taken.end());
  EXPECT_EQ(got, (std::vector<int>{1, 2}));
  q.push_back(3);
  EXPECT_EQ(q.front(), 3);
}

} // namespace
