#include "tests/cluster/tune_job.hpp"

#include <actors/actors.hpp>

#include <chrono>
#include <thread>
#include <unistd.h>

namespace tunejob {

slow_trainer::slow_trainer(actors::tune::config c) : x_(c.get<double>("x")) {}

actors::tune::metrics slow_trainer::step() {
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  ++count_;
  return {{"loss", (x_ - 0.5) * (x_ - 0.5) + 1.0 / count_}, {"count", count_}, {"pid", ::getpid()}};
}

std::string slow_trainer::save() const {
  return std::to_string(count_);
}

void slow_trainer::restore(const std::string& checkpoint) {
  count_ = std::stoi(checkpoint);
}

slow_trainer make_slow_trainer(actors::tune::config c) {
  return slow_trainer(std::move(c));
}

ACTORS_REMOTE(make_slow_trainer, &slow_trainer::step, &slow_trainer::save, &slow_trainer::restore);

} // namespace tunejob
