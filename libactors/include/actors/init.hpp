#pragma once

#include "actors/ids.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace actors {

/// How a process joins or starts a cluster. Every field has a flag
/// (`--actors-<field>` with dashes) and an environment variable (`ACTORS_<FIELD>`);
/// flags win over the environment, and both over these defaults.
struct init_options {
  /// host:port of a cluster's head to join; empty starts an embedded cluster in this
  /// process.
  std::string address;
  /// CPUs this node offers to tasks. Unset: the number of hardware threads (none
  /// for a driver joining a cluster); 0 offers none (a head that runs no work).
  std::optional<double> num_cpus;
  /// Custom resources this node offers, e.g. {{"GPU", 1}}.
  std::map<std::string, double> resources;
  /// Bytes of values the object store keeps in memory before spilling; 0 means a
  /// quarter of physical memory.
  std::size_t object_store_bytes = 0;
  /// Where spilled objects go; empty means a fresh directory under the system's
  /// temporary directory, removed at shutdown.
  std::string spill_dir;
  /// Bytes one task may allocate while it runs on this node; past it the task
  /// fails and the node carries on. 0 means no limit. A task's own
  /// `.memory(bytes)` may ask for less.
  std::size_t task_memory_limit = 0;
  /// Processes in the embedded cluster: 1 is this process alone; N starts N-1
  /// more node processes of this same program, which join this one as head.
  std::size_t local_nodes = 1;
  /// The cluster's token: what a node or driver must show to join. Empty: read
  /// from the session file when joining; generated when starting a head.
  std::string token;
  /// Serve as a node of the cluster at `address` and never return: the process
  /// exits when the cluster stops (`--actors-node`).
  bool node = false;
  /// Port of this node's Prometheus endpoint (`/metrics`): 0 picks a free one,
  /// -1 serves none.
  int metrics_port = 0;
  /// How long a connection to another node may stay silent before that node is
  /// declared dead (heartbeats go every 200 ms), in milliseconds.
  int heartbeat_timeout_ms = 3000;
  /// How long a node or driver keeps reconnecting to a head that went away, in
  /// milliseconds (retrying after 100 ms, doubling up to 2 s); 0 gives up at once.
  /// A node stops when it gives up; a driver carries on without the head.
  int head_reconnect_timeout_ms = 60000;
  /// When this process runs the head (`local_nodes` > 1): a directory where the
  /// head saves its state as it changes, and from which a restarted head takes
  /// its cluster back. Empty: the state is not saved.
  std::string state_dir;
  /// The interface this process's ports listen on. Empty: its own address on the
  /// route to the head when it joins a head at a non-loopback address, else
  /// 127.0.0.1. 0.0.0.0 listens on every interface.
  std::string bind;
  /// The address the cluster's other processes dial to reach this one. Empty: the
  /// bind address, or, when that is 0.0.0.0, this host's own address (on the route
  /// to the head when joining one). 0.0.0.0 is refused: no one can dial it.
  std::string advertise_address;
  /// A driver prints what its tasks print on the nodes, each line with the node
  /// and its pid in front (as they come, within about 100 ms). False: not.
  bool log_to_driver = true;
  /// Consuming a dataset draws a live line per running operator on stderr
  /// (blocks and rows done, rate, time left), cleared when it ends, if stderr is
  /// a terminal. False: never (`--actors-progress=false`).
  bool progress = true;
  /// Large values (64 KiB and more) move between this process and the others
  /// of its host through shared memory (/dev/shm), not a socket. False: this
  /// process never makes or maps a segment, and every value it sends or fetches
  /// crosses a socket, as between hosts (`--actors-shared-memory=false`, e.g.
  /// for a container whose /dev/shm is small).
  bool shared_memory = true;
  /// An autoscaler config file (YAML, see docs/guide/autoscaling.md): this
  /// process runs the head, and its autoscaler starts node processes of this
  /// same program for work that waits, and stops them when idle.
  std::string autoscale;
  /// The autoscaler launch this node answers; set by the autoscaler for the
  /// nodes it starts.
  std::string launch_id;
  /// The namespace of this program's named actors (`--actors-namespace`,
  /// ACTORS_NAMESPACE): names are unique within one, and get_actor looks in the
  /// caller's. Empty: a fresh anonymous namespace of this program alone. The
  /// tasks and actors it starts, on any node, work in it too. No '/'.
  std::string ns;
  /// TLS between this program and the cluster's other processes: this
  /// process's certificate (PEM), its private key, and the cluster's CA
  /// certificate. All three, or none (plaintext). Every process of a TLS
  /// cluster needs them (see docs/security.md; `actors certs` makes them).
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
  /// With TLS: how long a new connection may take to finish its TLS handshake
  /// and send a first message, in milliseconds, before it is closed.
  int handshake_timeout_ms = 10000;
  /// With TLS: the largest message a connection may announce; a larger one
  /// closes that connection.
  std::size_t max_frame_bytes = std::size_t{256} << 20;
};

/// Starts the runtime from command-line flags (`--actors-num-cpus=4`,
/// `--actors-resources=GPU=1,disk=2`, `--actors-object-store-bytes=1G`,
/// `--actors-spill-dir=…`, `--actors-task-memory-limit=2G`, `--actors-address=host:port`, `--actors-local-nodes=3`,
/// `--actors-token=…`, `--actors-node`, `--actors-metrics-port=N`,
/// `--actors-heartbeat-timeout=MS`, `--actors-head-reconnect-timeout=MS`,
/// `--actors-state-dir=DIR`, `--actors-bind=ADDR`, `--actors-advertise-address=ADDR`, `--actors-log-to-driver=false`,
/// `--actors-progress=false`, `--actors-shared-memory=false`, `--actors-log-level=LEVEL`,
/// `--actors-tls-cert=FILE`, `--actors-tls-key=FILE`, `--actors-tls-ca=FILE`, `--actors-handshake-timeout=MS`,
/// `--actors-max-frame-bytes=SIZE`) and ACTORS_* environment variables. Other arguments are left alone. Throws actors::error on a malformed
/// flag, naming it. Call once, from the main thread, before any other call.
void init(int argc, char** argv);

/// Starts the runtime with explicit options.
void init(const init_options& opts);

/// Stops the runtime: waits for running tasks, stops every actor and frees every
/// object. References still held become dangling in the sense that `get` throws.
/// The runtime may be started again with init. A program that returns from
/// main (or calls std::exit) without calling it stops the runtime at exit the
/// same way.
void shutdown();

/// True between init and shutdown.
bool is_initialized();

/// The node this code runs on (inside a task or method: the node running it).
node_id current_node_id();

/// Whether this program draws live progress lines on stderr: the runtime runs,
/// this process is not a node serving the cluster, stderr is a terminal, and
/// init_options::progress was not turned off.
bool show_progress();

/// Where the files of the current job are: inside a task or actor of a job sent
/// with `actors job submit --working-dir DIR`, this node's copy of DIR (fetched
/// from the head and unpacked once per node); elsewhere, the process's current
/// directory. Read-only by convention: several tasks share the copy.
std::string working_dir();

} // namespace actors
