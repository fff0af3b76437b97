#pragma once

#include "runtime/secure/tls_gateway.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace actors::runtime {

/// The node processes an embedded head starts from its own program
/// (`--actors-local-nodes=N`): each runs the program again with `--actors-node`
/// and joins the head. They stop when the head stops the cluster, or when this
/// process ends (head_process_watch); this waits for them and kills any that do
/// not exit in time.
class local_nodes {
 public:
  /// Starts `count` processes of this program (/proc/self/exe) with `user_args`
  /// and the node flags. Throws actors::error if one cannot start.
  local_nodes(std::size_t count, const std::vector<std::string>& user_args,
              const std::string& address, const std::string& token, std::optional<double> num_cpus,
              int heartbeat_timeout_ms, const tls_settings& tls = {});
  ~local_nodes();

  local_nodes(const local_nodes&) = delete;
  local_nodes& operator=(const local_nodes&) = delete;

  /// Waits up to `timeout` for every process to exit, then kills the rest.
  void reap(std::chrono::milliseconds timeout);

  const std::vector<pid_t>& pids() const noexcept {
    return pids_;
  }

 private:
  std::vector<pid_t> pids_;
};

/// What a node process of this program runs: /proc/self/exe with `user_args`
/// and the flags that make it a node of the head at `address`, offering
/// `num_cpus` (unset: the default) and `resources` ("GPU=1,..."), answering
/// `launch_id` if not empty, with this process's TLS files. Started with
/// head_process_environment(), it stops when the head's process ends; a lost
/// connection alone it treats like any node (it reconnects, and rejoins as a
/// new node if the head declared it dead meanwhile).
std::vector<std::string> node_process_command(const std::vector<std::string>& user_args, const std::string& address,
                                              const std::string& token, std::optional<double> num_cpus,
                                              const std::string& resources, int heartbeat_timeout_ms,
                                              const std::string& launch_id, const tls_settings& tls = {});

/// The arguments this program was started with, without the actors flags (set by
/// init(argc, argv); empty otherwise).
std::vector<std::string>& program_args();

} // namespace actors::runtime
