#pragma once

#include <chrono>
#include <string>
#include <sys/types.h>
#include <vector>

namespace actors::runtime {

/// The node processes an embedded head starts from its own program
/// (`--actors-local-nodes=N`): each runs the program again with `--actors-node`
/// and joins the head. They stop when the head stops the cluster; this waits for
/// them and kills any that do not exit in time.
class local_nodes {
 public:
  /// Starts `count` processes of this program (/proc/self/exe) with `user_args`
  /// and the node flags. Throws actors::error if one cannot start.
  local_nodes(std::size_t count, const std::vector<std::string>& user_args,
              const std::string& address, const std::string& token, double num_cpus,
              int heartbeat_timeout_ms);
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

/// The arguments this program was started with, without the actors flags (set by
/// init(argc, argv); empty otherwise).
std::vector<std::string>& program_args();

} // namespace actors::runtime
