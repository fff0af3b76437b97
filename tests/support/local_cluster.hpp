#pragma once

// A cluster of real actorsd processes for a test: a head and nodes in a fresh
// session directory (which also holds every process's log), and this test
// process joined to them as the driver.

#include "tests/support/processes.hpp"
#include "tests/support/runtime_fixture.hpp"

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace actors::test {

/// The command line of an actorsd with one CPU, no metrics port (unless `extra`
/// names one) and the cluster tests' job library, plus `extra`.
inline std::vector<std::string> one_cpu_daemon(std::vector<std::string> extra) {
  std::vector<std::string> args{env("ACTORSD"), "--num-cpus", "1", "--load", env("JOB_LIBRARY")};
  if (std::find(extra.begin(), extra.end(), "--metrics-port") == extra.end())
    args.insert(args.end(), {"--metrics-port", "-1"});
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

class local_cluster {
 public:
  /// Makes /tmp/actors-NAME-XXXXXX and points the session file there.
  explicit local_cluster(const std::string& name) {
    std::string tmpl = "/tmp/actors-" + name + "-XXXXXX";
    if (!mkdtemp(tmpl.data()))
      throw std::runtime_error("cannot make a temporary directory " + tmpl);
    dir = tmpl;
    setenv("ACTORS_SESSION_DIR", dir.c_str(), 1);
  }

  /// Starts the head from `args` (actorsd, `--head` and its flags), waits for its
  /// session file and reads the address and token from it. Throws with the head's
  /// log if it does not come up within 10 s.
  void start_head(std::vector<std::string> args) {
    std::filesystem::remove(dir + "/session_latest");
    head = std::make_unique<process>(std::move(args), dir + "/head.log");
    if (!eventually([&] { return !read_key(dir + "/session_latest", "address").empty(); }))
      throw std::runtime_error("the head did not start:\n" + head->output());
    address = read_key(dir + "/session_latest", "address");
    token = read_key(dir + "/session_latest", "token");
  }

  /// Starts a node from `args` (actorsd and its flags) joined to the head; its log
  /// is dir/nodeN.log.
  process& start_node(std::vector<std::string> args) {
    args.insert(args.end(), {"--address", address, "--token", token});
    auto log = dir + "/node" + std::to_string(nodes.size()) + ".log";
    nodes.push_back(std::make_unique<process>(std::move(args), log));
    return *nodes.back();
  }

  /// Joins this process as the driver with `opts` (the address and token filled
  /// in) and waits until at least `daemons` head and node processes are alive
  /// (an autoscaler's min_nodes may add more meanwhile). Throws with the head's
  /// log if they are not within 10 s.
  void join(actors::init_options opts, int daemons) {
    opts.address = address;
    opts.token = token;
    // The daemons take ACTORS_HEARTBEAT_TIMEOUT from the environment (the
    // ThreadSanitizer run sets it); the driver too, unless the test chose one.
    if (opts.heartbeat_timeout_ms == actors::init_options{}.heartbeat_timeout_ms)
      opts.heartbeat_timeout_ms = static_cast<int>(
        heartbeat_timeout(std::chrono::milliseconds(opts.heartbeat_timeout_ms)).count());
    actors::init(opts);
    if (!eventually([&] { return daemons_alive() >= daemons; }))
      throw std::runtime_error("the cluster did not reach " + std::to_string(daemons)
                               + " head and node processes:\n" + head->output());
  }

  /// Head and node processes alive, as the head lists them.
  static int daemons_alive() {
    int n = 0;
    for (const auto& i : actors::nodes())
      n += i.alive && !i.is_driver;
    return n;
  }

  /// Leaves the cluster, stops it with `actors stop`, and returns each process's
  /// exit code, head first (nullopt for one still running after 10 s).
  std::vector<std::optional<int>> stop() {
    if (actors::is_initialized())
      actors::shutdown();
    std::vector<std::optional<int>> codes;
    if (!head)
      return codes;
    run({env("ACTORS_CLI"), "--address", address, "--token", token, "stop"}, dir + "/stop.log");
    codes.push_back(head->wait_exit(std::chrono::seconds(10)));
    for (auto& n : nodes)
      codes.push_back(n->wait_exit(std::chrono::seconds(10)));
    return codes;
  }

  /// Every process's log, for a failure message.
  std::string logs() const {
    std::string all = head ? "head:\n" + head->output() : "";
    for (std::size_t i = 0; i < nodes.size(); ++i)
      all += "node " + std::to_string(i) + ":\n" + nodes[i]->output();
    return all;
  }

  /// Kills what still runs; removes the directory, or says where the logs are
  /// kept when the test `failed`.
  void clean_up(bool failed) {
    head.reset();
    nodes.clear();
    if (failed)
      std::cerr << "logs kept in " << dir << "\n";
    else
      std::filesystem::remove_all(dir);
  }

  std::string dir;
  std::string address;
  std::string token;
  std::unique_ptr<process> head;
  std::vector<std::unique_ptr<process>> nodes;
};

/// Ends a test suite's cluster: stops it, expects every process to exit with
/// status 0, and removes its directory unless the suite failed.
inline void tear_down(std::unique_ptr<local_cluster>& cluster) {
  if (!cluster)
    return;
  for (const auto& code : cluster->stop())
    EXPECT_EQ(code, 0) << cluster->logs();
  cluster->clean_up(!::testing::UnitTest::GetInstance()->Passed());
  cluster.reset();
}

} // namespace actors::test
