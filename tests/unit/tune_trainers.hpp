#pragma once

// The trainer of the tune tests, shared by the test and the driver program it
// starts (tune_driver.cpp). Include it in one file per program: it registers.

#include <actors/actors.hpp>
#include <actors/tune.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

namespace tune = actors::tune;

/// loss = (x - 0.5)^2 + 1/steps; throws at step `fail_at` when that is set, and
/// sleeps `sleep_ms` per step when that is.
class Quadratic {
 public:
  explicit Quadratic(tune::config c)
    : x_(c.get<double>("x")), fail_at_(c.contains("fail_at") ? c.get<int>("fail_at") : 0),
      sleep_ms_(c.contains("sleep_ms") ? c.get<int>("sleep_ms") : 0) {}
  tune::metrics step() {
    if (sleep_ms_ > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms_));
    ++count_;
    if (fail_at_ != 0 && count_ == fail_at_)
      throw std::runtime_error("diverged at step " + std::to_string(count_));
    return {{"loss", (x_ - 0.5) * (x_ - 0.5) + 1.0 / count_}, {"count", count_}};
  }
  std::string save() const {
    return std::to_string(count_);
  }
  void restore(const std::string& checkpoint) {
    count_ = std::stoi(checkpoint);
  }

 private:
  double x_;
  int fail_at_;
  int sleep_ms_;
  int count_ = 0;
};
Quadratic make_quadratic(tune::config c) {
  return Quadratic(std::move(c));
}

ACTORS_REMOTE(make_quadratic, &Quadratic::step, &Quadratic::save, &Quadratic::restore);

/// The run the driver program makes and the test resumes: six slow trials of six
/// steps, two at a time, checkpointed every step.
inline auto slow_run(const std::string& storage) {
  return tune::tuner(make_quadratic, &Quadratic::step)
    .checkpoint(&Quadratic::save, &Quadratic::restore)
    .space({{"x", tune::uniform(0, 1)}, {"sleep_ms", tune::choice({60})}})
    .metric("loss", tune::min)
    .num_samples(6)
    .max_steps(6)
    .seed(5)
    .max_concurrent(2)
    .storage(storage);
}
