// A cluster over several hosts: each host is a network namespace of this machine
// (netns_bed.hpp) with an address of its own on a bridge; the head, the nodes and
// the drivers are real processes, one per host, addressing each other by those
// addresses only. Faults are real: a host's link goes down, or a blackhole route
// drops what one host sends to another.
//
// Hosts: 1 the head, 2 and 3 nodes, 4 the driver, 5 a second driver. The head
// and the nodes run the command lines of the systemd units in
// examples/deploy/systemd, so that what those units run is what is tested here.

#include "tests/multihost/netns_bed.hpp"
#include "tests/support/runtime_fixture.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using actors::test::env;
using actors::test::eventually;
using actors::test::netns_bed;
using actors::test::process;

namespace {

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

constexpr int head_host = 1;
constexpr int driver_host = 4;
constexpr int second_driver_host = 5;
// The port of examples/deploy/systemd/actors-head.service.
constexpr const char* head_port = "6380";
constexpr const char* token = "0123456789abcdef0123456789abcdef";
// Silence after which a peer is declared dead; the tests cut links for well
// below or well above it.
constexpr int heartbeat_timeout_ms = 2000;

class MultiHost : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/actors-multihost-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir = tmpl;
    setenv("ACTORS_SESSION_DIR", dir.c_str(), 1);
    setenv("ACTORS_TOKEN", token, 1);
    bed = std::make_unique<netns_bed>("actmh", "10.213.9", 5, dir);
  }

  void TearDown() override {
    bed.reset();
    if (!HasFailure() && !std::getenv("ACTORS_KEEP_TEST_LOGS"))
      std::filesystem::remove_all(dir);
    else
      std::cerr << "the test's logs are in " << dir << "\n";
  }

  std::string head_address() const {
    return bed->address(head_host) + ":" + head_port;
  }

  /// The actorsd command line of `unit` in examples/deploy/systemd (what a host
  /// installed from it runs): its ${VARS} replaced from `vars`, its program by
  /// the built actorsd, its state directory by one of this test, plus `extra`.
  std::vector<std::string> unit_command(const std::string& unit, const std::map<std::string, std::string>& vars,
                                        std::vector<std::string> extra) {
    std::ifstream in(env("DEPLOY_UNITS") + "/" + unit);
    std::string line;
    while (std::getline(in, line) && line.rfind("ExecStart=", 0) != 0) {
    }
    if (line.empty())
      throw std::runtime_error("no ExecStart= line in " + unit);
    std::vector<std::string> args;
    std::istringstream words(line.substr(10));
    for (std::string w; words >> w;) {
      std::size_t at;
      while ((at = w.find("${")) != std::string::npos) {
        auto end = w.find('}', at);
        auto name = w.substr(at + 2, end - at - 2);
        if (!vars.count(name))
          throw std::runtime_error(unit + " uses ${" + name + "}, which the test does not set");
        w.replace(at, end - at + 1, vars.at(name));
      }
      if (w == "/var/lib/actors")
        w = dir + "/state";
      args.push_back(w);
    }
    args.front() = env("ACTORSD");
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  /// What every daemon of the tests adds to its unit's command line: the tests'
  /// heartbeat timeout, the job library unless the test sends it as a job, and
  /// with TLS the files of `host`.
  std::vector<std::string> test_flags(int host) const {
    std::vector<std::string> flags{"--heartbeat-timeout", std::to_string(heartbeat_timeout_ms)};
    if (daemons_load_job_library)
      flags.insert(flags.end(), {"--load", env("JOB_LIBRARY")});
    if (!certs.empty())
      flags.insert(flags.end(), {"--tls-cert", certs + "/" + bed->address(host) + ".pem", "--tls-key",
                                 certs + "/" + bed->address(host) + ".key", "--tls-ca", certs + "/ca.pem"});
    return flags;
  }

  /// With TLS: the flags of the `actors` command, as a client.
  std::vector<std::string> cli_tls() const {
    if (certs.empty())
      return {};
    return {"--tls-cert", certs + "/client.pem", "--tls-key", certs + "/client.key", "--tls-ca", certs + "/ca.pem"};
  }

  /// Makes a CA and certificates for the three daemon hosts: the cluster talks TLS.
  void use_tls() {
    certs = dir + "/certs";
    auto [code, out] = actors::test::run({env("ACTORS_CLI"), "certs", "--out", certs, "--hosts",
                                          bed->address(1) + "," + bed->address(2) + "," + bed->address(3)},
                                         dir + "/certs.log");
    ASSERT_EQ(code, 0) << out;
  }

  /// The head on host 1 as actors-head.service runs it, listening on its host's
  /// address; it runs tasks too.
  process& start_head() {
    auto& p = bed->start(head_host, "head",
                         unit_command("actors-head.service",
                                      {{"ACTORS_BIND", bed->address(head_host)}, {"ACTORS_ADVERTISE", ""}},
                                      with(test_flags(head_host), {"--num-cpus", "1"})));
    EXPECT_TRUE(eventually([&] { return p.output().find("join with") != std::string::npos; }, 15s))
      << p.output();
    return p;
  }

  /// A node on `host` as actors-node.service runs it, with `bind` as its
  /// ACTORS_BIND: by default none, so that it finds its address on the route to
  /// the head; 0.0.0.0 as in the container images.
  process& start_node(int host, const std::string& bind = "") {
    return bed->start(host, "node" + std::to_string(host),
                      unit_command("actors-node.service",
                                   {{"ACTORS_HEAD", head_address()}, {"ACTORS_BIND", bind}, {"ACTORS_NUM_CPUS", "1"}},
                                   test_flags(host)));
  }

  /// The cluster as `actors list nodes --json` on the head's host prints it.
  std::string nodes_json() {
    return bed->run(head_host, "list",
                    with({env("ACTORS_CLI"), "--address", head_address(), "list", "nodes", "--json"}, cli_tls()), 20s)
      .second;
  }

  /// The ids of the live nodes (not the head, not drivers) in nodes_json().
  std::set<std::string> live_nodes() {
    std::set<std::string> out;
    std::string all = nodes_json();
    static const std::regex node(
      R"re(\{"id":"([0-9a-f]+)","address":"[^"]*","alive":true,"head":false,"driver":false)re");
    for (std::sregex_iterator i(all.begin(), all.end(), node), end; i != end; ++i)
      out.insert((*i)[1]);
    return out;
  }

  /// Head, two nodes (the second listening on every interface, as in the
  /// container images), and their listing showing both nodes.
  void start_cluster() {
    start_head();
    start_node(2);
    start_node(3, "0.0.0.0");
    ASSERT_TRUE(eventually([&] { return live_nodes().size() == 2; }, 20s)) << nodes_json();
  }

  std::vector<std::string> driver_args(std::vector<std::string> job) {
    std::vector<std::string> args{env("MULTIHOST_DRIVER"), "--actors-address=" + head_address(),
                                  "--actors-metrics-port=-1", "--actors-namespace=multihost",
                                  "--actors-heartbeat-timeout=" + std::to_string(heartbeat_timeout_ms)};
    if (!certs.empty())
      args.insert(args.end(), {"--actors-tls-cert=" + certs + "/client.pem", "--actors-tls-key=" + certs + "/client.key",
                               "--actors-tls-ca=" + certs + "/ca.pem"});
    args.insert(args.end(), job.begin(), job.end());
    return args;
  }

  /// Starts the steady job (tasks of 5 ms over the two nodes, and four actors)
  /// on the driver's host and waits until it has submitted them.
  process& start_steady_job(int tasks) {
    auto& d = bed->start(driver_host, "driver", driver_args({"steady", std::to_string(tasks), "5"}));
    EXPECT_TRUE(eventually([&] { return d.output().find("started") != std::string::npos; }, 30s)) << d.output();
    return d;
  }

  /// Waits for the driver to finish and expects every result right.
  void expect_job_right(process& d, std::chrono::seconds limit = 120s) {
    auto code = d.wait_exit(limit);
    ASSERT_TRUE(code.has_value()) << "the job did not finish within " << limit.count() << " s:\n" << d.output();
    EXPECT_EQ(*code, 0) << d.output();
    EXPECT_NE(d.output().find("results right"), std::string::npos) << d.output();
    EXPECT_NE(d.output().find("4 actors answer"), std::string::npos) << d.output();
  }

  std::string dir;
  std::unique_ptr<netns_bed> bed;
  bool daemons_load_job_library = true;
  // The certificates' directory with TLS (empty: plaintext).
  std::string certs;
};

TEST_F(MultiHost, ProcessesOnFourHostsRunTasksActorsNamedActorsAndMoveLargeValues) {
  start_cluster();
  // Each node listed at its own host's address, none at a wildcard or loopback
  // (node 3 listens on 0.0.0.0 and advertises its address on the route to the
  // head).
  std::string listing = nodes_json();
  for (int host : {1, 2, 3})
    EXPECT_NE(listing.find(bed->address(host).append(":")), std::string::npos) << listing;
  EXPECT_EQ(listing.find("0.0.0.0"), std::string::npos) << listing;
  EXPECT_EQ(listing.find("127.0.0.1"), std::string::npos) << listing;

  auto [code, out] = bed->run(driver_host, "driver", driver_args({"spread", "hosts-counter"}), 240s);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("tasks ran on 3 nodes"), std::string::npos) << out;
  EXPECT_NE(out.find("200 squares right"), std::string::npos) << out;
  EXPECT_NE(out.find("256 MiB from a node"), std::string::npos) << out;
  // The nodes reached the driver directly, not through the head.
  for (int host : {2, 3})
    EXPECT_EQ(bed->process_output("node" + std::to_string(host)).find("go through the head"), std::string::npos)
      << bed->process_output("node" + std::to_string(host));

  // A second driver on a fifth host, in the same namespace, finds the named actor
  // the first one made.
  auto [code2, out2] =
    bed->run(second_driver_host, "second_driver",
             {env("SECOND_DRIVER"), "hosts-counter", "--actors-address=" + head_address(), "--actors-metrics-port=-1",
              "--actors-namespace=multihost"},
             60s);
  EXPECT_EQ(code2, 0) << out2;
  EXPECT_NE(out2.find("value 12"), std::string::npos) << out2;
}

