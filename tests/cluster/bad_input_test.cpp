// Bad input at every listening port of a running cluster: a head and a node as
// real actorsd processes on loopback, this program as the driver. After each kind
// of abuse both daemons are still running, still serve metrics, and still run
// tasks; where the bytes reach the runtime's own decoding, the refusal is logged.

#include "runtime/cluster/message_lane.hpp"
#include "runtime/cluster/transport.hpp"
#include "runtime/wire/protocol.hpp"
#include "runtime/wire/atoms.hpp"
#include "tests/cluster/job.hpp"
#include "tests/support/http.hpp"
#include "tests/support/local_cluster.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/runtime_fixture.hpp"

#include <actors/actors.hpp>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using actors::test::process;

namespace {

using actors::test::connect_loopback;

void send_all(int fd, const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    auto n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0)
      return; // the peer closed: what we want to see anyway
    off += static_cast<std::size_t>(n);
  }
}

/// Sends `bytes` on a fresh connection and closes it.
void send_and_close(int port, const std::string& bytes) {
  int fd = connect_loopback(port);
  ASSERT_GE(fd, 0) << "cannot connect to port " << port;
  send_all(fd, bytes);
  std::this_thread::sleep_for(100ms);
  ::close(fd);
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string out(n, '\0');
  for (auto& c : out)
    c = static_cast<char>(gen());
  return out;
}

/// A BASP header (CAF 0.17: operation, two pad bytes, flags, payload length,
/// operation data, source and destination actor ids; big-endian).
std::string basp_header(std::uint8_t operation, std::uint32_t payload_len) {
  std::string h(32, '\0');
  h[0] = static_cast<char>(operation);
  for (int i = 0; i < 4; ++i)
    h[4 + i] = static_cast<char>(payload_len >> (24 - 8 * i));
  h[15] = 1; // operation data: a version number, say
  return h;
}

int port_of(const std::string& address) {
  return std::stoi(address.substr(address.rfind(':') + 1));
}

class BadInput : public ::testing::Test {
 protected:
  static inline std::unique_ptr<actors::test::local_cluster> cluster;
  static inline std::string dir;
  static inline std::string address;
  static inline std::string token;
  static inline process* head = nullptr;
  static inline process* node = nullptr;
  static inline actors::node_id head_id;
  static inline actors::node_id node_id;
  static inline int head_port = 0;
  static inline int node_port = 0;
  static inline int head_data = 0;
  static inline int node_data = 0;
  static inline int head_lane = 0;
  static inline int node_lane = 0;
  static inline int head_metrics = 0;
  static inline int node_metrics = 0;

  static std::vector<std::string> daemon(std::vector<std::string> extra) {
    std::vector<std::string> args{actors::test::env("ACTORSD"), "--num-cpus", "1", "--load",
                                  actors::test::env("JOB_LIBRARY")};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  static void SetUpTestSuite() {
    cluster = std::make_unique<actors::test::local_cluster>("bad-input-test");
    dir = cluster->dir;
    cluster->start_head(daemon({"--head", "--port", "0"}));
    address = cluster->address;
    token = cluster->token;
    head = cluster->head.get();
    head_port = port_of(address);
    node = &cluster->start_node(daemon({}));
    cluster->join({}, 2);
    for (const auto& n : actors::nodes()) {
      if (n.is_head) {
        head_id = n.id;
        head_metrics = n.metrics_port;
        head_data = port_of(n.data_address);
        head_lane = port_of(n.lane_address);
      } else if (!n.is_driver) {
        node_id = n.id;
        node_port = port_of(n.address);
        node_metrics = n.metrics_port;
        node_data = port_of(n.data_address);
        node_lane = port_of(n.lane_address);
      }
    }
  }

  static void TearDownTestSuite() {
    actors::test::tear_down(cluster);
  }

  /// Every port of the cluster: head, node, their metrics endpoints, data
  /// channels and message lane ports.
  static std::vector<int> every_port() {
    return {head_port, node_port, head_metrics, node_metrics, head_data, node_data, head_lane, node_lane};
  }

  /// Both daemons run, serve metrics, and run a task each, within a few seconds.
  static void expect_still_serving() {
    EXPECT_FALSE(head->wait_exit(0ms).has_value()) << head->output();
    EXPECT_FALSE(node->wait_exit(0ms).has_value()) << node->output();
    for (auto id : {head_id, node_id})
      EXPECT_EQ(actors::get(actors::task(job::square).node(id, false).remote(std::int64_t{9}), 10s), 81);
    for (int port : {head_metrics, node_metrics}) {
      std::string text;
      ASSERT_NO_THROW(text = actors::test::http_get(port, "/metrics"));
      EXPECT_NE(text.find("actors_tasks_total"), std::string::npos);
    }
  }
};

} // namespace

