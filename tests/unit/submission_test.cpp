// The remote layer of three nodes in one process over a fake network
// (tests/support/fake_network.hpp): tasks sent to another node, sent again when
// that node is lost, each result delivered once; large arguments kept by the
// owner and fetched by the node; actors rebuilt on another node with their
// calls; tasks held until a node that can run them joins.
#include "runtime/cluster/cluster.hpp"
#include "runtime/cluster/object_directory.hpp"
#include "tests/support/fake_network.hpp"
#include "tests/support/gate.hpp"
#include "tests/support/runtime_fixture.hpp"

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <typeinfo>

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using actors::node_id;
using actors::detail::object_cell;
using actors::runtime::message_kind;
namespace wire = actors::runtime::wire;

// -- what the nodes run ---------------------------------------------------------------

std::atomic<int> runs{0};
/// The run with this number (1 = the first) waits at `held` until the test opens it.
std::atomic<int> held_run{0};
actors::test::gate* held = nullptr;
actors::test::gate* entered = nullptr;

/// Which run of it this was.
int numbered_run(int) {
  int n = ++runs;
  if (n == held_run.load()) {
    entered->open();
    held->wait();
  }
  return n;
}

int square(int x) {
  return x * x;
}

double sum_both(std::vector<double> x, const std::vector<std::int32_t>& y, int k) {
  return std::accumulate(x.begin(), x.end(), 0.0) + k * std::accumulate(y.begin(), y.end(), 0.0);
}

/// The length of `v`; waits at `held` like numbered_run.
std::int64_t numbered_length(std::vector<double> v) {
  numbered_run(0);
  return static_cast<std::int64_t>(v.size());
}

std::atomic<int> constructions{0};

class Counter {
 public:
  explicit Counter(int start) : n_(start) {}
  int add(int d) {
    return n_ += d;
  }
  /// Waits at `held` in the first instance only.
  int add_held(int d) {
    if (constructions.load() == 1) {
      entered->open();
      held->wait();
    }
    return n_ += d;
  }

 private:
  int n_;
};

Counter make_counter(int start) {
  ++constructions;
  return Counter(start);
}

ACTORS_REMOTE(numbered_run, square, sum_both, numbered_length, make_counter, &Counter::add, &Counter::add_held);

template <class F>
const actors::detail::function_entry& function(F* f) {
  return actors::detail::function_of(reinterpret_cast<const void*>(f), typeid(f).name());
}

template <class M>
const actors::detail::method_entry& method(M m) {
  return actors::detail::method_of(actors::detail::method_key(m), typeid(Counter).name());
}

// -- three nodes on a fake network -------------------------------------------------------

/// One node's local parts and remote layer, built as runtime::node builds them.
struct fake_node {
  fake_node(actors::test::fake_network& network, node_id id, double cpus, bool driver,
            actors::test::fake_names& names)
    : id(id),
      dir(fs::temp_directory_path() / ("submission-test-" + std::to_string(::getpid()) + "-" + id.to_string())),
      links(network.add(id)),
      releases(id, links),
      store(id, std::size_t{256} << 20, make_dir(dir), &releases),
      pool(static_cast<std::size_t>(std::max(1.0, std::ceil(cpus))), false),
      sched(actors::runtime::resource_set::from(cpus, actors::detail::resource_list{}), pool),
      host(id, store, sched, pool, tasks),
      net(actors::runtime::local_parts{id, store, sched, tasks, host, children, streams},
          actors::runtime::cluster_settings{"token", "10.0.0.1:1", driver, 0, {}, {}, dir / "job-files"}, links, head, names,
          names, links) {
    links.attach(net);
  }

  ~fake_node() {
    sched.stop();
    host.stop();
    net.stop();
    links.detach();
    pool.stop();
  }

  static fs::path make_dir(const fs::path& p) {
    fs::create_directories(p);
    return p;
  }

  wire::node_record record(double cpus, bool driver) const {
    wire::node_record r;
    r.id = id;
    r.address = "fake:" + id.to_string();
    r.total = {{"CPU", cpus}};
    r.available = r.total;
    r.driver = driver;
    return r;
  }

  const node_id id;
  const fs::path dir;
  actors::test::fake_network::endpoint& links;
  actors::runtime::remote_releases releases;
  actors::runtime::object_store store;
  actors::runtime::task_log tasks;
  actors::runtime::task_tree children;
  actors::runtime::object_streams streams{id, store};
  actors::runtime::worker_pool pool;
  actors::runtime::scheduler sched;
  actors::runtime::actor_host host;
  actors::test::fake_head head;
  actors::runtime::cluster net;
};

