#pragma once

// How the autoscaler starts and stops nodes: child processes of the head, each
// with its output in a file of its own. The local provider starts node processes
// on the head's host; the command provider runs the config's shell commands
// (ssh, kubectl, ...), which start the node elsewhere and return.

#include "runtime/autoscaler/autoscale_config.hpp"

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace actors::runtime {

/// One launch: which node type, the id the node joins with (`--launch-id`), and
/// the cluster it joins.
struct launch_spec {
  std::string launch_id;
  node_type_config type;
  std::string head_address;
  std::string token;
};

/// Where a launch runs, saved with the head's state so that a restarted head can
/// still stop it: the host of the command provider, the process id of the local one.
struct launch_place {
  std::string host;
  int pid = 0;
};

/// The command line of a node process on the head's host for a launch (the
/// local provider): `actorsd --address ...` for a head run by actorsd, the program
/// itself with `--actors-node` for a program's head.
using local_node_command = std::function<std::vector<std::string>(const launch_spec&)>;

/// Starts and stops the autoscaler's nodes. Called from one thread.
class node_provider {
 public:
  virtual ~node_provider() = default;
  /// Starts the node of `spec`; throws actors::error saying what went wrong.
  virtual launch_place launch(const launch_spec& spec) = 0;
  /// Takes over a launch that a previous head process made (its saved state), so
  /// that terminate and failures cover it like the provider's own. False if the
  /// launch is known to be gone (its local process is not there).
  virtual bool adopt(const std::string& launch_id, const node_type_config& type, const launch_place& where) = 0;
  /// Stops the node of launch `launch_id`, joined or not.
  virtual void terminate(const std::string& launch_id) = 0;
  /// Launches that failed since the last call, with why: a launch command that
  /// exited non-zero, or a node process that ended (with the end of its output).
  virtual std::vector<std::pair<std::string, std::string>> failures() = 0;
};

/// The provider `config` names. Each process's output goes to
/// `log_dir`/LAUNCH_ID.log (terminate commands: LAUNCH_ID.terminate.log).
/// Destroying it stops the node processes of the local provider.
std::unique_ptr<node_provider> make_node_provider(const autoscale_config& config, local_node_command local,
                                                  std::filesystem::path log_dir);

/// `resources` as the --resources flag takes them ("GPU=1,disk=2"), CPU left
/// out; empty if there are none.
std::string resources_flag(const resource_map& resources);

} // namespace actors::runtime
