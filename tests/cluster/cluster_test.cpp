// A head and two nodes as real actorsd processes on loopback, with this test
// program as the driver.

#include "tests/cluster/job.hpp"
#include "tests/support/http.hpp"
#include "tests/support/local_cluster.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/runtime_fixture.hpp"

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <regex>
#include <sstream>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <set>
#include <sys/socket.h>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using actors::test::process;

namespace {

// Registered here but not in the job library the nodes load.
std::int64_t driver_only(std::int64_t x) {
  return x;
}
ACTORS_REMOTE(driver_only);

namespace clash {
// Registered under the same name as job::square, with another signature.
int square(int x) {
  return x * x;
}
ACTORS_REMOTE(square);
} // namespace clash

class Cluster : public ::testing::Test {
 protected:
  static inline std::unique_ptr<actors::test::local_cluster> cluster;
  static inline std::string dir;
  static inline std::string address;
  static inline std::string token;
  static inline std::string plain_id;
  static inline std::string gpu_id;
  static inline std::string head_id;

  static std::vector<std::string> daemon(std::vector<std::string> extra) {
    std::vector<std::string> args{actors::test::env("ACTORSD"), "--num-cpus", "1", "--load",
                                  actors::test::env("JOB_LIBRARY")};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  static process& head() {
    return *cluster->head;
  }

  static void SetUpTestSuite() {
    cluster = std::make_unique<actors::test::local_cluster>("cluster-test");
    dir = cluster->dir;
    cluster->start_head(daemon({"--head", "--port", "0"}));
    address = cluster->address;
    token = cluster->token;
    cluster->start_node(daemon({}));
    cluster->start_node(daemon({"--resources", "GPU=1"}));
    actors::init_options opts;
    opts.ns = "cluster-test";
    cluster->join(opts, 3);
    for (const auto& n : actors::nodes()) {
      if (n.is_head)
        head_id = n.id.to_string();
      else if (n.resources_total.count("GPU"))
        gpu_id = n.id.to_string();
      else if (!n.is_driver)
        plain_id = n.id.to_string();
    }
  }

  static void TearDownTestSuite() {
    actors::test::tear_down(cluster);
  }

  static actors::node_id id_of(const std::string& hex) {
    return actors::node_id{std::stoull(hex, nullptr, 16)};
  }

  /// A 2-CPU node started for one test (every other node has one CPU).
  struct big_node {
    std::unique_ptr<process> proc;
    std::string id;
  };

  static big_node start_big_node() {
    big_node big{std::make_unique<process>(std::vector<std::string>{actors::test::env("ACTORSD"), "--num-cpus", "2",
                                                                    "--load", actors::test::env("JOB_LIBRARY"),
                                                                    "--address", address, "--token", token},
                                           dir + "/big.log"),
                 {}};
    EXPECT_TRUE(actors::test::eventually([&] {
      for (const auto& n : actors::nodes())
        if (n.alive && !n.is_driver && n.resources_total.count("CPU") && n.resources_total.at("CPU") == 2)
          big.id = n.id.to_string();
      return !big.id.empty();
    }));
    return big;
  }

  /// Kills it and waits until the cluster holds it dead: this driver, and the
  /// head too, whose node table a process that joins next starts from (this
  /// driver sees the connection close before the head declares the node dead).
  static void kill_big_node(big_node& big) {
    big.proc->kill(SIGKILL);
    EXPECT_TRUE(actors::test::eventually([&] {
      for (const auto& n : actors::nodes())
        if (n.id.to_string() == big.id)
          return !n.alive;
      return false;
    }));
    EXPECT_TRUE(actors::test::eventually([&] {
      auto [code, out] = actors::test::run({actors::test::env("ACTORS_CLI"), "status"}, dir + "/status-killed.log");
      std::istringstream lines(out);
      std::string line;
      while (std::getline(lines, line))
        if (line.rfind(big.id, 0) == 0)
          return code == 0 && line.find(" DEAD ") != std::string::npos;
      return false;
    })) << "the head still lists node " << big.id << " alive";
  }
};

} // namespace

TEST_F(Cluster, DriverJoinsAsADriverWithNoCpus) {
  int drivers = 0;
  for (const auto& n : actors::nodes())
    if (n.is_driver && n.id == actors::current_node_id()) {
      ++drivers;
      EXPECT_EQ(n.resources_total.at("CPU"), 0);
    }
  EXPECT_EQ(drivers, 1);
}

TEST_F(Cluster, TasksLandOnSeveralNodesAndAreCorrect) {
  std::vector<actors::object_ref<std::int64_t>> squares;
  std::vector<actors::object_ref<std::string>> where;
  for (int i = 0; i < 30; ++i) {
    squares.push_back(actors::task(job::square).remote(std::int64_t{i}));
    where.push_back(actors::task(job::where_am_i).strategy(actors::spread).remote(i));
  }
  auto values = actors::get(squares);
  for (int i = 0; i < 30; ++i)
    ASSERT_EQ(values[i], i * i);
  std::set<std::string> nodes;
  for (const auto& w : actors::get(where))
    nodes.insert(w);
  EXPECT_GE(nodes.size(), 2u);
  EXPECT_EQ(nodes.count(actors::current_node_id().to_string()), 0u) << "the driver offers no CPUs";
}

TEST_F(Cluster, ObjectMadeOnOneNodeIsUsedByATaskOnAnother) {
  auto made = actors::task(job::make_vec).node(id_of(plain_id), false).remote(std::int64_t{1000});
  auto total = actors::task(job::sum_vec).node(id_of(gpu_id), false).remote(made);
  EXPECT_EQ(actors::get(total), 500500);
  auto put = actors::put(job::make_vec(10));
  EXPECT_EQ(actors::get(actors::task(job::sum_vec).node(id_of(head_id), false).remote(put)), 55);
}

TEST_F(Cluster, RemoteActorKeepsStateAndOrder) {
  auto c = actors::actor(job::make_counter).node(id_of(plain_id), false).remote(std::int64_t{0});
  EXPECT_EQ(actors::get(c.task(&job::Counter::where).remote(), 30s), plain_id);
  std::vector<actors::object_ref<std::int64_t>> refs;
  for (int i = 0; i < 500; ++i)
    refs.push_back(c.task(&job::Counter::add).remote(std::int64_t{1}));
  auto values = actors::get(refs, 60s);
  for (int i = 0; i < 500; ++i)
    ASSERT_EQ(values[i], i + 1);
}

TEST_F(Cluster, ARemoteThreadedActorRunsMaxConcurrencyCallsAtOnce) {
  auto a = actors::actor(job::make_overlap).max_concurrency(3).node(id_of(plain_id), false).remote();
  EXPECT_EQ(actors::get(a.task(&job::Overlap::where).remote(), 30s), plain_id);
  std::vector<actors::object_ref<std::int64_t>> refs;
  for (int i = 0; i < 9; ++i)
    refs.push_back(a.task(&job::Overlap::stay).remote(150));
  for (auto inside : actors::get(refs, 60s))
    EXPECT_LE(inside, 3);
  // The node offers one CPU, and its threaded actor still runs three calls at once.
  EXPECT_EQ(actors::get(a.task(&job::Overlap::most).remote()), 3);
}

TEST_F(Cluster, ARemoteAsyncActorAwaitsObjectsMadeOnOtherNodes) {
  auto s = actors::actor(job::make_summer).node(id_of(plain_id), false).remote();
  EXPECT_EQ(actors::get(s.task(&job::Summer::where).remote()), plain_id);
  // Made on the head, slowly: the actor waits for them at co_await, on its node.
  std::vector<actors::object_ref<std::int64_t>> refs;
  for (std::int64_t i = 1; i <= 20; ++i)
    refs.push_back(actors::task(job::slow_square).node(id_of(head_id), false).remote(i, 50));
  auto sum = s.task(&job::Summer::add_all).remote(refs);
  // While that call waits, others of the same actor run.
  EXPECT_EQ(actors::get(s.task(&job::Summer::add_one).remote(actors::put(std::int64_t{1000})), 10s), 1000);
  EXPECT_EQ(actors::get(sum, 30s), 1000 + 2870);
  EXPECT_EQ(actors::get(s.task(&job::Summer::total).remote()), 3870);
}

TEST_F(Cluster, ACoroutineTaskAwaitsObjectsMadeOnOtherNodes) {
  std::vector<actors::object_ref<std::int64_t>> refs;
  for (std::int64_t i = 1; i <= 10; ++i)
    refs.push_back(actors::task(job::slow_square).node(id_of(head_id), false).remote(i, 50));
  auto r = actors::task(job::sum_where_awaited).node(id_of(gpu_id), false).remote(refs);
  EXPECT_EQ(actors::get(r, 30s), gpu_id + " 385");
}

TEST_F(Cluster, ARemoteActorThatCallsExitActorEndsWithoutARestart) {
  auto c = actors::actor(job::make_counter).name("leaving").max_restarts(2).node(id_of(plain_id), false)
             .remote(std::int64_t{3});
  EXPECT_EQ(actors::get(c.task(&job::Counter::quit).remote(), 10s), 3);
  EXPECT_THROW(actors::get(c.task(&job::Counter::value).remote(), 10s), actors::actor_died_error);
  EXPECT_TRUE(actors::test::eventually([] { return !actors::get_actor<job::Counter>("leaving").has_value(); }))
    << "the name was not freed";
}

TEST_F(Cluster, GetIfExistsFindsANamedActorLivingOnAnotherNode) {
  auto a = actors::actor(job::make_counter).name("one-of-a-kind").get_if_exists().node(id_of(gpu_id), false)
             .remote(std::int64_t{1});
  auto b = actors::actor(job::make_counter).name("one-of-a-kind").get_if_exists().remote(std::int64_t{50});
  EXPECT_EQ(actors::get(b.task(&job::Counter::add).remote(std::int64_t{1}), 10s), 2);
  EXPECT_EQ(actors::get(a.task(&job::Counter::where).remote(), 10s), gpu_id);
  actors::kill(a);
}

TEST_F(Cluster, ActorHandlePassedToARemoteTaskReachesTheActor) {
  auto c = actors::actor(job::make_counter).node(id_of(gpu_id), false).remote(std::int64_t{5});
  auto handles = std::vector<actors::actor_handle<job::Counter>>{c};
  auto again = actors::get(actors::put(handles));
  EXPECT_EQ(actors::get(again[0].task(&job::Counter::add).remote(std::int64_t{1})), 6);
}

TEST_F(Cluster, NamedActorIsFoundByASecondDriverOfItsNamespaceOnly) {
  auto c = actors::actor(job::make_counter).name("shared-counter").remote(std::int64_t{41});
  actors::get(c.task(&job::Counter::value).remote());
  auto [code, out] = actors::test::run({actors::test::env("SECOND_DRIVER"), "shared-counter",
                                        "--actors-address=" + address, "--actors-token=" + token,
                                        "--actors-namespace=cluster-test"},
                                       dir + "/second.log");
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("value 42"), std::string::npos) << out;
  EXPECT_EQ(actors::get(c.task(&job::Counter::value).remote()), 42);
  // A driver of another namespace, or of none (an anonymous one of its own), does
  // not see it.
  for (std::string other : {"--actors-namespace=elsewhere", "--actors-metrics-port=-1"}) {
    auto [ocode, oout] = actors::test::run({actors::test::env("SECOND_DRIVER"), "shared-counter",
                                            "--actors-address=" + address, "--actors-token=" + token, other},
                                           dir + "/other-namespace.log");
    EXPECT_EQ(ocode, 1) << oout;
    EXPECT_NE(oout.find("not found"), std::string::npos) << oout;
  }
  EXPECT_EQ(actors::get(c.task(&job::Counter::value).remote()), 42);
}

