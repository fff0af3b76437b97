// The transport between node endpoints: a message for a node that no node table
// has listed yet waits for the table that lists it, in order, and is dropped
// with the node reported if none comes in time. Two endpoints in one actor
// system stand for two nodes; the node tables are sent to them as the head's
// control store sends them.

#include "runtime/cluster/caf_transport.hpp"
#include "runtime/cluster/message_lane.hpp"
#include "runtime/common/log.hpp"
#include "runtime/node/caf_settings.hpp"
#include "runtime/wire/atoms.hpp"
#include "runtime/wire/protocol.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;
using actors::node_id;
using actors::runtime::caf_transport;
using actors::runtime::message_kind;
using actors::runtime::request_kind;
using actors::runtime::return_address;

namespace {

/// What one endpoint handed on: payloads of messages, nodes reported unlisted.
struct recorder final : actors::runtime::message_handler, actors::runtime::endpoint_events {
  void on_message(message_kind kind, const std::string& payload, const return_address&) override {
    std::lock_guard<std::mutex> guard{mu};
    kinds.push_back(kind);
    received.push_back(payload);
    changed.notify_all();
  }
  std::string on_request(request_kind, const std::string&) override {
    return {};
  }
  void on_view(actors::runtime::wire::cluster_view) override {}
  void on_peer_down(const node_id&) override {}
  void on_peer_unlisted(const node_id& id) override {
    std::lock_guard<std::mutex> guard{mu};
    unlisted.push_back(id);
    changed.notify_all();
  }
  void on_head_down() override {}
  void on_tick() override {}
  void on_stop_request() override {}
  actors::runtime::wire::state_table on_state_query(const std::string&) override {
    return {};
  }

  template <class Pred>
  bool wait_for(Pred pred, std::chrono::milliseconds bound = 10s) {
    std::unique_lock<std::mutex> lock{mu};
    return changed.wait_for(lock, bound, [&] { return pred(); });
  }

  std::mutex mu;
  std::condition_variable changed;
  std::vector<message_kind> kinds;
  std::vector<std::string> received;
  std::vector<node_id> unlisted;
};

/// A node's endpoint and what it handed on (the recorder, declared first,
/// outlives the endpoint that calls it).
struct test_node {
  explicit test_node(caf::actor_system& sys, std::chrono::milliseconds unlisted_wait = 10s,
                     actors::runtime::lane_limits lanes = {})
    : links{sys, "token", unlisted_wait, lanes} {
    links.start(seen, seen);
  }
  recorder seen;
  caf_transport links;
};

struct transport_test : ::testing::Test {
  transport_test() : sys{(actors::runtime::apply_caf_settings(cfg), cfg)} {}

  /// Sends `to` the node table the head would: nodes `ids` at endpoints `eps`.
  void send_view(caf_transport& to, std::uint64_t version, const std::vector<node_id>& ids,
                 const std::vector<caf::actor>& eps) {
    actors::runtime::wire::cluster_view view;
    view.version = version;
    for (const auto& id : ids) {
      actors::runtime::wire::node_record rec;
      rec.id = id;
      rec.address = "in-process";
      view.nodes.push_back(rec);
    }
    caf::anon_send(to.endpoint(), actors::runtime::msg::view_atom::value, actors::runtime::wire::pack(view), eps);
  }