TEST_F(BadInput, RandomBytesAtEveryPortAreDropped) {
  unsigned seed = 1;
  for (int port : every_port())
    for (std::size_t size : {1u, 31u, 32u, 4096u, 65536u})
      send_and_close(port, random_bytes(size, seed++));
  expect_still_serving();
}

TEST_F(BadInput, TruncatedFramesAreDropped) {
  for (int port : {head_port, node_port}) {
    // A client handshake that promises 200 bytes and brings 20.
    send_and_close(port, basp_header(1, 200) + std::string(20, 'x'));
    // Half a header.
    send_and_close(port, basp_header(1, 0).substr(0, 16));
  }
  for (int port : {head_metrics, node_metrics})
    send_and_close(port, "GET /metr");
  expect_still_serving();
}

TEST_F(BadInput, LengthHeaderClaimingMuchIsDroppedWhenThePeerGoes) {
  // CAF 0.17 reserves a frame's declared length before reading it (see
  // docs/security.md); the peer here claims 256 MiB and then leaves.
  for (int port : {head_port, node_port})
    send_and_close(port, basp_header(1, 256u << 20));
  for (int port : {head_metrics, node_metrics})
    send_and_close(port, "POST /metrics HTTP/1.1\r\nContent-Length: 4294967295\r\n\r\nxx");
  expect_still_serving();
}

TEST_F(BadInput, SilentConnectionsDoNotHoldUpOthers) {
  std::vector<int> idle;
  auto open_idle = [&](int port, int count) {
    for (int i = 0; i < count; ++i) {
      int fd = connect_loopback(port);
      ASSERT_GE(fd, 0);
      idle.push_back(fd);
    }
  };
  // The cluster ports serve connections without a thread each: many silent ones
  // cost nothing. The metrics endpoint gives each a thread until its request
  // arrives, for at most 2 s: a few silent ones delay a scrape by seconds.
  open_idle(head_port, 50);
  open_idle(node_port, 50);
  open_idle(head_metrics, 6);
  open_idle(node_metrics, 6);
  // They say nothing, and stay open while the cluster works.
  auto started = std::chrono::steady_clock::now();
  expect_still_serving();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  for (int fd : idle)
    ::close(fd);
  expect_still_serving();
}

TEST_F(BadInput, AFloodOfConnectionsIsSurvived) {
  for (int port : every_port()) {
    std::vector<int> fds;
    for (int i = 0; i < 150; ++i) {
      int fd = connect_loopback(port);
      if (fd < 0)
        break; // the backlog is full: refusing is fine, crashing is not
      fds.push_back(fd);
    }
    EXPECT_FALSE(fds.empty());
    for (int fd : fds)
      ::close(fd);
  }
  expect_still_serving();
}