TEST_F(MultiHost, NodeCutLongerThanTheTimeoutIsDeclaredDeadItsWorkRebuiltAndItJoinsAgainAsANewNode) {
  start_cluster();
  auto before = live_nodes();
  auto& d = start_steady_job(3000);
  std::this_thread::sleep_for(1s);
  bed->cut(3);
  std::this_thread::sleep_for(std::chrono::milliseconds(heartbeat_timeout_ms * 2 + 2000));
  bed->heal(3);
  expect_job_right(d);
  // The cut node comes back as a new node: two live nodes again, one of them new.
  ASSERT_TRUE(eventually(
    [&] {
      auto now = live_nodes();
      return now.size() == 2 && now != before;
    },
    30s))
    << nodes_json();
  EXPECT_TRUE(eventually([&] { return bed->process_output("node3").find("was declared dead") != std::string::npos; },
                         10s))
    << bed->process_output("node3");
}

TEST_F(MultiHost, NodeCutShorterThanTheTimeoutKeepsItsIdAndItsWork) {
  start_cluster();
  auto before = live_nodes();
  auto& d = start_steady_job(2000);
  std::this_thread::sleep_for(1s);
  bed->cut(3);
  std::this_thread::sleep_for(std::chrono::milliseconds(heartbeat_timeout_ms / 3));
  bed->heal(3);
  expect_job_right(d);
  EXPECT_EQ(bed->process_output("node3").find("was declared dead"), std::string::npos)
    << bed->process_output("node3");
  EXPECT_EQ(live_nodes(), before) << nodes_json();
}