  caf::actor_system_config cfg;
  caf::actor_system sys;
};

TEST_F(transport_test, MessagesForANodeNoTableListedYetGoInOrderWithTheTableThatListsIt) {
  const node_id a{1}, b{2};
  test_node first_node{sys}, second_node{sys};
  auto &from = first_node.links, &to = second_node.links;
  auto &at_from = first_node.seen, &at_to = second_node.seen;

  // `from` heard of `b` (as an object's holder, say) before its table listed it.
  ASSERT_TRUE(from.send(b, message_kind::release, "first"));
  ASSERT_TRUE(from.send(b, message_kind::release, "second"));
  EXPECT_FALSE(from.reaches(b));
  std::this_thread::sleep_for(200ms);
  {
    std::lock_guard<std::mutex> guard{at_to.mu};
    EXPECT_TRUE(at_to.received.empty()) << "nothing can go before an endpoint is known";
  }

  send_view(from, 1, {a, b}, {from.endpoint(), to.endpoint()});
  ASSERT_TRUE(from.send(b, message_kind::release, "third"));
  ASSERT_TRUE(at_to.wait_for([&] { return at_to.received.size() == 3; }));
  std::lock_guard<std::mutex> guard{at_to.mu};
  EXPECT_EQ(at_to.received, (std::vector<std::string>{"first", "second", "third"}));
  EXPECT_TRUE(from.reaches(b));
  std::lock_guard<std::mutex> none{at_from.mu};
  EXPECT_TRUE(at_from.unlisted.empty());
}

TEST_F(transport_test, MessagesForANodeNoTableListsInTimeAreDroppedAndTheNodeReported) {
  const node_id a{1}, stranger{77};
  test_node node{sys, 300ms};
  auto& from = node.links;
  auto& at_from = node.seen;
  send_view(from, 1, {a}, {from.endpoint()});

  auto sent_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(from.send(stranger, message_kind::release, "lost"));
  ASSERT_TRUE(at_from.wait_for([&] { return !at_from.unlisted.empty(); }))
    << "the node no table listed was never reported";
  EXPECT_GE(std::chrono::steady_clock::now() - sent_at, 300ms);
  std::lock_guard<std::mutex> guard{at_from.mu};
  EXPECT_EQ(at_from.unlisted, std::vector<node_id>{stranger});
}

TEST_F(transport_test, ANodeKnownDeadGetsNothing) {
  const node_id a{1}, b{2};
  test_node first_node{sys}, second_node{sys};
  auto &from = first_node.links, &to = second_node.links;
  auto& at_to = second_node.seen;
  send_view(from, 1, {a, b}, {from.endpoint(), to.endpoint()});
  for (auto until = std::chrono::steady_clock::now() + 10s; !from.reaches(b) && std::chrono::steady_clock::now() < until;)
    std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(from.reaches(b));
  ASSERT_TRUE(from.send(b, message_kind::release, "alive"));
  ASSERT_TRUE(at_to.wait_for([&] { return at_to.received.size() == 1; }));

  from.forget(b);
  EXPECT_FALSE(from.send(b, message_kind::release, "dead")) << "a dead node's messages must not wait";
  EXPECT_FALSE(from.send(node_id{}, message_kind::release, "nobody"));
}

/// The keys of the results in what `seen` received (result and result_batch
/// messages), in the order they came; with `seen.mu` held.
std::vector<std::uint64_t> result_keys(const recorder& seen) {
  namespace wire = actors::runtime::wire;
  std::vector<std::uint64_t> keys;
  for (std::size_t i = 0; i < seen.received.size(); ++i) {
    if (seen.kinds[i] == message_kind::result) {
      keys.push_back(wire::unpack<wire::result>(seen.received[i], "result").key);
    } else if (seen.kinds[i] == message_kind::result_batch) {
      for (const auto& r : wire::unpack<wire::result_batch>(seen.received[i], "result batch").results)
        keys.push_back(wire::unpack<wire::result>(r, "result").key);
    }
  }
  return keys;
}

TEST_F(transport_test, ResultsInABurstGoTogetherInOrderAndALoneOneGoesByItself) {
  namespace wire = actors::runtime::wire;
  test_node worker{sys}, owner{sys};
  const return_address to_owner{std::make_shared<caf::actor>(owner.links.endpoint())};
  auto result_with_key = [](std::uint64_t key) {
    wire::result r;
    r.key = key;
    r.ok = true;
    r.bytes = "value";
    return wire::pack(r);
  };

  constexpr std::uint64_t burst = 500;
  const auto before = worker.links.traffic().messages_sent;
  for (std::uint64_t k = 0; k < burst; ++k)
    worker.links.reply(to_owner, message_kind::result, result_with_key(k));
  ASSERT_TRUE(owner.seen.wait_for([&] { return result_keys(owner.seen).size() >= burst; }));
  std::vector<std::uint64_t> expected(burst);
  for (std::uint64_t k = 0; k < burst; ++k)
    expected[k] = k;
  {
    std::lock_guard<std::mutex> guard{owner.seen.mu};
    EXPECT_EQ(result_keys(owner.seen), expected) << "results of one thread must arrive in the order made";
  }
  const auto burst_messages = worker.links.traffic().messages_sent - before;
  EXPECT_LT(burst_messages, burst / 2) << "a burst of results went in " << burst_messages << " messages";

  // Long after the burst, a lone result goes at once, as a result of its own.
  std::this_thread::sleep_for(50ms);
  const auto before_lone = worker.links.traffic().messages_sent;
  worker.links.reply(to_owner, message_kind::result, result_with_key(burst));
  ASSERT_TRUE(owner.seen.wait_for([&] { return result_keys(owner.seen).size() == burst + 1; }));
  EXPECT_EQ(worker.links.traffic().messages_sent - before_lone, 1u);
  std::lock_guard<std::mutex> guard{owner.seen.mu};
  EXPECT_EQ(owner.seen.kinds.back(), message_kind::result);
}

// Sends a stream of messages from one actor system to another (as two
// processes: what goes over CAF crosses both middlemen and a TCP connection, so
// the lane, written by the sending thread, could overtake it but for the marker)
// while the lane opens, and checks that every one arrives, in order, and that
// the lane carried the later ones. The receiver holds at most `hold_bytes` of
// what the lane brings before its marker.
void check_order_across_the_switch(caf::actor_system& sys, std::size_t hold_bytes) {
  caf::actor_system_config other_cfg;
  caf::actor_system other{(actors::runtime::apply_caf_settings(other_cfg), other_cfg)};
  const node_id a{1}, b{2};
  test_node first_node{sys}, second_node{other, 10s, {.hold_bytes = hold_bytes}};
  auto &from = first_node.links, &to = second_node.links;
  auto& at_to = second_node.seen;
  from.publish("127.0.0.1");
  const auto to_port = to.publish("127.0.0.1");
  ASSERT_NE(from.lane_port(), 0);
  ASSERT_NE(to.lane_port(), 0);
  auto to_there = sys.middleman().remote_actor("127.0.0.1", to_port);
  ASSERT_TRUE(to_there) << sys.render(to_there.error());
  actors::runtime::wire::cluster_view view;
  view.version = 1;
  for (auto [id, links] : {std::pair{a, &from}, std::pair{b, &to}}) {
    actors::runtime::wire::node_record rec;
    rec.id = id;
    rec.address = "127.0.0.1:1";
    rec.lane_address = "127.0.0.1:" + std::to_string(links->lane_port());
    view.nodes.push_back(rec);
  }
  caf::anon_send(from.endpoint(), actors::runtime::msg::view_atom::value, actors::runtime::wire::pack(view),
                 std::vector<caf::actor>{from.endpoint(), *to_there});
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!from.reaches(b) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(from.reaches(b));

  // Sent without a pause until the lane has carried 2,000 (at least 20,000 in
  // all, at most 500,000 or 10 s), so that it opens while messages sent over
  // CAF are still on their way, however busy the machine.
  int n = 0;
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (n < 500000 && (n < 20000 || from.traffic().lane_messages_sent < 2000)
         && std::chrono::steady_clock::now() < give_up) {
    ASSERT_TRUE(from.send(b, message_kind::release, std::to_string(n)));
    ++n;
  }
  ASSERT_TRUE(at_to.wait_for([&] { return at_to.received.size() >= static_cast<std::size_t>(n); }, 30s));
  {
    std::lock_guard<std::mutex> guard{at_to.mu};
    ASSERT_EQ(at_to.received.size(), static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
      ASSERT_EQ(at_to.received[static_cast<std::size_t>(i)], std::to_string(i)) << "out of order at " << i;
  }
  const auto sent = from.traffic();
  EXPECT_GT(sent.lane_messages_sent, 0u) << "the lane never opened";
  EXPECT_LT(sent.lane_messages_sent, static_cast<std::uint64_t>(n)) << "the first message goes over CAF";
  EXPECT_EQ(to.traffic().lane_messages_received, sent.lane_messages_sent);
}

TEST_F(transport_test, MessagesKeepTheirOrderWhileTheLaneOpensAndThenGoOverIt) {
  check_order_across_the_switch(sys, std::size_t{64} << 20);
}

TEST_F(transport_test, ALaneThatBringsMoreThanItMayHoldBeforeItsMarkerWaitsAndLosesNothing) {
  // 16 bytes are three or four of these messages: the lane brings more than
  // that while the marker is still behind the messages sent over CAF, so the
  // receiver stops reading it until the marker comes.
  check_order_across_the_switch(sys, 16);
}

TEST_F(transport_test, ALaneWhoseMarkerNeverComesIsClosedAtItsDeadlineAndDeliversNothing) {
  // A connection that says hello with the cluster's token, as a peer's lane
  // does, but whose marker never comes over CAF: its sender died before
  // sending it, or it is no peer at all. What it brings stays held, and it is
  // closed once the marker is late.
  const auto marker_time = 500ms;
  test_node receiving{sys, 10s, {.marker_time = marker_time}};
  receiving.links.publish("127.0.0.1");
  ASSERT_NE(receiving.links.lane_port(), 0);
  const auto log_path = std::filesystem::temp_directory_path()
                        / ("caf_transport_test." + std::to_string(::getpid()) + ".log");
  actors::runtime::set_log_file(log_path);

  std::atomic<bool> broke{false};
  std::string why;
  const auto opened = std::chrono::steady_clock::now();
  auto lane = actors::runtime::message_lane::open("127.0.0.1", receiving.links.lane_port(), 7, 3, "token", 5s,
                                                  [&] { broke = true; }, why);
  ASSERT_TRUE(lane) << why;
  // The sending end learns of the close when a write fails: it writes on.
  auto broke_at = std::chrono::steady_clock::time_point{};
  while (std::chrono::steady_clock::now() < opened + 10s) {
    if (lane->send(message_kind::release, "held") == actors::runtime::message_lane::sent::flush_needed)
      lane->flush();
    if (broke || lane->broken()) {
      broke_at = std::chrono::steady_clock::now();
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  actors::runtime::set_log_file({});
  ASSERT_NE(broke_at, std::chrono::steady_clock::time_point{}) << "the lane was still open after 10 s";
  EXPECT_GE(broke_at - opened, marker_time) << "closed before its marker was late";
  {
    std::lock_guard<std::mutex> guard{receiving.seen.mu};
    EXPECT_TRUE(receiving.seen.received.empty()) << "a lane without its marker delivered messages";
  }
  std::ifstream in{log_path};
  const std::string log{std::istreambuf_iterator<char>(in), {}};
  std::filesystem::remove(log_path);
  EXPECT_NE(log.find("its marker did not come over CAF within 500 ms of the hello"), std::string::npos) << log;
}

} // namespace
