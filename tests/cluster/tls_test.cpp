// A cluster whose processes talk TLS: a head and two nodes as real actorsd
// processes on loopback, with certificates `actors certs` made, and this test
// program as the driver. Peers without a valid certificate, or speaking
// plaintext, are refused while the cluster goes on; a capture of the traffic
// holds neither the token nor a value; the gateway closes silent connections and
// oversized frames.

#include "tests/cluster/job.hpp"
#include "tests/support/local_cluster.hpp"
#include "tests/support/processes.hpp"

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <netinet/in.h>
#include <set>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace std::chrono_literals;
using actors::test::process;

namespace {

class Tls : public ::testing::Test {
 protected:
  static inline std::unique_ptr<actors::test::local_cluster> cluster;
  static inline std::string dir;
  static inline std::string certs;

  static std::vector<std::string> tls_flags(const std::string& who) {
    return {"--tls-cert", certs + "/" + who + ".pem", "--tls-key", certs + "/" + who + ".key", "--tls-ca",
            certs + "/ca.pem"};
  }

  static std::vector<std::string> daemon(std::vector<std::string> extra) {
    auto args = actors::test::one_cpu_daemon(tls_flags("127.0.0.1"));
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  /// The actors command with the client's certificate.
  static std::pair<int, std::string> cli(std::vector<std::string> words, const std::string& log) {
    std::vector<std::string> args{actors::test::env("ACTORS_CLI"), "--address", cluster->address, "--token",
                                  cluster->token};
    for (auto& f : tls_flags("client"))
      args.push_back(f);
    args.insert(args.end(), words.begin(), words.end());
    return actors::test::run(args, dir + "/" + log);
  }

  static void SetUpTestSuite() {
    cluster = std::make_unique<actors::test::local_cluster>("tls-test");
    dir = cluster->dir;
    certs = dir + "/certs";
    auto [code, out] =
      actors::test::run({actors::test::env("ACTORS_CLI"), "certs", "--out", certs, "--hosts", "127.0.0.1"},
                        dir + "/certs.log");
    ASSERT_EQ(code, 0) << out;
    cluster->start_head(daemon({"--head", "--port", "0", "--handshake-timeout", "1500", "--max-frame-bytes", "4M"}));
    cluster->start_node(daemon({}));
    cluster->start_node(daemon({}));
    actors::init_options opts;
    opts.tls_cert = certs + "/client.pem";
    opts.tls_key = certs + "/client.key";
    opts.tls_ca = certs + "/ca.pem";
    cluster->join(opts, 3);
  }

  static void TearDownTestSuite() {
    // `actors stop` (run by tear_down) needs the client's files too.
    setenv("ACTORS_TLS_CERT", (certs + "/client.pem").c_str(), 1);
    setenv("ACTORS_TLS_KEY", (certs + "/client.key").c_str(), 1);
    setenv("ACTORS_TLS_CA", (certs + "/ca.pem").c_str(), 1);
    actors::test::tear_down(cluster);
  }

  /// Tasks still run on every node, and an actor answers.
  static void cluster_works() {
    std::vector<actors::object_ref<std::string>> where;
    for (int i = 0; i < 12; ++i)
      where.push_back(actors::task(job::where_am_i).strategy(actors::spread).remote(i));
    std::set<std::string> nodes;
    for (auto& w : actors::get(where, 30s))
      nodes.insert(w);
    EXPECT_EQ(nodes.size(), 3u) << "tasks ran on " << nodes.size() << " of 3 nodes";
  }

  static std::uint16_t head_port() {
    return static_cast<std::uint16_t>(std::stoi(cluster->address.substr(cluster->address.rfind(':') + 1)));
  }
};

} // namespace

TEST_F(Tls, ATlsClusterRunsTasksActorsAndLargeValuesAcrossNodes) {
  cluster_works();
  auto c = actors::actor(job::make_counter).strategy(actors::spread).remote(std::int64_t{10});
  EXPECT_EQ(actors::get(c.task(&job::Counter::add).remote(std::int64_t{5}), 10s), 15);
  // 8 MiB made on a node and summed on another: it crosses in chunks, encrypted.
  std::vector<std::string> ids;
  for (const auto& n : actors::nodes())
    if (n.alive && !n.is_driver && !n.is_head)
      ids.push_back(n.id.to_string());
  ASSERT_EQ(ids.size(), 2u);
  auto big = actors::task(job::make_vec).node(actors::node_id{std::stoull(ids[0], nullptr, 16)}, false)
               .remote(std::int64_t{1} << 20);
  auto sum = actors::task(job::sum_vec).node(actors::node_id{std::stoull(ids[1], nullptr, 16)}, false).remote(big);
  const std::int64_t n = std::int64_t{1} << 20;
  EXPECT_EQ(actors::get(sum, 60s), n * (n + 1) / 2);
  EXPECT_EQ(actors::get(big, 60s).size(), static_cast<std::size_t>(n));
  // The actors command, with the client's certificate.
  auto [code, out] = cli({"status"}, "status.log");
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("cluster at " + cluster->address + ": 4 nodes alive"), std::string::npos) << out;
}