class Submission : public ::testing::Test {
 protected:
  void SetUp() override {
    runs = 0;
    held_run = 0;
    constructions = 0;
    held = &hold_gate;
    entered = &entered_gate;
    // a is a driver (no CPUs): everything it submits runs on b or c.
    a = std::make_unique<fake_node>(network, node_id{0xa}, 0, true, names);
    b = std::make_unique<fake_node>(network, node_id{0xb}, 2, false, names);
    c = std::make_unique<fake_node>(network, node_id{0xc}, 2, false, names);
    table.version = 1;
    table.nodes = {a->record(0, true), b->record(2, false), c->record(2, false)};
    show_table();
  }

  void TearDown() override {
    hold_gate.open();
    network.settle();
    a.reset();
    b.reset();
    c.reset();
    d.reset();
    for (auto id : {0xa, 0xb, 0xc, 0xd})
      fs::remove_all(fs::temp_directory_path()
                     / ("submission-test-" + std::to_string(::getpid()) + "-" + node_id{std::uint64_t(id)}.to_string()));
  }

  /// Every node applies the current node table.
  void show_table() {
    for (auto* n : {a.get(), b.get(), c.get(), d.get()})
      if (n)
        n->net.on_view(table);
  }

  static bool settled(object_cell* r) {
    return actors::test::eventually([&] { return r->current() != object_cell::state::pending; });
  }

  template <class T = int>
  static T value_of(fake_node& n, object_cell* r) {
    auto p = n.store.value(r, actors::detail::ops_of<T>());
    return *static_cast<const T*>(p.get());
  }

  /// From now on, the types of the values `to` fetches, as their first chunks
  /// reach it.
  std::shared_ptr<std::vector<std::string>> fetched_by(node_id to) {
    auto types = std::make_shared<std::vector<std::string>>();
    network.tap(message_kind::result, [this, to, types](const node_id& addressee, const std::string& payload) {
      auto r = wire::unpack<wire::result>(payload, "result");
      if (addressee == to && r.ok && r.offset == 0 && !r.bytes.empty()) {
        std::lock_guard<std::mutex> guard{tapped};
        types->push_back(r.type_name);
      }
    });
    return types;
  }

  std::mutex tapped;

  actors::detail::task_options options(int max_retries = 3) {
    actors::detail::task_options o;
    o.max_retries = max_retries;
    return o;
  }

  actors::test::gate hold_gate;
  actors::test::gate entered_gate;
  actors::test::fake_network network;
  actors::test::fake_names names;
  std::unique_ptr<fake_node> a, b, c, d;
  wire::cluster_view table;
};

TEST_F(Submission, TaskRunsOnTheNodeItIsSentToAndItsResultComesBack) {
  auto* r = a->net.tasks().submit(b->id, function(square), actors::detail::make_args<int>(7), options());
  ASSERT_TRUE(settled(r));
  ASSERT_EQ(r->current(), object_cell::state::ready);
  EXPECT_EQ(value_of(*a, r), 49);
  EXPECT_EQ(network.delivered(b->id, message_kind::task), 1);
  EXPECT_EQ(network.delivered(c->id, message_kind::task), 0);
  actors::detail::release(r);
}

TEST_F(Submission, LargeArgumentValuesStayWithTheOwnerAndTheNodeFetchesEachAsItIs) {
  std::vector<wire::task_request> requests;
  network.tap(message_kind::task, [&](const node_id&, const std::string& payload) {
    auto req = wire::unpack<wire::task_request>(payload, "task request");
    std::lock_guard<std::mutex> guard{tapped};
    requests.push_back(std::move(req));
  });
  auto fetched = fetched_by(b->id);
  std::vector<double> x(std::size_t{3} << 17, 0.5);     // 3 MiB
  std::vector<std::int32_t> y(std::size_t{1} << 19, 2); // 2 MiB
  auto* r = a->net.tasks().submit(
    b->id, function(sum_both),
    actors::detail::make_args<std::vector<double>, const std::vector<std::int32_t>&, int>(std::move(x), std::move(y),
                                                                                          3),
    options());
  ASSERT_TRUE(settled(r));
  ASSERT_EQ(r->current(), object_cell::state::ready) << r->why->message;
  EXPECT_EQ(value_of<double>(*a, r), 0.5 * (3 << 17) + 3 * 2.0 * (1 << 19));
  ASSERT_TRUE(network.settle());
  std::lock_guard<std::mutex> guard{tapped};
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_FALSE(requests[0].args_held) << "the arguments were encoded together and held";
  EXPECT_LT(requests[0].args.size(), 1024u) << "the request carries a large argument";
  std::sort(fetched->begin(), fetched->end());
  std::vector<std::string> each{typeid(std::vector<double>).name(), typeid(std::vector<std::int32_t>).name()};
  std::sort(each.begin(), each.end());
  EXPECT_EQ(*fetched, each) << "b did not fetch each large argument as a value of its own type";
  actors::detail::release(r);
}