TEST_F(BadInput, AConnectionStormWhileTheCoresAreBusyNeverStopsANewDriverOrNodeFromJoining) {
  // Both cores busy with other work.
  std::vector<std::unique_ptr<process>> burners;
  for (int i = 0; i < 2; ++i)
    burners.push_back(std::make_unique<process>(std::vector<std::string>{"/bin/sh", "-c", "while :; do :; done"},
                                                dir + "/burner.log"));
  // A join that failed 1 time in 3 passes 8 runs in a row 4% of the time.
  for (int run = 0; run < 8; ++run) {
    // The storm at the head's port: random bytes, frames that never come whole,
    // zeros, and idle connections, all held open while the new ones join. (Frames
    // claiming hundreds of MiB would stall the head instead, while CAF zeroes a
    // buffer of that size for each: a limit of CAF 0.17, see docs/security.md.)
    std::vector<int> storm;
    auto open_with = [&](int count, const std::string& bytes) {
      for (int i = 0; i < count; ++i)
        if (int fd = connect_loopback(head_port); fd >= 0) {
          if (!bytes.empty())
            send_all(fd, bytes);
          storm.push_back(fd);
        }
    };
    open_with(200, random_bytes(64, static_cast<unsigned>(run)));
    open_with(50, basp_header(1, 1u << 20));
    open_with(50, std::string(4096, '\0'));
    open_with(100, {});
    process driver({actors::test::env("SECOND_DRIVER"), "no-such-actor", "--actors-address=" + address,
                    "--actors-metrics-port=-1"},
                   dir + "/storm-driver.log");
    process joining(daemon({"--address", address, "--token", token}), dir + "/storm-node.log");
    // The driver joined once it looked the name up; the node once it is listed.
    EXPECT_TRUE(actors::test::eventually(
      [&] { return driver.output().find("not found") != std::string::npos; }, actors::test::scaled(5s)))
      << "run " << run << ": a new driver did not join within 5 s:\n" << driver.output();
    EXPECT_TRUE(actors::test::eventually(
      [&] {
        for (const auto& n : actors::nodes())
          if (n.alive && n.pid == joining.pid())
            return true;
        return false;
      },
      actors::test::scaled(5s)))
      << "run " << run << ": a new node did not join within 5 s:\n" << joining.output();
    for (int fd : storm)
      ::close(fd);
  }
  burners.clear();
  expect_still_serving();
}

namespace {

namespace wire = actors::runtime::wire;
namespace msg = actors::runtime::msg;

/// A CAF peer of its own, speaking to the cluster's actors directly, as a
/// program that knows the protocol but not the token could.
struct raw_peer {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;

