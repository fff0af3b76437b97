// actors_bench: the distributed-runtime benchmark suite (tasks, actors, objects,
// partitioned data, memory); docs/performance.md describes it and holds the
// figures. Prints one JSON object per line on stdout.
//
//   actors_bench [--mode all|both|cluster|embedded|shared_memory|scaling[,...]] [--only NAME[,NAME...]]
//                [--scaling-nodes 1,2,4,8] [--COUNT N ...] [--actorsd PATH] [--cli PATH] [--job PATH]
//
// cluster:  a head (`actorsd --head --num-cpus 0`) and two workers
//           (`actorsd --num-cpus 1`) as child processes; this program joins as the
//           driver.
// embedded: actors::init in this process alone (all cores); names get the prefix
//           `embedded_`.
// scaling:  the cluster shape with N workers for each N of --scaling-nodes, a fresh
//           cluster per N; lines carry "nodes": N.
// shared_memory: the cluster shape with shared memory between its processes on
//           (the default of actorsd and of a driver), for the large values, the
//           sorts and get_span; names get the prefix `shared_memory_`. The other
//           cluster modes start every process with shared memory off, so that
//           their data crosses loopback sockets, as the spec asks of the figures
//           compared with the peer.
// `both` is cluster, embedded and shared_memory; `all` (the default) adds scaling.
// The counts of the benchmarks after the spec's suite are flags (see --help), so
// that a short run can check them.
//
// Each mode runs in a child process of this one. If a benchmark exceeds its cap or
// the child dies, the failure is reported as that benchmark's error line and the
// rest of the mode runs again on a fresh cluster (lines carry "restarted": true).

#include "tests/perf/bench_job.hpp"
#include "tests/support/processes.hpp"

#include <actors/actors.hpp>
#include <actors/detail/huge_pages.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <malloc.h>
#include <map>
#include <mutex>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <numeric>
#include <optional>
#include <poll.h>
#include <set>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <string>
#include <thread>
#include <unistd.h>
#include <unordered_set>
#include <vector>

#ifndef ACTORS_BENCH_ACTORSD
#define ACTORS_BENCH_ACTORSD "actorsd"
#endif
#ifndef ACTORS_BENCH_CLI
#define ACTORS_BENCH_CLI "actors"
#endif
#ifndef ACTORS_BENCH_JOB
#define ACTORS_BENCH_JOB "libbenchjob.so"
#endif

namespace {

using namespace std::chrono_literals;
using benchjob::bytes;
using benchjob::column;
using benchjob::i64;
using clk = std::chrono::steady_clock;

double secs(clk::duration d) {
  return std::chrono::duration<double>(d).count();
}
double since(clk::time_point t) {
  return secs(clk::now() - t);
}

// -- JSON lines ------------------------------------------------------------------------

using json = nlohmann::ordered_json;

/// A figure in a message: 9 significant digits, like the figures on the lines.
std::string number_text(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

/// A figure on a line: a number, or null when it is not finite.
json figure(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}

std::mutex out_mu;

void emit_raw(const std::string& line) {
  std::lock_guard<std::mutex> guard{out_mu};
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// Set in a child: its mode's prefix and whether it resumed after a failure.
std::string g_prefix;
std::string g_mode;
bool g_restarted = false;
std::size_t g_nodes = 0; // the worker count, on the lines of the scaling mode

/// One output line: {"name", "value", "unit", extras...}.
class line {
 public:
  line(const std::string& name, std::optional<double> value, const std::string& unit) {
    j_["name"] = g_prefix + name;
    j_["value"] = value ? figure(*value) : json(nullptr);
    j_["unit"] = unit;
  }
  line& num(const std::string& k, double v) {
    return raw(k, figure(v));
  }
  line& str(const std::string& k, const std::string& v) {
    return raw(k, json(v));
  }
  line& arr(const std::string& k, const std::vector<double>& v) {
    json a = json::array();
    for (double x : v)
      a.push_back(figure(x));
    return raw(k, std::move(a));
  }
  line& raw(const std::string& k, json v) {
    j_[k] = std::move(v);
    return *this;
  }
  void emit() {
    j_["mode"] = g_mode;
    if (g_nodes)
      j_["nodes"] = g_nodes;
    if (g_restarted)
      j_["restarted"] = true;
    // A message may hold bytes that are not UTF-8 (a task's error text): replaced, never thrown on.
    emit_raw(j_.dump(-1, ' ', false, json::error_handler_t::replace));
  }

 private:
  json j_ = json::object();
};

void emit_error(const std::string& name, const std::string& msg) {
  line(name, std::nullopt, "error").str("error", msg).emit();
}

// -- the benchmarks, in the order of the spec --------------------------------------------

enum mode_bits : unsigned {
  in_cluster = 1,
  in_embedded = 2,
  in_scaling = 4,
  in_shared_memory = 8,
  in_spec = in_cluster | in_embedded,
  // The steps every cluster-shaped mode runs around its benchmarks.
  in_every_cluster = in_spec | in_scaling | in_shared_memory,
};

unsigned mode_bit(const std::string& mode) {
  return mode == "cluster" ? in_cluster
         : mode == "embedded" ? in_embedded
         : mode == "scaling" ? in_scaling
                             : in_shared_memory;
}

/// What the names of a mode's lines start with.
std::string prefix_of(const std::string& mode) {
  return mode == "embedded" ? "embedded_" : mode == "shared_memory" ? "shared_memory_" : "";
}

struct step_def {
  const char* id;
  std::vector<const char*> names; // what it prints
  double cap_s;                   // the child's watchdog gives up after this
  unsigned modes = in_spec;       // the modes that run it
};

const std::vector<step_def>& steps() {
  static const std::vector<step_def> s = {
    {"cluster_start", {"cluster_start"}, 60, in_every_cluster},
    {"warmup", {"warmup"}, 60, in_every_cluster},
    {"tasks_sync", {"tasks_sync"}, 45},
    {"tasks_async", {"tasks_async"}, 90},
    {"tasks_chain", {"tasks_chain"}, 90},
    {"actor_calls_sync", {"actor_calls_sync"}, 60},
    {"actor_calls_async", {"actor_calls_async"}, 90},
    {"put_get_small", {"put_get_small"}, 45},
    {"put_get_small_batch", {"put_get_small_batch"}, 90},
    {"large_objects", {"put_gigabytes", "get_gigabytes"}, 150, in_spec | in_shared_memory},
    {"data_map_reduce", {"data_map_reduce"}, 90},
    {"data_groupby", {"data_groupby"}, 120},
    {"data_sort", {"data_sort"}, 120, in_spec | in_shared_memory},
    {"data_shuffle", {"data_shuffle"}, 10},
    {"data_hash_shuffle", {"data_hash_shuffle"}, 120},
    {"dataset_map_reduce", {"dataset_map_reduce"}, 90},
    {"dataset_groupby", {"dataset_groupby"}, 120},
    {"dataset_sort", {"dataset_sort"}, 120, in_spec | in_shared_memory},
    {"memory", {"peak_rss_sum_of_process_hwm", "peak_rss_sampled_total"}, 15},
    // Beyond the spec: after its memory figures, which the big counts below would raise.
    {"loopback_tcp", {"loopback_tcp_gigabytes", "loopback_round_trip"}, 60, in_cluster},
    {"tasks_sync_latency", {"tasks_sync_latency"}, 90},
    {"get_refs_batch", {"get_refs_batch"}, 90},
    {"mem_per_queued_task", {"mem_per_queued_task"}, 90},
    {"mem_per_small_object", {"mem_per_small_object"}, 90},
    {"live_actors", {"live_actors_create", "live_actors_call", "mem_per_idle_actor"}, 240},
    {"queued_tasks", {"queued_tasks"}, 380},
    {"tasks_flood", {"tasks_flood"}, 480},
    {"get_span_same_host", {"get_span_same_host"}, 120, in_shared_memory},
    {"threaded_actor", {"threaded_actor"}, 30},
    {"async_actor", {"async_actor"}, 60},
    {"generator_items", {"generator_items"}, 120},
    {"generator_first_item", {"generator_first_item"}, 60},
    {"scaling_tasks_async", {"scaling_tasks_async"}, 120, in_scaling},
    {"scaling_actor_calls_async", {"scaling_actor_calls_async"}, 120, in_scaling},
    {"cluster_stop", {"cluster_stop"}, 60, in_every_cluster},
    {"script_total", {"script_total"}, 10, in_every_cluster},
  };
  return s;
}

const step_def& step_named(const std::string& id) {
  for (const auto& s : steps())
    if (id == s.id)
      return s;
  throw std::invalid_argument("no benchmark step " + id);
}

std::set<std::string> split_list(const std::string& s) {
  std::set<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty())
      out.insert(item);
  return out;
}

std::string join_list(const std::set<std::string>& s) {
  std::string out;
  for (const auto& x : s)
    out += (out.empty() ? "" : ",") + x;
  return out;
}

/// Whether `--only` picks step `s` (by step id or by any name it prints).
bool picked(const std::set<std::string>& only, const step_def& s) {
  if (only.empty())
    return true;
  for (const auto& o : only) {
    if (o == s.id)
      return true;
    for (const char* n : s.names)
      if (o == n || o == std::string("embedded_") + n || o == std::string("shared_memory_") + n)
        return true;
  }
  return false;
}

// -- /proc -------------------------------------------------------------------------------

/// A field of /proc/<pid>/status in kB, or -1.
long status_kb(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string l;
  std::string key = std::string(field) + ":";
  while (std::getline(in, l))
    if (l.rfind(key, 0) == 0)
      return std::strtol(l.c_str() + key.size(), nullptr, 10);
  return -1;
}

double mib(long kb) {
  return static_cast<double>(kb) / 1024.0;
}

struct tracked_process {
  std::string role;
  pid_t pid;
};

/// The processes whose memory counts: this driver and the daemons it started.
class memory_sampler {
 public:
  void add(std::string role, pid_t pid) {
    std::lock_guard<std::mutex> guard{mu_};
    procs_.push_back({std::move(role), pid});
  }
  std::vector<tracked_process> processes() const {
    std::lock_guard<std::mutex> guard{mu_};
    return procs_;
  }
  /// Sum of current VmRSS in bytes.
  double rss_bytes() const {
    long kb = 0;
    for (const auto& p : processes())
      kb += std::max(0L, status_kb(p.pid, "VmRSS"));
    return static_cast<double>(kb) * 1024.0;
  }
  void start() {
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        double now = rss_bytes();
        double prev = peak_.load();
        while (now > prev && !peak_.compare_exchange_weak(prev, now)) {
        }
        std::this_thread::sleep_for(250ms);
      }
    });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
  }
  double peak_bytes() const {
    return peak_.load();
  }
  ~memory_sampler() {
    stop();
  }

 private:
  mutable std::mutex mu_;
  std::vector<tracked_process> procs_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<double> peak_{0};
};

