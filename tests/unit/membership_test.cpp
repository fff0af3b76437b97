// Membership (runtime/cluster/membership.hpp) with a fake head link and a fake
// transport: joining, nodes declared dead, the head going away and coming back,
// and what makes a node stop serving.
#include "runtime/cluster/membership.hpp"

#include "runtime/cluster/operations.hpp"

#include "runtime/actor_host/actor_host.hpp"
#include "runtime/object_store/object_store.hpp"
#include "runtime/scheduler/scheduler.hpp"
#include "runtime/scheduler/task_log.hpp"
#include "runtime/scheduler/worker_pool.hpp"
#include "tests/support/fake_network.hpp"
#include "tests/support/runtime_fixture.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using actors::node_id;
using actors::runtime::join_answer;
using actors::runtime::membership;
using actors::runtime::membership_listener;
using actors::runtime::stop_cause;
namespace wire = actors::runtime::wire;

const node_id self{0x51};
const node_id b{0x52};
const node_id c{0x53};

/// Records what membership tells its listeners.
struct recorder final : membership_listener {
  void node_lost(const node_id& id, const std::string& why) override {
    std::lock_guard<std::mutex> guard{mu};
    lost.emplace_back(id, why);
  }
  void node_gone_for_good(const node_id& id) override {
    std::lock_guard<std::mutex> guard{mu};
    gone.push_back(id);
  }
  void view_changed() override {
    ++views;
  }
  void cut_off(const std::string& why) override {
    std::lock_guard<std::mutex> guard{mu};
    cut = why;
  }
  void rejoined() override {
    ++rejoins;
  }
  std::size_t lost_count() {
    std::lock_guard<std::mutex> guard{mu};
    return lost.size();
  }
  std::mutex mu;
  std::vector<std::pair<node_id, std::string>> lost;
  std::vector<node_id> gone;
  std::string cut;
  std::atomic<int> views{0};
  std::atomic<int> rejoins{0};
};

/// A request whose answer is never wanted here: records how it ended.
struct probe_operation final : actors::runtime::operation {
  explicit probe_operation(std::string& ended) : ended(ended) {}
  void answered(wire::result) override {
    ended = "answered";
  }
  void lost(const node_id& node, const std::string& why) override {
    ended = "lost by " + node.to_string() + ": " + why;
  }
  void not_sent(const node_id& node) override {
    ended = "not sent to " + node.to_string();
  }
  std::string& ended;
};

wire::node_record record(node_id id, double cpu, bool alive = true) {
  wire::node_record r;
  r.id = id;
  r.address = "10.0.0." + std::to_string(id.value) + ":1";
  r.total = {{"CPU", cpu}};
  r.available = r.total;
  r.alive = alive;
  return r;
}

class Membership : public ::testing::Test {
 protected:
  void SetUp() override {
    // The other nodes this test talks about have endpoints.
    for (auto id : {b, c})
      net.add(id);
  }

  void TearDown() override {
    members.reset();
    host.reset();
    sched.stop();
    pool.stop();
  }

  void make(bool driver = false, int reconnect_ms = 5000, int heartbeat_timeout_ms = 3000) {
    actors::runtime::cluster_settings settings{"token", "10.0.0.81:1", driver, reconnect_ms, {}, {}, {}};
    settings.heartbeat_timeout_ms = heartbeat_timeout_ms;
    host = std::make_unique<actors::runtime::actor_host>(self, store, sched, pool, tasks);
    members = std::make_unique<membership>(
      actors::runtime::local_parts{self, store, sched, tasks, *host, children, streams}, settings, head, links);
    members->add_listener(events);
  }

  wire::cluster_view view(std::uint64_t version, std::vector<wire::node_record> nodes) {
    wire::cluster_view v;
    v.version = version;
    v.nodes = std::move(nodes);
    return v;
  }

  /// Joins with a first view of self, b and c.
  void join() {
    members->apply_view(view(1, {record(self, 2), record(b, 2), record(c, 2)}));
    members->join(record(self, 2));
  }

