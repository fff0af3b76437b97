// Failures on real processes: nodes killed with SIGKILL or frozen with SIGSTOP
// while a driver (this test) has work on them.

#include "tests/cluster/job.hpp"
#include "tests/support/local_cluster.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/runtime_fixture.hpp"

#include <actors/actors.hpp>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using actors::test::process;

namespace {

/// A head and two nodes, fresh for each test: the tests kill nodes.
class Faults : public ::testing::Test {
 protected:
  actors::test::local_cluster cluster{"fault-test"};
  /// The head saves its state in dir/state (see HeadFaults).
  bool head_saves_state = false;
  std::string& dir = cluster.dir;
  std::string& address = cluster.address;
  std::string& token = cluster.token;
  std::unique_ptr<process>& head = cluster.head;
  std::vector<std::unique_ptr<process>>& nodes = cluster.nodes;
  /// Every process's: 1.5 s (the default is 3 s), or ACTORS_HEARTBEAT_TIMEOUT.
  const std::chrono::milliseconds heartbeat = actors::test::heartbeat_timeout(1500ms);

  std::vector<std::string> daemon(std::vector<std::string> extra) {
    std::vector<std::string> args{actors::test::env("ACTORSD"), "--num-cpus", "1", "--metrics-port", "-1",
                                  "--heartbeat-timeout", std::to_string(heartbeat.count()),
                                  "--load", actors::test::env("JOB_LIBRARY")};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  void SetUp() override {
    cluster.start_head(daemon(head_args("0")));
    for (int i = 0; i < 2; ++i)
      cluster.start_node(daemon({}));
    actors::init_options opts;
    opts.metrics_port = -1;
    opts.heartbeat_timeout_ms = static_cast<int>(heartbeat.count());
    cluster.join(opts, 3);
  }

  void TearDown() override {
    cluster.stop();
    cluster.clean_up(::testing::Test::HasFailure());
  }

  std::vector<std::string> head_args(const std::string& port) const {
    std::vector<std::string> args{"--head", "--port", port};
    if (head_saves_state) {
      args.push_back("--state-dir");
      args.push_back(dir + "/state");
    }
    return args;
  }

  static int daemons_alive() {
    return actors::test::local_cluster::daemons_alive();
  }

  /// The node id of the node process with this pid.
  actors::node_id node_of(pid_t pid) const {
    for (const auto& n : actors::nodes())
      if (n.alive && !n.is_driver && !n.is_head && pid_of(n.id) == pid)
        return n.id;
    return {};
  }

  pid_t pid_of(const actors::node_id& id) const {
    auto [code, json] = actors::test::run({actors::test::env("ACTORS_CLI"), "list", "nodes", "--json"},
                                          dir + "/list.log");
    auto at = json.find("\"id\":\"" + id.to_string() + "\"");
    if (at == std::string::npos)
      return 0;
    auto pid_at = json.find("\"pid\":", at);
    return static_cast<pid_t>(std::stol(json.substr(pid_at + 6)));
  }

  /// Whether the head's table, not just this process's copy, holds `id` dead: a
  /// process may take a peer for dead on its own, when its connection to it
  /// times out, a moment before the head does.
  bool head_holds_dead(const actors::node_id& id) const {
    auto [code, json] = actors::test::run({actors::test::env("ACTORS_CLI"), "list", "nodes", "--json"},
                                          dir + "/list.log");
    auto at = json.find("\"id\":\"" + id.to_string() + "\"");
    return at != std::string::npos && json.find("\"alive\":false", at) < json.find('}', at);
  }

  /// Kills the actor served at `address` ("host:port") the way any peer that
  /// reaches the port can: an exit message with the reason `kill`, which CAF
  /// delivers and no actor can refuse.
  static void kill_served_actor(const std::string& address) {
    caf::actor_system_config cfg;
    cfg.load<caf::io::middleman>();
    cfg.set("scheduler.max-threads", 1);
    caf::actor_system sys{cfg};
    auto colon = address.rfind(':');
    auto served = sys.middleman().remote_actor(address.substr(0, colon),
                                               static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
    ASSERT_TRUE(served) << "nothing served at " << address;
    caf::anon_send_exit(*served, caf::exit_reason::kill);
    // Let the message leave before the connection closes.
    std::this_thread::sleep_for(300ms);
  }

  /// The new id of the node process `p`, once it has joined again under another
  /// id than `old` (zero if it did not within 20 s).
  actors::node_id rejoined_as_new_node(const process& p, const actors::node_id& old) const {
    actors::node_id now;
    bool joined = actors::test::eventually(
      [&] {
        now = node_of(p.pid());
        return now.value != 0 && now != old;
      },
      20s);
    return joined ? now : actors::node_id{};
  }

  /// Every line in which a process of this cluster took a node for dead, and
  /// why: what a failed check of who is dead needs to be understood.
  std::string death_notes() const {
    std::string out;
    std::error_code ec;
    for (const auto& f : std::filesystem::directory_iterator(dir + "/logs", ec)) {
      std::ifstream in{f.path()};
      for (std::string line; std::getline(in, line);)
        if (line.find("dead") != std::string::npos)
          out += f.path().filename().string() + ": " + line + "\n";
    }
    return out;
  }

  std::string address_of(const actors::node_id& id) const {
    for (const auto& n : actors::nodes())
      if (n.id == id)
        return n.address;
    return {};
  }

  static bool declared_dead(const actors::node_id& id) {
    for (const auto& n : actors::nodes())
      if (n.id == id)
        return !n.alive;
    return false;
  }
};

/// The same cluster, with a head that saves its state and can be started again.
class HeadFaults : public Faults {
 protected:
  HeadFaults() {
    head_saves_state = true;
  }
};

} // namespace

TEST_F(Faults, EveryResultArrivesWhenANodeIsKilledDuringTenThousandTasks) {
  std::vector<actors::object_ref<std::int64_t>> refs;
  refs.reserve(10'000);
  for (std::int64_t i = 0; i < 10'000; ++i)
    refs.push_back(actors::task(job::slow_square).strategy(actors::spread).remote(i, 1));
  // Let part of the job finish, then kill one node while the rest is in flight.
  actors::wait(refs, 2'000, 30s);
  nodes[0]->kill(SIGKILL);
  auto values = actors::get(refs, actors::test::scaled(120s));
  for (std::int64_t i = 0; i < 10'000; ++i)
    ASSERT_EQ(values[static_cast<std::size_t>(i)], i * i) << "at " << i;
}

TEST_F(Faults, FrozenNodeIsDeclaredDeadWithinTheTimeoutAndItsTaskRunsElsewhere) {
  auto frozen = node_of(nodes[0]->pid());
  ASSERT_TRUE(frozen.value);
  auto slow = actors::task(job::slow_square).node(frozen, true).remote(std::int64_t{9}, 1000);
  std::this_thread::sleep_for(200ms);
  auto stopped_at = std::chrono::steady_clock::now();
  nodes[0]->kill(SIGSTOP);
  ASSERT_TRUE(actors::test::eventually([&] { return declared_dead(frozen); }, 10s + 2 * heartbeat));
  auto noticed = std::chrono::steady_clock::now() - stopped_at;
  EXPECT_LT(noticed, 2 * heartbeat) << "a hung node is declared dead soon after the heartbeat timeout";
  EXPECT_GT(noticed, heartbeat * 2 / 3) << "but not before it";
  EXPECT_EQ(actors::get(slow, 20s), 81);
  // It comes back: nothing it says under its old id changes results, and the same
  // process joins again as a new node that takes work.
  nodes[0]->kill(SIGCONT);
  EXPECT_EQ(actors::get(actors::task(job::square).strategy(actors::spread).remote(std::int64_t{12}), 10s), 144);
  auto reborn = rejoined_as_new_node(*nodes[0], frozen);
  ASSERT_TRUE(reborn.value) << nodes[0]->output();
  EXPECT_TRUE(declared_dead(frozen)) << "the old id does not come back";
  EXPECT_FALSE(nodes[0]->wait_exit(0ms).has_value());
  EXPECT_EQ(actors::get(actors::task(job::square).node(reborn, false).remote(std::int64_t{13}), 10s), 169);
  EXPECT_EQ(daemons_alive(), 3) << "the head and both node processes";
  EXPECT_NE(nodes[0]->output().find("was declared dead; joined " + address + " again as node " + reborn.to_string()),
            std::string::npos)
    << nodes[0]->output();
}

TEST_F(Faults, ActorOfAKilledNodeRestartsElsewhereWithinMaxRestarts) {
  auto victim = node_of(nodes[0]->pid());
  ASSERT_TRUE(victim.value);
  auto kept = actors::actor(job::make_counter).name("survivor").max_restarts(2).node(victim, true).remote(std::int64_t{5});
  auto lost = actors::actor(job::make_counter).max_restarts(0).node(victim, true).remote(std::int64_t{5});
  EXPECT_EQ(actors::get(kept.task(&job::Counter::where).remote(), 10s), victim.to_string());
  EXPECT_EQ(actors::get(lost.task(&job::Counter::add).remote(std::int64_t{1}), 10s), 6);
  nodes[0]->kill(SIGKILL);
  ASSERT_TRUE(actors::test::eventually([&] { return declared_dead(victim); }, 10s));
  // The restarted instance is fresh (built again from its factory) and elsewhere.
  EXPECT_EQ(actors::get(kept.task(&job::Counter::add).remote(std::int64_t{1}), 20s), 6);
  EXPECT_NE(actors::get(kept.task(&job::Counter::where).remote(), 10s), victim.to_string());
  // Its name follows it.
  auto found = actors::get_actor<job::Counter>("survivor");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(actors::get(found->task(&job::Counter::value).remote(), 10s), 6);
  EXPECT_THROW(actors::get(lost.task(&job::Counter::add).remote(std::int64_t{1}), 10s), actors::actor_died_error);
}

TEST_F(Faults, AHandleOnAThirdNodeReachesTheActorRestartedElsewhere) {
  auto victim = node_of(nodes[0]->pid());
  auto third = node_of(nodes[1]->pid());
  ASSERT_TRUE(victim.value);
  ASSERT_TRUE(third.value);
  auto c = actors::actor(job::make_counter).max_restarts(1).node(victim, true).remote(std::int64_t{10});
  auto gone = actors::actor(job::make_counter).max_restarts(0).node(victim, true).remote(std::int64_t{10});
  // A task on the third node calls the actors through handles it was given.
  EXPECT_EQ(actors::get(actors::task(job::add_via).node(third, false).remote(c, std::int64_t{1}), 20s), 11);
  EXPECT_EQ(actors::get(actors::task(job::add_via).node(third, false).remote(gone, std::int64_t{1}), 20s), 11);
  nodes[0]->kill(SIGKILL);
  ASSERT_TRUE(actors::test::eventually([&] { return declared_dead(victim); }, 10s));
  // Rebuilt fresh from its factory, elsewhere.
  EXPECT_EQ(actors::get(c.task(&job::Counter::add).remote(std::int64_t{1}), 20s), 11);
  // The third node's handle follows it there.
  EXPECT_EQ(actors::get(actors::task(job::add_via).node(third, false).remote(c, std::int64_t{5}), 30s), 16);
  // And a kill through it reaches it there too.
  EXPECT_TRUE(actors::get(actors::task(job::kill_via).node(third, false).remote(c), 30s));
  try {
    actors::get(c.task(&job::Counter::add).remote(std::int64_t{1}), 20s);
    FAIL() << "a call reached an actor killed through a handle on a third node";
  } catch (const actors::actor_died_error& e) {
    EXPECT_NE(std::string(e.what()).find("killed"), std::string::npos) << e.what();
  }
  // One with no restarts left: the creator says so.
  try {
    actors::get(actors::task(job::add_via).node(third, false).remote(gone, std::int64_t{1}), 30s);
    FAIL() << "a call reached an actor with no restarts left";
  } catch (const actors::task_error& e) {
    EXPECT_NE(std::string(e.what()).find("no restarts left"), std::string::npos) << e.what();
  }
}

TEST_F(Faults, ACallInFlightThroughAHandleOnAThirdNodeGoesAgainWithinMaxTaskRetries) {
  auto victim = node_of(nodes[0]->pid());
  auto third = node_of(nodes[1]->pid());
  ASSERT_TRUE(victim.value);
  ASSERT_TRUE(third.value);
  auto retried = actors::actor(job::make_overlap).max_restarts(1).max_task_retries(1).node(victim, true).remote();
  auto not_retried = actors::actor(job::make_overlap).max_restarts(1).node(victim, true).remote();
  EXPECT_EQ(actors::get(retried.task(&job::Overlap::where).remote(), 10s), victim.to_string());
  EXPECT_EQ(actors::get(not_retried.task(&job::Overlap::where).remote(), 10s), victim.to_string());
  // Tasks on the third node call through handles they were given; the actors'
  // node dies while the calls run.
  auto a = actors::task(job::stay_via).node(third, false).remote(retried, 3000);
  auto b = actors::task(job::stay_via).node(third, false).remote(not_retried, 3000);
  std::this_thread::sleep_for(1s);
  nodes[0]->kill(SIGKILL);
  ASSERT_TRUE(actors::test::eventually([&] { return declared_dead(victim); }, 10s));
  // Sent again to the rebuilt instance, where it is the only call inside.
  EXPECT_EQ(actors::get(a, 60s), 1);
  try {
    actors::get(b, 60s);
    FAIL() << "a call with max_task_retries 0 was sent again";
  } catch (const actors::task_error& e) {
    EXPECT_NE(std::string(e.what()).find("no retries left"), std::string::npos) << e.what();
  }
  EXPECT_NE(actors::get(retried.task(&job::Overlap::where).remote(), 20s), victim.to_string());
}

TEST_F(Faults, AsyncActorOfAKilledNodeRestartsElsewhereAndAwaitsAgain) {
  auto victim = node_of(nodes[0]->pid());
  auto other = node_of(nodes[1]->pid());
  ASSERT_TRUE(victim.value);
  ASSERT_TRUE(other.value);
  auto summer = actors::actor(job::make_summer).max_restarts(1).node(victim, true).remote();
  EXPECT_EQ(actors::get(summer.task(&job::Summer::where).remote(), 10s), victim.to_string());
  EXPECT_EQ(actors::get(summer.task(&job::Summer::add_one).remote(actors::put(std::int64_t{5})), 10s), 5);
  nodes[0]->kill(SIGKILL);
  ASSERT_TRUE(actors::test::eventually([&] { return declared_dead(victim); }, 10s));
  // A fresh instance elsewhere: its coroutine methods wait for objects made on
  // another node, and its total starts again from 0.
  std::vector<actors::object_ref<std::int64_t>> refs;
  for (std::int64_t i = 1; i <= 5; ++i)
    refs.push_back(actors::task(job::slow_square).node(other, false).remote(i, 100));
  EXPECT_EQ(actors::get(summer.task(&job::Summer::add_all).remote(refs), 30s), 55);
  EXPECT_NE(actors::get(summer.task(&job::Summer::where).remote(), 10s), victim.to_string());
  EXPECT_EQ(actors::get(summer.task(&job::Summer::add_one).remote(actors::put(std::int64_t{1})), 10s), 56);
}

TEST_F(Faults, GeneratorWhoseNodeDiesRunsAgainElsewhereAndSkipsTheItemsReceived) {
  auto victim = node_of(nodes[0]->pid());
  ASSERT_TRUE(victim.value);
  // Half a CPU each: both fit on the victim, which has one.
  auto s = actors::task(job::numbers_where).num_cpus(0.5).node(victim, true).remote(std::int64_t{40}, 50);
  auto lost = actors::task(job::numbers_where).num_cpus(0.5).node(victim, false).max_retries(0).remote(std::int64_t{40}, 50);
  const auto made_there = " " + victim.to_string();
  for (std::int64_t i = 0; i < 10; ++i) {
    auto r = s.next(10s);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(actors::get(*r), std::to_string(i) + made_there);
    auto l = lost.next(10s);
    ASSERT_TRUE(l.has_value());
    EXPECT_EQ(actors::get(*l), std::to_string(i) + made_there);
  }
  nodes[0]->kill(SIGKILL);
  ASSERT_TRUE(actors::test::eventually([&] { return declared_dead(victim); }, 10s));
  // Run again on another node from its start: the items read already are
  // skipped, the rest come in order, each once, made there.
  std::vector<std::string> rest;
  for (auto r : s)
    rest.push_back(actors::get(r, 10s));
  ASSERT_EQ(rest.size(), 30u);
  for (std::size_t i = 0; i < rest.size(); ++i)
    EXPECT_EQ(rest[i].substr(0, rest[i].find(' ')), std::to_string(i + 10)) << rest[i];
  EXPECT_EQ(rest.back().find(made_there), std::string::npos) << "the last item was made on the dead node";
  // With no retries: what came before the death is read, then the loss.
  try {
    while (auto l = lost.next(10s))
      EXPECT_NE(actors::get(*l).find(made_there), std::string::npos);
    FAIL() << "a generator with no retries left ended as if it had finished";
  } catch (const actors::object_lost_error& e) {
    EXPECT_NE(std::string(e.what()).find("died"), std::string::npos) << e.what();
  }
}

TEST_F(Faults, GeneratorMethodOfAnActorWhoseNodeDiesGoesOnOnTheRebuiltActor) {
  auto victim = node_of(nodes[0]->pid());
  ASSERT_TRUE(victim.value);
  auto ticker =
    actors::actor(job::make_ticker).max_restarts(1).max_task_retries(1).node(victim, true).remote();
  ASSERT_EQ(actors::get(ticker.task(&job::Ticker::where).remote(), 10s), victim.to_string());
  auto s = ticker.task(&job::Ticker::slow_ticks).remote(std::int64_t{40}, 50);
  for (std::int64_t i = 0; i < 10; ++i) {
    auto r = s.next(10s);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(actors::get(*r), i);
  }
  nodes[0]->kill(SIGKILL);
  ASSERT_TRUE(actors::test::eventually([&] { return declared_dead(victim); }, 10s));
  // The call goes again to the rebuilt instance: the items read are skipped.
  std::vector<std::int64_t> rest;
  for (auto r : s)
    rest.push_back(actors::get(r, 10s));
  ASSERT_EQ(rest.size(), 30u);
  for (std::size_t i = 0; i < rest.size(); ++i)
    EXPECT_EQ(rest[i], static_cast<std::int64_t>(i) + 10);
  EXPECT_NE(actors::get(ticker.task(&job::Ticker::where).remote(), 10s), victim.to_string());
}

TEST_F(Faults, ValueLostWithItsNodeIsMadeAgainFromItsLineage) {
  auto holder = node_of(nodes[0]->pid());
  ASSERT_TRUE(holder.value);
  // Two large results that stay on the node that made them.
  auto first = actors::task(job::make_vec).node(holder, true).remote(std::int64_t{200'000});
  auto second = actors::task(job::make_vec).node(holder, true).remote(std::int64_t{300'000});
  actors::wait(std::vector{first, second});
  nodes[0]->kill(SIGKILL);
  ASSERT_TRUE(actors::test::eventually([&] { return declared_dead(holder); }, 10s));
  // A task that needs the lost value: it is made again first.
  EXPECT_EQ(actors::get(actors::task(job::sum_vec).remote(first), 30s), 200'000LL * 200'001 / 2);
  // And a get in the driver of the other lost value.
  auto v = actors::get(second, 30s);
  ASSERT_EQ(v.size(), 300'000u);
  EXPECT_EQ(v.back(), 300'000);
}

TEST_F(Faults, NodeKilledWhileItsValueStreamsOverTheDataChannelIsRebuiltNotWaitedFor) {
  auto holder = node_of(nodes[0]->pid());
  ASSERT_TRUE(holder.value);
  // 256 MiB made on the node; the driver's get streams it over the data channel.
  constexpr std::int64_t n = std::int64_t{1} << 25;
  auto big = actors::task(job::make_vec).node(holder, true).remote(n);
  actors::wait(std::vector{big});
  auto got = std::async(std::launch::async, [&] { return actors::get(big, 60s); });
  std::this_thread::sleep_for(100ms); // the transfer is under way (about half a second)
  nodes[0]->kill(SIGKILL);
  // The get ends (rebuilt from lineage on the other node), within the bound.
  ASSERT_EQ(got.wait_for(60s), std::future_status::ready) << "the get hangs after its holder died";
  auto v = got.get();
  ASSERT_EQ(v.size(), static_cast<std::size_t>(n));
  EXPECT_EQ(v.front(), 1);
  EXPECT_EQ(v.back(), n);
}

TEST_F(Faults, PutWhoseNodeDiedCannotBeRebuilt) {
  // A put lives with its owner, here the driver; a task's result without lineage
  // (max_retries=0) on a node that dies is lost for good, and get says why.
  auto holder = node_of(nodes[0]->pid());
  auto lost = actors::task(job::make_vec).node(holder, true).max_retries(0).remote(std::int64_t{200'000});
  actors::wait(std::vector{lost});
  nodes[0]->kill(SIGKILL);
  ASSERT_TRUE(actors::test::eventually([&] { return declared_dead(holder); }, 10s));
  EXPECT_THROW(actors::get(lost, 30s), actors::object_lost_error);
}

TEST_F(HeadFaults, HeadKilledMidJobComesBackWithItsNodesNamesAndStatus) {
  auto port = address.substr(address.rfind(':') + 1);
  auto first = node_of(nodes[0]->pid());
  auto second = node_of(nodes[1]->pid());
  ASSERT_TRUE(first.value && second.value);
  auto named = actors::actor(job::make_counter).name("kept").node(first, false).remote(std::int64_t{10});
  EXPECT_EQ(actors::get(named.task(&job::Counter::add).remote(std::int64_t{5}), 10s), 15);
  // A job on both nodes (not the head, which is about to die).
  std::vector<actors::object_ref<std::int64_t>> refs;
  for (std::int64_t i = 0; i < 400; ++i)
    refs.push_back(actors::task(job::slow_square).node(i % 2 ? first : second, false).remote(i, 10));
  actors::wait(refs, 20, 30s);
  head->kill(SIGKILL);
  ASSERT_TRUE(head->wait_exit(5s).has_value());

  // While the head is away, the nodes keep running and the driver keeps using them.
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(actors::get(named.task(&job::Counter::add).remote(std::int64_t{1}), 10s), 16);
  EXPECT_EQ(actors::get(actors::task(job::square).node(second, false).remote(std::int64_t{7}), 10s), 49);
  EXPECT_FALSE(nodes[0]->wait_exit(0ms).has_value()) << nodes[0]->output();
  EXPECT_FALSE(nodes[1]->wait_exit(0ms).has_value()) << nodes[1]->output();
  // Each says how long it keeps trying, naming actorsd's own flag.
  EXPECT_TRUE(actors::test::eventually([&] {
    return nodes[0]->output().find("s (--head-reconnect-timeout); work between live nodes goes on")
           != std::string::npos;
  }, 5s)) << nodes[0]->output();
  EXPECT_EQ(nodes[0]->output().find("--actors-head-reconnect-timeout"), std::string::npos) << nodes[0]->output();

  // The head comes back on the same port with the same state directory.
  head = std::make_unique<process>(daemon(head_args(port)), dir + "/head2.log");
  ASSERT_TRUE(actors::wait(refs, refs.size(), 60s).pending.empty()) << "the job did not complete";
  auto values = actors::get(refs);
  for (std::int64_t i = 0; i < 400; ++i)
    ASSERT_EQ(values[static_cast<std::size_t>(i)], i * i) << "at " << i;

  // The nodes joined it again under their own ids, and it has a new head.
  ASSERT_TRUE(actors::test::eventually([] { return daemons_alive() == 3; }, 30s)) << head->output();
  EXPECT_EQ(node_of(nodes[0]->pid()), first);
  EXPECT_EQ(node_of(nodes[1]->pid()), second);
  // The named actor made before the kill is found, in the state it had.
  std::optional<actors::actor_handle<job::Counter>> found;
  ASSERT_TRUE(actors::test::eventually([&] { return (found = actors::get_actor<job::Counter>("kept")).has_value(); }, 20s));
  EXPECT_EQ(actors::get(found->task(&job::Counter::value).remote(), 10s), 16);
  // New work goes to every node, the new head included.
  std::set<std::string> where;
  for (int i = 0; i < 30; ++i)
    where.insert(actors::get(actors::task(job::where_am_i).strategy(actors::spread).remote(i), 10s));
  EXPECT_EQ(where.size(), 3u);

  // `actors status`: the two nodes and the driver alive, the new head alive, the old head dead.
  auto [code, status] = actors::test::run(
    {actors::test::env("ACTORS_CLI"), "--address", address, "--token", token, "status"}, dir + "/status.log");
  EXPECT_EQ(code, 0) << status;
  EXPECT_NE(status.find("4 nodes alive, 1 dead"), std::string::npos) << status;
  EXPECT_NE(status.find(first.to_string()), std::string::npos) << status;
  EXPECT_NE(status.find(second.to_string()), std::string::npos) << status;
}

TEST_F(HeadFaults, NodeThatDiedWhileTheHeadWasAwayIsDeclaredDeadByTheRestartedHead) {
  auto port = address.substr(address.rfind(':') + 1);
  auto survivor = node_of(nodes[0]->pid());
  auto lost = node_of(nodes[1]->pid());
  ASSERT_TRUE(survivor.value && lost.value);
  head->kill(SIGKILL);
  ASSERT_TRUE(head->wait_exit(5s).has_value());
  nodes[1]->kill(SIGKILL);
  ASSERT_TRUE(nodes[1]->wait_exit(5s).has_value());
  head = std::make_unique<process>(daemon(head_args(port)), dir + "/head2.log");
  // The restarted head lists the lost node as alive until it fails to join
  // again within its grace period (10 s), then as dead. `actors status` shows
  // the new head, the surviving node and the driver alive; the old head and the
  // lost node dead.
  std::string status;
  ASSERT_TRUE(actors::test::eventually(
    [&] {
      status = actors::test::run({actors::test::env("ACTORS_CLI"), "--address", address, "--token", token, "status"},
                                 dir + "/status.log")
                 .second;
      if (status.find("3 nodes alive, 2 dead") != std::string::npos)
        return true;
      std::this_thread::sleep_for(250ms); // one CLI process at a time, not a storm
      return false;
    },
    40s))
    << status << head->output();
  EXPECT_TRUE(declared_dead(lost)) << death_notes();
  EXPECT_FALSE(declared_dead(survivor)) << "survivor " << survivor.to_string() << ", lost " << lost.to_string()
                                        << "\n" << death_notes();
  EXPECT_EQ(actors::get(actors::task(job::square).node(survivor, false).remote(std::int64_t{6}), 10s), 36);
  EXPECT_NE(head->output().find("did not rejoin within 10 s"), std::string::npos) << head->output();
}

TEST_F(Faults, NodeWhoseEndpointIsKilledJoinsAgainAsANewNode) {
  auto victim = node_of(nodes[0]->pid());
  ASSERT_TRUE(victim.value);
  kill_served_actor(address_of(victim));
  // Peers reach a node through its endpoint, so its supervisor cannot restart it
  // in place: the node stops and the same process joins as a new node.
  auto reborn = rejoined_as_new_node(*nodes[0], victim);
  ASSERT_TRUE(reborn.value) << nodes[0]->output();
  EXPECT_TRUE(actors::test::eventually([&] { return declared_dead(victim); }, 10s));
  EXPECT_EQ(actors::get(actors::task(job::square).node(reborn, false).remote(std::int64_t{7}), 10s), 49);
  EXPECT_NE(nodes[0]->output().find("its node endpoint died"), std::string::npos) << nodes[0]->output();
  EXPECT_NE(nodes[0]->output().find("lost a service; joined " + address + " again as node " + reborn.to_string()),
            std::string::npos)
    << nodes[0]->output();
}

TEST_F(Faults, KilledControlStoreIsRestartedInPlaceAndKeepsTheCluster) {
  auto before = actors::nodes();
  auto kept = actors::actor(job::make_counter).name("kept-across").remote(std::int64_t{1});
  EXPECT_EQ(actors::get(kept.task(&job::Counter::add).remote(std::int64_t{1}), 10s), 2);
  kill_served_actor(address);
  ASSERT_TRUE(actors::test::eventually(
    [&] { return head->output().find("restarted the control store") != std::string::npos; }, 10s))
    << head->output();
  // Every node, the head's own included, joins the new control store under its id.
  ASSERT_TRUE(actors::test::eventually(
    [&] {
      try {
        auto now = actors::nodes();
        return now.size() == before.size() && daemons_alive() == 3
               && std::all_of(now.begin(), now.end(), [](const auto& n) { return n.alive; });
      } catch (const actors::error&) {
        return false;
      }
    },
    20s))
    << head->output();
  for (const auto& n : actors::nodes()) {
    if (!n.is_driver) {
      EXPECT_EQ(actors::get(actors::task(job::square).node(n.id, false).remote(std::int64_t{6}), 10s), 36);
    }
  }
  auto found = actors::get_actor<job::Counter>("kept-across");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(actors::get(found->task(&job::Counter::add).remote(std::int64_t{1}), 10s), 3);
  EXPECT_FALSE(head->wait_exit(0ms).has_value());
}

TEST_F(Faults, PausedNodeShorterThanTheTimeoutIsNotDeclaredDead) {
  auto slow = node_of(nodes[0]->pid());
  ASSERT_TRUE(slow.value);
  auto running = actors::task(job::slow_square).node(slow, false).remote(std::int64_t{5}, 300);
  // Heartbeats go every 200 ms: a pause of under half the timeout (700 ms of
  // 1.5 s) misses several beats but is not silence for the whole timeout.
  auto pause = heartbeat * 7 / 15;
  nodes[0]->kill(SIGSTOP);
  std::this_thread::sleep_for(pause);
  nodes[0]->kill(SIGCONT);
  EXPECT_EQ(actors::get(running, 10s), 25);
  std::this_thread::sleep_for(heartbeat + 500ms); // past the timeout, counted from the pause
  EXPECT_FALSE(declared_dead(slow));
  EXPECT_EQ(node_of(nodes[0]->pid()), slow) << "the node kept its id";
  EXPECT_EQ(actors::get(actors::task(job::square).node(slow, false).remote(std::int64_t{4}), 10s), 16);
}

TEST_F(Faults, KilledNodeProcessIsDeclaredDeadWithinASecond) {
  auto victim = node_of(nodes[0]->pid());
  ASSERT_TRUE(victim.value);
  auto killed_at = std::chrono::steady_clock::now();
  nodes[0]->kill(SIGKILL);
  ASSERT_TRUE(actors::test::eventually([&] { return declared_dead(victim); }, 10s));
  auto noticed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed_at);
  std::cout << "a killed node process was declared dead after " << noticed.count() << " ms\n";
  // The connection closes with the process: no timeout is involved.
  EXPECT_LT(noticed, 1s);
}

TEST_F(Faults, DriverDeclaredDeadFailsWhatWaitsInsteadOfHanging) {
  // Another program joins as a driver and waits for a task no node can run.
  process driver({actors::test::env("SECOND_DRIVER"), "--park", "--actors-address=" + address,
                  "--actors-token=" + token, "--actors-heartbeat-timeout=" + std::to_string(heartbeat.count()),
                  "--actors-metrics-port=-1"},
                 dir + "/driver.log");
  ASSERT_TRUE(actors::test::eventually([&] { return driver.output().find("parked") != std::string::npos; }, 20s))
    << driver.output();
  actors::node_id id;
  ASSERT_TRUE(actors::test::eventually(
    [&] {
      for (const auto& n : actors::nodes())
        if (n.alive && n.is_driver && n.id != actors::current_node_id() && pid_of(n.id) == driver.pid())
          id = n.id;
      return id.value != 0;
    },
    10s));
  driver.kill(SIGSTOP);
  ASSERT_TRUE(actors::test::eventually([&] { return head_holds_dead(id); }, 10s + heartbeat));
  driver.kill(SIGCONT);
  // It cannot join again under its id, and no node will ever run the task: the
  // wait ends with an error that says so, and the program ends.
  EXPECT_EQ(driver.wait_exit(30s), 4) << driver.output();
  EXPECT_NE(driver.output().find("cannot run: the head declared this program"),
            std::string::npos)
    << driver.output();
}