// -- shared helpers ----------------------------------------------------------------------

template <class T>
void check(bool ok, const T& what) {
  if (!ok)
    throw std::runtime_error(what);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty())
    return std::nan("");
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

double median(std::vector<double> v) {
  if (v.empty())
    return std::nan("");
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

using benchjob::small_obj;

template <class T>
void wait_all(const std::vector<actors::object_ref<T>>& refs, std::chrono::seconds cap, const std::string& what) {
  auto w = actors::wait(refs, refs.size(), cap);
  if (!w.pending.empty())
    throw std::runtime_error(what + ": " + std::to_string(w.pending.size()) + " of " +
                             std::to_string(refs.size()) + " results not ready after " +
                             std::to_string(cap.count()) + " s");
}

constexpr i64 parts = 16;
constexpr i64 map_reduce_n = 10'000'000;
constexpr i64 table_rows = 5'000'000;
constexpr std::size_t large_size = 268'435'456;

// -- the child: one mode ----------------------------------------------------------------------

struct settings {
  std::string actorsd = ACTORS_BENCH_ACTORSD;
  std::string cli = ACTORS_BENCH_CLI;
  std::string job = ACTORS_BENCH_JOB;
  // A directory of `actors certs --hosts 127.0.0.1` files: the cluster talks TLS.
  std::string tls;
  std::string mode = "all";
  std::set<std::string> only;
  std::set<std::string> skip;
  bool child = false;
  std::size_t workers = 2;                        // worker processes of the cluster
  std::vector<std::size_t> scaling_nodes{1, 2, 4, 8};
  // Counts of the benchmarks beyond the spec (flags of the same name with dashes).
  std::map<std::string, i64> counts{
    {"latency_samples", 20000}, // tasks_sync_latency: round trips (capped at 30 s)
    {"get_refs", 10000},        // get_refs_batch: refs in the one get
    {"small_objects", 100000},  // mem_per_small_object
    {"live_actors", 10000},     // live_actors
    {"queued_tasks", 1000000},  // queued_tasks
    {"flood_tasks", 5000000},   // tasks_flood
    {"scaling_tasks", 50000},   // scaling_tasks_async, per node count
    {"scaling_calls", 20000},   // scaling_actor_calls_async, per node count
  };
  i64 count(const std::string& name) const {
    return counts.at(name);
  }
};

constexpr std::size_t max_workers = 64;

// Daemon pids the watchdog kills before giving up: the head, then the workers.
std::atomic<pid_t> g_daemons[max_workers + 1] = {};

void kill_daemons() {
  for (auto& p : g_daemons) {
    pid_t pid = p.exchange(0);
    if (pid > 0)
      ::kill(pid, SIGKILL);
  }
}

struct watchdog {
  std::mutex mu;
  std::optional<clk::time_point> deadline;
  const step_def* step = nullptr;
  std::thread thread;

  void arm(const step_def& s) {
    std::lock_guard<std::mutex> guard{mu};
    step = &s;
    deadline = clk::now() + std::chrono::milliseconds(static_cast<long>(s.cap_s * 1000));
  }
  void disarm() {
    std::lock_guard<std::mutex> guard{mu};
    deadline.reset();
  }
  void start() {
    thread = std::thread([this] {
      for (;;) {
        std::this_thread::sleep_for(50ms);
        std::lock_guard<std::mutex> guard{mu};
        if (deadline && clk::now() > *deadline) {
          for (const char* n : step->names)
            emit_error(n, std::string("exceeded its cap of ") + number_text(step->cap_s)
                            + " s; the remaining benchmarks run again on a fresh cluster");
          emit_raw(std::string("#end ") + step->id);
          kill_daemons();
          std::_Exit(3);
        }
      }
    });
    thread.detach();
  }
};

class suite {
 public:
  suite(settings s, const std::string& mode)
    : set_(std::move(s)), cluster_(mode != "embedded"), mode_(mode_bit(mode)) {}

  int run() {
    script_t0_ = clk::now();
    sampler_.add("driver", ::getpid());
    sampler_.start();
    dog_.start();
    bool started = false;
    for (const auto& s : steps()) {
      if (!(s.modes & mode_))
        continue;
      std::string id = s.id;
      bool always = id == "cluster_start" || id == "warmup" || id == "cluster_stop";
      bool shown = picked(set_.only, s) && !set_.skip.count(id);
      if (!always && !shown)
        continue;
      if (!started && id != "cluster_start") {
        // The cluster did not start: nothing else can run.
        if (shown && id != "cluster_stop" && id != "warmup")
          for (const char* n : s.names)
            emit_error(n, "not run: the cluster did not start (see cluster_start)");
        continue;
      }
      emit_raw("#begin " + id);
      dog_.arm(s);
      try {
        run_step(id, shown);
        if (id == "cluster_start")
          started = true;
      } catch (const std::exception& e) {
        if (shown || id == "cluster_start" || id == "warmup")
          for (const char* n : s.names)
            emit_error(n, e.what());
      }
      dog_.disarm();
      emit_raw("#end " + id);
      if (started && cluster_ && id != "cluster_stop" && id != "script_total" && !workers_alive()) {
        std::fprintf(stderr, "actors_bench: a worker died after %s; restarting the cluster\n", s.id);
        kill_daemons();
        return 4;
      }
    }
    sampler_.stop();
    return 0;
  }

 private:
  settings set_;
  bool cluster_;
  unsigned mode_;
  memory_sampler sampler_;
  watchdog dog_;
  clk::time_point script_t0_;

  std::string dir_, address_, token_;
  std::unique_ptr<actors::test::process> head_;
  std::vector<std::unique_ptr<actors::test::process>> worker_procs_;
  std::vector<actors::node_id> workers_;
  actors::node_id head_id_;
  bool stopped_ = false;

  std::optional<actors::actor_handle<benchjob::Counter>> counter_;
  i64 counter_calls_ = 0;
  double actor_create_s_ = 0;

  std::vector<actors::object_ref<column>> table_;
  double generate_s_ = std::nan("");
  std::optional<double> t_groupby_, t_sort_;
  std::optional<actors::data::dataset<std::pair<i64, i64>>> dataset_table_;
  double dataset_generate_s_ = 0;

  // -- placement ---------------------------------------------------------------------

  /// Pins a builder to worker `i mod 2` in cluster mode (nothing in embedded mode).
  template <class B>
  B& pin(B& b, std::size_t i, bool soft) {
    if (!workers_.empty())
      b.node(workers_[i % workers_.size()], soft);
    return b;
  }

  bool workers_alive() {
    try {
      std::size_t alive = 0;
      for (const auto& n : actors::nodes())
        for (const auto& w : workers_)
          alive += n.id == w && n.alive;
      return alive == workers_.size();
    } catch (const std::exception&) {
      return false;
    }
  }

  // -- steps -------------------------------------------------------------------------

  void run_step(const std::string& id, bool shown) {
    if (id == "cluster_start")
      cluster_start(shown);
    else if (id == "warmup")
      warmup();
    else if (id == "tasks_sync")
      tasks_sync();
    else if (id == "tasks_async")
      tasks_async();
    else if (id == "tasks_chain")
      tasks_chain();
    else if (id == "actor_calls_sync")
      actor_calls_sync();
    else if (id == "actor_calls_async")
      actor_calls_async();
    else if (id == "put_get_small")
      put_get_small();
    else if (id == "put_get_small_batch")
      put_get_small_batch();
    else if (id == "large_objects")
      large_objects();
    else if (id == "data_map_reduce")
      data_map_reduce();
    else if (id == "data_groupby")
      data_groupby();
    else if (id == "data_sort")
      data_sort();
    else if (id == "data_shuffle")
      data_shuffle();
    else if (id == "data_hash_shuffle")
      data_hash_shuffle();
    else if (id == "dataset_map_reduce")
      dataset_map_reduce();
    else if (id == "dataset_groupby")
      dataset_groupby();
    else if (id == "dataset_sort")
      dataset_sort();
    else if (id == "memory")
      memory();
    else if (id == "loopback_tcp")
      loopback_tcp();
    else if (id == "mem_per_queued_task")
      mem_per_queued_task();
    else if (id == "tasks_sync_latency")
      tasks_sync_latency();
    else if (id == "get_refs_batch")
      get_refs_batch();
    else if (id == "mem_per_small_object")
      mem_per_small_object();
    else if (id == "live_actors")
      live_actors();
    else if (id == "threaded_actor")
      threaded_actor();
    else if (id == "async_actor")
      async_actor();
    else if (id == "generator_items")
      generator_items();
    else if (id == "generator_first_item")
      generator_first_item();
    else if (id == "queued_tasks")
      queued_tasks();
    else if (id == "tasks_flood")
      tasks_flood();
    else if (id == "get_span_same_host")
      get_span_same_host();
    else if (id == "scaling_tasks_async")
      scaling_tasks_async();
    else if (id == "scaling_actor_calls_async")
      scaling_actor_calls_async();
    else if (id == "cluster_stop")
      cluster_stop(shown);
    else if (id == "script_total")
      line("script_total", since(script_t0_), "s").emit();
  }

  std::vector<std::string> daemon_args(std::vector<std::string> extra) const {
    std::vector<std::string> args{set_.actorsd};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), {"--load", set_.job});
    if (mode_ != in_shared_memory) // the figures compared with the peer cross sockets
      args.insert(args.end(), {"--shared-memory", "false"});
    if (!set_.tls.empty())
      args.insert(args.end(), {"--tls-cert", set_.tls + "/127.0.0.1.pem", "--tls-key", set_.tls + "/127.0.0.1.key",
                               "--tls-ca", set_.tls + "/ca.pem"});
    return args;
  }

  // §1
  void cluster_start(bool shown) {
    if (!cluster_) {
      auto t0 = clk::now();
      actors::init(actors::init_options{});
      double t = since(t0);
      if (shown)
        line("cluster_start", t, "s").str("method", "actors::init in this process").emit();
      return;
    }
    char tmpl[] = "/tmp/actors-bench-XXXXXX";
    if (!::mkdtemp(tmpl))
      throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    dir_ = tmpl;
    ::setenv("ACTORS_SESSION_DIR", dir_.c_str(), 1);
    if (!set_.tls.empty()) {
      // For the actors command (`stop`); the daemons get their own files as flags.
      ::setenv("ACTORS_TLS_CERT", (set_.tls + "/client.pem").c_str(), 1);
      ::setenv("ACTORS_TLS_KEY", (set_.tls + "/client.key").c_str(), 1);
      ::setenv("ACTORS_TLS_CA", (set_.tls + "/ca.pem").c_str(), 1);
    }

    auto t0 = clk::now();
    head_ = std::make_unique<actors::test::process>(
      daemon_args({"--head", "--port", "0", "--num-cpus", "0"}), dir_ + "/head.log");
    g_daemons[0] = head_->pid();
    sampler_.add("head", head_->pid());
    auto deadline = t0 + 30s;
    for (;;) {
      address_ = actors::test::read_key(dir_ + "/session_latest", "address");
      if (!address_.empty())
        break;
      if (auto code = head_->wait_exit(0ms))
        throw std::runtime_error("the head exited with code " + std::to_string(*code) + ": " + head_->output());
      if (clk::now() > deadline)
        throw std::runtime_error("the head wrote no session file in 30 s: " + head_->output());
      std::this_thread::sleep_for(1ms);
    }
    token_ = actors::test::read_key(dir_ + "/session_latest", "token");
    for (std::size_t i = 0; i < set_.workers; ++i) {
      std::string role = "worker" + std::to_string(i);
      worker_procs_.push_back(std::make_unique<actors::test::process>(
        daemon_args({"--address", address_, "--token", token_, "--num-cpus", "1"}), dir_ + "/" + role + ".log"));
      g_daemons[i + 1] = worker_procs_.back()->pid();
      sampler_.add(role, worker_procs_.back()->pid());
    }

    actors::init_options opts;
    opts.address = address_;
    opts.token = token_;
    opts.shared_memory = mode_ == in_shared_memory;
    if (!set_.tls.empty()) {
      opts.tls_cert = set_.tls + "/client.pem";
      opts.tls_key = set_.tls + "/client.key";
      opts.tls_ca = set_.tls + "/ca.pem";
    }
    actors::init(opts);
    for (;;) {
      workers_.clear();
      for (const auto& n : actors::nodes()) {
        if (n.is_head)
          head_id_ = n.id;
        else if (n.alive && !n.is_driver)
          workers_.push_back(n.id);
      }
      if (workers_.size() >= set_.workers)
        break;
      for (const auto& p : worker_procs_)
        if (auto code = p->wait_exit(0ms))
          throw std::runtime_error("a worker exited with code " + std::to_string(*code) + ": " + p->output());
      if (clk::now() > deadline)
        throw std::runtime_error("the workers did not register within 30 s");
      std::this_thread::sleep_for(1ms);
    }
    double t = since(t0);
    if (shown)
      line("cluster_start", t, "s")
        .str("method", "spawn actorsd head + " + std::to_string(set_.workers) +
                         " workers, driver joins; until every worker is alive in actors::nodes()")
        .emit();
  }

  void warmup() {
    std::vector<actors::object_ref<i64>> refs;
    for (i64 i = 0; i < 200; ++i)
      refs.push_back(actors::task(benchjob::square).remote(i));
    wait_all(refs, 60s, "warm-up");
    auto v = actors::get(refs);
    for (i64 i = 0; i < 200; ++i)
      check(v[static_cast<std::size_t>(i)] == i * i, "warm-up: wrong square");
  }

  // §2
  /// Latencies (µs) of up to `n` sequential square tasks after `warmup` unmeasured
  /// ones, stopping after `limit`; `elapsed` gets the seconds they took.
  std::vector<double> sync_round_trips(const char* name, i64 warmup, i64 n, std::chrono::seconds limit,
                                       double& elapsed) {
    for (i64 i = 0; i < warmup; ++i)
      check(actors::get(actors::task(benchjob::square).remote(i)) == i * i,
            std::string(name) + " warm-up: wrong square");
    std::vector<double> lat;
    lat.reserve(static_cast<std::size_t>(n));
    auto t0 = clk::now();
    for (i64 i = 0; i < n; ++i) {
      auto s = clk::now();
      i64 v = actors::get(actors::task(benchjob::square).remote(i));
      auto e = clk::now();
      lat.push_back(secs(e - s) * 1e6);
      check(v == i * i, std::string(name) + ": square(" + std::to_string(i) + ") returned " + std::to_string(v));
      if (e - t0 > limit)
        break;
    }
    elapsed = since(t0);
    return lat;
  }

  void tasks_sync() {
    double el = 0;
    auto lat = sync_round_trips("tasks_sync", 50, 2000, 10s, el);
    auto n = static_cast<double>(lat.size());
    line("tasks_sync", n / el, "round_trips/s")
      .num("n", n)
      .num("median_latency_us", median(lat))
      .num("p99_latency_us", percentile(lat, 0.99))
      .emit();
  }

  // §3
  void tasks_async() {
    constexpr i64 n = 20000;
    std::vector<actors::object_ref<i64>> refs;
    refs.reserve(n);
    auto t0 = clk::now();
    for (i64 i = 0; i < n; ++i)
      refs.push_back(actors::task(benchjob::square).remote(i));
    double submit = since(t0);
    wait_all(refs, 60s, "tasks_async");
    auto v = actors::get(refs);
    double el = since(t0);
    check(v.size() == static_cast<std::size_t>(n) && v.back() == (n - 1) * (n - 1), "tasks_async: wrong results");
    line("tasks_async", static_cast<double>(n) / el, "tasks/s").num("submit_s", submit).emit();
  }

  // §4
  void tasks_chain() {
    constexpr i64 n = 2000;
    auto t0 = clk::now();
    auto f = actors::task(benchjob::inc).remote(i64{0});
    for (i64 k = 2; k <= n; ++k)
      f = actors::task(benchjob::inc).remote(f);
    double submit = since(t0);
    i64 v = actors::get(f, 60s);
    double el = since(t0);
    check(v == n, "tasks_chain: F2000 = " + std::to_string(v));
    line("tasks_chain", static_cast<double>(n) / el, "tasks/s").num("submit_s", submit).emit();
  }

  // §5
  void ensure_actor() {
    if (counter_)
      return;
    auto t0 = clk::now();
    auto b = actors::actor(benchjob::make_counter);
    if (!workers_.empty())
      b.node(workers_[0], false);
    counter_ = b.remote();
    check(actors::get(counter_->task(&benchjob::Counter::incr).remote()) == 1, "actor: first incr() != 1");
    actor_create_s_ = since(t0);
    counter_calls_ = 1;
    for (int i = 1; i < 50; ++i) {
      auto v = actors::get(counter_->task(&benchjob::Counter::incr).remote());
      check(v == ++counter_calls_, "actor warm-up: wrong count");
    }
  }

  void actor_calls_sync() {
    ensure_actor();
    std::vector<double> lat;
    lat.reserve(2000);
    i64 last = 0;
    auto t0 = clk::now();
    for (int i = 0; i < 2000; ++i) {
      auto s = clk::now();
      last = actors::get(counter_->task(&benchjob::Counter::incr).remote());
      auto e = clk::now();
      ++counter_calls_;
      lat.push_back(secs(e - s) * 1e6);
      if (e - t0 > 10s)
        break;
    }
    double el = since(t0);
    check(last == counter_calls_, "actor_calls_sync: last value " + std::to_string(last) + " != calls made " +
                                    std::to_string(counter_calls_));
    auto n = static_cast<double>(lat.size());
    line("actor_calls_sync", n / el, "calls/s")
      .num("n", n)
      .num("median_latency_us", median(lat))
      .num("p99_latency_us", percentile(lat, 0.99))
      .num("actor_create_s", actor_create_s_)
      .emit();
  }

  void actor_calls_async() {
    ensure_actor();
    constexpr int n = 5000;
    std::vector<actors::object_ref<i64>> refs;
    refs.reserve(n);
    auto t0 = clk::now();
    for (int i = 0; i < n; ++i)
      refs.push_back(counter_->task(&benchjob::Counter::incr).remote());
    wait_all(refs, 60s, "actor_calls_async");
    auto v = actors::get(refs);
    double el = since(t0);
    counter_calls_ += n;
    std::unordered_set<i64> distinct(v.begin(), v.end());
    check(distinct.size() == static_cast<std::size_t>(n), "actor_calls_async: values not distinct");
    check(*std::max_element(v.begin(), v.end()) == counter_calls_, "actor_calls_async: max != calls made");
    line("actor_calls_async", n / el, "calls/s").num("actor_create_s", actor_create_s_).emit();
  }

  // §6.1
  actors::object_ref<bytes> put_small(const bytes& obj, std::size_t i) {
    if (!cluster_)
      return actors::put(obj);
    auto b = actors::task(benchjob::echo_bytes);
    pin(b, i, false);
    return b.remote(obj);
  }

  std::string put_method() const {
    return cluster_ ? "echo task pinned to worker" : "actors::put";
  }

  void put_get_small() {
    for (i64 i = 0; i < 50; ++i) {
      auto o = small_obj(i);
      check(actors::get(put_small(o, static_cast<std::size_t>(i))) == o, "put_get_small warm-up: bytes differ");
    }
    std::vector<double> lat;
    lat.reserve(2000);
    auto t0 = clk::now();
    for (i64 i = 0; i < 2000; ++i) {
      auto o = small_obj(i);
      auto s = clk::now();
      bytes back;
      {
        auto ref = put_small(o, static_cast<std::size_t>(i));
        back = actors::get(ref);
      }
      auto e = clk::now();
      lat.push_back(secs(e - s) * 1e6);
      check(back == o, "put_get_small: bytes of object " + std::to_string(i) + " differ");
      if (e - t0 > 10s)
        break;
    }
    double el = since(t0);
    auto n = static_cast<double>(lat.size());
    line("put_get_small", n / el, "put+get_pairs/s")
      .num("n", n)
      .num("median_latency_us", median(lat))
      .str("method", put_method() + (cluster_ ? " (alternating between the 2 workers); get: actors::get" : "; get: actors::get"))
      .emit();
  }

  // §6.2
  void put_get_small_batch() {
    constexpr std::size_t n = 10000;
    std::vector<bytes> objs;
    objs.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
      objs.push_back(small_obj(static_cast<i64>(i)));
    std::vector<actors::object_ref<bytes>> refs;
    refs.reserve(n);
    auto t0 = clk::now();
    for (std::size_t i = 0; i < n; ++i)
      refs.push_back(cluster_ ? actors::task(benchjob::echo_bytes).remote(objs[i]) : actors::put(objs[i]));
    if (cluster_)
      wait_all(refs, 60s, "put_get_small_batch put");
    auto t1 = clk::now();
    auto got = actors::get(refs);
    auto t2 = clk::now();
    for (std::size_t i = 0; i < n; ++i)
      check(got[i] == objs[i], "put_get_small_batch: bytes of object " + std::to_string(i) + " differ");
    double put = secs(t1 - t0), get = secs(t2 - t1);
    line("put_get_small_batch", static_cast<double>(n) / secs(t2 - t0), "objects/s")
      .num("put_s", put)
      .num("get_s", get)
      .num("put_objs_per_s", static_cast<double>(n) / put)
      .num("get_objs_per_s", static_cast<double>(n) / get)
      .str("method", cluster_ ? "put: 10000 echo tasks placed by the scheduler, then wait for all (the API has "
                                "no batch put); get: actors::get(vector)"
                              : "put: 10000 actors::put calls; get: actors::get(vector)")
      .emit();
  }

  /// §7's payload: large_size pseudo-random, incompressible bytes.
  static bytes large_payload() {
    bytes buf(large_size);
    std::uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (std::size_t i = 0; i < large_size; i += 8) {
      x += 0x9e3779b97f4a7c15ULL;
      std::uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      z ^= z >> 31;
      std::memcpy(buf.data() + i, &z, 8);
    }
    return buf;
  }

  /// §7's check: the sum of every 4096th byte.
  static std::uint64_t checksum(const char* data, std::size_t n) {
    std::uint64_t s = 0;
    for (std::size_t i = 0; i < n; i += 4096)
      s += static_cast<unsigned char>(data[i]);
    return s;
  }
  static std::uint64_t checksum(const bytes& b) {
    return checksum(b.data(), b.size());
  }

  // §7
  void large_objects() {
    const bytes buf = large_payload();
    const std::uint64_t expect = checksum(buf);
    std::vector<double> puts, gets;
    for (int rep = 0; rep < 5; ++rep) {
      bytes copy;
      if (cluster_)
        copy = buf; // untimed: the call below moves this copy into its arguments
      auto t0 = clk::now();
      actors::object_ref<bytes> ref;
      if (cluster_) {
        auto b = actors::task(benchjob::echo_bytes);
        b.node(workers_[0], false);
        ref = b.remote(std::move(copy));
        wait_all(std::vector<actors::object_ref<bytes>>{ref}, 60s, "put_gigabytes");
      } else {
        ref = actors::put(buf);
      }
      auto t1 = clk::now();
      std::uint64_t sum;
      std::size_t size;
      if (cluster_) {
        auto got = actors::get_shared(ref);
        auto t2 = clk::now();
        gets.push_back(secs(t2 - t1));
        size = got->size();
        sum = checksum(*got);
      } else {
        bytes got = actors::get(ref);
        auto t2 = clk::now();
        gets.push_back(secs(t2 - t1));
        size = got.size();
        sum = checksum(got);
      }
      puts.push_back(secs(t1 - t0));
      check(size == large_size, "large object: got " + std::to_string(size) + " bytes");
      check(sum == expect, "large object: checksum differs");
      ref = {};
      std::this_thread::sleep_for(200ms);
    }
    const double gb = static_cast<double>(large_size) / 1e9;
    std::string method = cluster_ ? "echo task pinned to worker #0 (it takes the buffer by value and returns it); "
                                    "put ends when the result is ready; get: actors::get_shared"
                                  : "actors::put (copy into the store); get: actors::get (copy out)";
    line("put_gigabytes", gb / median(puts), "GB/s")
      .num("best_gb_s", gb / *std::min_element(puts.begin(), puts.end()))
      .arr("rep_s", puts)
      .str("method", method)
      .emit();
    line("get_gigabytes", gb / median(gets), "GB/s")
      .num("best_gb_s", gb / *std::min_element(gets.begin(), gets.end()))
      .arr("rep_s", gets)
      .str("method", method)
      .emit();
  }

  // §8
  // Beyond the spec: what loopback TCP gives on this machine at best, the floor
  // under §7 over sockets and under every sync round trip between processes.
  // §7's payload goes five times over one plain connection on 127.0.0.1 between
  // two threads of the driver, with the data channel's socket buffers (1 MiB),
  // into one buffer touched beforehand so that no page fault slows the receiver
  // down; each transfer is timed from the receiver's one-byte request to its last
  // byte. Then 20,000 round trips of 64 bytes on the same connection. No part of
  // the runtime takes part.
  void loopback_tcp() {
    const bytes buf = large_payload();
    const std::uint64_t expect = checksum(buf);
    auto fail = [](const std::string& what) {
      throw std::runtime_error("loopback_tcp: " + what + ": " + std::strerror(errno));
    };
    auto write_all = [&](int fd, const char* p, std::size_t n) {
      while (n > 0) {
        ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
          continue;
        if (w <= 0)
          fail("send");
        p += w;
        n -= static_cast<std::size_t>(w);
      }
    };
    auto read_all = [&](int fd, char* p, std::size_t n) {
      while (n > 0) {
        ssize_t r = ::read(fd, p, n);
        if (r < 0 && errno == EINTR)
          continue;
        if (r == 0)
          throw std::runtime_error("loopback_tcp: the connection closed early");
        if (r < 0)
          fail("read");
        p += r;
        n -= static_cast<std::size_t>(r);
      }
    };
    // Buffers go on before listen and connect, as the data channel's do, so that
    // the handshake's window scale fits them.
    auto stream_socket = [&] {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0)
        fail("socket");
      const int buffer_bytes = 1 << 20; // data_server_options::socket_buffer_bytes
      const int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof buffer_bytes);
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof buffer_bytes);
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    };
    constexpr int reps = 5;
    constexpr int round_trips = 20'000;
    constexpr std::size_t round_trip_bytes = 64;
    int listener = stream_socket();
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener, 1) != 0
        || ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(listener);
      fail("listening on 127.0.0.1");
    }
    int receiver = -1;
    try {
      receiver = stream_socket();
    } catch (...) {
      ::close(listener);
      throw;
    }
    if (::connect(receiver, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(listener);
      ::close(receiver);
      fail("connecting to 127.0.0.1");
    }
    int sender = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    ::close(listener);
    if (sender < 0) {
      ::close(receiver);
      fail("accept");
    }
    std::string sender_error;
    std::thread serving([&] {
      try {
        for (int rep = 0; rep < reps; ++rep) {
          char request;
          read_all(sender, &request, 1);
          write_all(sender, buf.data(), buf.size());
        }
        char message[round_trip_bytes];
        for (int i = 0; i < round_trips; ++i) {
          read_all(sender, message, sizeof message);
          write_all(sender, message, sizeof message);
        }
      } catch (const std::exception& e) {
        sender_error = e.what();
        ::shutdown(sender, SHUT_RDWR); // the receiver's read ends
      }
    });
    std::vector<double> runs, latencies_us;
    std::string error;
    std::unique_ptr<char[]> into(new char[large_size]);
    actors::detail::advise_huge_pages(into.get(), large_size);
    try {
      for (int rep = 0; rep < reps; ++rep) {
        std::memset(into.get(), 0, large_size); // untimed: every page is in place
        auto t0 = clk::now();
        write_all(receiver, "q", 1);
        read_all(receiver, into.get(), large_size);
        runs.push_back(secs(clk::now() - t0));
        check(checksum(into.get(), large_size) == expect, "loopback_tcp: checksum differs");
        std::this_thread::sleep_for(200ms);
      }
      char message[round_trip_bytes] = {};
      for (int i = 0; i < round_trips; ++i) {
        auto t0 = clk::now();
        write_all(receiver, message, sizeof message);
        read_all(receiver, message, sizeof message);
        latencies_us.push_back(secs(clk::now() - t0) * 1e6);
      }
    } catch (const std::exception& e) {
      error = e.what();
      // Closed with bytes unread, the connection is reset: the sender's send or
      // read fails and its thread ends.
      ::close(receiver);
      receiver = -1;
    }
    serving.join();
    ::close(sender);
    if (receiver >= 0)
      ::close(receiver);
    if (!error.empty())
      throw std::runtime_error(sender_error.empty() ? error : error + " (sender: " + sender_error + ")");
    const double gb = static_cast<double>(large_size) / 1e9;
    line("loopback_tcp_gigabytes", gb / median(runs), "GB/s")
      .num("best_gb_s", gb / *std::min_element(runs.begin(), runs.end()))
      .arr("rep_s", runs)
      .str("method", "256 MiB over one plain TCP connection on 127.0.0.1 between two threads of the driver, "
                     "1 MiB socket buffers, into memory touched beforehand; no runtime involved")
      .emit();
    line("loopback_round_trip", percentile(latencies_us, 0.5), "µs")
      .num("p99_latency_us", percentile(latencies_us, 0.99))
      .num("n", static_cast<double>(latencies_us.size()))
      .str("method", "64 bytes there and back over the same connection, one at a time: what a sync round trip "
                     "between two processes costs this machine at least")
      .emit();
  }

  void data_map_reduce() {
    auto t0 = clk::now();
    std::vector<actors::object_ref<i64>> refs;
    for (i64 p = 0; p < parts; ++p)
      refs.push_back(actors::task(benchjob::map_filter_sum).remote(p * map_reduce_n / parts,
                                                                   (p + 1) * map_reduce_n / parts));
    wait_all(refs, 60s, "data_map_reduce");
    i64 sum = 0;
    for (i64 v : actors::get(refs))
      sum += v;
    double el = since(t0);
    check(sum == map_reduce_n * (map_reduce_n - 1), "data_map_reduce: sum " + std::to_string(sum));
    line("data_map_reduce", static_cast<double>(map_reduce_n) / el, "elements/s")
      .str("method", "16 tasks (materialise partition, map, filter, partial sum; placed by the scheduler); "
                     "partial sums added in the driver")
      .emit();
  }

  // §9
  void ensure_table() {
    if (!table_.empty())
      return;
    auto t0 = clk::now();
    for (i64 p = 0; p < parts; ++p) {
      auto b = actors::task(benchjob::gen_partition);
      pin(b, static_cast<std::size_t>(p), true);
      table_.push_back(b.remote(p, parts, table_rows));
    }
    wait_all(table_, 60s, "table generation");
    generate_s_ = since(t0);
  }

  static std::string placement_note() {
    return "partition p on worker p mod 2; each task pinned to the worker holding its input";
  }

  void data_groupby() {
    ensure_table();
    auto t0 = clk::now();
    std::vector<actors::object_ref<column>> refs;
    for (i64 p = 0; p < parts; ++p) {
      auto b = actors::task(benchjob::groupby_partial);
      pin(b, static_cast<std::size_t>(p), true);
      refs.push_back(b.remote(table_[static_cast<std::size_t>(p)], i64{1000}));
    }
    wait_all(refs, 60s, "data_groupby");
    column total(1000, 0);
    for (const auto& partial : actors::get(refs)) {
      check(partial.size() == 1000, "data_groupby: partial with " + std::to_string(partial.size()) + " groups");
      for (std::size_t g = 0; g < 1000; ++g)
        total[g] += partial[g];
    }
    double el = since(t0);
    t_groupby_ = el;
    i64 s = std::accumulate(total.begin(), total.end(), i64{0});
    check(total.size() == 1000 && s == table_rows * (table_rows - 1) / 2,
          "data_groupby: total of sums " + std::to_string(s));
    line("data_groupby", static_cast<double>(table_rows) / el, "rows/s")
      .num("generate_s", generate_s_)
      .str("method", "per-partition partial aggregation, partials added in the driver; " + (cluster_ ? placement_note() : std::string("embedded")))
      .emit();
  }

  /// Shuffles the table into 16 output partitions: split each partition by bucket,
  /// take each bucket's rows out, and build output j from bucket j of every split.
  template <class Split, class Build>
  std::vector<actors::object_ref<column>> shuffle(Split split_of, Build build) {
    std::vector<actors::object_ref<column>> splits;
    for (i64 p = 0; p < parts; ++p)
      splits.push_back(split_of(static_cast<std::size_t>(p)));
    std::vector<std::vector<actors::object_ref<column>>> pieces(parts); // [bucket][partition]
    for (i64 p = 0; p < parts; ++p)
      for (i64 j = 0; j < parts; ++j) {
        auto b = actors::task(benchjob::take_bucket);
        pin(b, static_cast<std::size_t>(p), true);
        pieces[static_cast<std::size_t>(j)].push_back(b.remote(splits[static_cast<std::size_t>(p)], j));
      }
    std::vector<actors::object_ref<column>> out;
    for (i64 j = 0; j < parts; ++j) {
      auto& q = pieces[static_cast<std::size_t>(j)];
      auto b = actors::task(build);
      pin(b, static_cast<std::size_t>(j), true);
      out.push_back(b.remote(q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], q[9], q[10], q[11], q[12],
                             q[13], q[14], q[15]));
    }
    return out;
  }

  std::vector<column> stats_of(const std::vector<actors::object_ref<column>>& out) {
    std::vector<actors::object_ref<column>> refs;
    for (std::size_t j = 0; j < out.size(); ++j) {
      auto b = actors::task(benchjob::partition_stats);
      pin(b, j, true);
      refs.push_back(b.remote(out[j]));
    }
    wait_all(refs, 60s, "partition check");
    return actors::get(refs);
  }

  void data_sort() {
    ensure_table();
    auto t0 = clk::now();
    std::vector<actors::object_ref<column>> samples;
    for (i64 p = 0; p < parts; ++p) {
      auto b = actors::task(benchjob::sample_keys);
      pin(b, static_cast<std::size_t>(p), true);
      samples.push_back(b.remote(table_[static_cast<std::size_t>(p)], i64{128}));
    }
    wait_all(samples, 60s, "data_sort sampling");
    column all;
    for (const auto& s : actors::get(samples))
      all.insert(all.end(), s.begin(), s.end());
    std::sort(all.begin(), all.end());
    column bounds;
    for (i64 j = 1; j < parts; ++j)
      bounds.push_back(all[static_cast<std::size_t>(j) * all.size() / parts]);
    double sample_s = since(t0);
    auto out = shuffle(
      [&](std::size_t p) {
        auto b = actors::task(benchjob::range_split);
        pin(b, p, true);
        return b.remote(table_[p], bounds);
      },
      benchjob::merge_sort16);
    wait_all(out, 60s, "data_sort");
    double el = since(t0);
    t_sort_ = el;
    auto st = stats_of(out);
    i64 rows = 0;
    i64 prev_max = -1;
    for (std::size_t j = 0; j < st.size(); ++j) {
      rows += st[j][0];
      check(st[j][1] == 1, "data_sort: output partition " + std::to_string(j) + " is not sorted");
      if (st[j][0] > 0) {
        check(st[j][2] > prev_max, "data_sort: output partition " + std::to_string(j) + " overlaps the previous one");
        prev_max = st[j][3];
      }
    }
    check(rows == table_rows, "data_sort: " + std::to_string(rows) + " rows out");
    line("data_sort", static_cast<double>(table_rows) / el, "rows/s")
      .num("generate_s", generate_s_)
      .num("sample_s", sample_s)
      .str("method", "sample 128 keys per partition -> 15 bounds in the driver -> per-partition range split -> "
                     "take bucket -> per-bucket merge + radix sort; " + (cluster_ ? placement_note() : std::string("embedded")))
      .emit();
  }

  // §8 and §9 again, written with the dataset API (extra figures: the peer's are the
  // same workloads).
  void dataset_map_reduce() {
    auto t0 = clk::now();
    i64 sum = benchjob::dataset_map_reduce(map_reduce_n, parts);
    double el = since(t0);
    check(sum == map_reduce_n * (map_reduce_n - 1), "dataset_map_reduce: sum " + std::to_string(sum));
    line("dataset_map_reduce", static_cast<double>(map_reduce_n) / el, "elements/s")
      .str("method", "data::range(N, 16).map(double).filter(even).sum(): fused, one task per block")
      .emit();
  }

  const actors::data::dataset<std::pair<i64, i64>>& dataset_table() {
    if (!dataset_table_) {
      auto t0 = clk::now();
      dataset_table_ = benchjob::dataset_table(table_rows, parts);
      dataset_generate_s_ = since(t0);
    }
    return *dataset_table_;
  }

  void dataset_groupby() {
    const auto& table = dataset_table();
    auto t0 = clk::now();
    auto groups = benchjob::dataset_groupby(table);
    double el = since(t0);
    i64 s = 0;
    for (const auto& g : groups)
      s += g.second;
    check(groups.size() == 1000 && s == table_rows * (table_rows - 1) / 2,
          "dataset_groupby: " + std::to_string(groups.size()) + " groups, total " + std::to_string(s));
    line("dataset_groupby", static_cast<double>(table_rows) / el, "rows/s")
      .num("generate_s", dataset_generate_s_)
      .str("method", "table.group_by(key mod 1000).sum(value).collect(): partial per block, hash exchange "
                     "between the nodes, combine per key")
      .emit();
  }

  void dataset_sort() {
    const auto& table = dataset_table();
    auto t0 = clk::now();
    auto sorted = benchjob::dataset_sort(table);
    double el = since(t0);
    i64 prev = -1;
    i64 rows = 0;
    for (auto& batch : sorted.iter_batches(1 << 20))
      for (const auto& r : batch) {
        if (r.first < prev)
          check(false, "dataset_sort: rows out of order");
        prev = r.first;
        ++rows;
      }
    check(rows == table_rows, "dataset_sort: " + std::to_string(rows) + " rows out");
    line("dataset_sort", static_cast<double>(table_rows) / el, "rows/s")
      .num("generate_s", dataset_generate_s_)
      .num("blocks", static_cast<double>(sorted.num_blocks()))
      .str("method", "table.sort(key).materialize(): sample -> range split per block -> merge+sort per range, "
                     "kept on the nodes; checked untimed")
      .emit();
  }

  void data_shuffle() {
    check(t_groupby_ && t_sort_, "needs data_groupby and data_sort to have succeeded");
    line("data_shuffle", static_cast<double>(table_rows) / (*t_groupby_ + *t_sort_), "rows/s")
      .num("t_groupby_s", *t_groupby_)
      .num("t_sort_s", *t_sort_)
      .num("generate_s", generate_s_)
      .emit();
  }

  void data_hash_shuffle() {
    ensure_table();
    auto t0 = clk::now();
    auto out = shuffle(
      [&](std::size_t p) {
        auto b = actors::task(benchjob::hash_split);
        pin(b, p, true);
        return b.remote(table_[p], parts);
      },
      benchjob::concat16);
    wait_all(out, 60s, "data_hash_shuffle");
    double el = since(t0);
    i64 rows = 0;
    for (const auto& s : stats_of(out))
      rows += s[0];
    check(rows == table_rows, "data_hash_shuffle: " + std::to_string(rows) + " rows out");
    line("data_hash_shuffle", static_cast<double>(table_rows) / el, "rows/s")
      .num("generate_s", generate_s_)
      .str("method", "per-partition hash split -> take bucket -> per-bucket concatenation; " +
                       (cluster_ ? placement_note() : std::string("embedded")))
      .emit();
  }

  // §10
  void memory() {
    table_.clear();
    double hwm_total = 0;
    json procs = json::object();
    for (const auto& p : sampler_.processes()) {
      long hwm = status_kb(p.pid, "VmHWM");
      long rss = status_kb(p.pid, "VmRSS");
      hwm_total += mib(std::max(0L, hwm));
      procs[p.role] = {{"pid", p.pid}, {"hwm_mib", figure(mib(hwm))}, {"rss_mib", figure(mib(rss))}};
    }
    line("peak_rss_sum_of_process_hwm", hwm_total, "MiB").raw("processes", procs).emit();
    line("peak_rss_sampled_total", sampler_.peak_bytes() / 1048576.0, "MiB").num("interval_s", 0.25).emit();
  }

  /// Frees what the heap holds unused in every process, so that growth shows in RSS.
  void trim_all() {
    benchjob::release_free_memory();
    if (!cluster_)
      return;
    std::vector<actors::object_ref<i64>> refs;
    for (auto id : workers_)
      refs.push_back(actors::task(benchjob::trim_memory).num_cpus(0).node(id, false).remote(i64{0}));
    refs.push_back(actors::task(benchjob::trim_memory).num_cpus(0).node(head_id_, false).remote(i64{0}));
    wait_all(refs, 30s, "malloc_trim tasks");
  }

  json per_process_rss() {
    json procs = json::object();
    for (const auto& p : sampler_.processes())
      procs[p.role] = figure(mib(status_kb(p.pid, "VmRSS")));
    return procs;
  }

  void mem_per_queued_task() {
    constexpr i64 n = 20000;
    trim_all();
    // Occupy every execution slot so that the tasks below stay queued.
    std::vector<actors::object_ref<i64>> blockers;
    if (cluster_) {
      for (std::size_t w = 0; w < workers_.size(); ++w) {
        auto b = actors::task(benchjob::sleep_ms);
        pin(b, w, false);
        blockers.push_back(b.remote(i64{5000}));
      }
    } else {
      double cpus = 0;
      for (const auto& nd : actors::nodes())
        cpus += nd.resources_total.count("CPU") ? nd.resources_total.at("CPU") : 0;
      for (int i = 0; i < static_cast<int>(cpus); ++i)
        blockers.push_back(actors::task(benchjob::sleep_ms).remote(i64{5000}));
    }
    std::this_thread::sleep_for(200ms);
    json before = per_process_rss();
    double base = sampler_.rss_bytes();
    std::vector<actors::object_ref<i64>> refs;
    refs.reserve(n);
    auto t0 = clk::now();
    for (i64 i = 0; i < n; ++i)
      refs.push_back(actors::task(benchjob::square).remote(i));
    double submit = since(t0);
    std::this_thread::sleep_for(300ms);
    double after = sampler_.rss_bytes();
    json after_procs = per_process_rss();
    auto measured_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now().time_since_epoch()).count();
    wait_all(blockers, 30s, "blockers");
    for (i64 end_ns : actors::get(blockers))
      check(end_ns > measured_ns, "a blocking task finished before the measurement: the queue had drained");
    wait_all(refs, 60s, "queued tasks");
    auto v = actors::get(refs);
    check(v.back() == (n - 1) * (n - 1), "mem_per_queued_task: wrong results");
    line("mem_per_queued_task", (after - base) / static_cast<double>(n), "bytes")
      .num("n", static_cast<double>(n))
      .num("submit_s", submit)
      .raw("rss_mib_before", before)
      .raw("rss_mib_after", after_procs)
      .str("method", "RSS growth of all processes while n square tasks wait behind tasks holding every slot")
      .emit();
  }

  /// Waits for and fetches `refs` in the driver; checks that result i is `expect(i)`.
  template <class Expect>
  void check_results(const std::vector<actors::object_ref<i64>>& refs, std::chrono::seconds cap,
                     const std::string& what, Expect expect) {
    wait_all(refs, cap, what);
    auto v = actors::get(refs);
    check(v.size() == refs.size(), what + ": " + std::to_string(v.size()) + " results for " +
                                     std::to_string(refs.size()) + " calls");
    for (std::size_t i = 0; i < v.size(); ++i)
      if (v[i] != expect(i))
        throw std::runtime_error(what + ": result " + std::to_string(i) + " is " + std::to_string(v[i]) +
                                 ", expected " + std::to_string(expect(i)));
  }

  // -- beyond the spec ---------------------------------------------------------------

  /// Latency percentiles of one task at a time, with enough round trips for p99.9.
  void tasks_sync_latency() {
    double el = 0;
    auto lat = sync_round_trips("tasks_sync_latency", 200, set_.count("latency_samples"), 30s, el);
    line("tasks_sync_latency", percentile(lat, 0.5), "µs")
      .num("n", static_cast<double>(lat.size()))
      .num("round_trips_per_s", static_cast<double>(lat.size()) / el)
      .num("p50_latency_us", percentile(lat, 0.5))
      .num("p99_latency_us", percentile(lat, 0.99))
      .num("p999_latency_us", percentile(lat, 0.999))
      .num("max_latency_us", *std::max_element(lat.begin(), lat.end()))
      .str("method", "up to n sequential square tasks (stop after 30 s), submit -> result in the driver; "
                     "value = p50")
      .emit();
  }

  /// One actors::get of many ready small objects.
  void get_refs_batch() {
    const i64 n = set_.count("get_refs");
    std::vector<double> reps;
    for (int rep = 0; rep < 5; ++rep) {
      const i64 first = rep * n;
      std::vector<actors::object_ref<bytes>> refs;
      if (cluster_) {
        auto b = actors::task(benchjob::put_small_objects);
        b.node(workers_[0], false);
        refs = actors::get(b.remote(first, n), 60s);
      } else {
        refs.reserve(static_cast<std::size_t>(n));
        for (i64 i = first; i < first + n; ++i)
          refs.push_back(actors::put(small_obj(i)));
      }
      check(refs.size() == static_cast<std::size_t>(n), "get_refs_batch: " + std::to_string(refs.size()) + " refs");
      auto t0 = clk::now();
      auto got = actors::get(refs);
      reps.push_back(since(t0));
      for (i64 i = 0; i < n; ++i)
        check(got[static_cast<std::size_t>(i)] == small_obj(first + i),
              "get_refs_batch: bytes of object " + std::to_string(first + i) + " differ");
    }
    double t = median(reps);
    line("get_refs_batch", t, "s")
      .num("n", static_cast<double>(n))
      .num("objs_per_s", static_cast<double>(n) / t)
      .arr("rep_s", reps)
      .str("method", std::string("median of 5: one actors::get(vector of n refs) of ready 100-byte objects, ") +
                       (cluster_ ? "put and owned by worker #0 (a put_small_objects task returned the refs)"
                                 : "put by the driver"))
      .emit();
  }

  void mem_per_small_object() {
    const i64 n = set_.count("small_objects");
    trim_all();
    std::this_thread::sleep_for(100ms);
    json before = per_process_rss();
    double base = sampler_.rss_bytes();
    std::vector<actors::object_ref<bytes>> refs;
    auto t0 = clk::now();
    if (cluster_) {
      auto b = actors::task(benchjob::put_small_objects);
      b.node(workers_[0], false);
      refs = actors::get(b.remote(i64{0}, n), 60s);
    } else {
      refs.reserve(static_cast<std::size_t>(n));
      for (i64 i = 0; i < n; ++i)
        refs.push_back(actors::put(small_obj(i)));
    }
    double put = since(t0);
    std::this_thread::sleep_for(300ms);
    double after = sampler_.rss_bytes();
    json after_procs = per_process_rss();
    for (i64 i = 0; i < n; i += std::max<i64>(1, n / 100))
      check(actors::get(refs[static_cast<std::size_t>(i)]) == small_obj(i),
            "mem_per_small_object: bytes of object " + std::to_string(i) + " differ");
    line("mem_per_small_object", (after - base) / static_cast<double>(n), "bytes")
      .num("n", static_cast<double>(n))
      .num("put_s", put)
      .raw("rss_mib_before", before)
      .raw("rss_mib_after", after_procs)
      .str("method", std::string("RSS growth of all processes with n live 100-byte objects, ") +
                       (cluster_ ? "put on worker #0 by a task, refs held by the driver" : "put by the driver"))
      .emit();
  }

  /// A threaded actor, max_concurrency(4): 4 calls of 200 ms at once (target
  /// all done in < 300 ms), on a worker in the cluster.
  void threaded_actor() {
    auto sleeper = actors::actor(benchjob::make_sleeper).max_concurrency(4).remote();
    check(actors::get(sleeper.task(&benchjob::Sleeper::nap).remote(i64{1}), 30s) == 1, "threaded_actor: first call");
    std::vector<double> rounds;
    for (int r = 0; r < 5; ++r) {
      std::vector<actors::object_ref<i64>> refs;
      auto t0 = clk::now();
      for (int i = 0; i < 4; ++i)
        refs.push_back(sleeper.task(&benchjob::Sleeper::nap).remote(i64{200}));
      check_results(refs, 30s, "threaded_actor", [](std::size_t) { return i64{200}; });
      rounds.push_back(since(t0) * 1e3);
    }
    line("threaded_actor", median(rounds), "ms")
      .num("min_ms", *std::min_element(rounds.begin(), rounds.end()))
      .num("max_ms", *std::max_element(rounds.begin(), rounds.end()))
      .str("method", "max_concurrency(4) actor: 4 calls of 200 ms sent at once until all 4 results are in; "
                     "median of 5 rounds (one at a time would take 800 ms)")
      .emit();
  }

  /// A generator of 1,000,000 small items read by the driver as they come, made
  /// on a worker in the cluster (target >= 200,000 items/s).
  void generator_items() {
    constexpr i64 n = 1'000'000;
    std::vector<double> rates;
    for (int r = 0; r < 3; ++r) {
      auto b = actors::task(benchjob::count_items);
      if (!workers_.empty())
        b.node(workers_[0], false);
      auto t0 = clk::now();
      i64 expect = 0;
      for (auto item : b.remote(n))
        check(actors::get(item) == expect++, "generator_items: an item out of order");
      check(expect == n, "generator_items: items missing");
      rates.push_back(static_cast<double>(n) / since(t0));
    }
    line("generator_items", median(rates), "items/s")
      .num("n", static_cast<double>(n))
      .num("min", *std::min_element(rates.begin(), rates.end()))
      .num("max", *std::max_element(rates.begin(), rates.end()))
      .str("method", std::string("generator of 1,000,000 int64 items ") + (cluster_ ? "made on worker #0, " : "")
                       + "read one by one by the driver (next + get) as they come; median of 3 runs")
      .emit();
  }

  /// How long after its co_yield an item is readable by the driver, the producer
  /// on a worker of the same host (target the first item within 1 ms).
  void generator_first_item() {
    auto b = actors::task(benchjob::stamped_items);
    if (!workers_.empty())
      b.node(workers_[0], false);
    std::vector<double> first_ms;
    std::vector<double> each_ms;
    for (int r = 0; r < 5; ++r) {
      bool first = true;
      for (auto item : b.remote(i64{20}, i64{5})) {
        auto made = actors::get(item);
        auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
        (first ? first_ms : each_ms).push_back(static_cast<double>(now - made) / 1e3);
        first = false;
      }
    }
    line("generator_first_item", median(first_ms), "ms")
      .num("item_median_ms", median(each_ms))
      .num("item_max_ms", *std::max_element(each_ms.begin(), each_ms.end()))
      .str("method", std::string("from the co_yield ") + (cluster_ ? "on worker #0 " : "")
                       + "to get() in the driver, by the system clock of the one host; the first item of 5 "
                         "streams of 20 items 5 ms apart (median), and every later item")
      .emit();
  }

  /// An async actor: 10,000 calls at once that each co_await sleep_for(50 ms)
  /// (target all done in < 0.5 s; a thread per call would need 10,000 threads).
  void async_actor() {
    auto napper = actors::actor(benchjob::make_napper).max_concurrency(10000).remote();
    check(actors::get(napper.task(&benchjob::Napper::nap).remote(i64{1}), 30s) == 1, "async_actor: first call");
    constexpr int n = 10000;
    std::vector<double> rounds;
    for (int r = 0; r < 3; ++r) {
      std::vector<actors::object_ref<i64>> refs;
      refs.reserve(n);
      auto t0 = clk::now();
      for (int i = 0; i < n; ++i)
        refs.push_back(napper.task(&benchjob::Napper::nap).remote(i64{50}));
      check_results(refs, 60s, "async_actor", [](std::size_t) { return i64{50}; });
      rounds.push_back(since(t0) * 1e3);
    }
    line("async_actor", median(rounds), "ms")
      .num("n", n)
      .num("min_ms", *std::min_element(rounds.begin(), rounds.end()))
      .num("max_ms", *std::max_element(rounds.begin(), rounds.end()))
      .str("method", "async actor (max_concurrency 10000): 10,000 calls that each co_await sleep_for(50 ms), sent at "
                     "once until every result is in; median of 3 rounds")
      .emit();
  }

  /// Many live actors: creation, one call to each, memory.
  void live_actors() {
    const auto n = static_cast<std::size_t>(set_.count("live_actors"));
    trim_all();
    std::this_thread::sleep_for(100ms);
    json before = per_process_rss();
    double base = sampler_.rss_bytes();
    std::vector<actors::actor_handle<benchjob::Counter>> hs;
    hs.reserve(n);
    auto t0 = clk::now();
    for (std::size_t i = 0; i < n; ++i)
      hs.push_back(actors::actor(benchjob::make_counter).remote());
    auto call_each = [&](i64 expect, const std::string& what) {
      std::vector<actors::object_ref<i64>> refs;
      refs.reserve(n);
      for (const auto& h : hs)
        refs.push_back(h.task(&benchjob::Counter::incr).remote());
      check_results(refs, 120s, what, [&](std::size_t) { return expect; });
    };
    call_each(1, "live_actors: first call");
    double create = since(t0);
    std::this_thread::sleep_for(300ms);
    double after = sampler_.rss_bytes();
    json after_procs = per_process_rss();
    auto t1 = clk::now();
    call_each(2, "live_actors: second call");
    double call = since(t1);
    const auto dn = static_cast<double>(n);
    line("live_actors_create", create, "s")
      .num("n", dn)
      .num("actors_per_s", dn / create)
      .str("method", "n Counter actors created without waiting (placed by the scheduler), until each answered "
                     "its first incr()")
      .emit();
    line("live_actors_call", call, "s")
      .num("n", dn)
      .num("calls_per_s", dn / call)
      .str("method", "one incr() on each of the n live actors, all in flight, until every result is in the driver")
      .emit();
    line("mem_per_idle_actor", (after - base) / dn, "bytes")
      .num("n", dn)
      .num("create_s", create)
      .raw("rss_mib_before", before)
      .raw("rss_mib_after", after_procs)
      .str("method", "RSS growth of all processes with n live Counter actors, each called once")
      .emit();
    hs.clear();
  }

  /// Many tasks that cannot start yet: each takes the result of a gate task that
  /// returns only once the driver creates a file.
  void queued_tasks() {
    const i64 n = set_.count("queued_tasks");
    static int gates = 0;
    std::string gate_path = "/tmp/actors-bench-gate-" + std::to_string(::getpid()) + "-" + std::to_string(++gates);
    std::filesystem::remove(gate_path);
    struct remove_gate {
      std::string path;
      ~remove_gate() {
        std::error_code ec;
        std::filesystem::remove(path, ec);
      }
    } cleanup{gate_path};
    trim_all();
    std::this_thread::sleep_for(100ms);
    json before = per_process_rss();
    double base = sampler_.rss_bytes();
    auto gate = actors::task(benchjob::wait_for_file).remote(gate_path, i64{300});
    std::vector<actors::object_ref<i64>> refs;
    refs.reserve(static_cast<std::size_t>(n));
    auto t0 = clk::now();
    for (i64 i = 0; i < n; ++i)
      refs.push_back(actors::task(benchjob::add).remote(gate, i));
    double submit = since(t0);
    std::this_thread::sleep_for(300ms);
    double after = sampler_.rss_bytes();
    json after_procs = per_process_rss();
    check(!actors::wait(std::vector<actors::object_ref<i64>>{refs.back()}, 1, 0s).pending.empty(),
          "queued_tasks: a task finished before the gate opened");
    { std::ofstream{gate_path}; }
    auto t1 = clk::now();
    check_results(refs, 300s, "queued_tasks", [](std::size_t i) { return static_cast<i64>(i); });
    double drain = since(t1);
    const auto dn = static_cast<double>(n);
    line("queued_tasks", dn / submit, "tasks/s")
      .num("n", dn)
      .num("submit_s", submit)
      .num("bytes_per_queued_task", (after - base) / dn)
      .num("drain_s", drain)
      .num("drain_tasks_per_s", dn / drain)
      .num("correct", dn)
      .raw("rss_mib_before", before)
      .raw("rss_mib_after", after_procs)
      .str("method", "n add(gate, i) tasks submitted while the gate task waits for a file; value = submit rate; "
                     "memory = RSS growth of all processes / n; drain = file created -> all n results in the "
                     "driver, each checked == i")
      .emit();
    refs.clear();
  }

  /// A zero-copy read in the driver of a 256 MiB vector made on a worker of the
  /// same host: the first get_span maps the worker's shared memory segment.
  void get_span_same_host() {
    if (!cluster_)
      return;
    const i64 rows = i64{1} << 24; // 2 x 8 bytes each: 256 MiB
    auto b = actors::task(benchjob::gen_partition);
    b.node(workers_[0], false);
    auto ref = b.remote(i64{0}, i64{1}, rows);
    wait_all(std::vector<actors::object_ref<benchjob::column>>{ref}, 60s, "get_span_same_host");
    auto t0 = clk::now();
    auto span = actors::get_span(ref);
    double first = secs(clk::now() - t0);
    check(span.size() == static_cast<std::size_t>(2 * rows) && span[1] == 0 && span[2 * rows - 1] == rows - 1,
          "get_span_same_host: wrong contents");
    line("get_span_same_host", first * 1e3, "ms")
      .num("bytes", static_cast<double>(span.size_bytes()))
      .str("method", "a 256 MiB std::vector<int64_t> made by a task on worker #0 (same host), waited for; value = "
                     "the first actors::get_span in the driver (fetch request, map of the worker's segment)")
      .emit();
  }

  /// Millions of tiny tasks from one driver at once, spread over the workers: the
  /// rate they drain at, and that nobody was declared dead on the way.
  void tasks_flood() {
    const i64 n = set_.count("flood_tasks");
    std::vector<actors::object_ref<i64>> refs;
    refs.reserve(static_cast<std::size_t>(n));
    auto t0 = clk::now();
    for (i64 i = 0; i < n; ++i)
      refs.push_back(actors::task(benchjob::square).strategy(actors::spread).remote(i));
    double submit = since(t0);
    check_results(refs, 420s, "tasks_flood", [](std::size_t i) { return static_cast<i64>(i * i); });
    double el = since(t0);
    double dead = 0;
    for (const auto& node : actors::nodes())
      dead += node.alive ? 0 : 1;
    check(dead == 0, "tasks_flood: " + std::to_string(static_cast<int>(dead)) + " process(es) declared dead");
    line("tasks_flood", static_cast<double>(n) / el, "tasks/s")
      .num("n", static_cast<double>(n))
      .num("submit_s", submit)
      .num("all_s", el)
      .num("declared_dead", dead)
      .num("correct", static_cast<double>(n))
      .str("method", "n square(i) tasks with the spread strategy from one driver, one get of all, each checked; "
                     "value = n / (first submit -> last result); declared_dead = nodes not alive after")
      .emit();
    refs.clear();
  }

  // -- scaling (a cluster of N workers) ------------------------------------------------

  void scaling_tasks_async() {
    const i64 n = set_.count("scaling_tasks");
    std::vector<actors::object_ref<i64>> refs;
    refs.reserve(static_cast<std::size_t>(n));
    auto t0 = clk::now();
    for (i64 i = 0; i < n; ++i)
      refs.push_back(actors::task(benchjob::square).remote(i));
    double submit = since(t0);
    check_results(refs, 90s, "scaling_tasks_async", [](std::size_t i) { return static_cast<i64>(i * i); });
    double el = since(t0);
    line("scaling_tasks_async", static_cast<double>(n) / el, "tasks/s")
      .num("n", static_cast<double>(n))
      .num("submit_s", submit)
      .str("method", "as tasks_async with n tasks placed by the scheduler over the workers")
      .emit();
  }

  void scaling_actor_calls_async() {
    const i64 n = set_.count("scaling_calls");
    const std::size_t k = workers_.size();
    std::vector<actors::actor_handle<benchjob::Counter>> hs;
    for (std::size_t w = 0; w < k; ++w)
      hs.push_back(actors::actor(benchjob::make_counter).node(workers_[w], false).remote());
    std::vector<i64> calls(k, 0);
    for (int i = 0; i < 50; ++i)
      for (std::size_t w = 0; w < k; ++w)
        check(actors::get(hs[w].task(&benchjob::Counter::incr).remote()) == ++calls[w],
              "scaling_actor_calls_async warm-up: wrong count");
    std::vector<actors::object_ref<i64>> refs;
    refs.reserve(static_cast<std::size_t>(n));
    auto t0 = clk::now();
    for (i64 i = 0; i < n; ++i)
      refs.push_back(hs[static_cast<std::size_t>(i) % k].task(&benchjob::Counter::incr).remote());
    wait_all(refs, 90s, "scaling_actor_calls_async");
    auto v = actors::get(refs);
    double el = since(t0);
    std::vector<std::unordered_set<i64>> seen(k);
    for (std::size_t i = 0; i < v.size(); ++i)
      seen[i % k].insert(v[i]);
    for (std::size_t w = 0; w < k; ++w) {
      i64 expect = calls[w] + static_cast<i64>(seen[w].size());
      check(static_cast<i64>(seen[w].size()) == (n - static_cast<i64>(w) + static_cast<i64>(k) - 1) / static_cast<i64>(k),
            "scaling_actor_calls_async: actor " + std::to_string(w) + " returned repeated values");
      check(*std::max_element(seen[w].begin(), seen[w].end()) == expect,
            "scaling_actor_calls_async: actor " + std::to_string(w) + " max != calls made");
    }
    line("scaling_actor_calls_async", static_cast<double>(n) / el, "calls/s")
      .num("n", static_cast<double>(n))
      .num("actors", static_cast<double>(k))
      .str("method", "one Counter actor pinned to each worker; n incr() calls spread round-robin over them, all "
                     "in flight, until every result is in the driver")
      .emit();
  }

  void cluster_stop(bool shown) {
    counter_.reset();
    table_.clear();
    auto t0 = clk::now();
    actors::shutdown();
    bool forced = false;
    if (cluster_) {
      auto [code, out] = actors::test::run({set_.cli, "--address", address_, "--token", token_, "stop"},
                                           dir_ + "/stop.log", 30s);
      if (code != 0)
        std::fprintf(stderr, "actors_bench: `actors stop` exited with %d: %s\n", code, out.c_str());
      std::vector<actors::test::process*> daemons{head_.get()};
      for (const auto& p : worker_procs_)
        daemons.push_back(p.get());
      for (auto* p : daemons) {
        if (!p->wait_exit(15s)) {
          p->kill(SIGKILL);
          p->wait_exit(5s);
          forced = true;
        }
      }
    }
    double t = since(t0);
    for (auto& p : g_daemons)
      p = 0;
    if (shown) {
      line l("cluster_stop", t, "s");
      if (cluster_)
        l.str("method", "actors::shutdown, then `actors stop`, until the " + std::to_string(set_.workers + 1) +
                          " daemons exited").raw("forced_kill", forced);
      else
        l.str("method", "actors::shutdown");
      l.emit();
    }
    if (cluster_) {
      head_.reset();
      worker_procs_.clear();
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
};

// -- the parent: runs each mode in a child, restarting after a hang or a crash -------------

std::string self_exe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec)
    throw std::runtime_error("cannot read /proc/self/exe: " + ec.message());
  return p.string();
}

