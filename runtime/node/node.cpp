#include "runtime/node/node.hpp"

#include "runtime/autoscaler/autoscaler.hpp"
#include "runtime/common/addresses.hpp"
#include "runtime/common/flag_names.hpp"
#include "runtime/common/log.hpp"
#include "runtime/common/silent_connections.hpp"
#include "runtime/common/task_memory.hpp"
#include "runtime/node/caf_settings.hpp"
#include "runtime/control_store/head_state.hpp"
#include "runtime/node/local_nodes.hpp"
#include "runtime/node/session.hpp"
#include "runtime/node/spill_directory.hpp"
#include "runtime/jobs/job_manager.hpp"
#include "runtime/object_store/shared_memory.hpp"

#include "actors/errors.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <atomic>
#include <fstream>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <random>
#include <system_error>
#include <thread>
#include <unistd.h>

namespace actors::runtime {

namespace {

node_id random_node_id() {
  std::random_device rd;
  std::uint64_t v = 0;
  while (v == 0)
    v = (std::uint64_t{rd()} << 32) ^ rd();
  return node_id{v};
}

std::size_t physical_memory() {
  auto pages = sysconf(_SC_PHYS_PAGES);
  auto page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<std::size_t>(pages) * static_cast<std::size_t>(page)
                               : std::size_t{8} << 30;
}

} // namespace

std::string saved_token(const std::filesystem::path& state_dir) {
  if (!state_dir.empty())
    if (auto saved = load_head_state(state_dir))
      return saved->token;
  return random_token();
}

std::string random_token() {
  std::random_device rd;
  static const char hex[] = "0123456789abcdef";
  std::string t;
  for (int i = 0; i < 32; ++i)
    t += hex[rd() % 16];
  return t;
}

/// The namespace `ns` names, checked, or a fresh anonymous one for an empty `ns`.
std::string namespace_of(const std::string& ns) {
  if (ns.empty())
    return "anonymous-" + random_token().substr(0, 16);
  if (ns.size() > 128)
    throw error(errc::invalid_argument, "namespace '" + ns.substr(0, 32) + "...' is " + std::to_string(ns.size())
                                          + " characters long: at most 128");
  for (unsigned char c : ns)
    if (c == '/' || c < 0x20 || c == 0x7f)
      throw error(errc::invalid_argument, "namespace '" + ns
                                            + "' has a '/' or a control character: a namespace is one name, such "
                                              "as 'billing' or 'team-a.prod'");
  return ns;
}

node_config resolve(const init_options& opts) {
  node_config cfg;
  cfg.ns = namespace_of(opts.ns);
  if (opts.node && opts.address.empty())
    throw error(errc::invalid_argument,
                "--actors-node needs the head's address: --actors-address=HOST:PORT");
  if (!opts.address.empty()) {
    cfg.role = node_role::member;
    cfg.head_address = opts.address;
    cfg.token = opts.token;
  } else if (opts.local_nodes > 1 || !opts.autoscale.empty()) {
    cfg.role = node_role::head;
    cfg.state_dir = opts.state_dir;
    cfg.token = opts.token.empty() ? saved_token(cfg.state_dir) : opts.token;
  }
  if (opts.num_cpus && (*opts.num_cpus < 0 || !std::isfinite(*opts.num_cpus)))
    throw error(errc::invalid_argument, "num_cpus must be 0 (offer none) or more, not " + std::to_string(*opts.num_cpus)
                                          + "; leave it unset to offer every hardware thread");
  // A driver joining a cluster runs no tasks unless told to (as in Ray); a node
  // offers every hardware thread.
  bool driver_only = cfg.role == node_role::member && !opts.node;
  cfg.driver = driver_only;
  cfg.num_cpus = opts.num_cpus ? *opts.num_cpus
                 : driver_only  ? 0
                                : std::max(1u, std::thread::hardware_concurrency());
  for (const auto& [name, amount] : opts.resources) {
    if (name.empty() || amount < 0 || !std::isfinite(amount))
      throw error(errc::invalid_argument, "resource '" + name + "' has a bad amount "
                                            + std::to_string(amount)
                                            + ": give a name and an amount of 0 or more");
    if (name == "CPU")
      throw error(errc::invalid_argument,
                  "set CPUs with num_cpus (" + flag_name("num-cpus") + "), not as a custom resource");
  }
  cfg.resources = resource_set::from(cfg.num_cpus, opts.resources);
  cfg.launch_id = opts.launch_id;
  // Absolute: jobs the head starts run in directories of their own.
  auto absolute = [](const std::string& path) {
    return path.empty() ? path : std::filesystem::absolute(path).string();
  };
  cfg.tls = tls_settings{absolute(opts.tls_cert), absolute(opts.tls_key), absolute(opts.tls_ca)};
  if (cfg.role == node_role::head && !opts.autoscale.empty()) {
    cfg.autoscale_file = opts.autoscale;
    cfg.local_node = [user_args = program_args(), heartbeat = opts.heartbeat_timeout_ms,
                      tls = cfg.tls](const launch_spec& spec) {
      auto cpu = spec.type.resources.find("CPU");
      return node_process_command(user_args, spec.head_address, spec.token,
                                  cpu == spec.type.resources.end() ? 0.0 : cpu->second,
                                  resources_flag(spec.type.resources), heartbeat, spec.launch_id, tls);
    };
  }
  cfg.metrics_port = opts.metrics_port;
  cfg.heartbeat_timeout_ms = opts.heartbeat_timeout_ms;
  cfg.head_reconnect_timeout_ms = opts.head_reconnect_timeout_ms;
  cfg.object_store_bytes = opts.object_store_bytes > 0 ? opts.object_store_bytes : physical_memory() / 4;
  cfg.task_memory_limit = opts.task_memory_limit;
  if (driver_only)
    if (const char* job = std::getenv("ACTORS_JOB_ID"))
      cfg.job_id = job;
  cfg.forward_output = opts.node;
  cfg.log_to_driver = opts.log_to_driver;
  cfg.shared_memory = opts.shared_memory;
  if (opts.spill_dir.empty()) {
    // What killed nodes of this host left goes first: nobody else would remove it.
    auto parent = std::filesystem::temp_directory_path();
    remove_orphaned_spill_directories(parent);
    cfg.spill_dir = make_own_spill_directory(parent);
    cfg.owns_spill_dir = true;
  } else {
    std::error_code ec;
    std::filesystem::create_directories(opts.spill_dir, ec);
    if (ec || !std::filesystem::is_directory(opts.spill_dir))
      throw error(errc::invalid_argument, "spill_dir '" + opts.spill_dir
                                            + "' is not a directory that can be made: "
                                            + ec.message());
    cfg.spill_dir = opts.spill_dir;
  }
  resolve_addresses(cfg, opts.bind, opts.advertise_address);
  cfg.gateway.handshake_timeout = std::chrono::milliseconds(opts.handshake_timeout_ms);
  cfg.gateway.max_frame_bytes = static_cast<std::uint32_t>(opts.max_frame_bytes);
  return cfg;
}

void resolve_addresses(node_config& cfg, const std::string& bind, const std::string& advertise) {
  auto chosen = choose_addresses(cfg.role == node_role::member ? cfg.head_address : std::string(), bind, advertise);
  cfg.bind = std::move(chosen.bind);
  cfg.advertise = std::move(chosen.advertise);
}

void apply_caf_settings(caf::actor_system_config& cfg) {
  // Service actors answer requests from blocked user threads: the sharing policy
  // wakes a worker ~10x faster than work stealing here, and two threads suffice
  // because user code runs on the worker pool, not on CAF's threads.
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("scheduler.max-threads", std::size_t{2});
  // Direct connections between nodes are made by the cluster layer from the node
  // table: CAF's own automatic connections leave helper actors behind that can
  // hold up shutdown.
  cfg.set("middleman.workers", std::size_t{0});
  cfg.set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(200)});
  cfg.set("middleman.connection-timeout", caf::timespan{0});
  cfg.load<caf::io::middleman>();
}

