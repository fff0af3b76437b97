// A dataset program built outside the tree against the installed libraries.
#include <actors/actors.hpp>
#include <actors/dataset.hpp>

#include <iostream>

std::int64_t triple(const std::int64_t& x) {
  return 3 * x;
}
ACTORS_REMOTE(triple);

int main(int argc, char** argv) {
  actors::init(argc, argv);
  auto ds = actors::data::range(100, 4).map(triple);
  std::cout << ds.sum() << " " << ds.sort([](const std::int64_t& x) { return -x; }).take(1).front() << "\n";
  actors::shutdown();
}
