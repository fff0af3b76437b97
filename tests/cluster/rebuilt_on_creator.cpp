// An actor whose node dies is rebuilt on the node that created it when that is
// the best place. Run as its own head with one node process
// (--actors-local-nodes=2): the actor is made on the node process, which is then
// killed, leaving the head, its creator, as the only node that can host it.

#include "tests/support/eventually.hpp"

#include <actors/actors.hpp>

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>

namespace {

class Counter {
 public:
  explicit Counter(std::int64_t start) : n_(start) {}
  std::int64_t add(std::int64_t d) {
    return n_ += d;
  }
  std::string node() const {
    return actors::current_node_id().to_string();
  }

 private:
  std::int64_t n_;
};

Counter make_counter(std::int64_t start) {
  return Counter(start);
}

ACTORS_REMOTE(make_counter, &Counter::add, &Counter::node);

int fail(const std::string& why) {
  std::cout << "FAILED: " << why << std::endl;
  return 1;
}

} // namespace

int main(int argc, char** argv) {
  actors::init(argc, argv);
  actors::node_info victim;
  for (const auto& n : actors::nodes())
    if (n.alive && !n.is_head && !n.is_driver)
      victim = n;
  if (!victim.id.value)
    return fail("no node process besides the head: run with --actors-local-nodes=2");
  const auto head = actors::current_node_id();

  auto counter = actors::actor(make_counter).node(victim.id, false).max_restarts(2).remote(std::int64_t{10});
  if (auto v = actors::get(counter.task(&Counter::add).remote(std::int64_t{5}), std::chrono::seconds(10)); v != 15)
    return fail("the first call gave " + std::to_string(v));
  if (actors::get(counter.task(&Counter::node).remote(), std::chrono::seconds(10)) != victim.id.to_string())
    return fail("the actor was not made on node " + victim.id.to_string());

  ::kill(static_cast<pid_t>(victim.pid), SIGKILL);
  // A call in flight when the node dies fails (max_task_retries is 0); calls made
  // once the death is known wait for the rebuild.
  if (!actors::test::eventually([&] {
        for (const auto& n : actors::nodes())
          if (n.id == victim.id)
            return !n.alive;
        return true;
      }, std::chrono::seconds(20)))
    return fail("node " + victim.id.to_string() + " was not taken for dead within 20 s");
  // Rebuilt from its factory: the state starts again at 10.
  std::int64_t after = 0;
  std::string where;
  try {
    after = actors::get(counter.task(&Counter::add).remote(std::int64_t{1}), std::chrono::seconds(30));
    where = actors::get(counter.task(&Counter::node).remote(), std::chrono::seconds(10));
  } catch (const std::exception& e) {
    return fail(std::string("the actor was not rebuilt: ") + e.what());
  }
  if (after != 11)
    return fail("the rebuilt actor gave " + std::to_string(after));
  if (where != head.to_string())
    return fail("the actor was rebuilt on node " + where + ", not on its creator " + head.to_string());
  std::cout << "rebuilt on its creator after its node died: " << after << std::endl;
  actors::kill(counter);
  actors::shutdown();
  return 0;
}