TEST_F(MultiHost, NodeThatCannotSendToTheHeadIsDeclaredDeadAndTheJobFinishes) {
  start_cluster();
  auto before = live_nodes();
  auto& d = start_steady_job(3000);
  std::this_thread::sleep_for(1s);
  bed->cut_one_way(3, head_host);
  std::this_thread::sleep_for(std::chrono::milliseconds(heartbeat_timeout_ms * 2 + 2000));
  bed->heal_one_way(3, head_host);
  expect_job_right(d);
  // The head heard nothing from it for longer than the timeout; it comes back as
  // a new node once it can reach the head again.
  EXPECT_TRUE(eventually([&] { return bed->process_output("node3").find("was declared dead") != std::string::npos; },
                         30s))
    << bed->process_output("node3");
  EXPECT_TRUE(eventually(
    [&] {
      auto now = live_nodes();
      return now.size() == 2 && now != before;
    },
    30s))
    << nodes_json();
}

TEST_F(MultiHost, HeadHostCutAndHealedNodesAndDriverReconnectUnderTheirIdsAndTheJobFinishes) {
  start_cluster();
  auto before = live_nodes();
  // Long enough to go on well after the link is back.
  auto& d = start_steady_job(8000);
  std::this_thread::sleep_for(1s);
  bed->cut(head_host);
  std::this_thread::sleep_for(std::chrono::milliseconds(heartbeat_timeout_ms * 2 + 2000));
  bed->heal(head_host);
  expect_job_right(d);
  // The head took itself for the one cut off: nobody was declared dead.
  EXPECT_NE(bed->process_output("head").find("probably the one cut off"), std::string::npos)
    << bed->process_output("head");
  EXPECT_EQ(live_nodes(), before) << nodes_json();
  EXPECT_EQ(d.output().find("declared this program"), std::string::npos) << d.output();
  for (int host : {2, 3})
    EXPECT_EQ(bed->process_output("node" + std::to_string(host)).find("declared dead"), std::string::npos)
      << bed->process_output("node" + std::to_string(host));
}