/// CAF's side of the node: the actor system its service actors live in. Its
/// connections close after the heartbeat timeout of silence.
struct node::caf_system {
  static caf::actor_system_config& configure(caf::actor_system_config& cfg) {
    apply_caf_settings(cfg);
    return cfg;
  }

  explicit caf_system(const node_config& config) : system{configure(cfg)} {
    auto& silence = silent_connections::of_this_process();
    silence.set_timeout(&system, std::chrono::milliseconds(config.heartbeat_timeout_ms));
    silence.start_sweeping();
  }

  ~caf_system() { silent_connections::of_this_process().forget(&system); }

  caf::actor_system_config cfg;
  caf::actor_system system;
};

namespace {

/// The process's TLS gateway when TLS is wanted: every connection goes through it.
std::unique_ptr<tls_gateway> make_gateway(const node_config& config) {
  if (!config.tls.wanted())
    return nullptr;
  if (config.role == node_role::embedded)
    throw error(errc::invalid_argument, "TLS is for a cluster's connections, and this process runs alone: join a "
                                        "cluster with --actors-address, or start one with --actors-local-nodes");
  config.tls.check("TLS ");
  auto g = std::make_unique<tls_gateway>(config.tls, config.gateway);
  tls_gateway::use_for_this_process(g.get());
  return g;
}

std::unique_ptr<control_store> make_control_store(caf::actor_system& sys, const node_config& config) {
  if (config.role == node_role::member)
    return connect_control_store(sys, config.head_address);
  return std::make_unique<control_store>(sys, config.token, config.state_dir);
}

} // namespace