  actors::test::fake_network net;
  actors::test::fake_network::endpoint& links = net.add(self);
  actors::test::fake_head head;
  recorder events;
  actors::runtime::object_store store{self, 1 << 20, fs::temp_directory_path()};
  actors::runtime::task_log tasks;
  actors::runtime::task_tree children;
  actors::runtime::object_streams streams{self, store};
  actors::runtime::worker_pool pool{2, false};
  actors::runtime::scheduler sched{actors::runtime::resource_set::from(2, actors::detail::resource_list{}), pool};
  std::unique_ptr<actors::runtime::actor_host> host;
  std::unique_ptr<membership> members;
};

TEST_F(Membership, JoinSendsTheRecordAndReturnsOnceATableListsThisNode) {
  make();
  auto joined = std::async(std::launch::async, [&] { members->join(record(self, 2)); });
  EXPECT_EQ(joined.wait_for(50ms), std::future_status::timeout) << "join returned before any node table";
  members->apply_view(view(1, {record(b, 2)}));
  EXPECT_EQ(joined.wait_for(50ms), std::future_status::timeout) << "a table without this node is not enough";
  members->apply_view(view(2, {record(b, 2), record(self, 2)}));
  ASSERT_EQ(joined.wait_for(5s), std::future_status::ready);
  joined.get();
  std::lock_guard<std::mutex> guard{head.mu};
  ASSERT_EQ(head.joins.size(), 1u);
  EXPECT_EQ(head.joins[0].id, self);
}

TEST_F(Membership, RefusedJoinThrowsTheHeadsReason) {
  make();
  head.join_answer = {true, false, wire::join_refusal::wrong_token, "wrong cluster token"};
  try {
    members->join(record(self, 2));
    FAIL() << "a refused join must throw";
  } catch (const actors::error& e) {
    EXPECT_NE(std::string(e.what()).find("wrong cluster token"), std::string::npos) << e.what();
  }
}

TEST_F(Membership, SnapshotListsLiveReachableNodes) {
  make();
  join();
  EXPECT_EQ(members->alive_count(), 3u);
  auto snap = members->snapshot();
  ASSERT_EQ(snap->members.size(), 3u);
  EXPECT_EQ(snap->members[1].id, b);
  EXPECT_EQ(snap->members[1].total.cpu, 2);
}

TEST_F(Membership, NodeDownTellsEveryListenerOnce) {
  make();
  join();
  members->node_down(b, "its connection closed");
  members->node_down(b, "its connection closed");
  // The head's next table also marks it dead: not told again.
  members->apply_view(view(2, {record(self, 2), record(b, 2, false), record(c, 2)}));
  ASSERT_EQ(events.lost_count(), 1u);
  EXPECT_EQ(events.lost[0].first, b);
  EXPECT_EQ(events.lost[0].second, "its connection closed");
  EXPECT_TRUE(members->is_dead(b));
  EXPECT_EQ(members->alive_count(), 2u);
  for (const auto& m : members->snapshot()->members)
    EXPECT_NE(m.id, b);
}

TEST_F(Membership, ATableThatMarksANodeDeadTellsListeners) {
  make();
  join();
  members->apply_view(view(2, {record(self, 2), record(b, 2), record(c, 2, false)}));
  ASSERT_EQ(events.lost_count(), 1u);
  EXPECT_EQ(events.lost[0].first, c);
  EXPECT_EQ(events.lost[0].second, "the head declared it dead");
}

TEST_F(Membership, ANodeIsGoneForGoodOnceTheHeadHoldsItDeadAndItsConnectionClosedHere) {
  make();
  join();
  auto gone = [&] {
    std::lock_guard<std::mutex> guard{events.mu};
    return events.gone;
  };
  // Lost here only (its connection closed): it may be alive, what it owned stays.
  members->connection_closed(b);
  members->apply_view(view(2, {record(self, 2), record(b, 2), record(c, 2)}));
  EXPECT_TRUE(gone().empty());
  // The head holds it dead too: told once, however many tables say so.
  members->apply_view(view(3, {record(self, 2), record(b, 2, false), record(c, 2)}));
  members->apply_view(view(4, {record(self, 2), record(b, 2, false), record(c, 2)}));
  ASSERT_EQ(gone().size(), 1u);
  EXPECT_EQ(gone()[0], b);
  // Held dead by the head, but still connected here (a driver cut off from the
  // head only): not gone, until its connection closes.
  members->apply_view(view(5, {record(self, 2), record(b, 2, false), record(c, 2, false)}));
  EXPECT_EQ(gone().size(), 1u);
  members->connection_closed(c);
  ASSERT_EQ(gone().size(), 2u);
  EXPECT_EQ(gone()[1], c);
}

