#pragma once

#include "runtime/actor_host/actor_host.hpp"
#include "runtime/autoscaler/autoscaler_service.hpp"
#include "runtime/cluster/caf_head_link.hpp"
#include "runtime/cluster/caf_transport.hpp"
#include "runtime/cluster/cluster.hpp"
#include "runtime/cluster/object_directory.hpp"
#include "runtime/common/output_capture.hpp"
#include "runtime/control_store/control_store.hpp"
#include "runtime/jobs/job_service.hpp"
#include "runtime/metrics/discovery_file.hpp"
#include "runtime/metrics/metrics_service.hpp"
#include "runtime/node/supervisor.hpp"
#include "runtime/object_store/object_store.hpp"
#include "runtime/scheduler/object_stream.hpp"
#include "runtime/scheduler/scheduler.hpp"
#include "runtime/scheduler/task_log.hpp"
#include "runtime/scheduler/task_tree.hpp"
#include "runtime/scheduler/worker_pool.hpp"
#include "runtime/secure/tls_gateway.hpp"

#include "actors/ids.hpp"
#include "actors/init.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <memory>

namespace actors::runtime {

/// What a node is to its cluster.
enum class node_role {
  /// Alone in this process; takes no connections.
  embedded,
  /// Runs the control store and takes connections from nodes and drivers.
  head,
  /// Joins the cluster whose head is at `head_address`.
  member,
};

/// Options with every default resolved.
struct node_config {
  node_role role = node_role::embedded;
  std::string head_address;
  std::string token;
  /// A driver started by `actors job submit`: its job's id (ACTORS_JOB_ID).
  std::string job_id;
  /// The namespace of this process's named actors (init_options::ns, or a fresh
  /// anonymous one).
  std::string ns;
  /// A node serving the cluster (actorsd, --actors-node): what its tasks print
  /// goes to their drivers too.
  bool forward_output = false;
  /// A driver: print what its tasks print on the nodes.
  bool log_to_driver = true;
  /// Large values move to and from the host's other processes through shared
  /// memory.
  bool shared_memory = true;
  /// Interface the node's ports listen on.
  std::string bind = "127.0.0.1";
  /// The host the other processes dial to reach this node's ports (never a
  /// wildcard).
  std::string advertise = "127.0.0.1";
  /// The head's cluster port (0 picks a free one).
  std::uint16_t port = 0;
  /// A member that is a user's program, not a node serving the cluster.
  bool driver = false;
  /// The Prometheus endpoint's port (0 picks one; -1 none).
  int metrics_port = 0;
  /// Silence after which a peer is declared dead.
  int heartbeat_timeout_ms = 3000;
  /// Member: how long to keep reconnecting to a head that went away before
  /// stopping (0: stop at once).
  int head_reconnect_timeout_ms = 60000;
  /// Head: where the control store saves its tables, and starts from (empty: not
  /// saved).
  std::filesystem::path state_dir;
  /// Head: also write the http_sd list of metrics endpoints to this file (Prometheus
  /// file_sd_configs) whenever the node table changes.
  std::string metrics_sd_file;
  double num_cpus = 1;
  resource_set resources;
  std::size_t object_store_bytes = 0;
  std::filesystem::path spill_dir;
  /// Bytes a task may allocate while it runs here (0: no limit).
  std::size_t task_memory_limit = 0;
  /// The spill directory was made by the node and goes with it.
  bool owns_spill_dir = false;
  /// Head: the autoscaler's config file (empty: no autoscaler).
  std::filesystem::path autoscale_file;
  /// Head with an autoscaler: the command line of a node process on this host,
  /// for the local provider.
  local_node_command local_node;
  /// The autoscaler's launch this node answers (`actorsd --launch-id`).
  std::string launch_id;
  /// TLS between the cluster's processes (none wanted: plaintext), and what
  /// its gateway refuses on the way in.
  tls_settings tls;
  gateway_limits gateway;
};

/// Fills in the defaults of `opts` (CPUs, store size, spill directory, addresses)
/// and checks them; throws actors::error naming a bad value.
node_config resolve(const init_options& opts);

/// Sets `cfg.bind` and `cfg.advertise` from the flags (empty: not given) for the
/// role and head address `cfg` has (see choose_addresses).
void resolve_addresses(node_config& cfg, const std::string& bind, const std::string& advertise);

/// 32 random hex digits: a fresh cluster token.
std::string random_token();

/// The token of the cluster whose head saved its state in `state_dir`, or a fresh
/// one if none did. Throws actors::error if the saved state cannot be read.
std::string saved_token(const std::filesystem::path& state_dir);

/// One node: a CAF actor system with the node's service actors under a
/// supervisor; the object store, scheduler, worker pool and actor host that serve
/// this process's tasks and actors; and its remote layer, which carries work and
/// data to and from the other nodes. An embedded node and a head run the control
/// store. Built by actors::init (or actorsd), destroyed by shutdown. It only
/// builds and wires its parts: each part is handed what it uses when built.
class node {
 public:
  explicit node(node_config cfg);
  ~node();