node::node(node_config cfg)
  : id(random_node_id()),
    config(std::move(cfg)),
    caf_(new caf_system(config)),
    gateway(make_gateway(config)),
    control(make_control_store(caf_->system, config)),
    links(std::make_unique<caf_transport>(caf_->system, config.token)),
    releases(id, *links),
    store(id, config.object_store_bytes, config.spill_dir, &releases),
    streams(id, store),
    // Spinning pays off when work comes from this process alone (embedded), not
    // when it comes over the network from processes that share the cores.
    pool(static_cast<std::size_t>(std::ceil(config.num_cpus)), config.role == node_role::embedded),
    sched(config.resources, pool),
    host(id, store, sched, pool, tasks,
         [this](const actor_id& actor, const std::string& name) { control->remove_name(name, actor); }) {
  head = std::make_unique<caf_head_link>(caf_->system, *links, *control, config.token, config.head_address,
                                         config.role != node_role::member);
  net = std::make_unique<cluster>(local_parts{id, store, sched, tasks, host, children, streams},
                                  cluster_settings{config.token, config.head_address, config.driver,
                                                   config.head_reconnect_timeout_ms,
                                                   // With TLS, large values take the CAF path,
                                                   // which the gateway encrypts: no data channel.
                                                   config.role != node_role::embedded && !gateway ? config.bind
                                                                                                  : std::string(),
                                                   config.advertise, config.spill_dir / "job-files",
                                                   config.log_to_driver, config.heartbeat_timeout_ms,
                                                   config.shared_memory},
                                  *links, *head, *control, *control, *links);
  links->start(*net, *net);
}

/// What a node's log file and lines call its part in the cluster.
std::string node::role_name() const {
  if (config.role == node_role::head)
    return "head";
  if (config.role == node_role::embedded)
    return "embedded";
  return config.driver ? "driver" : "node";
}

