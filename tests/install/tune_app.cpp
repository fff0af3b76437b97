// A parameter search built outside the tree against the installed libraries.
#include <actors/actors.hpp>
#include <actors/tune.hpp>

#include <iostream>

namespace tune = actors::tune;

class Quadratic {
 public:
  explicit Quadratic(tune::config c) : x_(c.get<double>("x")) {}
  tune::metrics step() {
    return {{"loss", (x_ - 0.5) * (x_ - 0.5)}};
  }

 private:
  double x_;
};
Quadratic make_quadratic(tune::config c) {
  return Quadratic(std::move(c));
}
ACTORS_REMOTE(make_quadratic, &Quadratic::step);

int main(int argc, char** argv) {
  actors::init(argc, argv);
  auto r = tune::tuner(make_quadratic, &Quadratic::step)
             .space({{"x", tune::uniform(0, 1)}})
             .metric("loss", tune::min)
             .num_samples(4)
             .max_steps(3)
             .run();
  std::cout << r.trials().size() << " " << r.best().steps << "\n";
  actors::shutdown();
}