TEST_F(Membership, ANodeKnownDeadStaysDeadWhateverALaterTableSays) {
  make();
  join();
  members->node_down(b, "its connection closed");
  // A restarted head still lists b alive until b would join it again.
  members->apply_view(view(1, {record(self, 2), record(b, 2), record(c, 2)}));
  members->apply_view(view(5, {record(self, 2), record(b, 2), record(c, 2)}));
  EXPECT_TRUE(members->is_dead(b));
  for (const auto& n : members->nodes()) {
    if (n.id == b) {
      EXPECT_FALSE(n.alive);
    }
  }
  EXPECT_EQ(members->alive_count(), 2u);
}

TEST_F(Membership, OlderTablesAreIgnored) {
  make();
  join();
  members->apply_view(view(3, {record(self, 2), record(b, 4), record(c, 2)}));
  members->apply_view(view(2, {record(self, 2), record(b, 8), record(c, 2)}));
  EXPECT_EQ(members->snapshot()->members[1].total.cpu, 4);
}

TEST_F(Membership, NodesWithoutAnEndpointAreNotPlacedOn) {
  make();
  // d is in the table but this node knows no endpoint for it (a restarted head
  // lists it before it joined again).
  const node_id d{0x54};
  members->apply_view(view(1, {record(self, 2), record(b, 2), record(d, 2)}));
  members->join(record(self, 2));
  for (const auto& m : members->snapshot()->members)
    EXPECT_NE(m.id, d);
  EXPECT_EQ(members->alive_count(), 3u);
}

TEST_F(Membership, ReportsCarryThisNodesResources) {
  make();
  join();
  members->report();
  std::lock_guard<std::mutex> guard{head.mu};
  ASSERT_EQ(head.reports.size(), 1u);
  EXPECT_EQ(head.reports[0].id, self);
  EXPECT_EQ(head.reports[0].total.at("CPU"), 2);
}

TEST_F(Membership, EveryTenthReportProbesTheHeadForAsLongAsTheHeartbeatTimeoutAndFiveSecondsAtLeast) {
  // The default heartbeat timeout (3 s) is shorter than the floor: 5 s.
  make();
  join();
  for (int i = 0; i < 10; ++i)
    members->report();
  {
    std::lock_guard<std::mutex> guard{head.mu};
    ASSERT_EQ(head.probe_timeouts.size(), 1u) << "one probe per ten reports";
    EXPECT_EQ(head.probe_timeouts[0], 5000ms);
  }
  // A cluster given a longer timeout for a slow network or busy hosts waits as long.
  members.reset();
  host.reset();
  head.probe_timeouts.clear();
  make(false, 5000, 15000);
  join();
  for (int i = 0; i < 10; ++i)
    members->report();
  std::lock_guard<std::mutex> guard{head.mu};
  ASSERT_EQ(head.probe_timeouts.size(), 1u);
  EXPECT_EQ(head.probe_timeouts[0], 15000ms);
}

TEST_F(Membership, AProbeTheHeadLeavesUnansweredStartsReconnecting) {
  make();
  join();
  head.silent_probes = true;
  for (int i = 0; i < 10; ++i)
    members->report();
  ASSERT_TRUE(actors::test::eventually([&] {
    std::lock_guard<std::mutex> guard{head.mu};
    return !head.reconnects.empty();
  })) << "an unanswered probe did not start reconnecting";
  std::lock_guard<std::mutex> guard{head.mu};
  EXPECT_EQ(head.lost_count, 1);
}