std::string count_flag(const std::string& name) {
  std::string f = "--" + name;
  std::replace(f.begin(), f.end(), '_', '-');
  return f;
}

/// Whether `--only` picks a step that `mode` runs (the steps every mode runs aside).
bool mode_picked(const settings& set, const std::string& mode) {
  for (const auto& s : steps()) {
    std::string id = s.id;
    if ((s.modes & mode_bit(mode)) && id != "cluster_start" && id != "warmup" && id != "cluster_stop" &&
        id != "script_total" && picked(set.only, s))
      return true;
  }
  return false;
}

/// Runs `mode` in a child (with `workers` worker processes), again after a failure.
int supervise_mode(const settings& set, const std::string& mode, std::size_t workers) {
  std::set<std::string> done; // steps that reported (or were reported for)
  bool restarted = false;
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::vector<std::string> args{self_exe(), "--child", "--mode", mode, "--workers", std::to_string(workers),
                                  "--actorsd", set.actorsd, "--cli", set.cli, "--job", set.job};
    if (!set.tls.empty())
      args.insert(args.end(), {"--tls", set.tls});
    for (const auto& [name, value] : set.counts)
      args.insert(args.end(), {count_flag(name), std::to_string(value)});
    if (!set.only.empty())
      args.insert(args.end(), {"--only", join_list(set.only)});
    if (!done.empty())
      args.insert(args.end(), {"--skip", join_list(done)});
    if (restarted)
      args.push_back("--restarted");

    int fds[2];
    if (::pipe(fds) != 0)
      throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(fds[1]);
    if (rc != 0)
      throw std::runtime_error("cannot start " + args[0]);

    std::string current, pending;
    bool silent_too_long = false;
    char buf[65536];
    for (;;) {
      pollfd pfd{fds[0], POLLIN, 0};
      int r = ::poll(&pfd, 1, 400'000);
      if (r == 0) {
        silent_too_long = true;
        break;
      }
      if (r < 0) {
        if (errno == EINTR)
          continue;
        break;
      }
      ssize_t got = ::read(fds[0], buf, sizeof buf);
      if (got <= 0)
        break;
      pending.append(buf, static_cast<std::size_t>(got));
      std::size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        std::string l = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        if (l.rfind("#begin ", 0) == 0) {
          current = l.substr(7);
        } else if (l.rfind("#end ", 0) == 0) {
          done.insert(l.substr(5));
          current.clear();
        } else if (!l.empty() && l[0] == '{') {
          emit_raw(l);
        } else if (!l.empty()) {
          std::fprintf(stderr, "%s\n", l.c_str());
        }
      }
    }
    ::close(fds[0]);
    if (silent_too_long)
      ::kill(-pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::kill(-pid, SIGKILL); // daemons the child left behind
    if (!silent_too_long && WIFEXITED(status) && WEXITSTATUS(status) == 0)
      return 0;
    std::string why = silent_too_long ? "printed nothing for 400 s and was killed"
                      : WIFEXITED(status) ? "exited with code " + std::to_string(WEXITSTATUS(status))
                                          : "was killed by signal " + std::to_string(WTERMSIG(status));
    std::fprintf(stderr, "actors_bench: the %s run %s\n", mode.c_str(), why.c_str());
    if (!current.empty()) {
      g_prefix = prefix_of(mode);
      g_mode = mode;
      g_nodes = mode == "scaling" ? workers : 0;
      g_restarted = restarted;
      for (const char* n : step_named(current).names)
        emit_error(n, "the benchmark process " + why + " during this benchmark");
      done.insert(current);
    }
    bool remaining = false;
    for (const auto& s : steps())
      remaining = remaining || ((s.modes & mode_bit(mode)) && picked(set.only, s) && !done.count(s.id));
    if (!remaining)
      return 1;
    restarted = true;
  }
  return 1;
}

