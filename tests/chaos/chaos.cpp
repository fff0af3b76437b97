// chaos: a long mixed job on a real cluster (a head and N actorsd nodes, loading
// the cluster tests' job library) while nodes are killed with SIGKILL and started
// again at random, or, with --partitions, while the links of hosts (network
// namespaces, one per process; needs root) are cut and healed at random. Every
// result is checked. Prints the faults survived and the throughput; exits 1 if
// any result was wrong or missing.
//
//   chaos [--duration S] [--nodes N] [--kill-every MS] [--head-kills] [--partitions]
//         [--seed N] [--actorsd PATH] [--job LIB.so] [--cli PATH]
//
// ACTORSD, JOB_LIBRARY and ACTORS_CLI stand in for the paths when not given.

#include "tests/cluster/job.hpp"
#include "tests/multihost/netns_bed.hpp"
#include "tests/support/processes.hpp"

#include <actors/actors.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using actors::test::process;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
  double duration_s = 20;
  int nodes = 3;
  int kill_every_ms = 2500;
  bool head_kills = false;
  bool partitions = false;
  unsigned seed = 0;
  std::string actorsd;
  std::string job;
  std::string cli;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "chaos: " << why
            << "\nusage: chaos [--duration S] [--nodes N] [--kill-every MS] [--head-kills] [--partitions] [--seed N]"
               " [--actorsd PATH] [--job LIB.so] [--cli PATH]\n";
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  if (const char* v = std::getenv("ACTORSD"))
    o.actorsd = v;
  if (const char* v = std::getenv("JOB_LIBRARY"))
    o.job = v;
  if (const char* v = std::getenv("ACTORS_CLI"))
    o.cli = v;
  o.seed = std::random_device{}();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        usage(a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--duration")
        o.duration_s = std::stod(value());
      else if (a == "--nodes")
        o.nodes = std::stoi(value());
      else if (a == "--kill-every")
        o.kill_every_ms = std::stoi(value());
      else if (a == "--head-kills")
        o.head_kills = true;
      else if (a == "--partitions")
        o.partitions = true;
      else if (a == "--seed")
        o.seed = static_cast<unsigned>(std::stoul(value()));
      else if (a == "--actorsd")
        o.actorsd = value();
      else if (a == "--job")
        o.job = value();
      else if (a == "--cli")
        o.cli = value();
      else
        usage("unknown argument '" + a + "'");
    } catch (const std::invalid_argument&) {
      usage("bad value for " + a);
    }
  }
  if (o.actorsd.empty() || o.job.empty())
    usage("give --actorsd and --job (or ACTORSD and JOB_LIBRARY)");
  if (o.nodes < 2 || o.kill_every_ms < 100 || o.duration_s <= 0)
    usage("--nodes must be 2 or more, --kill-every 100 ms or more, --duration above 0");
  return o;
}

// The heartbeat timeout of every process (ACTORS_HEARTBEAT_TIMEOUT, if set,
// instead); a cut shorter than it costs nothing.
const int heartbeat_timeout_ms = static_cast<int>(actors::test::heartbeat_timeout(1500ms).count());

/// The cluster: a head and its nodes, as real processes in `dir`. With
/// partitions, each runs on a host of its own (a network namespace; host 1 the
/// head), and this process reaches them over the hosts' bridge.
class cluster {
 public:
  explicit cluster(const options& o) : o_(o) {
    char tmpl[] = "/tmp/actors-chaos-XXXXXX";
    dir_ = mkdtemp(tmpl);
    setenv("ACTORS_SESSION_DIR", dir_.c_str(), 1);
    if (o_.partitions)
      bed_ = std::make_unique<actors::test::netns_bed>("actch", "10.213.10", o_.nodes + 1, dir_);
    start_head(o_.partitions ? "6380" : "0");
    for (int i = 0; i < 200 && actors::test::read_key(dir_ + "/session_latest", "address").empty(); ++i)
      std::this_thread::sleep_for(50ms);
    address_ = actors::test::read_key(dir_ + "/session_latest", "address");
    token_ = actors::test::read_key(dir_ + "/session_latest", "token");
    if (address_.empty())
      throw std::runtime_error("the head did not start; see " + dir_ + "/head-0.log");
    for (int i = 0; i < o_.nodes; ++i)
      nodes_.push_back(start_node());
  }

