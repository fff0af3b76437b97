#pragma once

#include "tests/support/eventually.hpp"

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

namespace actors::test {

/// True in a build with AddressSanitizer or ThreadSanitizer (GCC defines the
/// first two macros, clang answers __has_feature). Such a build runs several
/// times slower, its resident memory holds the sanitizer's shadow and
/// quarantine, and its operator new replaces the runtime's.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif
#else
inline constexpr bool sanitized = false;
#endif

/// A time limit of a test, stretched four times in a sanitizer build: what the
/// limit checks is that the work ends, and the normal build keeps the figure.
template <class Rep, class Period>
constexpr std::chrono::duration<Rep, Period> scaled(std::chrono::duration<Rep, Period> limit) {
  return sanitized ? limit * 4 : limit;
}

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

} // namespace actors::test
