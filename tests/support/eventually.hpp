#pragma once

// Polling with a time limit, without GoogleTest: for test programs that check
// their own results (tests/cluster/*.cpp run through expect_output.sh) as well
// as for the gtest suites (runtime_fixture.hpp includes it).

#include <chrono>
#include <functional>
#include <thread>

namespace actors::test {

/// Polls `done` until it holds or `limit` passes; returns whether it held.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return done();
}

} // namespace actors::test