TEST_F(Cluster, ATaskOnAnotherNodeNamesAndFindsActorsInItsDriversNamespace) {
  auto plain = id_of(plain_id);
  auto named = actors::task(job::make_named_counter).node(plain, false).remote(std::string("by-a-task"));
  EXPECT_TRUE(actors::get(named, 20s));
  auto made = actors::get_actor<job::Counter>("by-a-task");
  ASSERT_TRUE(made.has_value()) << "the task named its actor in another namespace";
  EXPECT_EQ(actors::get(made->task(&job::Counter::add).remote(std::int64_t{1}), 10s), 1);
  // And it finds the driver's named actors, where a lookup of its node's own
  // namespace would not.
  auto added = actors::task(job::add_to_named).node(plain, false).remote(std::string("by-a-task"), std::int64_t{2});
  EXPECT_EQ(actors::get(added, 20s), 3);
  actors::kill(*made);
}

TEST_F(Cluster, StatusAndListShowTheNodes) {
  auto [code, out] = actors::test::run({actors::test::env("ACTORS_CLI"), "status"}, dir + "/status.log");
  EXPECT_EQ(code, 0) << out;
  for (const auto& id : {head_id, plain_id, gpu_id})
    EXPECT_NE(out.find(id), std::string::npos) << out;
  EXPECT_NE(out.find("GPU"), std::string::npos) << out;
  auto [jcode, json] =
    actors::test::run({actors::test::env("ACTORS_CLI"), "list", "nodes", "--json"}, dir + "/list.log");
  EXPECT_EQ(jcode, 0) << json;
  EXPECT_EQ(json.front(), '[') << json;
  for (const auto& id : {head_id, plain_id, gpu_id})
    EXPECT_NE(json.find("\"id\":\"" + id + "\""), std::string::npos) << json;
}

TEST_F(Cluster, WrongTokenIsRefusedOnBothSides) {
  auto [code, out] = actors::test::run(daemon({"--address", address, "--token", "not-the-token"}),
                                       dir + "/intruder.log");
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("wrong cluster token"), std::string::npos) << out;
  EXPECT_TRUE(actors::test::eventually(
    [] { return head().output().find("wrong cluster token") != std::string::npos; }))
    << head().output();
}

TEST_F(Cluster, ResourceOnlyOneNodeHasRoutesThere) {
  std::vector<actors::object_ref<std::string>> where;
  for (int i = 0; i < 10; ++i)
    where.push_back(actors::task(job::where_am_i).resource("GPU", 1).remote(i));
  for (const auto& w : actors::get(where))
    EXPECT_EQ(w, gpu_id);
}

