#pragma once

#include "runtime/actor_host/actor_host.hpp"
#include "runtime/common/log.hpp"
#include "runtime/object_store/object_store.hpp"
#include "runtime/scheduler/object_stream.hpp"
#include "runtime/scheduler/scheduler.hpp"
#include "runtime/scheduler/task_log.hpp"
#include "runtime/scheduler/task_tree.hpp"
#include "runtime/wire/protocol.hpp"

#include "actors/ids.hpp"

#include <optional>
#include <filesystem>
#include <string>

namespace actors::runtime {

/// This node's own parts as the remote layer uses them: it runs work here for
/// other nodes, keeps objects here, and reports what this node has free.
struct local_parts {
  node_id id;
  object_store& store;
  scheduler& sched;
  task_log& tasks;
  actor_host& host;
  task_tree& children;
  /// The streams of generators submitted here (their items arrive for them).
  object_streams& streams;
};

/// What the remote layer needs of the node's configuration.
struct cluster_settings {
  /// The cluster token, shown when joining and checked on state queries and stops.
  std::string token;
  /// Where the head takes connections (members: what they joined), for messages.
  std::string head_address;
  /// This process is a user's program, not a node serving the cluster.
  bool driver = false;
  /// How long a member keeps reconnecting to a head that went away (0: never).
  int head_reconnect_timeout_ms = 60000;
  /// Where this node serves large values over its data channel (empty: it serves
  /// none, as a node alone in its process).
  std::string data_bind;
  /// The host other nodes dial for that data channel.
  std::string data_advertise;
  /// Where the libraries of jobs fetched from the head are kept (runtime_env).
  std::filesystem::path job_cache;
  /// A driver prints what its tasks print on other nodes (task_output).
  bool print_task_output = true;
  /// How long a peer may stay silent before it is declared dead; a member also
  /// waits this long (5 s at least) for the head to answer its probe.
  int heartbeat_timeout_ms = 3000;
  /// Large values move to and from the processes of this host that share memory
  /// too through /dev/shm segments; false: over sockets, as between hosts.
  bool shared_memory = true;
};

/// A payload from another node, decoded; malformed bytes are logged (saying what
/// they should have been) and dropped, never trusted.
template <class T>
std::optional<T> decode_payload(const std::string& blob, const char* what) {
  try {
    return wire::unpack<T>(blob, what);
  } catch (const std::exception& e) {
    log(log_level::warning, "cluster", e.what());
    return std::nullopt;
  }
}

/// Says that `name` here and at the caller are of different types.
std::string signature_mismatch(const char* kind, const std::string& name, const node_id& here, const char* ours,
                               const std::string& theirs);

} // namespace actors::runtime