std::vector<std::string> modes_of(const std::string& arg) {
  std::vector<std::string> out;
  for (const auto& m : split_list(arg)) {
    if (m == "all")
      out.insert(out.end(), {"cluster", "embedded", "shared_memory", "scaling"});
    else if (m == "both")
      out.insert(out.end(), {"cluster", "embedded", "shared_memory"});
    else if (m == "cluster" || m == "embedded" || m == "shared_memory" || m == "scaling")
      out.push_back(m);
    else
      throw std::invalid_argument("--mode: " + m +
                                  " is not one of all, both, cluster, embedded, shared_memory, scaling");
  }
  std::vector<std::string> ordered; // run order: cluster, embedded, shared_memory, scaling
  for (const char* m : {"cluster", "embedded", "shared_memory", "scaling"})
    if (std::find(out.begin(), out.end(), m) != out.end())
      ordered.push_back(m);
  return ordered;
}

std::size_t positive(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < 1)
    throw std::invalid_argument(flag + " needs a positive whole number, not '" + v + "'");
  return static_cast<std::size_t>(n);
}

void usage(const settings& defaults) {
  std::printf("usage: actors_bench [--mode all|both|cluster|embedded|shared_memory|scaling[,...]] [--only NAME[,NAME...]]\n"
              "                    [--scaling-nodes N[,N...]] [--actorsd PATH] [--cli PATH] [--job PATH]\n"
              "                    [--tls DIR] [COUNT FLAGS]\n"
              "--tls DIR: the cluster talks TLS with the files `actors certs --out DIR --hosts 127.0.0.1` made\n"
              "modes: cluster, embedded, shared_memory (the cluster with shared memory on: large\n"
              "  objects, sorts, get_span), scaling (a fresh cluster for each worker count of\n"
              "  --scaling-nodes, default 1,2,4,8); both = cluster,embedded,shared_memory;\n"
              "  all (default) = all four\n"
              "--only: step ids or printed names, e.g. tasks_sync_latency,queued_tasks,scaling_tasks_async\n"
              "count flags (defaults):\n");
  for (const auto& [name, value] : defaults.counts)
    std::printf("  %-20s %lld\n", count_flag(name).c_str(), static_cast<long long>(value));
}

