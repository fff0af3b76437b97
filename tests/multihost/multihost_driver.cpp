// The driver of the multi-host tests: joins the cluster given by --actors-address
// and ACTORS_TOKEN, runs one job and prints what it saw, one fact per line. Exits
// 0 when every result was right, 1 when one was wrong (saying which), 2 on bad
// usage.
//
//   multihost_driver spread NAME      tasks and actors over the nodes; an actor named
//                                     NAME that outlives this driver; a 256 MiB value
//                                     each way between this host and a node
//   multihost_driver say N            N tasks that each print a line on their node
//                                     ("line I from a task"), spread over the nodes
//   multihost_driver read FILE N      N tasks that each read the first line of FILE
//                                     in the job's working directory on their node
//   multihost_driver steady N MS      N tasks of MS ms each and four actors with
//                                     restarts, spread over the nodes, waited for
//                                     with retries; prints "started" once they are
//                                     submitted (a test cuts links then)
#include "tests/cluster/job.hpp"

#include <actors/actors.hpp>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

int wrong(const std::string& what) {
  std::cout << "WRONG: " << what << std::endl;
  return 1;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int spread(const std::string& name) {
  auto self = actors::current_node_id().to_string();
  std::set<std::string> where;
  std::vector<actors::object_ref<std::string>> places;
  for (int i = 0; i < 60; ++i)
    places.push_back(actors::task(job::where_am_i).strategy(actors::spread).remote(i));
  for (auto& p : places)
    where.insert(actors::get(p, 60s));
  if (where.size() < 2 || where.count(self))
    return wrong("60 spread tasks ran on " + std::to_string(where.size()) + " node(s), expected the others");
  std::cout << "tasks ran on " << where.size() << " nodes" << std::endl;

  std::vector<actors::object_ref<std::int64_t>> squares;
  for (std::int64_t i = 0; i < 200; ++i)
    squares.push_back(actors::task(job::square).strategy(actors::spread).remote(i));
  for (std::int64_t i = 0; i < 200; ++i)
    if (actors::get(squares[static_cast<std::size_t>(i)], 60s) != i * i)
      return wrong("square(" + std::to_string(i) + ")");
  std::cout << "200 squares right" << std::endl;

  std::set<std::string> actor_hosts;
  for (int i = 0; i < 2; ++i) {
    auto c = actors::actor(job::make_counter).strategy(actors::spread).remote(std::int64_t{100});
    if (actors::get(c.task(&job::Counter::add).remote(std::int64_t{5}), 60s) != 105)
      return wrong("counter add");
    actor_hosts.insert(actors::get(c.task(&job::Counter::where).remote(), 60s));
  }
  if (actor_hosts.count(self))
    return wrong("an actor was placed on the driver, which offers no CPUs");
  std::cout << "actors on " << actor_hosts.size() << " nodes" << std::endl;

  auto named = actors::actor(job::make_counter).name(name).lifetime(actors::detached).remote(std::int64_t{10});
  if (actors::get(named.task(&job::Counter::add).remote(std::int64_t{1}), 60s) != 11)
    return wrong("named counter add");
  std::cout << "named actor " << name << " ready" << std::endl;

  // 256 MiB each way: made here and summed on a node; made on a node and read here.
  const std::int64_t n = 32 << 20;
  const std::int64_t expected = n * (n + 1) / 2;
  auto t0 = std::chrono::steady_clock::now();
  auto big = actors::put(job::make_vec(n));
  auto summed = actors::get(actors::task(job::sum_vec).strategy(actors::spread).remote(big), 120s);
  if (summed != expected)
    return wrong("sum of the 256 MiB value on a node");
  std::cout << "256 MiB to a node and summed there in " << seconds_since(t0) << " s" << std::endl;
  t0 = std::chrono::steady_clock::now();
  auto made = actors::task(job::make_vec).strategy(actors::spread).remote(n);
  auto back = actors::get(made, 120s);
  if (static_cast<std::int64_t>(back.size()) != n || back.front() != 1 || back.back() != n)
    return wrong("the 256 MiB value made on a node");
  std::cout << "256 MiB from a node in " << seconds_since(t0) << " s" << std::endl;
  return 0;
}

int say(int count) {
  std::vector<actors::object_ref<std::string>> said;
  for (int i = 0; i < count; ++i)
    said.push_back(actors::task(job::say).strategy(actors::spread).remote("line " + std::to_string(i) + " from a task"));
  std::set<std::string> where;
  for (auto& s : said)
    where.insert(actors::get(s, 60s));
  std::cout << count << " tasks printed on " << where.size() << " nodes" << std::endl;
  // Their lines come within about 100 ms of being printed.
  std::this_thread::sleep_for(1s);
  return 0;
}

int read(const std::string& file, int count) {
  std::vector<actors::object_ref<std::string>> reads;
  for (int i = 0; i < count; ++i)
    reads.push_back(actors::task(job::read_job_file).strategy(actors::spread).remote(file));
  std::set<std::string> lines, where;
  for (auto& r : reads) {
    auto got = actors::get(r, 60s);
    auto tab = got.find('\t');
    lines.insert(got.substr(0, tab));
    where.insert(got.substr(tab + 1));
  }
  if (lines.size() != 1)
    return wrong("the tasks read " + std::to_string(lines.size()) + " different first lines of " + file);
  std::cout << "read '" << *lines.begin() << "' on " << where.size() << " nodes" << std::endl;
  return 0;
}

int steady(int count, int ms) {
  std::vector<actors::actor_handle<job::Counter>> counters;
  for (int i = 0; i < 4; ++i)
    counters.push_back(
      actors::actor(job::make_counter).strategy(actors::spread).max_restarts(5).max_task_retries(5).remote(std::int64_t{0}));
  std::set<std::string> before;
  for (auto& c : counters)
    before.insert(actors::get(c.task(&job::Counter::where).remote(), 60s));
  std::vector<actors::object_ref<std::int64_t>> refs;
  for (std::int64_t i = 0; i < count; ++i)
    refs.push_back(actors::task(job::slow_square).strategy(actors::spread).max_retries(5).remote(i, ms));
  std::cout << "started " << count << " tasks; actors on " << before.size() << " nodes" << std::endl;
  auto t0 = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < count; ++i)
    if (actors::get(refs[static_cast<std::size_t>(i)], 180s) != i * i)
      return wrong("slow_square(" + std::to_string(i) + ")");
  std::cout << count << " results right in " << seconds_since(t0) << " s" << std::endl;
  // Every actor answers, wherever it lives now (rebuilt elsewhere if its node was
  // declared dead).
  std::set<std::string> after;
  for (auto& c : counters) {
    actors::get(c.task(&job::Counter::add).remote(std::int64_t{1}), 60s);
    after.insert(actors::get(c.task(&job::Counter::where).remote(), 60s));
  }
  std::cout << "4 actors answer, on";
  for (const auto& w : after)
    std::cout << " " << w;
  std::cout << std::endl;
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  // Call into the job library, so that the linker keeps it (and with it the
  // library's ACTORS_REMOTE registrations) even under --as-needed.
  if (job::square(3) != 9)
    return 3;
  actors::init(argc, argv);
  // The job's own arguments: all but the --actors-...=VALUE flags.
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]).rfind("--actors-", 0) != 0)
      args.push_back(argv[i]);
  int code = 2;
  try {
    if (args.size() == 2 && args[0] == "spread")
      code = spread(args[1]);
    else if (args.size() == 2 && args[0] == "say")
      code = say(std::stoi(args[1]));
    else if (args.size() == 3 && args[0] == "read")
      code = read(args[1], std::stoi(args[2]));
    else if (args.size() == 3 && args[0] == "steady")
      code = steady(std::stoi(args[1]), std::stoi(args[2]));
    else
      std::cerr << "usage: multihost_driver spread NAME | say N | read FILE N | steady N MS  (with --actors-address=HOST:PORT)\n";
  } catch (const std::exception& e) {
    std::cout << "WRONG: " << e.what() << std::endl;
    code = 1;
  }
  actors::shutdown();
  return code;
}
