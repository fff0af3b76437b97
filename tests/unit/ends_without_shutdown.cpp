// A program that starts the runtime, uses it, and ends without calling
// actors::shutdown(): by returning from main, or with --by-exit through
// std::exit. The runtime must stop at exit by itself and the program exit with
// code 0. Run alone (embedded) and with --actors-local-nodes=N (a driver with
// node processes of its own).

#include <actors/actors.hpp>

#include <cstdlib>
#include <cstring>
#include <iostream>

namespace {

int square(int x) {
  return x * x;
}

class Tally {
 public:
  int add(int d) {
    return n_ += d;
  }

 private:
  int n_ = 0;
};

Tally make_tally() {
  return {};
}
ACTORS_REMOTE(square, make_tally, &Tally::add);

} // namespace

int main(int argc, char** argv) {
  actors::init(argc, argv);
  bool by_exit = false;
  for (int i = 1; i < argc; ++i)
    by_exit = by_exit || std::strcmp(argv[i], "--by-exit") == 0;
  auto tally = actors::actor(make_tally).remote();
  int sum = 0;
  for (int i = 1; i <= 5; ++i)
    sum = actors::get(tally.task(&Tally::add).remote(actors::get(actors::task(square).remote(i))));
  // std::endl flushes: the line is out even if the exit went wrong.
  std::cout << "sum of squares of 1..5: " << sum << std::endl;
  if (sum != 55)
    return 1;
  if (by_exit)
    std::exit(0);
  return 0;
}
