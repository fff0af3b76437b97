#pragma once

#include "actors/init.hpp"

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace actors::runtime {

/// A setting of a node: a program takes it as --actors-NAME (or ACTORS_NAME),
/// actorsd as --NAME. One table, so that both check a value the same way and
/// say the same about it.
struct node_flag {
  const char* name;       ///< "num-cpus"
  const char* value_name; ///< "N" in the help; empty for a switch
  const char* help;       ///< lines of the help, '\n' between them
  bool daemon;            ///< actorsd takes it as --NAME
};

/// Every node setting, in the order the help lists them.
const std::vector<node_flag>& node_flags();

/// Sets the node setting `name` of `opts` from `value`. Throws actors::error
/// saying what is wrong with the value, with `what` naming where it came from
/// ("flag --actors-num-cpus", "--num-cpus", "environment variable ACTORS_...").
void apply_node_flag(init_options& opts, const std::string& name, const std::string& value, const std::string& what);

/// Sets each node setting whose ACTORS_<NAME> environment variable is set
/// (ACTORS_NUM_CPUS for num-cpus); with `daemon_settings_only`, only those
/// actorsd takes. A setting for which `flag_given(name)` says its flag was given
/// is skipped: the flag wins, so its variable is not even read, and a bad one
/// beside a good flag stops nothing. Throws as apply_node_flag, naming the
/// variable.
void read_node_environment(init_options& opts, bool daemon_settings_only,
                           const std::function<bool(const std::string&)>& flag_given = {});

/// Reads ACTORS_* environment variables, then --actors-* flags (which win), into
/// `opts`. Leaves other arguments alone. Throws actors::error naming the bad flag.
void parse_options(int argc, char** argv, init_options& opts);

/// The arguments that are not --actors-* flags (argv[0] excluded).
std::vector<std::string> other_arguments(int argc, char** argv);

/// `text` as a whole number from lo to hi, all of it ("80x" is not 80); none if
/// it is not one.
std::optional<long long> whole_number_in(const std::string& text, long long lo, long long hi);

/// "1G", "512M", "64K" or a plain number of bytes.
std::size_t parse_bytes(const std::string& text, const std::string& what);

/// "GPU=1,disk=2".
std::map<std::string, double> parse_resources(const std::string& text, const std::string& what);

} // namespace actors::runtime
