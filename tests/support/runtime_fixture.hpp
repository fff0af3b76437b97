#pragma once

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

namespace actors::test {

/// Starts an embedded runtime for each test and stops it afterwards.
class runtime_test : public ::testing::Test {
 protected:
  /// Override to change the node's options.
  virtual init_options options() const {
    init_options o;
    o.num_cpus = 2;
    return o;
  }

  void SetUp() override {
    init(options());
  }

  void TearDown() override {
    shutdown();
  }
};

/// As runtime_test, on a node of one CPU: work that holds it makes others wait.
class one_cpu_runtime_test : public runtime_test {
 protected:
  init_options options() const override {
    init_options o;
    o.num_cpus = 1;
    return o;
  }
};

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