  raw_peer() {
    cfg.load<caf::io::middleman>();
    cfg.set("scheduler.max-threads", 1);
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  caf::actor connect(int port) {
    auto a = sys->middleman().remote_actor("127.0.0.1", static_cast<std::uint16_t>(port));
    return a ? *a : caf::actor{};
  }
};

std::string node_record_blob() {
  wire::node_record rec;
  rec.id = actors::node_id{0xbad};
  rec.address = "127.0.0.1:1";
  return wire::pack(rec);
}

} // namespace

TEST_F(BadInput, WrongTokenOtherVersionAndMalformedJoinAreRefusedAndLogged) {
  raw_peer peer;
  auto control = peer.connect(head_port);
  ASSERT_TRUE(control) << "no actor published at the head's port";
  caf::scoped_actor self{*peer.sys};
  auto join = [&](std::uint32_t version, const std::string& tok, const std::string& record) {
    std::string answer = "no answer";
    // The head answers (accepted, refusal code, reason), or (accepted, reason) to
    // another protocol version.
    self->request(control, std::chrono::seconds(10), msg::join_atom::value, version, tok, record, caf::actor{})
      .receive([&](caf::error& e) { answer = "error: " + peer.sys->render(e); },
               caf::others >> [&](caf::message_view& v) -> caf::result<caf::message> {
                 auto m = v.copy_content_to_message();
                 auto ok = m.match_element<bool>(0) && m.get_as<bool>(0);
                 if (m.match_elements<bool, std::string>())
                   answer = (ok ? "accepted: " : "refused: ") + m.get_as<std::string>(1);
                 else if (m.match_elements<bool, std::uint8_t, std::string>())
                   answer = (ok ? "accepted: " : "refused: ") + m.get_as<std::string>(2);
                 else
                   answer = "unexpected answer: " + to_string(m);
                 return caf::message{};
               });
    return answer;
  };
  auto other_version = join(wire::protocol_version + 1, token, node_record_blob());
  EXPECT_NE(other_version.find("refused: the head speaks protocol version"), std::string::npos) << other_version;
  auto wrong_token = join(wire::protocol_version, "not-the-token", node_record_blob());
  EXPECT_NE(wrong_token.find("refused: wrong cluster token"), std::string::npos) << wrong_token;
  auto malformed = join(wire::protocol_version, token, random_bytes(64, 7));
  EXPECT_NE(malformed.find("refused: malformed node record"), std::string::npos) << malformed;
  EXPECT_TRUE(actors::test::eventually([] {
    auto log = head->output();
    return log.find("refused a node speaking protocol version") != std::string::npos
           && log.find("refused a node that gave a wrong cluster token") != std::string::npos;
  })) << head->output();
  expect_still_serving();
}

namespace {

/// A data-channel hello (runtime/data_plane/data_frames.hpp) with `token`.
std::string data_hello(const std::string& token, std::uint16_t version = 1) {
  std::string h(16, '\0');
  auto put32 = [&](std::size_t at, std::uint32_t v) { std::memcpy(&h[at], &v, 4); };
  put32(0, 0x48434441); // "ADCH"
  std::memcpy(&h[4], &version, 2);
  put32(8, static_cast<std::uint32_t>(token.size()));
  return h + token;
}

} // namespace

TEST_F(BadInput, UnauthenticatedOrCorruptDataChannelStreamsAreRefusedAndLargeValuesStillMove) {
  // A wrong token, a corrupt request after a good hello, and a truncated hello.
  for (const auto& bytes : {data_hello("not-the-token"), data_hello(token) + random_bytes(24, 21),
                            data_hello(token).substr(0, 9)}) {
    int fd = connect_loopback(node_data);
    ASSERT_GE(fd, 0);
    send_all(fd, bytes);
    ::close(fd);
  }
  EXPECT_TRUE(actors::test::eventually([] {
    auto log = node->output();
    return log.find("refused data-channel peer 127.0.0.1") != std::string::npos
           && log.find("sent a corrupt request") != std::string::npos;
  })) << node->output();
  // The channel still serves: a 4 MiB result made on the node comes over it.
  auto big = actors::task(job::make_vec).node(node_id, false).remote(std::int64_t{1} << 19);
  auto v = actors::get(big, 30s);
  ASSERT_EQ(v.size(), std::size_t{1} << 19);
  EXPECT_EQ(v.back(), std::int64_t{1} << 19);
  expect_still_serving();
}

TEST_F(BadInput, MessageLanesWithAWrongTokenOrABrokenFrameAreClosedAndLogged) {
  using actors::runtime::lane_hello;
  std::string oversized(actors::runtime::lane_header_size, '\xff'); // a payload of 4 GiB - 1
  for (const auto& bytes : {lane_hello(1, 2, "not-the-token"), lane_hello(3, 4, token) + oversized,
                            lane_hello(5, 6, token).substr(0, 20)}) {
    int fd = connect_loopback(node_lane);
    ASSERT_GE(fd, 0);
    send_all(fd, bytes);
    ::close(fd);
  }
  EXPECT_TRUE(actors::test::eventually([] {
    auto log = node->output();
    return log.find("closed the message lane from 127.0.0.1") != std::string::npos
           && log.find("it gave a wrong cluster token") != std::string::npos
           && log.find("a message announces 4294967295 bytes") != std::string::npos;
  })) << node->output();
  // The driver's own lane to the node still carries its tasks.
  expect_still_serving();
}

TEST_F(BadInput, MalformedRequestsToANodeAreLoggedAndDropped) {
  raw_peer peer;
  auto endpoint = peer.connect(node_port);
  ASSERT_TRUE(endpoint) << "no actor published at the node's port";
  caf::scoped_actor self{*peer.sys};
  self->send(endpoint, msg::peer_atom::value, static_cast<std::uint8_t>(actors::runtime::message_kind::task),
             random_bytes(100, 11), caf::actor_cast<caf::actor>(self));
  self->send(endpoint, msg::peer_atom::value, static_cast<std::uint8_t>(actors::runtime::message_kind::fetch),
             random_bytes(3, 12), caf::actor_cast<caf::actor>(self));
  // A message kind no version has.
  self->send(endpoint, msg::peer_atom::value, std::uint8_t{200}, random_bytes(8, 13), caf::actor_cast<caf::actor>(self));
  // A message the node has no handler for.
  self->send(endpoint, std::string("hello"), 42);
  EXPECT_TRUE(actors::test::eventually([] {
    auto log = node->output();
    return log.find("malformed task request") != std::string::npos
           && log.find("malformed fetch request") != std::string::npos
           && log.find("dropped a message of unknown kind 200") != std::string::npos;
  })) << node->output();
  expect_still_serving();
}

TEST_F(BadInput, StatusAndListNeedTheClusterToken) {
  auto cli = [](std::vector<std::string> args, const std::string& log) {
    args.insert(args.begin(), actors::test::env("ACTORS_CLI"));
    return actors::test::run(args, dir + "/" + log);
  };
  auto [status_code, status_out] = cli({"--address", address, "--token", "not-the-token", "status"}, "status-wrong.log");
  EXPECT_NE(status_code, 0) << status_out;
  EXPECT_NE(status_out.find("wrong or missing cluster token"), std::string::npos) << status_out;
  EXPECT_EQ(status_out.find(node_id.to_string()), std::string::npos) << "no node table without the token";
  EXPECT_TRUE(actors::test::eventually([] {
    return head->output().find("refused to list the nodes to a caller with a wrong cluster token")
           != std::string::npos;
  })) << head->output();

  // A node's state asked with the wrong token: the CAF peer speaks to the node itself.
  raw_peer peer;
  auto endpoint = peer.connect(node_port);
  ASSERT_TRUE(endpoint);
  caf::scoped_actor self{*peer.sys};
  std::string answer = "no answer";
  auto ask = [&](const std::string& tok) {
    self->request(endpoint, std::chrono::seconds(10), msg::state_atom::value, std::string("tasks"), tok)
      .receive([&](bool ok, const std::string& blob) { answer = ok ? "table of " + std::to_string(blob.size()) : "refused"; },
               [&](const caf::error& e) { answer = "error: " + peer.sys->render(e); });
    return answer;
  };
  EXPECT_EQ(ask("not-the-token"), "refused");
  EXPECT_NE(ask(token).find("table of "), std::string::npos) << answer;
  EXPECT_TRUE(actors::test::eventually([] {
    return node->output().find("refused a state query with a wrong cluster token") != std::string::npos;
  })) << node->output();

  // With the token from the session file (same machine), it works.
  auto [list_code, list_out] = cli({"list", "actors"}, "list.log");
  EXPECT_EQ(list_code, 0) << list_out;
  auto [ok_code, ok_out] = cli({"status"}, "status.log");
  EXPECT_EQ(ok_code, 0) << ok_out;
  EXPECT_NE(ok_out.find(node_id.to_string()), std::string::npos) << ok_out;
}

TEST_F(BadInput, ExitMessagesFromOutsideDoNotStopServices) {
  raw_peer peer;
  auto control = peer.connect(head_port);
  auto endpoint = peer.connect(node_port);
  ASSERT_TRUE(control && endpoint);
  // CAF delivers exit messages to remote actors; a service that obeyed one would
  // leave its node running but deaf. (The reason `kill` cannot be refused: the
  // node's supervisor handles that, see fault_test.)
  for (const auto& target : {control, endpoint})
    caf::anon_send_exit(target, caf::exit_reason::user_shutdown);
  EXPECT_TRUE(actors::test::eventually([] {
    return head->output().find("ignored an exit message") != std::string::npos
           && node->output().find("ignored an exit message") != std::string::npos;
  })) << head->output() << node->output();
  expect_still_serving();
}