settings parse(int argc, char** argv) {
  settings s;
  if (const char* v = std::getenv("ACTORSD"))
    s.actorsd = v;
  if (const char* v = std::getenv("ACTORS_CLI"))
    s.cli = v;
  if (const char* v = std::getenv("BENCH_JOB_LIBRARY"))
    s.job = v;
  bool restarted = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--mode")
      s.mode = value();
    else if (a == "--only")
      s.only = split_list(value());
    else if (a == "--skip")
      s.skip = split_list(value());
    else if (a == "--actorsd")
      s.actorsd = value();
    else if (a == "--cli")
      s.cli = value();
    else if (a == "--job")
      s.job = value();
    else if (a == "--tls")
      s.tls = value();
    else if (a == "--child")
      s.child = true;
    else if (a == "--workers") {
      s.workers = positive(a, value());
      if (s.workers > max_workers)
        throw std::invalid_argument("--workers: at most " + std::to_string(max_workers));
    } else if (a == "--scaling-nodes") {
      s.scaling_nodes.clear();
      std::string list = value();
      std::stringstream ss(list);
      std::string item;
      while (std::getline(ss, item, ','))
        s.scaling_nodes.push_back(positive(a, item));
      for (auto n : s.scaling_nodes)
        if (n > max_workers)
          throw std::invalid_argument("--scaling-nodes: at most " + std::to_string(max_workers) + " workers");
      if (s.scaling_nodes.empty())
        throw std::invalid_argument("--scaling-nodes needs at least one count");
    }
    else if (a == "--restarted")
      restarted = true;
    else if (a == "--help" || a == "-h") {
      usage(settings{});
      std::exit(0);
    } else {
      bool counted = false;
      for (auto& [name, n] : s.counts)
        if (a == count_flag(name)) {
          n = static_cast<i64>(positive(a, value()));
          counted = true;
        }
      if (!counted)
        throw std::invalid_argument("unknown argument " + a + " (see --help)");
    }
  }
  modes_of(s.mode); // throws on a bad mode
  // Names of several suites may be given at once (run.py passes one list to ours and the
  // peer's); at least one must be ours.
  bool known = s.only.empty();
  for (const auto& o : s.only)
    for (const auto& st : steps())
      known = known || picked({o}, st);
  if (!known)
    throw std::invalid_argument("--only: no benchmark named " + join_list(s.only) + " (see --help)");
  g_restarted = restarted;
  return s;
}

} // namespace

int main(int argc, char** argv) {
  settings set;
  try {
    set = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "actors_bench: %s\n", e.what());
    return 2;
  }
  if (set.child) {
    g_mode = set.mode;
    g_prefix = prefix_of(set.mode);
    g_nodes = set.mode == "scaling" ? set.workers : 0;
    int code = suite(set, set.mode).run();
    std::fflush(stdout);
    std::_Exit(code); // the runtime is shut down; skip static destructors
  }
  int status = 0;
  for (const auto& mode : modes_of(set.mode)) {
    if (!set.only.empty() && !mode_picked(set, mode))
      continue;
    std::vector<std::size_t> sizes{set.workers};
    if (mode == "scaling")
      sizes = set.scaling_nodes;
    for (auto workers : sizes) {
      try {
        status |= supervise_mode(set, mode, workers);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "actors_bench: %s\n", e.what());
        status = 1;
      }
    }
  }
  return status;
}