TEST_F(Tls, PeersWithoutAValidCertificateAreRefusedAndTheClusterGoesOn) {
  // Plaintext.
  process plain({actors::test::env("ACTORSD"), "--num-cpus", "1", "--metrics-port", "-1", "--address",
                 cluster->address, "--token", cluster->token},
                dir + "/plain.log");
  EXPECT_TRUE(plain.wait_exit(30s).has_value()) << "a plaintext node joined a TLS cluster";
  EXPECT_NE(plain.output().find("no cluster answers"), std::string::npos) << plain.output();
  // A certificate of another CA.
  auto other = dir + "/other";
  auto [ocode, oout] = actors::test::run({actors::test::env("ACTORS_CLI"), "certs", "--out", other},
                                         dir + "/other-certs.log");
  ASSERT_EQ(ocode, 0) << oout;
  process foreign({actors::test::env("ACTORSD"), "--num-cpus", "1", "--metrics-port", "-1", "--address",
                   cluster->address, "--token", cluster->token, "--tls-cert", other + "/client.pem", "--tls-key",
                   other + "/client.key", "--tls-ca", certs + "/ca.pem"},
                  dir + "/foreign.log");
  EXPECT_TRUE(foreign.wait_exit(30s).has_value()) << "a node with another CA's certificate joined";
  // No certificate at all (a TLS client that shows none).
  auto [ncode, nout] = actors::test::run(
    {"/bin/sh", "-c",
     "echo | openssl s_client -connect " + cluster->address + " -CAfile " + certs + "/ca.pem -quiet 2>&1"},
    dir + "/nocert.log");
  (void)ncode;

  auto head_log = [] { return cluster->head->output(); };
  EXPECT_TRUE(actors::test::eventually(
    [&] { return head_log().find("refused a connection from 127.0.0.1:") != std::string::npos; }, 10s));
  EXPECT_TRUE(actors::test::eventually([&] { return head_log().find("does not speak TLS") != std::string::npos; }))
    << head_log();
  EXPECT_TRUE(actors::test::eventually(
    [&] { return head_log().find("certificate is refused: certificate signature failure") != std::string::npos; }))
    << head_log();
  EXPECT_TRUE(actors::test::eventually([&] { return head_log().find("showed no certificate") != std::string::npos; }))
    << head_log() << nout;
  EXPECT_EQ(actors::test::local_cluster::daemons_alive(), 3);
  cluster_works();
}