void node::start() {
  // This process's log lines name the node; a process of a cluster also keeps
  // them in SESSION_DIR/logs/<role>-<node id>.log.
  set_log_node(id.to_string());
  if (config.role != node_role::embedded)
    set_log_file(session_dir() / "logs" / (role_name() + "-" + id.to_string() + ".log"));
  // Before any task can arrive.
  node_task_memory_limit.store(config.task_memory_limit);
  // A file-size limit (ulimit -f) must fail a spill write with EFBIG, not kill
  // the node with SIGXFSZ.
  std::signal(SIGXFSZ, SIG_IGN);
  if (config.task_memory_limit > 0) {
    auto worst = config.object_store_bytes + config.task_memory_limit * static_cast<std::size_t>(std::ceil(config.num_cpus));
    if (worst > physical_memory())
      log(log_level::warning, "node", "the object store (", config.object_store_bytes, " bytes) and ",
          std::ceil(config.num_cpus), " tasks at their memory limit (", config.task_memory_limit,
          " bytes each) add up to more than this machine's ", physical_memory(),
          " bytes of memory: lower --object-store-bytes or --task-memory-limit");
  }
  if (config.forward_output) {
    output = std::make_unique<output_capture>([this](int stream, std::string line) {
      net->output().line(stream, std::move(line));
    });
    net->output().start_forwarding();
  }
  if (config.metrics_port >= 0)
    metrics = std::make_unique<metrics_service>(
      metrics_sources{id, store, sched, host, tasks, *net, config.role != node_role::member}, config.bind,
      config.metrics_port);
  if (config.role != node_role::member && metrics) {
    metrics->serve_discovery([this] { return net->members().discovery_json(); });
    if (!config.metrics_sd_file.empty()) {
      sd_file = std::make_unique<discovery_file>(net->members(), config.metrics_sd_file);
      net->members().add_listener(*sd_file);
    }
  }
  if (config.role == node_role::head) {
    cluster_address =
      config.advertise + ":" + std::to_string(links->serve_control(control->handle(), config.bind, config.port));
    jobs = std::make_unique<job_service>(
      caf_->system, job_manager_settings{config.spill_dir / "jobs", cluster_address, config.token, config.tls.cert,
                                         config.tls.key, config.tls.ca});
    links->serve_jobs(jobs->handle());
    if (!config.autoscale_file.empty()) {
      autoscaler = std::make_unique<autoscaler_service>(caf_->system, *control,
                                                        load_autoscale_config(config.autoscale_file),
                                                        config.local_node, cluster_address, config.token,
                                                        config.spill_dir / "autoscaler",
                                                        config.state_dir.empty()
                                                          ? std::filesystem::path{}
                                                          : config.state_dir / "autoscaler-launches");
      if (metrics)
        metrics->serve_autoscaler([this] { return autoscaler->figures(); });
    }
  }
  wire::node_record rec;
  rec.id = id;
  rec.address = config.role != node_role::embedded ? config.advertise + ":" + std::to_string(links->publish(config.bind))
                                                   : "in-process";
  rec.total = config.resources.to_map();
  rec.available = rec.total;
  rec.head = config.role != node_role::member;
  rec.driver = config.driver;
  rec.metrics_port = metrics ? metrics->port() : 0;
  rec.data_address = net->objects().data_address();
  if (config.role != node_role::embedded && links->lane_port() != 0)
    rec.lane_address = config.advertise + ":" + std::to_string(links->lane_port());
  rec.host_id = host_id();
  rec.shares_memory = config.shared_memory;
  rec.object_store_bytes = config.object_store_bytes;
  rec.pid = ::getpid();
  rec.job_id = config.job_id;
  rec.launch_id = config.launch_id;
  net->join(rec);
  log(log_level::info, "node", role_name(), " ", id.to_string(), " (pid ", ::getpid(), ") ",
      config.role == node_role::member ? "joined the cluster at " + config.head_address
      : config.role == node_role::head ? "serves the cluster at " + cluster_address + " as its head"
                                       : "runs alone in this process");
  services = std::make_unique<supervisor>(caf_->system, [this](const std::string& why) { net->service_failed(why); });
  services->watch("node endpoint", links->endpoint());
  if (config.role != node_role::member)
    services->watch("control store", control->handle(), [this] {
      auto fresh = control->restart(id);
      if (!fresh || !links->serve_restarted_control(fresh))
        return caf::actor{};
      join_answer answer;
      if (!net->members().rejoin(answer)) {
        log(log_level::error, "cluster", "the restarted control store did not take this node back: ", answer.reason);
        return caf::actor{};
      }
      return fresh;
    });
  log(log_level::info, "node", "node ", id.to_string(), " started with ", config.resources.to_string(),
      ", object store ", config.object_store_bytes, " bytes, spilling to ", config.spill_dir.string(),
      config.task_memory_limit ? ", tasks limited to " + std::to_string(config.task_memory_limit) + " bytes"
                               : std::string());
}

node::~node() {
  if (services)
    services->stop();
  // The nodes it launched on this host stop with the head (their work is the
  // cluster's, which goes too).
  if (metrics)
    metrics->serve_autoscaler(nullptr);
  autoscaler.reset();
  // The jobs' programs end before the cluster they use.
  jobs.reset();
  output.reset();
  node_task_memory_limit.store(0);
  metrics.reset();
  sched.stop();
  host.stop();
  net->stop();
  // The endpoint hands nothing to the remote layer once this returns.
  links->stop();
  pool.stop();
  control->stop();
  if (config.owns_spill_dir) {
    std::error_code ec;
    std::filesystem::remove_all(config.spill_dir, ec);
  }
  log(log_level::info, "node", role_name(), " ", id.to_string(), " stopped");
  set_log_file({});
}

} // namespace actors::runtime