TEST_F(Cluster, SpreadUsesEveryNodeThatFits) {
  std::set<std::string> nodes;
  for (int i = 0; i < 12; ++i)
    nodes.insert(actors::get(actors::task(job::where_am_i).strategy(actors::spread).remote(i)));
  EXPECT_EQ(nodes, (std::set<std::string>{head_id, plain_id, gpu_id}));
}

TEST_F(Cluster, FunctionMissingOnTheChosenNodeIsATaskError) {
  try {
    actors::get(actors::task(driver_only).node(id_of(plain_id), false).remote(std::int64_t{1}), 10s);
    FAIL() << "expected task_error";
  } catch (const actors::task_error& e) {
    EXPECT_NE(std::string(e.what()).find("driver_only"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(plain_id), std::string::npos) << e.what();
  }
}

TEST_F(Cluster, NodeAffinityPinsTasks) {
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(actors::get(actors::task(job::where_am_i).node(id_of(head_id), false).remote(i)), head_id);
}

TEST_F(Cluster, KilledNodeIsMarkedDeadAndItsTasksRunElsewhere) {
  auto extra = std::make_unique<process>(daemon({"--address", address, "--token", token}), dir + "/extra.log");
  std::string extra_id;
  ASSERT_TRUE(actors::test::eventually([&] {
    for (const auto& n : actors::nodes())
      if (n.alive && !n.is_driver && n.id.to_string() != head_id && n.id.to_string() != plain_id
          && n.id.to_string() != gpu_id)
        extra_id = n.id.to_string();
    return !extra_id.empty();
  }));
  // A slow task bound softly to the extra node, which then dies.
  auto slow = actors::task(job::slow_square).node(id_of(extra_id), true).remote(std::int64_t{7}, 2000);
  std::this_thread::sleep_for(300ms);
  extra->kill(SIGKILL);
  EXPECT_EQ(actors::get(slow, 20s), 49);
  EXPECT_TRUE(actors::test::eventually([&] {
    for (const auto& n : actors::nodes())
      if (n.id.to_string() == extra_id)
        return !n.alive;
    return false;
  }));
}

TEST_F(Cluster, LargeResultStaysOnItsNodeAndMovesInChunksOnDemand) {
  // 8 MB: several chunks, too big to travel with the reply.
  auto big = actors::task(job::make_vec).node(id_of(plain_id), false).remote(std::int64_t{1'000'000});
  auto on_other = actors::task(job::sum_vec).node(id_of(gpu_id), false).remote(big);
  EXPECT_EQ(actors::get(on_other, 30s), 500'000'500'000);
  auto here = actors::get(big, 30s);
  ASSERT_EQ(here.size(), 1'000'000u);
  EXPECT_EQ(here.front(), 1);
  EXPECT_EQ(here.back(), 1'000'000);
  // A second reader on the same node reuses the copy the first one fetched.
  EXPECT_EQ(actors::get(actors::task(job::sum_vec).node(id_of(gpu_id), false).remote(big), 30s),
            500'000'500'000);
}

TEST_F(Cluster, LargeArgumentsKeptByTheDriverReachTheirTaskAndItsRunElsewhereWhenItsNodeDies) {
  // 16 and 8 MiB vectors passed by value: the driver keeps them, and the node
  // running the task fetches each.
  constexpr std::int64_t n = std::int64_t{1} << 21;
  const std::int64_t expect = n * (n + 1) / 2 + (n / 2) * (n / 2 + 1) / 2;
  EXPECT_EQ(actors::get(actors::task(job::slow_sum_both)
                          .node(id_of(plain_id), false)
                          .remote(job::make_vec(n), job::make_vec(n / 2), 0),
                        30s),
            expect);
  // Its node dies while it runs: the run on another node fetches them again.
  auto big = start_big_node();
  auto slow = actors::task(job::slow_sum_both)
                .node(id_of(big.id), true)
                .remote(job::make_vec(n), job::make_vec(n / 2), 3000);
  std::this_thread::sleep_for(1s);
  kill_big_node(big);
  EXPECT_EQ(actors::get(slow, 30s), expect) << "the run after its node died got other arguments";
}

TEST_F(Cluster, TasksGoWhereTheirLargeArgumentsAre) {
  auto big = actors::task(job::make_vec).node(id_of(plain_id), false).remote(std::int64_t{500'000});
  actors::wait(std::vector{big});
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(actors::get(actors::task(job::where_holding).remote(big, i)), plain_id);
}

TEST_F(Cluster, CancelStopsATaskOnAnotherNodeAndRecursiveCancelTheTasksItSubmitted) {
  auto plain = id_of(plain_id);
  auto gpu = id_of(gpu_id);
  // A spinner holds the plain node's only CPU for up to a minute: a task for
  // that node waits behind it.
  auto spinner = actors::task(job::spin_until_cancelled).node(plain, false).remote(60'000);
  auto behind = actors::task(job::where_am_i).node(plain, false).remote(1);
  EXPECT_TRUE(actors::wait(std::vector{behind}, 1, 1s).ready.empty()) << "the spinner did not hold the plain node";
  actors::cancel(spinner);
  EXPECT_THROW(actors::get(spinner, 10s), actors::task_cancelled_error);
  // It saw the cancel there and stopped: the task behind it runs.
  EXPECT_EQ(actors::get(behind, 10s), plain_id);

  // A task on the plain node submits a spinner to the GPU node, then spins. A
  // recursive cancel from here stops both.
  auto parent = actors::task(job::spin_with_child_on).node(plain, false).remote(gpu, 60'000);
  // Time for the parent to start and its child to reach the GPU node.
  std::this_thread::sleep_for(1s);
  auto behind_parent = actors::task(job::where_am_i).node(plain, false).remote(2);
  auto behind_child = actors::task(job::where_am_i).node(gpu, false).remote(3);
  EXPECT_TRUE(actors::wait(std::vector{behind_child}, 1, 2s).ready.empty()) << "the child did not hold the GPU node";
  actors::cancel(parent, {.recursive = true});
  EXPECT_EQ(actors::get(behind_parent, 10s), plain_id);
  EXPECT_EQ(actors::get(behind_child, 10s), gpu_id);
}

TEST_F(Cluster, GeneratorItemsStreamFromAnotherNodeAsTheyAreMade) {
  auto plain = id_of(plain_id);
  auto gpu = id_of(gpu_id);
  // Every item, in order.
  std::int64_t expect = 0;
  for (auto r : actors::task(job::numbers).node(plain, false).remote(std::int64_t{2000}, 0))
    ASSERT_EQ(actors::get(r, 10s), expect++);
  EXPECT_EQ(expect, 2000);

  // The first item comes long before the producer ends (200 ms between items).
  auto start = std::chrono::steady_clock::now();
  auto slow = actors::task(job::numbers).node(plain, false).remote(std::int64_t{6}, 200);
  auto first = slow.next(10s);
  auto first_after = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(actors::get(*first), 0);
  int rest = 0;
  for (auto r : slow)
    EXPECT_EQ(actors::get(r), ++rest);
  auto all_after = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(rest, 5);
  EXPECT_LT(first_after + 500ms, all_after) << "the first item came only with the last ones";

  // Large items (8 MiB each) are held by the producer's node and fetched.
  int i = 0;
  for (auto r : actors::task(job::chunks).node(gpu, false).remote(3, std::int64_t{1} << 20)) {
    auto v = actors::get(r, 20s);
    ASSERT_EQ(v.size(), std::size_t{1} << 20);
    EXPECT_EQ(v.front(), i);
    EXPECT_EQ(v.back(), i);
    ++i;
  }
  EXPECT_EQ(i, 3);

  // A task on the GPU node reads a stream made on the plain node.
  EXPECT_EQ(actors::get(actors::task(job::sum_stream_from).node(gpu, false).remote(plain, std::int64_t{100}), 30s),
            4950);
}

TEST_F(Cluster, MaxBufferedPausesAGeneratorOnAnotherNodeUntilItsItemsAreRead) {
  auto plain = id_of(plain_id);
  auto now_us = [] {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
  };
  auto read_stamps = [](actors::object_ref_stream<std::int64_t>& s) {
    std::vector<std::int64_t> out;
    for (auto r : s)
      out.push_back(actors::get(r, 10s));
    return out;
  };
  // Two items made, then it waits for this driver to read: the third is made
  // after the first read, which comes after the pause here.
  auto bounded = actors::task(job::stamps).node(plain, false).max_buffered(2).remote(10);
  std::this_thread::sleep_for(1500ms);
  const auto reading_from = now_us();
  auto paced = read_stamps(bounded);
  ASSERT_EQ(paced.size(), 10u);
  EXPECT_GE(paced[2], reading_from) << "the producer went past max_buffered unread items";
  // Without max_buffered it makes them all while nobody reads.
  auto unbounded = actors::task(job::stamps).node(plain, false).remote(10);
  std::this_thread::sleep_for(1500ms);
  const auto read_later = now_us();
  auto ahead = read_stamps(unbounded);
  ASSERT_EQ(ahead.size(), 10u);
  EXPECT_LT(ahead[9], read_later);
}

TEST_F(Cluster, DroppingAStreamStopsItsGeneratorOnAnotherNode) {
  auto plain = id_of(plain_id);
  {
    // It holds the plain node's only CPU for as long as it runs.
    auto s = actors::task(job::forever).node(plain, false).remote();
    ASSERT_TRUE(s.next(10s).has_value());
    auto behind = actors::task(job::where_am_i).node(plain, false).remote(1);
    EXPECT_TRUE(actors::wait(std::vector{behind}, 1, 1s).ready.empty()) << "the generator did not hold the node";
  }
  // Dropped: it stops there and gives the CPU back.
  EXPECT_EQ(actors::get(actors::task(job::where_am_i).node(plain, false).remote(2), actors::test::scaled(10s)),
            plain_id);
}

TEST_F(Cluster, AnActorOnAnotherNodeStreamsFromAGeneratorMethod) {
  auto plain = id_of(plain_id);
  auto ticker = actors::actor(job::make_ticker).node(plain, false).remote();
  EXPECT_EQ(actors::get(ticker.task(&job::Ticker::where).remote(), 10s), plain_id);
  std::int64_t expect = 1000;
  for (auto r : ticker.task(&job::Ticker::ticks).remote(std::int64_t{1000}, std::int64_t{500}))
    ASSERT_EQ(actors::get(r, 10s), expect++);
  EXPECT_EQ(expect, 1500);
  // Paused at max_buffered there: the actor's other calls run meanwhile.
  auto paused = ticker.task(&job::Ticker::ticks).max_buffered(3).remote(std::int64_t{0}, std::int64_t{100});
  ASSERT_TRUE(actors::test::eventually(
    [&] { return actors::get(ticker.task(&job::Ticker::made).remote(), 10s) == 503; }, 10s));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(actors::get(ticker.task(&job::Ticker::made).remote(), 10s), 503);
  std::int64_t read = 0;
  for (auto r : paused)
    EXPECT_EQ(actors::get(r, 10s), read++);
  EXPECT_EQ(read, 100);
  // Dropped: the endless generator there stops.
  {
    auto s = ticker.task(&job::Ticker::endless).remote();
    ASSERT_TRUE(s.next(10s).has_value());
  }
  std::int64_t made = 0;
  EXPECT_TRUE(actors::test::eventually([&] {
    auto before = actors::get(ticker.task(&job::Ticker::made).remote(), 10s);
    std::this_thread::sleep_for(50ms);
    made = actors::get(ticker.task(&job::Ticker::made).remote(), 10s);
    return made == before;
  }, 10s)) << "the generator method on the other node did not stop";
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(actors::get(ticker.task(&job::Ticker::made).remote(), 10s), made);
}

TEST_F(Cluster, ChainOfDependentTasksAcrossNodes) {
  // Each step takes the previous step's object: the driver waits for it and sends
  // it along with the next task, which may run on another node.
  auto ref = actors::task(job::square).strategy(actors::spread).remote(std::int64_t{1});
  for (int i = 0; i < 200; ++i)
    ref = actors::task(job::inc).strategy(actors::spread).remote(ref);
  EXPECT_EQ(actors::get(ref, 30s), 201);
}

// Removes a group however its test ends: a group left behind holds CPUs that the
// tests after it need.
struct removed_at_end {
  actors::placement_group& pg;
  ~removed_at_end() { pg.remove(); }
};

TEST_F(Cluster, SpreadPlacementGroupPutsBundlesOnDifferentNodes) {
  actors::placement_group pg({{{"CPU", 1}}, {{"CPU", 1}}}, actors::spread);
  removed_at_end guard{pg};
  ASSERT_TRUE(pg.wait(10s));
  auto a = actors::get(actors::task(job::where_am_i).placement_group(pg, 0).remote(0), 10s);
  auto b = actors::get(actors::task(job::where_am_i).placement_group(pg, 1).remote(1), 10s);
  EXPECT_NE(a, b);
  auto c = actors::actor(job::make_counter).placement_group(pg, 1).remote(std::int64_t{0});
  EXPECT_EQ(actors::get(c.task(&job::Counter::where).remote(), 10s), b);
  auto [code, listed] =
    actors::test::run({actors::test::env("ACTORS_CLI"), "list", "placement-groups"}, dir + "/list-pg.log");
  EXPECT_EQ(code, 0) << listed;
  EXPECT_NE(listed.find(pg.id()), std::string::npos) << listed;
  EXPECT_NE(listed.find("CREATED"), std::string::npos) << listed;
}

TEST_F(Cluster, PackPlacementGroupKeepsBundlesTogether) {
  actors::placement_group pg({{{"CPU", 0.5}}, {{"CPU", 0.5}}}, actors::pack);
  removed_at_end guard{pg};
  ASSERT_TRUE(pg.wait(10s));
  auto a = actors::get(actors::task(job::where_am_i).num_cpus(0.5).placement_group(pg, 0).remote(0), 10s);
  auto b = actors::get(actors::task(job::where_am_i).num_cpus(0.5).placement_group(pg, 1).remote(1), 10s);
  EXPECT_EQ(a, b);
}

TEST_F(Cluster, PackPlacementGroupOfTwoOneCpuBundlesUsesTheNodeThatHoldsBoth) {
  // Every other node has one CPU: only this one can hold both bundles.
  auto big = start_big_node();
  ASSERT_FALSE(big.id.empty());
  {
    actors::placement_group pg({{{"CPU", 1}}, {{"CPU", 1}}}, actors::pack);
    removed_at_end guard{pg};
    ASSERT_TRUE(pg.wait(10s));
    EXPECT_EQ(actors::get(actors::task(job::where_am_i).placement_group(pg, 0).remote(0), 10s), big.id);
    EXPECT_EQ(actors::get(actors::task(job::where_am_i).placement_group(pg, 1).remote(1), 10s), big.id);
  }
  kill_big_node(big);
}

TEST_F(Cluster, StrictGroupsWaitForNodesThatKeepTheirBundlesTogetherOrApart) {
  // Every node has one CPU: no node holds two 1-CPU bundles (STRICT_PACK), and
  // there are three nodes for four bundles (STRICT_SPREAD). Neither is reserved.
  actors::placement_group packed({{{"CPU", 1}}, {{"CPU", 1}}}, actors::strict_pack);
  removed_at_end packed_guard{packed};
  EXPECT_FALSE(packed.wait(3s)) << "STRICT_PACK reserved two 1-CPU bundles on 1-CPU nodes";
  // A 2-CPU node joins: both bundles go there.
  auto big = start_big_node();
  ASSERT_FALSE(big.id.empty());
  ASSERT_TRUE(packed.wait(20s)) << "STRICT_PACK did not use the node that joined";
  EXPECT_EQ(actors::get(actors::task(job::where_am_i).placement_group(packed, 0).remote(0), 10s), big.id);
  EXPECT_EQ(actors::get(actors::task(job::where_am_i).placement_group(packed, 1).remote(1), 10s), big.id);
  packed.remove();

  // Four nodes now (three of one CPU, one of two): five bundles never all fit.
  std::vector<std::map<std::string, double>> five(5, {{"CPU", 1}});
  actors::placement_group apart_too_many(five, actors::strict_spread);
  removed_at_end too_many_guard{apart_too_many};
  EXPECT_FALSE(apart_too_many.wait(3s)) << "STRICT_SPREAD put two bundles on one node";
  apart_too_many.remove();
  std::vector<std::map<std::string, double>> four(4, {{"CPU", 1}});
  actors::placement_group apart(four, actors::strict_spread);
  removed_at_end apart_guard{apart};
  ASSERT_TRUE(apart.wait(20s));
  std::set<std::string> where;
  for (std::size_t i = 0; i < 4; ++i)
    where.insert(
      actors::get(actors::task(job::where_am_i).placement_group(apart, i).remote(static_cast<int>(i)), 10s));
  EXPECT_EQ(where.size(), 4u) << "STRICT_SPREAD put two bundles on one node";
  apart.remove();
  kill_big_node(big);
}

namespace {

double free_cpus() {
  double free = 0;
  for (const auto& n : actors::nodes())
    if (n.alive && n.resources_available.count("CPU"))
      free += n.resources_available.at("CPU");
  return free;
}

/// What `actors list placement-groups` prints.
std::string listed_groups(const std::string& dir, const std::string& tag) {
  auto [code, out] = actors::test::run({actors::test::env("ACTORS_CLI"), "list", "placement-groups"},
                                       dir + "/list-pg-" + tag + ".log");
  EXPECT_EQ(code, 0) << out;
  return out;
}

} // namespace

TEST_F(Cluster, ADriverThatEndsTakesItsPlacementGroupAndActorsWithItButNotDetachedOnes) {
  ASSERT_TRUE(actors::test::eventually([&] { return free_cpus() == 3; })) << free_cpus();
  auto go = dir + "/leave-now";
  process leaving({actors::test::env("SECOND_DRIVER"), "--leave", go, "--actors-address=" + address,
                   "--actors-token=" + token, "--actors-namespace=cluster-test"},
                  dir + "/leaving.log");
  ASSERT_TRUE(actors::test::eventually([&] { return leaving.output().find("made") != std::string::npos; },
                                       actors::test::scaled(30s)))
    << leaving.output();
  EXPECT_TRUE(actors::test::eventually([&] { return free_cpus() == 0; }))
    << "the two bundles and the actor hold the three CPUs; free: " << free_cpus();
  auto made = leaving.output();
  auto group = made.substr(made.find("made ") + 5, 12);
  EXPECT_NE(listed_groups(dir, "before").find(group), std::string::npos) << "the head lists every group";
  std::ofstream(go) << "go\n";
  // It returns from main without actors::shutdown(): the runtime stops at exit.
  auto code = leaving.wait_exit(30s);
  ASSERT_TRUE(code.has_value()) << leaving.output();
  EXPECT_EQ(*code, 0) << "the driver did not exit cleanly\n" << leaving.output();
  EXPECT_TRUE(actors::test::eventually([&] { return free_cpus() == 3; }, 15s))
    << "still held after the driver ended; free: " << free_cpus();
  EXPECT_TRUE(actors::test::eventually(
    [&] { return listed_groups(dir, "after").find(group) == std::string::npos; }, 15s))
    << "the head still lists a group whose driver ended";
  EXPECT_TRUE(actors::test::eventually(
    [] { return !actors::get_actor<job::Counter>("goes-with-its-driver").has_value(); }, 15s));
  auto detached = actors::get_actor<job::Counter>("outlives-its-driver");
  ASSERT_TRUE(detached.has_value()) << "a detached actor ended with its driver";
  EXPECT_EQ(actors::get(detached->task(&job::Counter::add).remote(std::int64_t{1}), 10s), 4);
  actors::kill(*detached);
}

TEST_F(Cluster, ADetachedPlacementGroupOutlivesItsDriverAndIsFoundAndRemovedFromAnother) {
  ASSERT_TRUE(actors::test::eventually([&] { return free_cpus() == 3; })) << free_cpus();
  process maker({actors::test::env("SECOND_DRIVER"), "--detached-group", "kept-group", "--actors-address=" + address,
                 "--actors-token=" + token, "--actors-namespace=cluster-test"},
                dir + "/detached-group.log");
  // However this test ends, the group goes with it: its bundle would hold a CPU
  // of the head from the tests after.
  struct remove_group {
    ~remove_group() {
      try {
        if (auto left = actors::get_placement_group("kept-group"))
          left->remove();
      } catch (const std::exception&) {
      }
    }
  } cleanup;
  auto code = maker.wait_exit(30s);
  ASSERT_TRUE(code.has_value()) << maker.output();
  EXPECT_EQ(*code, 0) << "the driver did not exit cleanly\n" << maker.output();
  auto made = maker.output();
  ASSERT_NE(made.find("made "), std::string::npos) << made;
  auto group = made.substr(made.find("made ") + 5, 12);
  // Its driver has ended and the head holds it dead: the bundle stays reserved.
  ASSERT_TRUE(actors::test::eventually([&] {
    for (const auto& n : actors::nodes())
      if (n.is_driver && n.alive && n.id != actors::current_node_id())
        return false;
    return true;
  }, 15s));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(free_cpus(), 2) << "a detached group's bundle was given back with its driver";

  EXPECT_FALSE(actors::get_placement_group("kept-group", "another-namespace").has_value());
  auto pg = actors::get_placement_group("kept-group");
  ASSERT_TRUE(pg.has_value()) << "not found from a second driver of its namespace";
  EXPECT_EQ(pg->id(), group);
  EXPECT_EQ(pg->bundle_count(), 1u);
  EXPECT_TRUE(pg->wait(10s));
  auto where = actors::get(actors::task(job::where_am_i).placement_group(*pg, 0).remote(0), 10s);

  auto listed = listed_groups(dir, "detached");
  auto row = listed.substr(listed.find(group));
  row = row.substr(0, row.find('\n'));
  for (const char* part : {"kept-group", "cluster-test", "PACK", "{CPU:1}", "CREATED", "detached"})
    EXPECT_NE(row.find(part), std::string::npos) << part << " missing from " << row;
  EXPECT_NE(row.find(where), std::string::npos) << "the bundle's node is listed: " << row;

  actors::placement_group_options same_name;
  same_name.name = "kept-group";
  try {
    actors::placement_group taken({{{"CPU", 1}}}, actors::pack, same_name);
    ADD_FAILURE() << "a second group took the name";
  } catch (const actors::error& e) {
    EXPECT_EQ(e.code(), actors::errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("exists already"), std::string::npos) << e.what();
  }

  pg->remove();
  EXPECT_TRUE(actors::test::eventually([&] { return free_cpus() == 3; }, 10s)) << free_cpus();
  EXPECT_FALSE(actors::get_placement_group("kept-group").has_value());
  EXPECT_EQ(listed_groups(dir, "removed").find(group), std::string::npos);
}

TEST_F(Cluster, TaskNoNodeCanRunWaitsForOneThatJoins) {
  auto ref = actors::task(job::where_am_i).resource("TPU", 1).remote(0);
  EXPECT_THROW(actors::get(ref, 200ms), actors::timeout_error);
  process tpu(daemon({"--address", address, "--token", token, "--resources", "TPU=1"}), dir + "/tpu.log");
  auto where = actors::get(ref, 20s);
  bool on_tpu_node = false;
  for (const auto& n : actors::nodes())
    if (n.id.to_string() == where)
      on_tpu_node = n.resources_total.count("TPU") > 0;
  EXPECT_TRUE(on_tpu_node) << where;
  tpu.kill(SIGTERM);
  EXPECT_EQ(tpu.wait_exit(10s), 0) << tpu.output();
}

TEST_F(Cluster, ListShowsActorsTasksAndObjectsOfEveryNode) {
  auto c = actors::actor(job::make_counter).name("listed").node(id_of(gpu_id), false).remote(std::int64_t{0});
  actors::get(c.task(&job::Counter::value).remote(), 30s);
  std::vector<actors::object_ref<std::int64_t>> refs;
  for (int i = 0; i < 6; ++i)
    refs.push_back(actors::task(job::square).strategy(actors::spread).remote(std::int64_t{i}));
  ASSERT_EQ(actors::wait(refs, refs.size(), 30s).ready.size(), refs.size());
  actors::get(refs);
  auto big = actors::task(job::make_vec).node(id_of(plain_id), false).remote(std::int64_t{100'000});
  ASSERT_EQ(actors::wait(std::vector{big}, 1, 30s).ready.size(), 1u);
  auto cli = actors::test::env("ACTORS_CLI");

  auto [acode, actors_out] = actors::test::run({cli, "list", "actors"}, dir + "/list-actors.log");
  EXPECT_EQ(acode, 0) << actors_out;
  EXPECT_NE(actors_out.find("listed"), std::string::npos) << actors_out;
  EXPECT_NE(actors_out.find("job::Counter"), std::string::npos) << actors_out;
  EXPECT_NE(actors_out.find(gpu_id), std::string::npos) << actors_out;

  auto [tcode, tasks_out] = actors::test::run({cli, "list", "tasks", "--state", "finished"}, dir + "/list-tasks.log");
  EXPECT_EQ(tcode, 0) << tasks_out;
  EXPECT_NE(tasks_out.find("square"), std::string::npos) << tasks_out;
  EXPECT_EQ(tasks_out.find("RUNNING"), std::string::npos) << "--state finished filters" << tasks_out;

  auto [ocode, objects_out] = actors::test::run({cli, "list", "objects"}, dir + "/list-objects.log");
  EXPECT_EQ(ocode, 0) << objects_out;
  EXPECT_NE(objects_out.find(plain_id), std::string::npos) << "the big result is held on its node\n" << objects_out;

  auto [scode, summary] = actors::test::run({cli, "summary", "tasks"}, dir + "/summary.log");
  EXPECT_EQ(scode, 0) << summary;
  EXPECT_NE(summary.find("square"), std::string::npos) << summary;

  auto trace = dir + "/trace.json";
  auto [lcode, tl] = actors::test::run({cli, "timeline", "-o", trace}, dir + "/timeline.log");
  EXPECT_EQ(lcode, 0) << tl;
  std::ifstream in(trace);
  std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(json.rfind("{\"traceEvents\":[", 0), 0u) << json.substr(0, 200);
  std::size_t events = 0;
  for (auto p = json.find("\"ph\":\"X\""); p != std::string::npos; p = json.find("\"ph\":\"X\"", p + 1))
    ++events;
  // One event per execution: as many as the nodes' counters say ran.
  double executed = 0;
  for (const auto& n : actors::nodes()) {
    if (!n.alive || n.metrics_port <= 0)
      continue;
    auto text = actors::test::http_get(n.metrics_port, "/metrics");
    for (const char* state : {"finished", "failed"}) {
      auto series = "actors_tasks_total{node=\"" + n.id.to_string() + "\",state=\"" + state + "\"} ";
      auto at = text.find(series);
      if (at != std::string::npos)
        executed += std::stod(text.substr(at + series.size()));
    }
  }
  EXPECT_EQ(static_cast<double>(events), executed);
  EXPECT_GE(events, 7u) << "six squares and one method call at least";
  // And it is JSON (Chrome's trace format), as a JSON parser reads it.
  auto [pcode, parsed] = actors::test::run(
    {"/usr/bin/python3", "-c",
     "import json,sys; d=json.load(open(sys.argv[1])); print(len([e for e in d['traceEvents'] if e['ph']=='X']))",
     trace},
    dir + "/parse.log");
  EXPECT_EQ(pcode, 0) << parsed;
  EXPECT_EQ(parsed, std::to_string(events) + "\n");
  actors::kill(c);
}

TEST_F(Cluster, EachProcessKeepsItsLogInTheSessionDirectoryAndSaysWhyItStopped) {
  auto text_of = [](const std::string& file) {
    std::ifstream in(file);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  // Every line: UTC time with milliseconds, level, node, pid, component.
  const std::regex line_format(
    R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warning|info|debug) node=[0-9a-f]+ pid=\d+ \[[a-z_]+\] .+$)");
  auto every_line_formatted = [&](const std::string& text) {
    std::istringstream in(text);
    std::size_t n = 0;
    for (std::string l; std::getline(in, l); ++n)
      if (!std::regex_match(l, line_format))
        return "not in the log format: " + l;
    return n ? std::string() : std::string("no lines");
  };
  auto head_log = text_of(dir + "/logs/head-" + head_id + ".log");
  EXPECT_NE(head_log.find("head " + head_id + " (pid " + std::to_string(head().pid()) + ") serves the cluster at "
                          + address + " as its head"),
            std::string::npos)
    << head_log;
  EXPECT_EQ(every_line_formatted(head_log), "");
  for (const auto& n : actors::nodes()) {
    if (!n.alive || n.is_head || n.is_driver)
      continue;
    const auto id = n.id.to_string();
    // The head lists a node as soon as it takes the join, a moment before the
    // node writes that it joined.
    const auto joined = "node " + id + " (pid " + std::to_string(n.pid) + ") joined the cluster at " + address;
    std::string node_log;
    EXPECT_TRUE(actors::test::eventually([&] {
      node_log = text_of(dir + "/logs/node-" + id + ".log");
      return node_log.find(joined) != std::string::npos;
    }, 10s)) << node_log;
    EXPECT_EQ(every_line_formatted(node_log), "") << id;
  }
  // This test program is a driver: its own file.
  const auto self = actors::current_node_id().to_string();
  auto driver_log = text_of(dir + "/logs/driver-" + self + ".log");
  EXPECT_NE(driver_log.find("driver " + self + " (pid " + std::to_string(::getpid()) + ") joined the cluster at "),
            std::string::npos)
    << driver_log;

  // A node asked to stop says so, and that it stopped, as its last lines.
  auto big = start_big_node();
  ASSERT_FALSE(big.id.empty());
  big.proc->kill(SIGTERM);
  ASSERT_TRUE(big.proc->wait_exit(30s).has_value()) << big.proc->output();
  auto big_log = text_of(dir + "/logs/node-" + big.id + ".log");
  auto asked = big_log.find("node " + big.id + " stops: asked to stop (actors stop or a signal)");
  auto stopped = big_log.find("node " + big.id + " stopped");
  EXPECT_NE(asked, std::string::npos) << big_log;
  EXPECT_NE(stopped, std::string::npos) << big_log;
  EXPECT_LT(asked, stopped) << big_log;
}

TEST_F(Cluster, ActorsLogsReadsANodesLogThroughTheHeadAndFollowsTheHeads) {
  const auto cli = actors::test::env("ACTORS_CLI");
  auto text_of = [](const std::string& file) {
    std::ifstream in(file);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  // A node named by the start of its id: its whole file, as on its disk.
  const auto node_log = dir + "/logs/node-" + gpu_id + ".log";
  std::string out;
  EXPECT_TRUE(actors::test::eventually([&] {
    auto [code, text] = actors::test::run({cli, "logs", gpu_id.substr(0, 6)}, dir + "/logs-node.log");
    out = text;
    return code == 0 && text.find("node " + gpu_id + " (pid ") != std::string::npos;
  }, 10s)) << out;
  EXPECT_EQ(text_of(node_log).rfind(out, 0), std::size_t{0}) << "not the start of " << node_log << ":\n" << out;

  // The head's last line.
  auto [tail_code, tail] = actors::test::run({cli, "logs", "head", "--tail", "1"}, dir + "/logs-tail.log");
  EXPECT_EQ(tail_code, 0) << tail;
  EXPECT_EQ(std::count(tail.begin(), tail.end(), '\n'), 1) << tail;
  EXPECT_NE(tail.find("node=" + head_id), std::string::npos) << tail;

  // A node no id starts with: the ids to choose from.
  auto [bad_code, bad] = actors::test::run({cli, "logs", "zz"}, dir + "/logs-bad.log");
  EXPECT_EQ(bad_code, 2) << bad;
  EXPECT_NE(bad.find("no node's id starts with 'zz'"), std::string::npos) << bad;
  EXPECT_NE(bad.find(gpu_id), std::string::npos) << bad;

  // Following the head's log: a line the head writes later shows up.
  process follower({cli, "logs", "--follow", "--tail", "1"}, dir + "/logs-follow.log");
  EXPECT_TRUE(actors::test::eventually([&] { return !follower.output().empty(); }, 10s));
  auto [wrong_code, wrong] = actors::test::run({cli, "--token", "not-the-token", "status"}, dir + "/logs-wrong.log");
  EXPECT_NE(wrong_code, 0) << wrong;
  EXPECT_TRUE(actors::test::eventually([&] {
    return follower.output().find("refused to list the nodes to a caller with a wrong cluster token")
           != std::string::npos;
  }, 10s)) << follower.output();
  follower.kill(SIGTERM);
  EXPECT_TRUE(follower.wait_exit(10s).has_value());
}

TEST_F(Cluster, JsonOutputStaysJsonWhateverANameHoldsAndItsNumbersAreNumbers) {
  // A task name with a tab, a newline, a control character, quotes, a
  // backslash and a byte that is not UTF-8.
  const std::string name = "tab\there \"quoted\" back\\slash\nnewline \x01 bad\xff";
  actors::get(actors::task(job::square).name(name).node(id_of(plain_id), false).remote(std::int64_t{7}), 30s);
  auto trace = dir + "/json-trace.json";
  // Every --json output and the timeline, read by a JSON parser; the name comes
  // back with U+FFFD for the bad byte.
  const char* check = R"py(
import json, subprocess, sys
cli, trace = sys.argv[1], sys.argv[2]
want = 'tab\there "quoted" back\\slash\nnewline \x01 bad\ufffd'
def read(*args):
    out = subprocess.run([cli, *args], stdout=subprocess.PIPE, check=True).stdout
    return json.loads(out.decode('utf-8'))
tasks = [t for t in read('list', 'tasks', '--json') if t['name'] == want]
assert tasks, 'list tasks --json has no task named as given'
assert all(type(t['start_us']) is int and type(t['end_us']) is int and type(t['worker']) is int for t in tasks), tasks
summary = [r for r in read('summary', 'tasks', '--json') if r['name'] == want]
assert len(summary) == 1 and summary[0]['finished'] == 1 and type(summary[0]['pending']) is int, summary
nodes = read('list', 'nodes', '--json')
assert all(type(n['pid']) is int and type(n['alive']) is bool for n in nodes), nodes
status = read('status', '--json')
assert len(status['nodes']) == len(nodes), status
subprocess.run([cli, 'timeline', '-o', trace], stdout=subprocess.DEVNULL, check=True)
events = [e for e in json.load(open(trace, encoding='utf-8'))['traceEvents'] if e.get('name') == want]
assert events and all(type(e['ts']) is int for e in events), events
print('parsed')
)py";
  auto [code, out] = actors::test::run({"/usr/bin/python3", "-c", check, actors::test::env("ACTORS_CLI"), trace},
                                       dir + "/json-check.log");
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out, "parsed\n") << out;
}

TEST_F(Cluster, SameNameWithAnotherSignatureIsAClearError) {
  try {
    actors::get(actors::task(clash::square).node(id_of(plain_id), false).remote(3), 10s);
    FAIL() << "expected task_error";
  } catch (const actors::task_error& e) {
    EXPECT_NE(std::string(e.what()).find("rename one"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("int (*)(int)"), std::string::npos) << e.what();
  }
}

namespace {

int metrics_port_of(const std::string& id) {
  for (const auto& n : actors::nodes())
    if (n.id.to_string() == id)
      return n.metrics_port;
  return 0;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

} // namespace

TEST_F(Cluster, UserMetricsFromARemoteTaskAppearOnThatNode) {
  for (int i = 0; i < 3; ++i)
    actors::get(actors::task(job::counted).node(id_of(plain_id), false).remote(std::int64_t{i}));
  auto text = actors::test::http_get(metrics_port_of(plain_id), "/metrics");
  EXPECT_NE(text.find("job_calls_total{fn=\"counted\"} 3"), std::string::npos) << text;
  auto head_text = actors::test::http_get(metrics_port_of(head_id), "/metrics");
  EXPECT_EQ(head_text.find("job_calls_total{fn=\"counted\"} 3"), std::string::npos)
    << "the count belongs to the node that ran the calls";
}

TEST_F(Cluster, EveryNodesMetricsPassPromtool) {
  for (const auto& id : {head_id, plain_id, gpu_id}) {
    auto text = actors::test::http_get(metrics_port_of(id), "/metrics");
    auto file = dir + "/metrics-" + id + ".txt";
    std::ofstream(file) << text;
    auto [code, out] = actors::test::run({"/bin/sh", "-c", "promtool check metrics < " + file}, file + ".log");
    EXPECT_EQ(code, 0) << id << ": " << out;
  }
}

TEST_F(Cluster, PrometheusFindsEveryNodeThroughTheHeadsServiceDiscovery) {
  auto port = free_port();
  auto config = dir + "/prometheus.yml";
  std::ofstream(config) << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                        << "scrape_configs:\n  - job_name: actors\n    http_sd_configs:\n"
                        << "      - url: http://127.0.0.1:" << metrics_port_of(head_id) << "/sd\n"
                        << "        refresh_interval: 1s\n";
  process prometheus({"/usr/bin/prometheus", "--config.file=" + config, "--storage.tsdb.path=" + dir + "/tsdb",
                      "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"},
                     dir + "/prometheus.log");
  // Work on every node, so each node's task counter rises.
  std::vector<actors::object_ref<std::int64_t>> refs;
  for (const auto& id : {head_id, plain_id, gpu_id})
    for (int i = 0; i < 5; ++i)
      refs.push_back(actors::task(job::square).node(id_of(id), false).remote(std::int64_t{i}));
  actors::get(refs, 60s);
  auto query = [&](const std::string& q) {
    try {
      return actors::test::http_get(port, "/api/v1/query?query=" + q);
    } catch (const std::exception&) {
      return std::string{};
    }
  };
  // Every daemon is a target that is up.
  ASSERT_TRUE(actors::test::eventually(
    [&] {
      auto up = query("up%7Bjob%3D%22actors%22%7D%3D%3D1");
      return up.find(head_id) != std::string::npos && up.find(plain_id) != std::string::npos
             && up.find(gpu_id) != std::string::npos;
    },
    std::chrono::seconds(40)))
    << query("up") << "\n" << prometheus.output();
  // And the task counter rose on each node where tasks ran.
  ASSERT_TRUE(actors::test::eventually(
    [&] {
      auto rose = query("actors_tasks_total%7Bstate%3D%22finished%22%7D%3E0");
      return rose.find(head_id) != std::string::npos && rose.find(plain_id) != std::string::npos
             && rose.find(gpu_id) != std::string::npos;
    },
    std::chrono::seconds(20)))
    << query("actors_tasks_total");
  prometheus.kill(SIGTERM);
  prometheus.wait_exit(10s);
}

namespace {

/// Whether `actors list actors` shows the actor with id `id`.
bool listed(const std::string& cli, const std::string& dir, const std::string& id) {
  auto [code, out] = actors::test::run({cli, "list", "actors"}, dir + "/list-actors-" + id + ".log");
  EXPECT_EQ(code, 0) << out;
  return out.find(id) != std::string::npos;
}

} // namespace

TEST_F(Cluster, AnActorHandleHeldOnAnotherNodeKeepsAnUnnamedActorAlive) {
  auto cli = actors::test::env("ACTORS_CLI");
  auto keeper = actors::actor(job::make_handle_keeper).node(id_of(plain_id), false).remote(0);
  std::string id;
  {
    auto c = actors::actor(job::make_counter).node(id_of(gpu_id), false).remote(std::int64_t{5});
    id = c.id().to_string();
    actors::get(keeper.task(&job::HandleKeeper::keep).remote(c), 10s);
  } // the driver, which created it, drops its only handle
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(actors::get(keeper.task(&job::HandleKeeper::add).remote(std::int64_t{1}), 10s), 6);
  EXPECT_TRUE(listed(cli, dir, id));
  // The last handle goes: so does the actor.
  actors::get(keeper.task(&job::HandleKeeper::drop).remote(), 10s);
  EXPECT_TRUE(actors::test::eventually([&] { return !listed(cli, dir, id); }, 10s))
    << "the actor outlived every handle to it";
}

TEST_F(Cluster, AnActorHandleThatComesBackToItsCreatorKeepsTheActorAlive) {
  actors::actor_handle<job::Counter> back;
  {
    auto c = actors::actor(job::make_counter).node(id_of(gpu_id), false).remote(std::int64_t{1});
    back = actors::get(actors::task(job::echo_handle).node(id_of(plain_id), false).remote(c), 10s);
  } // the handle it was created with goes; the one that came back stays
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(actors::get(back.task(&job::Counter::add).remote(std::int64_t{1}), 10s), 2);
  actors::kill(back);
}

TEST_F(Cluster, ReferencesInsideAResultAreBorrowedByTheNodeThatReadsIt) {
  // An object owned by the node that ran the task, which kept no reference.
  std::vector<actors::object_ref<std::int64_t>> inner;
  {
    auto outer = actors::task(job::put_here).node(id_of(plain_id), false).remote(std::int64_t{41});
    inner = actors::get(outer, 10s);
  } // the result that named it goes
  // A handle to an unnamed actor the task created, which kept no handle.
  actors::actor_handle<job::Counter> counter;
  {
    auto outer = actors::task(job::counter_on).node(id_of(plain_id), false).remote(id_of(gpu_id), std::int64_t{7});
    counter = actors::get(outer, 10s);
  }
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(inner.size(), 1u);
  EXPECT_EQ(actors::get(inner[0], 10s), 41);
  EXPECT_EQ(actors::get(counter.task(&job::Counter::add).remote(std::int64_t{1}), 10s), 8);
}

TEST_F(Cluster, ObjectBorrowedByAnotherNodeOutlivesTheOwnersReference) {
  auto keeper = actors::actor(job::make_keeper).node(id_of(plain_id), false).remote(0);
  {
    std::vector<actors::object_ref<std::int64_t>> refs{actors::put(std::int64_t{40}), actors::put(std::int64_t{2})};
    actors::get(keeper.task(&job::Keeper::keep).remote(refs));
  } // the driver, which owns both objects, drops its references
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(actors::get(keeper.task(&job::Keeper::sum).remote(), 10s), 42);
  // A third node that never saw the objects fetches them from their owner, which
  // kept them for the borrower.
  EXPECT_EQ(actors::get(keeper.task(&job::Keeper::sum_on).remote(gpu_id), 10s), 42);
}
