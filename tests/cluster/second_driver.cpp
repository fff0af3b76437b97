// A second driver program: joins the cluster given by --actors-address and
// ACTORS_TOKEN, finds the named actor given as its argument and prints its value.
// With --park instead of a name, it waits for a task that needs a resource no
// node has, and prints how that wait ended. With --leave FILE, it makes a
// placement group, an unnamed actor and two named ones (one detached), says
// "made", and ends once FILE exists, leaving them all behind. With
// --detached-group NAME, it makes a detached placement group of that name with one
// 1-CPU bundle, says "made" and its id once it is reserved, and ends.
#include "tests/cluster/job.hpp"

#include <actors/actors.hpp>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  // Call into the job library, so that the linker keeps it (and with it the
  // library's ACTORS_REMOTE registrations) even under --as-needed.
  if (job::square(3) != 9)
    return 3;
  actors::init(argc, argv);
  if (argc < 2) {
    std::cerr << "usage: second_driver NAME --actors-address=HOST:PORT\n";
    return 2;
  }
  if (std::string(argv[1]) == "--park") {
    auto parked = actors::task(job::square).resource("NOWHERE", 1).remote(std::int64_t{2});
    std::cout << "parked" << std::endl;
    try {
      actors::get(parked);
    } catch (const actors::error& e) {
      std::cout << "failed: " << e.what() << std::endl;
      actors::shutdown();
      return 4;
    }
    return 0;
  }
  if (std::string(argv[1]) == "--detached-group" && argc > 2) {
    actors::placement_group_options opts;
    opts.name = argv[2];
    opts.lifetime = actors::detached;
    actors::placement_group pg({{{"CPU", 1}}}, actors::pack, opts);
    if (!pg.wait(std::chrono::seconds(20))) {
      std::cout << "the placement group was not reserved in 20 s" << std::endl;
      return 5;
    }
    std::cout << "made " << pg.id() << std::endl;
    return 0;
  }
  if (std::string(argv[1]) == "--leave") {
    // Makes a placement group and an unnamed actor, then ends without removing
    // or killing either: both go with this driver.
    actors::placement_group pg({{{"CPU", 1}}, {{"CPU", 1}}}, actors::spread);
    if (!pg.wait(std::chrono::seconds(20))) {
      std::cout << "the placement group was not reserved in 20 s" << std::endl;
      return 5;
    }
    auto kept = actors::actor(job::make_counter).num_cpus(1).remote(std::int64_t{1});
    actors::get(kept.task(&job::Counter::value).remote());
    auto named = actors::actor(job::make_counter).name("goes-with-its-driver").remote(std::int64_t{2});
    auto detached =
      actors::actor(job::make_counter).name("outlives-its-driver").lifetime(actors::detached).remote(std::int64_t{3});
    actors::get(named.task(&job::Counter::value).remote());
    actors::get(detached.task(&job::Counter::value).remote());
    std::cout << "made " << pg.id() << std::endl;
    // Until the test has seen the CPUs taken: it makes the file named next.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (argc > 2 && !std::ifstream(argv[2]) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return 0;
  }
  auto counter = actors::get_actor<job::Counter>(argv[1]);
  if (!counter) {
    std::cout << "not found\n";
    actors::shutdown();
    return 1;
  }
  std::cout << "value " << actors::get(counter->task(&job::Counter::add).remote(1)) << "\n";
  actors::shutdown();
  return 0;
}
