// Must not compile: a lambda passed to actors::task().
#include <actors/actors.hpp>

int main() {
  auto r = actors::task([](int x) { return x + 1; });
  (void)r;
}