  /// Opens the head's port and joins the cluster. Called once this node is the
  /// process's node, since work may arrive as soon as it has joined.
  void start();

  /// What its log file and lines call its part: head, node, driver or embedded.
  std::string role_name() const;

  node(const node&) = delete;
  node& operator=(const node&) = delete;

  const node_id id;
  const node_config config;

 private:
  struct caf_system;
  std::unique_ptr<caf_system> caf_;

 public:
  /// TLS to and from the cluster's other processes (null: plaintext). Before
  /// anything connects; it stops after everything that does.
  std::unique_ptr<tls_gateway> gateway;
  // Declared in the order they start; they stop in reverse.
  /// The control store (served here on the head and embedded node) or its client.
  std::unique_ptr<control_store> control;
  /// The node endpoint: how this node reaches the others and they reach it.
  std::unique_ptr<caf_transport> links;
  /// Tells other nodes when this node frees its side of an object of theirs.
  remote_releases releases;
  object_store store;
  task_log tasks;
  /// The tasks each task running here submitted (recursive cancel).
  task_tree children;
  /// The streams of the generators submitted here, which their items find.
  object_streams streams;
  worker_pool pool;
  scheduler sched;
  actor_host host;
  /// Joins, reports to and reconnects to the head.
  std::unique_ptr<caf_head_link> head;
  /// The remote layer.
  std::unique_ptr<cluster> net;
  std::unique_ptr<metrics_service> metrics;
  /// Head: rewrites --metrics-sd-file when the node table changes.
  std::unique_ptr<discovery_file> sd_file;
  /// Head: runs the programs of `actors job submit` and keeps their files,
  /// answering the job requests the node endpoint hands it.
  std::unique_ptr<job_service> jobs;
  /// Head with --autoscale: launches nodes for waiting work, removes idle ones.
  std::unique_ptr<autoscaler_service> autoscaler;
  /// A node that forwards its output: its stdout and stderr, captured.
  std::unique_ptr<output_capture> output;
  /// Watches the service actors and restarts them (built by start).
  std::unique_ptr<supervisor> services;
  /// Where the head takes connections (head only), "host:port".
  std::string cluster_address;
};

/// The node of this process, or null outside init/shutdown.
node* current_node() noexcept;

/// Builds this process's node (what actors::init does after reading options);
/// actors::shutdown stops it. Throws actors::error if it cannot start.
node& start_node(node_config cfg);

/// Blocks while this process's node serves the cluster (actorsd, or a program run
/// with --actors-node). A node the head declared dead (it was frozen, or cut off
/// longer than the heartbeat timeout) has been given up by the cluster, with its
/// objects and actors, and a node whose supervisor gave up on a service soon will
/// be: it stops and starts again as a new node, with a new id,
/// from `fresh_config()`, and `on_restart` hears of it and why. Returns why the node
/// stopped for good; it is still running then (actors::shutdown stops it), unless
/// it could not start again (logged; the cause is then head_gone). A call of
/// stop_serving() ends it whichever node is running.
stop_cause serve_until_stopped(const std::function<node_config()>& fresh_config,
                               const std::function<void(const node_id& was, stop_cause why, node& now)>& on_restart = {});

/// Makes serve_until_stopped return (a signal asked the process to stop). Safe to
/// call from any thread, while a node restarts as well.
void stop_serving();

} // namespace actors::runtime
