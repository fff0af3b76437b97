#pragma once

// The trainer of the tune cluster test. It lives in the library every node
// loads, so the nodes can build it.

#include <actors/tune.hpp>

#include <string>

namespace tunejob {

/// loss = (x - 0.5)^2 + 1/steps after a short sleep; also reports its step
/// count ("count") and the pid of the process it runs in ("pid").
class slow_trainer {
 public:
  explicit slow_trainer(actors::tune::config c);
  actors::tune::metrics step();
  std::string save() const;
  void restore(const std::string& checkpoint);

 private:
  double x_;
  int count_ = 0;
};

slow_trainer make_slow_trainer(actors::tune::config c);

} // namespace tunejob
