// A parameter search program built outside the tree against the installed
// libraries.
#include <actors/tune.hpp>

#include <iostream>

namespace tune = actors::tune;

int main() {
  auto configs = tune::sample({{"x", tune::uniform(0, 1)}, {"k", tune::grid({1, 2})}}, 2, 1);
  std::cout << configs.size() << " " << configs.front().get<int>("k") << "\n";
}
