// The node processes a program starts with --actors-local-nodes belong to it.
//
//   local_node_lifetime --actors-local-nodes=2 --actors-heartbeat-timeout=1000
//     freezes the node process (SIGSTOP) until the head declares it dead, lets it
//     go on (SIGCONT) and expects the same process to join again as a new node
//     that runs work.
//   local_node_lifetime --wait --actors-local-nodes=3
//     prints "node pids: P..." and sleeps 60 s, for a test that kills this
//     program and expects its node processes to end with it.

#include "tests/support/eventually.hpp"

#include <actors/actors.hpp>

#include <signal.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

namespace {

std::string where_am_i(int) {
  return actors::current_node_id().to_string();
}
ACTORS_REMOTE(where_am_i);

int fail(const std::string& why) {
  std::cout << "FAILED: " << why << std::endl;
  return 1;
}

} // namespace

int main(int argc, char** argv) {
  actors::init(argc, argv);
  const bool wait_mode = argc > 1 && std::strcmp(argv[1], "--wait") == 0;
  if (wait_mode) {
    std::cout << "node pids:";
    for (const auto& n : actors::nodes())
      if (!n.is_head && !n.is_driver)
        std::cout << " " << n.pid;
    std::cout << std::endl;
    std::this_thread::sleep_for(std::chrono::seconds(60));
    return 0;
  }

  actors::node_info frozen;
  for (const auto& n : actors::nodes())
    if (n.alive && !n.is_head && !n.is_driver)
      frozen = n;
  if (!frozen.id.value)
    return fail("no node process besides the head: run with --actors-local-nodes=2");
  ::kill(static_cast<pid_t>(frozen.pid), SIGSTOP);
  const bool declared_dead = actors::test::eventually([&] {
    for (const auto& n : actors::nodes())
      if (n.id == frozen.id)
        return !n.alive;
    return true;
  }, std::chrono::seconds(20));
  ::kill(static_cast<pid_t>(frozen.pid), SIGCONT);
  if (!declared_dead)
    return fail("node " + frozen.id.to_string() + " was not declared dead within 20 s while frozen");

  actors::node_id again;
  if (!actors::test::eventually([&] {
        for (const auto& n : actors::nodes())
          if (n.alive && n.pid == frozen.pid && n.id != frozen.id)
            again = n.id;
        return again.value != 0;
      }, std::chrono::seconds(20)))
    return fail("process " + std::to_string(frozen.pid) + " did not join again as a new node within 20 s");
  auto ran = actors::get(actors::task(where_am_i).node(again, false).remote(1), std::chrono::seconds(10));
  if (ran != again.to_string())
    return fail("the task for the new node ran on " + ran);
  std::cout << "the frozen node process joined again as a new node and runs work" << std::endl;
  actors::shutdown();
  return 0;
}
