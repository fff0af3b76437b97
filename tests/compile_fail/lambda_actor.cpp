// Must not compile: a lambda passed to actors::actor() as a factory.
#include <actors/actors.hpp>

struct Thing {};

int main() {
  auto h = actors::actor([] { return Thing{}; });
  (void)h;
}