TEST_F(Submission, ALargeArgumentIsFetchedAgainByTheNodeATaskGoesToWhenItsFirstNodeIsLost) {
  held_run = 1;
  auto fetched = fetched_by(c->id);
  auto* r = a->net.tasks().submit(b->id, function(numbered_length),
                                  actors::detail::make_args<std::vector<double>>(std::vector<double>(3 << 17, 1.0)),
                                  options());
  ASSERT_TRUE(entered_gate.wait()) << "the task never started on b";
  a->net.members().node_down(b->id, "it stopped answering");
  ASSERT_TRUE(settled(r));
  ASSERT_EQ(r->current(), object_cell::state::ready) << r->why->message;
  EXPECT_EQ(value_of<std::int64_t>(*a, r), 3 << 17) << "c ran it on a vector of another length";
  EXPECT_EQ(network.delivered(c->id, message_kind::task), 1);
  std::lock_guard<std::mutex> guard{tapped};
  EXPECT_EQ(*fetched, std::vector<std::string>{typeid(std::vector<double>).name()});
  actors::detail::release(r);
}

TEST_F(Submission, TaskIsSentAgainWhenItsNodeIsLostAndItsResultIsDeliveredOnce) {
  held_run = 1;
  auto* r = a->net.tasks().submit(b->id, function(numbered_run), actors::detail::make_args<int>(0), options());
  ASSERT_TRUE(entered_gate.wait()) << "the task never started on b";
  // a takes b for dead (its heartbeats stopped, say) while b still runs the task.
  a->net.members().node_down(b->id, "it stopped answering");
  ASSERT_TRUE(settled(r));
  ASSERT_EQ(r->current(), object_cell::state::ready);
  EXPECT_EQ(value_of(*a, r), 2) << "the second run (on c) answers";
  EXPECT_EQ(network.delivered(c->id, message_kind::task), 1);
  // b finishes late and answers; a drops that answer.
  hold_gate.open();
  ASSERT_TRUE(actors::test::eventually([&] { return network.delivered(a->id, message_kind::result) == 2; }));
  ASSERT_TRUE(network.settle());
  EXPECT_EQ(value_of(*a, r), 2);
  EXPECT_EQ(runs.load(), 2) << "run once on b, once again on c, never a third time";
  actors::detail::release(r);
}

TEST_F(Submission, ATaskCancelledWhileWaitingForRoomInANodesWindowIsNeverSent) {
  // b's window fills with tasks whose messages are lost; the next one waits here.
  network.cut(b->id);
  std::vector<object_cell*> sent;
  for (std::size_t i = 0; i < actors::runtime::tasks_in_flight_per_node; ++i)
    sent.push_back(a->net.tasks().submit(b->id, function(numbered_run), actors::detail::make_args<int>(0), options()));
  auto* waiting = a->net.tasks().submit(b->id, function(numbered_run), actors::detail::make_args<int>(0), options());
  a->net.cancels().cancel(waiting, false);
  EXPECT_EQ(waiting->current(), object_cell::state::failed);
  // b is lost: the tasks sent there run again on c, and room opens for the
  // waiting one, which was cancelled and must not run.
  a->net.members().node_down(b->id, "its link went down");
  for (auto* r : sent)
    ASSERT_TRUE(settled(r));
  ASSERT_TRUE(network.settle());
  EXPECT_EQ(runs.load(), static_cast<int>(actors::runtime::tasks_in_flight_per_node))
    << "the cancelled task ran";
  for (auto* r : sent)
    actors::detail::release(r);
  actors::detail::release(waiting);
}

TEST_F(Submission, TaskOnACutNodeRunsElsewhere) {
  network.cut(b->id);
  auto* r = a->net.tasks().submit(b->id, function(square), actors::detail::make_args<int>(5), options());
  a->net.members().node_down(b->id, "its connection closed");
  ASSERT_TRUE(settled(r));
  ASSERT_EQ(r->current(), object_cell::state::ready);
  EXPECT_EQ(value_of(*a, r), 25);
  EXPECT_EQ(network.delivered(c->id, message_kind::task), 1);
  actors::detail::release(r);
}