  ~cluster() {
    actors::test::run({o_.cli, "--address", address_, "--token", token_, "stop"}, dir_ + "/stop.log", 10s);
    nodes_.clear();
    head_.reset();
    // Kills what still runs there, and removes the hosts and their links.
    bed_.reset();
  }

  /// Cuts a random node's host off the network (or the head's, one time in four
  /// with head kills on) for a random time between 0.2 and 2.7 heartbeat
  /// timeouts, then heals it. Returns what it cut: "short cut" (shorter than the
  /// timeout: nobody is declared dead), "long cut" or "head cut".
  std::string partition_one(std::mt19937& rng) {
    bool head = o_.head_kills && rng() % 4 == 0;
    int host = head ? 1 : 2 + static_cast<int>(rng() % static_cast<unsigned>(o_.nodes));
    int ms = heartbeat_timeout_ms / 5 + static_cast<int>(rng() % static_cast<unsigned>(heartbeat_timeout_ms * 5 / 2));
    bed_->cut(host);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    bed_->heal(host);
    return head ? "head cut" : ms < heartbeat_timeout_ms ? "short cut" : "long cut";
  }

  const std::string& address() const {
    return address_;
  }
  const std::string& token() const {
    return token_;
  }
  const std::string& dir() const {
    return dir_;
  }

  /// Kills a random node (or the head, one time in four with head kills on) with
  /// SIGKILL and starts a replacement; returns what it killed.
  std::string kill_one(std::mt19937& rng) {
    if (o_.head_kills && rng() % 4 == 0) {
      head_->kill(SIGKILL);
      head_->wait_exit(5s);
      // Restarted at once: the nodes and the driver find it again on the same port.
      start_head(address_.substr(address_.rfind(':') + 1));
      return "head";
    }
    auto& victim = nodes_[rng() % nodes_.size()];
    victim->kill(SIGKILL);
    victim->wait_exit(5s);
    victim = start_node();
    return "node";
  }

