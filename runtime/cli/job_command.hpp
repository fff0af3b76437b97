#pragma once

#include <string>
#include <vector>

namespace caf {
class actor_system;
}

namespace actors::runtime {

/// `actors job submit|list|status|logs|stop ...` against the cluster whose head
/// is at `address`: `args` are the words after `job`. Returns the exit status
/// (for submit: the job's, once it ended); prints errors and exits 2 on misuse.
int job_command(caf::actor_system& sys, const std::string& address, const std::string& token,
                const std::vector<std::string>& args);

} // namespace actors::runtime
