#pragma once

// The spin of a get or wait before it sleeps. Waking a sleeping thread costs a
// futex wake-up and, where the other processors are idle, the wake-up of one of
// them; in a virtual machine that took 40-60 us, as long as a round trip to
// another process over loopback (docs/performance.md). So a wait that is likely
// to end soon spins first:
//  - in an embedded node for 20 us, by which time a small task is done;
//  - in a cluster for up to a round trip to another process (150 us), but only
//    on a thread whose last wait ended within 300 us, so that a thread that
//    waits for long tasks does not spend 150 us of processor time on each;
//  - never with one processor, where spinning only delays the thread that
//    brings the result.

#include "runtime/scheduler/worker_pool.hpp"

#include <chrono>
#include <thread>

namespace actors::runtime {

class short_wait {
 public:
  static constexpr std::chrono::microseconds embedded_spin{20};
  static constexpr std::chrono::microseconds cluster_spin{150};
  /// A wait that ended within this is short: the thread's next wait spins.
  static constexpr std::chrono::microseconds short_enough{300};

  /// A wait starting now, in an embedded node or a node of a cluster, on a
  /// machine with `processors` processors.
  explicit short_wait(bool in_cluster, unsigned processors = processors_here())
    : started_(std::chrono::steady_clock::now()) {
    if (processors > 1)
      budget_ = !in_cluster ? embedded_spin : last_wait_short ? cluster_spin : std::chrono::microseconds(0);
  }
  /// Records whether this wait, from construction to here, was short.
  ~short_wait() {
    last_wait_short = std::chrono::steady_clock::now() - started_ <= short_enough;
  }
  short_wait(const short_wait&) = delete;
  short_wait& operator=(const short_wait&) = delete;

  /// std::thread::hardware_concurrency(), read once: it reads a file of /sys on
  /// each call, which took longer than a whole wait in an embedded node.
  static unsigned processors_here() noexcept {
    static const unsigned n = std::thread::hardware_concurrency();
    return n;
  }

  /// How long spin() may spin, from construction.
  std::chrono::microseconds budget() const noexcept {
    return budget_;
  }

  /// Spins until `done()` or the budget since construction is spent; returns
  /// done().
  template <class Done>
  bool spin(Done done) const {
    const auto until = started_ + budget_;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= until)
        return false;
      pause();
    }
    return true;
  }

 private:
  static inline thread_local bool last_wait_short = true;
  const std::chrono::steady_clock::time_point started_;
  std::chrono::microseconds budget_{0};
};

} // namespace actors::runtime