 private:
  std::vector<std::string> daemon(std::vector<std::string> extra) const {
    std::vector<std::string> args{o_.actorsd, "--num-cpus", "1", "--metrics-port", "-1", "--heartbeat-timeout",
                                  std::to_string(heartbeat_timeout_ms), "--load", o_.job};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  /// `args` as a process, on host `host` of the bed with partitions.
  std::unique_ptr<process> spawn(int host, std::vector<std::string> args, const std::string& log) const {
    if (bed_)
      args.insert(args.begin(), {actors::test::ip_program(), "netns", "exec", bed_->ns(host)});
    return std::make_unique<process>(std::move(args), log);
  }

  void start_head(const std::string& port) {
    std::vector<std::string> extra{"--head", "--port", port, "--state-dir", dir_ + "/state"};
    if (bed_)
      extra.insert(extra.end(), {"--bind", bed_->address(1)});
    head_ = spawn(1, daemon(extra), dir_ + "/head-" + std::to_string(heads_++) + ".log");
  }

  std::unique_ptr<process> start_node() {
    // With partitions, node i of nodes_ lives on host i + 2 (a replacement on
    // the same host as the node it replaces).
    int host = 2 + static_cast<int>(nodes_.size() < static_cast<std::size_t>(o_.nodes) ? nodes_.size() : 0);
    return spawn(host, daemon({"--address", address_, "--token", token_}),
                 dir_ + "/node-" + std::to_string(started_++) + ".log");
  }

  const options& o_;
  std::unique_ptr<actors::test::netns_bed> bed_;
  std::string dir_;
  std::string address_;
  std::string token_;
  std::unique_ptr<process> head_;
  std::vector<std::unique_ptr<process>> nodes_;
  int started_ = 0;
  int heads_ = 0;
};

struct tally {
  std::uint64_t tasks = 0;
  std::uint64_t chains = 0;
  std::uint64_t lineage = 0;
  std::uint64_t actor_calls = 0;
  std::uint64_t wrong = 0;
  std::uint64_t failed = 0;
};

void check(bool ok, tally& t, const std::string& what) {
  if (!ok) {
    ++t.wrong;
    std::cerr << "chaos: WRONG RESULT: " << what << std::endl;
  }
}

/// The values of `refs`; throws if they are not all ready within two minutes.
template <class T>
std::vector<T> get_all(const std::vector<actors::object_ref<T>>& refs, const char* what) {
  auto w = actors::wait(refs, refs.size(), 120s);
  if (!w.pending.empty())
    throw std::runtime_error(std::to_string(w.pending.size()) + " " + what + " did not finish within 120 s");
  return actors::get(refs);
}

/// One round of the mixed job; every result is checked.
void round(std::int64_t r, std::vector<actors::actor_handle<job::Counter>>& counters, tally& t) {
  constexpr int retries = 10; // survives several kills of the nodes a task lands on
  // Independent tasks, spread over the nodes.
  std::vector<actors::object_ref<std::int64_t>> squares;
  for (std::int64_t i = 0; i < 200; ++i)
    squares.push_back(actors::task(job::square).strategy(actors::spread).max_retries(retries).remote(r * 1000 + i));
  // Chains: each step takes the previous step's result (dataflow across nodes).
  std::vector<actors::object_ref<std::int64_t>> chains;
  for (std::int64_t c = 0; c < 20; ++c) {
    auto ref = actors::task(job::inc).strategy(actors::spread).max_retries(retries).remote(r * 100 + c);
    for (int step = 1; step < 5; ++step)
      ref = actors::task(job::inc).strategy(actors::spread).max_retries(retries).remote(ref);
    chains.push_back(ref);
  }
  // Large values that stay on the node that made them, used by a second task:
  // a kill in between makes them again from their lineage.
  std::vector<actors::object_ref<std::int64_t>> sums;
  for (std::int64_t k = 0; k < 4; ++k) {
    std::int64_t n = 20'000 + r % 100 + k;
    auto v = actors::task(job::make_vec).strategy(actors::spread).max_retries(retries).remote(n);
    sums.push_back(actors::task(job::sum_vec).strategy(actors::spread).max_retries(retries).remote(v));
  }
  // Actor calls: add(0) leaves a counter where its factory put it, before and
  // after any restart.
  std::vector<actors::object_ref<std::int64_t>> calls;
  for (auto& c : counters)
    for (int k = 0; k < 10; ++k)
      calls.push_back(c.task(&job::Counter::add).remote(std::int64_t{0}));

  auto sq = get_all(squares, "tasks");
  for (std::int64_t i = 0; i < 200; ++i)
    check(sq[static_cast<std::size_t>(i)] == (r * 1000 + i) * (r * 1000 + i), t, "square of " + std::to_string(r * 1000 + i));
  t.tasks += 200;
  auto ch = get_all(chains, "chains");
  for (std::int64_t c = 0; c < 20; ++c)
    check(ch[static_cast<std::size_t>(c)] == r * 100 + c + 5, t, "chain from " + std::to_string(r * 100 + c));
  t.chains += 20;
  t.tasks += 100;
  auto su = get_all(sums, "sums");
  for (std::int64_t k = 0; k < 4; ++k) {
    std::int64_t n = 20'000 + r % 100 + k;
    check(su[static_cast<std::size_t>(k)] == n * (n + 1) / 2, t, "sum of 1.." + std::to_string(n));
  }
  t.lineage += 4;
  t.tasks += 8;
  auto ca = get_all(calls, "actor calls");
  for (std::size_t i = 0; i < ca.size(); ++i)
    check(ca[i] == static_cast<std::int64_t>(i / 10) * 1000, t, "counter " + std::to_string(i / 10));
  t.actor_calls += ca.size();
}

} // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  std::cout << "chaos: " << o.duration_s << " s, " << o.nodes << " nodes, a kill every " << o.kill_every_ms
            << " ms" << (o.head_kills ? " (the head too)" : "")
            << (o.partitions ? ", as link cuts between hosts instead of kills" : "") << ", seed " << o.seed
            << std::endl;
  std::unique_ptr<cluster> c;
  try {
    c = std::make_unique<cluster>(o);
    actors::init_options opts;
    opts.address = c->address();
    opts.token = c->token();
    opts.metrics_port = -1;
    opts.heartbeat_timeout_ms = heartbeat_timeout_ms;
    actors::init(opts);
  } catch (const std::exception& e) {
    std::cerr << "chaos: cannot start the cluster: " << e.what() << std::endl;
    return 1;
  }
  auto deadline = clock_type::now() + 30s;
  while (clock_type::now() < deadline) {
    int alive = 0;
    for (const auto& n : actors::nodes())
      alive += n.alive && !n.is_driver;
    if (alive == o.nodes + 1)
      break;
    std::this_thread::sleep_for(50ms);
  }

  tally t;
  std::vector<actors::actor_handle<job::Counter>> counters;
  for (std::int64_t k = 0; k < 4; ++k)
    counters.push_back(
      actors::actor(job::make_counter).max_restarts(1000).max_task_retries(1000).remote(k * 1000));

  std::atomic<bool> done{false};
  std::atomic<int> node_kills{0};
  std::atomic<int> head_kills{0};
  std::map<std::string, int> cuts;
  std::thread killer([&] {
    std::mt19937 rng(o.seed);
    auto next = clock_type::now() + std::chrono::milliseconds(o.kill_every_ms);
    while (!done.load()) {
      std::this_thread::sleep_for(20ms);
      if (clock_type::now() < next)
        continue;
      if (o.partitions) {
        ++cuts[c->partition_one(rng)];
      } else {
        auto what = c->kill_one(rng);
        (what == "head" ? head_kills : node_kills).fetch_add(1);
      }
      // Jitter: between half and one and a half intervals.
      next = clock_type::now()
             + std::chrono::milliseconds(o.kill_every_ms / 2 + static_cast<int>(rng() % static_cast<unsigned>(o.kill_every_ms)));
    }
  });

  auto started = clock_type::now();
  auto end = started + std::chrono::milliseconds(static_cast<std::int64_t>(o.duration_s * 1000));
  std::int64_t rounds = 0;
  while (clock_type::now() < end) {
    try {
      round(rounds, counters, t);
    } catch (const std::exception& e) {
      ++t.failed;
      std::cerr << "chaos: round " << rounds << " failed: " << e.what() << std::endl;
    }
    ++rounds;
  }
  done = true;
  killer.join();
  double secs = std::chrono::duration<double>(clock_type::now() - started).count();
  auto ops = t.tasks + t.actor_calls;
  std::cout << "chaos: " << rounds << " rounds in " << secs << " s; survived ";
  if (o.partitions)
    std::cout << cuts["short cut"] << " node links cut shorter than the timeout, " << cuts["long cut"]
              << " longer, and " << cuts["head cut"] << " cuts of the head's link\n";
  else
    std::cout << node_kills.load() << " node kills and " << head_kills.load() << " head kills\n";
  std::cout
            << "chaos: checked " << t.tasks << " tasks (" << t.chains << " chains of 5, " << t.lineage
            << " large values used across nodes) and " << t.actor_calls << " actor calls: " << ops / secs
            << " ops/s\n"
            << "chaos: " << t.wrong << " wrong results, " << t.failed << " failed rounds" << std::endl;
  actors::shutdown();
  bool ok = t.wrong == 0 && t.failed == 0 && rounds > 0;
  if (!ok)
    std::cerr << "chaos: FAILED; logs in " << c->dir() << std::endl;
  auto dir = c->dir();
  c.reset();
  if (ok)
    std::filesystem::remove_all(dir);
  return ok ? 0 : 1;
}