TEST_F(MultiHost, DriverCutFromTheHeadButNotFromTheNodesFinishesItsJob) {
  start_cluster();
  auto& d = start_steady_job(3000);
  std::this_thread::sleep_for(1s);
  bed->cut_one_way(driver_host, head_host);
  bed->cut_one_way(head_host, driver_host);
  std::this_thread::sleep_for(std::chrono::milliseconds(heartbeat_timeout_ms * 2 + 2000));
  bed->heal_one_way(driver_host, head_host);
  bed->heal_one_way(head_host, driver_host);
  expect_job_right(d);
}

TEST_F(MultiHost, DriverCutFromTheNodesButNotFromTheHeadFinishesItsJob) {
  start_cluster();
  auto& d = start_steady_job(3000);
  std::this_thread::sleep_for(1s);
  for (int node : {2, 3}) {
    bed->cut_one_way(driver_host, node);
    bed->cut_one_way(node, driver_host);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(heartbeat_timeout_ms * 2 + 2000));
  for (int node : {2, 3}) {
    bed->heal_one_way(driver_host, node);
    bed->heal_one_way(node, driver_host);
  }
  expect_job_right(d);
}

TEST_F(MultiHost, JobSubmittedFromAnotherHostRunsOnNodesThatNeverHadItsLibraryAndItsTaskOutputComesBack) {
  // No daemon loads the job library: it travels with the job.
  daemons_load_job_library = false;
  start_cluster();
  auto [code, out] = bed->run(second_driver_host, "submit",
                              {env("ACTORS_CLI"), "--address", head_address(), "job", "submit", "--load",
                               env("JOB_LIBRARY"), "--", env("MULTIHOST_DRIVER"), "say", "9"},
                              120s);
  EXPECT_EQ(code, 0) << out << bed->process_output("head");
  EXPECT_NE(out.find("9 tasks printed on 3 nodes"), std::string::npos) << out;
  // Lines printed on each of the three hosts, each with its node and pid.
  std::set<std::string> printers;
  static const std::regex line(R"re(\(node ([0-9a-f]{8}) pid [0-9]+\) line [0-9] from a task)re");
  for (std::sregex_iterator i(out.begin(), out.end(), line), end; i != end; ++i)
    printers.insert((*i)[1]);
  EXPECT_EQ(printers.size(), 3u) << out;
  EXPECT_NE(out.find("SUCCEEDED"), std::string::npos) << out;
}

