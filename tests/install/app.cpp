// A user's program built outside the source tree against the installed headers,
// library and pkg-config file.
#include <actors/actors.hpp>

#include <iostream>
#include <vector>

int square(int x) {
  return x * x;
}

ACTORS_REMOTE(square);

int main(int argc, char** argv) {
  actors::init(argc, argv);
  std::vector<actors::object_ref<int>> refs;
  for (int x : {1, 2, 3, 4, 5})
    refs.push_back(actors::task(square).remote(x));
  for (int v : actors::get(refs))
    std::cout << v << ' ';
  std::cout << '\n';
  actors::shutdown();
}
