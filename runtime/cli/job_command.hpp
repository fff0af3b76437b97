#pragma once

#include <functional>
#include <string>

namespace caf {
class actor_system;
}

namespace CLI {
class App;
}

namespace actors::runtime {

/// What a command of the actors program does, once its command line is parsed,
/// to the cluster whose head is at `address`. Returns the exit status.
using cluster_command =
  std::function<int(caf::actor_system& sys, const std::string& address, const std::string& token)>;

/// Adds `job submit|list|status|logs|stop` to `app`; the one the user gives sets
/// `run` (for submit the exit status is the job's, once it ended). Prints
/// errors and exits 2 when the head refuses a request.
void add_job_commands(CLI::App& app, cluster_command& run);

} // namespace actors::runtime