TEST_F(MultiHost, ATlsClusterOnThreeHostsRunsJobsRefusesAPlaintextNodeAndSendsNoPlaintext) {
  use_tls();
  // Everything that crosses the bridge between the hosts, captured.
  auto pcap = dir + "/bridge.pcap";
  process dump({"/usr/bin/env", "tcpdump", "-i", bed->bridge(), "-U", "-s", "0", "-w", pcap, "tcp"},
               dir + "/tcpdump.log");
  ASSERT_TRUE(eventually([&] { return dump.output().find("listening on") != std::string::npos; }, 10s))
    << dump.output();
  start_head();
  start_node(2);
  // A node of host 3 without TLS is refused, and says it cannot join.
  auto plain = certs;
  certs.clear();
  auto& refused = start_node(3);
  certs = plain;
  EXPECT_TRUE(refused.wait_exit(30s).has_value()) << "a plaintext node joined a TLS cluster";
  EXPECT_NE(refused.output().find("no cluster answers"), std::string::npos) << refused.output();
  EXPECT_TRUE(eventually(
    [&] {
      return bed->process_output("head").find("refused a connection from " + bed->address(3))
             != std::string::npos;
    },
    10s))
    << bed->process_output("head");
  EXPECT_NE(bed->process_output("head").find("does not speak TLS"), std::string::npos) << bed->process_output("head");
  // With its files it joins.
  bed->start(3, "node3-tls",
             unit_command("actors-node.service",
                          {{"ACTORS_HEAD", head_address()}, {"ACTORS_BIND", "0.0.0.0"}, {"ACTORS_NUM_CPUS", "1"}},
                          test_flags(3)));
  ASSERT_TRUE(eventually([&] { return live_nodes().size() == 2; }, 20s)) << nodes_json();

  // A driver on host 4: tasks, actors, a named actor and 256 MiB each way.
  const std::string name = "tls-secret-name-7781";
  auto& d = bed->start(driver_host, "driver", driver_args({"spread", name}));
  auto code = d.wait_exit(240s);
  ASSERT_TRUE(code.has_value()) << d.output();
  EXPECT_EQ(*code, 0) << d.output();
  EXPECT_NE(d.output().find("200 squares right"), std::string::npos) << d.output();
  // A job sent from host 5; its driver runs on the head's host with the head's files.
  auto [scode, sout] = bed->run(second_driver_host, "submit",
                                with(with({env("ACTORS_CLI"), "--address", head_address()}, cli_tls()),
                                     {"job", "submit", "--", env("MULTIHOST_DRIVER"), "say", "9"}),
                                120s);
  EXPECT_EQ(scode, 0) << sout << bed->process_output("head");
  EXPECT_NE(sout.find("9 tasks printed on 3 nodes"), std::string::npos) << sout;

  dump.kill(SIGINT);
  ASSERT_TRUE(dump.wait_exit(10s).has_value());
  std::ifstream in(pcap, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 1'000'000u) << "the capture saw little traffic: " << dump.output();
  EXPECT_NE(bytes.find(std::string("\x17\x03\x03", 3)), std::string::npos) << "no TLS application data records";
  EXPECT_EQ(bytes.find(name), std::string::npos) << "an actor's name crossed the network in plaintext";
  EXPECT_EQ(bytes.find(token), std::string::npos) << "the token crossed the network in plaintext";
}

} // namespace