TEST_F(Membership, AProbeSentBeforeTheHeadWasLostSaysNothingOfTheHeadRejoinedSince) {
  make();
  join();
  {
    std::lock_guard<std::mutex> guard{head.mu};
    head.held_probes = true;
    head.reconnect_answers = {join_answer{true, true, wire::join_refusal::none, {}}};
  }
  for (int i = 0; i < 10; ++i)
    members->report();
  // The head goes away with the probe in flight, and the node rejoins the one
  // that comes back.
  members->head_lost();
  ASSERT_TRUE(actors::test::eventually([&] { return events.rejoins.load() == 1; })) << "never rejoined";
  std::vector<std::function<void()>> silences;
  {
    std::lock_guard<std::mutex> guard{head.mu};
    silences.swap(head.silences);
  }
  ASSERT_EQ(silences.size(), 1u);
  // Only now does the probe of the head that went away time out.
  silences[0]();
  std::this_thread::sleep_for(300ms);
  std::lock_guard<std::mutex> guard{head.mu};
  EXPECT_EQ(head.lost_count, 1) << "the silence of the head that went away was taken for the new head's";
  EXPECT_EQ(head.reconnects.size(), 1u);
  EXPECT_EQ(events.rejoins.load(), 1);
}

TEST_F(Membership, HeadRestartRejoinsWithTheSameIdAndTellsListeners) {
  make();
  join();
  {
    std::lock_guard<std::mutex> guard{head.mu};
    head.reconnect_answers = {std::nullopt, std::nullopt, join_answer{true, true, wire::join_refusal::none, {}}};
  }
  members->head_lost();
  ASSERT_TRUE(actors::test::eventually([&] { return events.rejoins.load() == 1; })) << "never rejoined";
  std::lock_guard<std::mutex> guard{head.mu};
  EXPECT_EQ(head.lost_count, 1);
  ASSERT_EQ(head.reconnects.size(), 3u) << "two refused connections, then the head";
  EXPECT_EQ(head.reconnects.back().id, self);
  // Work between live nodes went on: nobody was declared dead.
  EXPECT_EQ(events.lost_count(), 0u);
  // The restarted head numbers its tables afresh: version 1 is taken.
  members->apply_view(view(1, {record(self, 2), record(b, 8), record(c, 2)}));
  EXPECT_EQ(members->snapshot()->members[1].total.cpu, 8);
}

TEST_F(Membership, HeadStillHoldingTheOldConnectionIsAskedAgainUntilItLetsGo) {
  make();
  join();
  const join_answer held{true, false, wire::join_refusal::duplicate_id, "a live node with id x is already a member"};
  {
    std::lock_guard<std::mutex> guard{head.mu};
    head.reconnect_answers = {held, held, join_answer{true, true, wire::join_refusal::none, {}}};
  }
  members->head_lost();
  ASSERT_TRUE(actors::test::eventually([&] { return events.rejoins.load() == 1; }))
    << "gave up on the head while it still held the node's earlier connection";
  {
    std::lock_guard<std::mutex> guard{head.mu};
    EXPECT_EQ(head.reconnects.size(), 3u) << "two refusals as a duplicate, then accepted";
  }
  EXPECT_EQ(events.lost_count(), 0u);
}