TEST_F(Tls, ACaptureOfTheTrafficHoldsNeitherTheTokenNorAValue) {
  std::string ports;
  for (const auto& n : actors::nodes())
    if (n.alive && n.address.rfind("127.0.0.1:", 0) == 0)
      ports += std::string(ports.empty() ? "" : " or ") + "tcp port " + n.address.substr(n.address.rfind(':') + 1);
  ASSERT_FALSE(ports.empty());
  auto pcap = dir + "/capture.pcap";
  process dump({"/usr/bin/env", "tcpdump", "-i", "lo", "-U", "-s", "0", "-w", pcap, ports}, dir + "/tcpdump.log");
  ASSERT_TRUE(actors::test::eventually([&] { return dump.output().find("listening on") != std::string::npos; }, 10s))
    << dump.output();
  const std::string marker = "secret-payload-4b1d-cafe";
  // Small arguments travel with their tasks, a large one (past 64 KiB) is
  // fetched from the driver by the node that runs it; results come back.
  std::vector<actors::object_ref<std::string>> said;
  for (int i = 0; i < 6; ++i)
    said.push_back(actors::task(job::say).strategy(actors::spread).remote(marker + std::to_string(i)));
  said.push_back(actors::task(job::say).strategy(actors::spread).remote(std::string(100'000, 'x') + marker));
  for (const auto& where : actors::get(said, 30s))
    EXPECT_EQ(where.size(), 16u);
  // tcpdump writes each packet as it takes it from the kernel (-U); on a busy
  // machine that lags, so wait for the capture to hold the traffic, not a
  // fixed time.
  actors::test::eventually(
    [&] {
      std::error_code ec;
      auto size = std::filesystem::file_size(pcap, ec);
      return !ec && size > 20'000u;
    },
    10s);
  std::this_thread::sleep_for(200ms);
  dump.kill(SIGINT);
  ASSERT_TRUE(dump.wait_exit(10s).has_value());
  std::ifstream in(pcap, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 20'000u) << "the capture saw little traffic: " << dump.output();
  EXPECT_NE(bytes.find(std::string("\x17\x03\x03", 3)), std::string::npos) << "no TLS application data records";
  EXPECT_EQ(bytes.find(marker), std::string::npos) << "a value travelled in plaintext";
  EXPECT_EQ(bytes.find(cluster->token), std::string::npos) << "the token travelled in plaintext";
}

TEST_F(Tls, ASilentConnectionIsClosedAfterTheHandshakeTimeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(head_port());
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto start = std::chrono::steady_clock::now();
  char c = 0;
  auto n = ::recv(fd, &c, 1, 0);
  auto waited = std::chrono::steady_clock::now() - start;
  ::close(fd);
  EXPECT_EQ(n, 0) << "the connection was not closed by the gateway";
  EXPECT_GE(waited, 1200ms);
  EXPECT_LT(waited, 6s);
  EXPECT_TRUE(actors::test::eventually(
    [] { return cluster->head->output().find("nothing valid came within 1500 ms") != std::string::npos; }))
    << cluster->head->output();
  cluster_works();
}

TEST_F(Tls, AFrameLargerThanTheMaximumClosesThatConnectionOnly) {
  // A client with a valid certificate announces a 16 MiB frame (the head takes 4 MiB).
  auto frame = dir + "/frame.bin";
  {
    std::ofstream out(frame, std::ios::binary);
    std::string header(32, '\0');
    header[4] = 0x01; // payload length 0x01000000, big-endian
    out << header;
  }
  auto [code, out] = actors::test::run(
    {"/bin/sh", "-c",
     "(cat " + frame + "; sleep 3) | openssl s_client -connect " + cluster->address + " -cert " + certs
       + "/client.pem -key " + certs + "/client.key -CAfile " + certs + "/ca.pem -quiet 2>&1"},
    dir + "/frame.log");
  (void)code;
  EXPECT_TRUE(actors::test::eventually([] {
    return cluster->head->output().find("a frame announced 16777216 bytes, past the maximum of 4194304")
           != std::string::npos;
  })) << cluster->head->output() << out;
  EXPECT_EQ(actors::test::local_cluster::daemons_alive(), 3);
  cluster_works();
}
