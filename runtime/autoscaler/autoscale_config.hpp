#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace actors::runtime {

/// An amount of each resource by name ("CPU", "GPU", custom ones).
using resource_map = std::map<std::string, double>;

/// A kind of node the autoscaler may launch, and how many of it.
struct node_type_config {
  std::string name;
  /// What one node of this type offers; at least one amount is positive.
  resource_map resources;
  /// Kept running even when idle.
  int min_nodes = 0;
  /// Never more launched nodes of this type alive or starting.
  int max_nodes = 0;
};

/// How nodes are started and stopped.
enum class provider_kind {
  /// Node processes on this machine.
  local,
  /// Shell commands from the config, e.g. ssh to a host.
  command,
};

struct provider_config {
  provider_kind type = provider_kind::local;
  /// Command provider: shell command template that starts one node.
  std::string launch;
  /// Command provider: shell command template that stops the node `launch` started.
  std::string terminate;
  /// Command provider: what {host} stands for, in turn.
  std::vector<std::string> hosts;
};

/// The autoscaler's config file, checked: every value is in range and every
/// placeholder in a command template is known.
struct autoscale_config {
  provider_config provider;
  /// A launched node idle this long is stopped (down to min_nodes).
  double idle_timeout_s = 60;
  /// New launches at once are capped at max(5, upscaling_speed * nodes running).
  double upscaling_speed = 1.0;
  /// A launched node that has not joined after this long is stopped.
  double launch_timeout_s = 60;
  /// In file order.
  std::vector<node_type_config> node_types;
};

/// The placeholders a launch or terminate template may use.
const std::vector<std::string>& command_placeholders();

/// Parses YAML text; `source` names it in messages (a file path). Throws
/// actors::error (errc::invalid_argument) saying "SOURCE:LINE: " what is wrong and
/// what to write instead.
autoscale_config parse_autoscale_config(const std::string& yaml, const std::string& source);

/// Reads and parses `file`; throws actors::error as parse_autoscale_config does,
/// or if the file cannot be read.
autoscale_config load_autoscale_config(const std::filesystem::path& file);

/// Replaces each {name} in `templ` with values[name], verbatim (the caller makes
/// values safe for the shell); "{{" and "}}" stand for literal braces. Throws
/// actors::error (errc::invalid_argument) naming `source` on an unknown
/// placeholder or a lone brace.
std::string expand_command(const std::string& templ, const std::map<std::string, std::string>& values,
                           const std::string& source);

} // namespace actors::runtime
