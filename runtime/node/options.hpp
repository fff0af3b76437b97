#pragma once

#include "actors/init.hpp"

#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace actors::runtime {

/// Reads ACTORS_* environment variables, then --actors-* flags (which win), into
/// `opts`. Leaves other arguments alone. Throws actors::error naming the bad flag.
void parse_options(int argc, char** argv, init_options& opts);

/// The arguments that are not --actors-* flags (argv[0] excluded).
std::vector<std::string> other_arguments(int argc, char** argv);

/// "1G", "512M", "64K" or a plain number of bytes.
std::size_t parse_bytes(const std::string& text, const std::string& what);

/// "GPU=1,disk=2".
std::map<std::string, double> parse_resources(const std::string& text, const std::string& what);

} // namespace actors::runtime
