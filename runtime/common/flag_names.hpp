#pragma once

#include <string>

namespace actors::runtime {

/// How the user of this process spells the node setting `setting`
/// ("head-reconnect-timeout") in a message: --actors-head-reconnect-timeout in
/// a program, --head-reconnect-timeout in actorsd.
std::string flag_name(const std::string& setting);

/// Makes flag_name() give actorsd's spelling; actorsd calls it first thing.
void use_daemon_flag_names();

} // namespace actors::runtime