TEST_F(Membership, ServingNodeDeclaredDeadStopsToStartAgainAsANewNode) {
  make();
  join();
  {
    std::lock_guard<std::mutex> guard{head.mu};
    head.reconnect_answers = {join_answer{true, false, wire::join_refusal::declared_dead, "declared dead"}};
  }
  members->head_lost();
  auto cause = std::async(std::launch::async, [&] { return members->wait_until_stopped(); });
  ASSERT_EQ(cause.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(cause.get(), stop_cause::declared_dead);
}

TEST_F(Membership, DriverDeclaredDeadIsCutOffInsteadOfStopping) {
  make(/*driver=*/true);
  join();
  {
    std::lock_guard<std::mutex> guard{head.mu};
    head.reconnect_answers = {join_answer{true, false, wire::join_refusal::declared_dead, "declared dead"}};
  }
  members->head_lost();
  ASSERT_TRUE(actors::test::eventually([&] {
    std::lock_guard<std::mutex> guard{events.mu};
    return !events.cut.empty();
  }));
  EXPECT_NE(events.cut.find("restart the program"), std::string::npos) << events.cut;
}

TEST_F(Membership, HeadThatNeverComesBackStopsAServingNode) {
  make(false, /*reconnect_ms=*/300);
  join();
  members->head_lost();
  auto cause = std::async(std::launch::async, [&] { return members->wait_until_stopped(); });
  ASSERT_EQ(cause.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(cause.get(), stop_cause::head_gone);
  EXPECT_EQ(events.rejoins.load(), 0);
}

/// Answers requests as a serving node does (only pings are asked here).
struct serving_node final : actors::runtime::message_handler {
  void on_message(actors::runtime::message_kind, const std::string&,
                  const actors::runtime::return_address&) override {}
  std::string on_request(actors::runtime::request_kind kind, const std::string&) override {
    ++asked;
    return wire::pack(wire::request_answer{kind == actors::runtime::request_kind::ping, {}});
  }
  std::atomic<int> asked{0};
};

TEST_F(Membership, DriverWithoutItsHeadTakesAPeerThatStopsAnsweringForDead) {
  // b serves; c does not answer (its only route was through the head).
  serving_node b_serves;
  auto& b_link = net.add(b);
  b_link.attach(b_serves);
  // However the test ends, membership's threads stop asking b before b_serves goes.
  struct stop_first {
    std::unique_ptr<membership>& members;
    actors::test::fake_network::endpoint& link;
    ~stop_first() {
      members.reset();
      link.detach();
    }
  } guard{members, b_link};
  make(true, /*reconnect_ms=*/300, /*heartbeat_timeout_ms=*/1000);
  join();
  members->head_lost();
  ASSERT_TRUE(actors::test::eventually([&] { return members->is_dead(c); }, 10s))
    << "a peer that no longer answers stays alive for a driver without its head";
  // Listeners hear of a death just after it is marked.
  EXPECT_TRUE(actors::test::eventually(
    [&] {
      std::lock_guard<std::mutex> lock{events.mu};
      return !events.lost.empty();
    },
    10s));
  EXPECT_GT(b_serves.asked.load(), 0);
  EXPECT_FALSE(members->is_dead(b)) << "a peer that answers is not taken for dead";
  std::lock_guard<std::mutex> lock{events.mu};
  EXPECT_TRUE(events.cut.empty()) << "a driver goes on without its head: " << events.cut;
  ASSERT_EQ(events.lost.size(), 1u);
  EXPECT_EQ(events.lost[0].first, c);
  EXPECT_NE(events.lost[0].second.find("did not answer within 1 s"), std::string::npos) << events.lost[0].second;
  EXPECT_NE(events.lost[0].second.find("the head that would say whether it lives is gone"), std::string::npos);
}

TEST_F(Membership, HeadThatRefusesTheNodeStopsIt) {
  make();
  join();
  {
    std::lock_guard<std::mutex> guard{head.mu};
    head.reconnect_answers = {join_answer{true, false, wire::join_refusal::wrong_token, "wrong cluster token"}};
  }
  members->head_lost();
  auto cause = std::async(std::launch::async, [&] { return members->wait_until_stopped(); });
  ASSERT_EQ(cause.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(cause.get(), stop_cause::head_gone);
}

TEST_F(Membership, FirstCauseToStopWins) {
  make();
  join();
  members->end_serving(stop_cause::service_failed);
  members->end_serving(stop_cause::requested);
  EXPECT_EQ(members->wait_until_stopped(), stop_cause::service_failed);
}

TEST_F(Membership, ARequestForANodeKnownDeadIsNotSentAndOneInFlightIsLost) {
  make();
  join();
  actors::runtime::operations ops{*members};
  std::string to_live, in_flight, to_dead;
  ops.add(1, c, std::make_unique<probe_operation>(to_live));
  ops.add(2, b, std::make_unique<probe_operation>(in_flight));
  members->node_down(b, "its connection closed");
  // A request made once b is known dead never went out: its kind may send it
  // elsewhere without spending a retry.
  ops.add(3, b, std::make_unique<probe_operation>(to_dead));
  ops.node_lost(b, "its connection closed");
  EXPECT_EQ(in_flight, "lost by " + b.to_string() + ": its connection closed");
  EXPECT_EQ(to_dead, "not sent to " + b.to_string());
  EXPECT_EQ(to_live, "");
  wire::result answer;
  answer.key = 1;
  ops.answer(std::move(answer));
  EXPECT_EQ(to_live, "answered");
}

} // namespace