TEST_F(Submission, TaskWithNoRetriesLeftFailsWithObjectLost) {
  held_run = 1;
  auto* r = a->net.tasks().submit(b->id, function(numbered_run), actors::detail::make_args<int>(0), options(0));
  ASSERT_TRUE(entered_gate.wait());
  a->net.members().node_down(b->id, "it stopped answering");
  ASSERT_TRUE(settled(r));
  ASSERT_EQ(r->current(), object_cell::state::failed);
  EXPECT_EQ(r->why->code, actors::errc::object_lost);
  EXPECT_NE(r->why->message.find("no retries left"), std::string::npos) << r->why->message;
  actors::detail::release(r);
}

TEST_F(Submission, TaskNoNodeCanRunWaitsUntilOneJoins) {
  auto opts = options();
  opts.resources = {{"GPU", 1}};
  auto* r = a->net.tasks().park(function(square), actors::detail::make_args<int>(3), opts);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(r->current(), object_cell::state::pending);
  d = std::make_unique<fake_node>(network, node_id{0xd}, 1, false, names);
  d->sched.add_total(actors::runtime::resource_set::from(0, std::map<std::string, double>{{"GPU", 1}}));
  auto rec = d->record(1, false);
  rec.total["GPU"] = 1;
  table.version = 2;
  table.nodes.push_back(rec);
  show_table();
  ASSERT_TRUE(settled(r));
  ASSERT_EQ(r->current(), object_cell::state::ready);
  EXPECT_EQ(value_of(*a, r), 9);
  EXPECT_EQ(network.delivered(d->id, message_kind::task), 1);
  actors::detail::release(r);
}

TEST_F(Submission, ActorIsRebuiltOnAnotherNodeWhenItsNodeIsLost) {
  actors::detail::actor_options opts;
  opts.max_restarts = 1;
  auto* actor = a->net.actors().create(b->id, function(make_counter), *actors::detail::make_args<int>(10), opts,
                                       actors::actor_id{a->id.value, 1});
  auto* first = a->net.actors().call(actor, method(&Counter::add), actors::detail::make_args<int>(5));
  ASSERT_TRUE(settled(first));
  EXPECT_EQ(value_of(*a, first), 15);
  a->net.members().node_down(b->id, "it stopped answering");
  // A call made now waits for the new instance, built from the factory again.
  auto* second = a->net.actors().call(actor, method(&Counter::add), actors::detail::make_args<int>(1));
  ASSERT_TRUE(settled(second));
  ASSERT_EQ(second->current(), object_cell::state::ready) << second->why->message;
  EXPECT_EQ(value_of(*a, second), 11);
  EXPECT_EQ(constructions.load(), 2);
  EXPECT_EQ(c->host.stats().alive, 1u) << "rebuilt on c, the only other node that can host it";
  actors::detail::release(first);
  actors::detail::release(second);
  actors::detail::release(actor);
}

TEST_F(Submission, CallInFlightGoesToTheRebuiltActorWithinMaxTaskRetries) {
  actors::detail::actor_options opts;
  opts.max_restarts = 1;
  opts.max_task_retries = 1;
  auto* actor = a->net.actors().create(b->id, function(make_counter), *actors::detail::make_args<int>(10), opts,
                                       actors::actor_id{a->id.value, 2});
  auto* call = a->net.actors().call(actor, method(&Counter::add_held), actors::detail::make_args<int>(5));
  ASSERT_TRUE(entered_gate.wait()) << "the call never started on b";
  a->net.members().node_down(b->id, "it stopped answering");
  ASSERT_TRUE(settled(call));
  ASSERT_EQ(call->current(), object_cell::state::ready) << call->why->message;
  EXPECT_EQ(value_of(*a, call), 15) << "answered by the new instance on c";
  actors::detail::release(call);
  actors::detail::release(actor);
}

TEST_F(Submission, ActorWithNoRestartsLeftFailsItsCallsWithActorDied) {
  actors::detail::actor_options opts;
  auto* actor = a->net.actors().create(b->id, function(make_counter), *actors::detail::make_args<int>(10), opts,
                                       actors::actor_id{a->id.value, 3});
  a->net.members().node_down(b->id, "it stopped answering");
  auto* call = a->net.actors().call(actor, method(&Counter::add), actors::detail::make_args<int>(1));
  ASSERT_TRUE(settled(call));
  ASSERT_EQ(call->current(), object_cell::state::failed);
  EXPECT_EQ(call->why->code, actors::errc::actor_died);
  EXPECT_NE(call->why->message.find("no restarts left"), std::string::npos) << call->why->message;
  actors::detail::release(call);
  actors::detail::release(actor);
}

} // namespace
