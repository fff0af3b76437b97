#include "runtime/node/options.hpp"

#include "actors/errors.hpp"
#include "runtime/common/log.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace actors::runtime {

namespace {

[[noreturn]] void bad(const std::string& what, const std::string& value, const std::string& hint) {
  throw error(errc::invalid_argument, "bad value '" + value + "' for " + what + ": " + hint);
}

double parse_number(const std::string& text, const std::string& what) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || errno || *end != '\0' || !std::isfinite(v) || v < 0)
    bad(what, text, "expected a number of 0 or more");
  return v;
}

bool parse_bool(const std::string& text, const std::string& what) {
  if (text == "true" || text == "1")
    return true;
  if (text != "false" && text != "0")
    bad(what, text, "expected true or false");
  return false;
}

const char* const known_flags[] = {"address",   "num-cpus", "resources", "object-store-bytes",
                                   "spill-dir", "task-memory-limit", "local-nodes", "token", "node", "metrics-port",
                                   "heartbeat-timeout", "head-reconnect-timeout", "state-dir", "bind",
                                   "advertise-address", "log-to-driver", "log-level", "progress", "autoscale", "launch-id", "namespace",
                                   "tls-cert", "tls-key", "tls-ca", "handshake-timeout", "max-frame-bytes"};

// Flags that take no value.
bool is_switch(const std::string& key) {
  return key == "node";
}

void apply(init_options& opts, const std::string& key, const std::string& value,
           const std::string& what) {
  if (key == "address")
    opts.address = value;
  else if (key == "num-cpus")
    opts.num_cpus = parse_number(value, what);
  else if (key == "resources")
    opts.resources = parse_resources(value, what);
  else if (key == "object-store-bytes")
    opts.object_store_bytes = parse_bytes(value, what);
  else if (key == "spill-dir")
    opts.spill_dir = value;
  else if (key == "task-memory-limit")
    opts.task_memory_limit = parse_bytes(value, what);
  else if (key == "token")
    opts.token = value;
  else if (key == "state-dir")
    opts.state_dir = value;
  else if (key == "bind")
    opts.bind = value;
  else if (key == "advertise-address")
    opts.advertise_address = value;
  else if (key == "autoscale")
    opts.autoscale = value;
  else if (key == "launch-id")
    opts.launch_id = value;
  else if (key == "namespace")
    opts.ns = value;
  else if (key == "tls-cert")
    opts.tls_cert = value;
  else if (key == "tls-key")
    opts.tls_key = value;
  else if (key == "tls-ca")
    opts.tls_ca = value;
  else if (key == "max-frame-bytes") {
    auto bytes = parse_bytes(value, what);
    if (bytes < 1024 * 1024 || bytes > 0xffffffffu)
      bad(what, value, "expected a size from 1M to 4G");
    opts.max_frame_bytes = bytes;
  } else if (key == "handshake-timeout") {
    double ms = parse_number(value, what);
    if (ms < 100 || ms > 600'000)
      bad(what, value, "expected milliseconds between 100 and 600000");
    opts.handshake_timeout_ms = static_cast<int>(ms);
  }
  else if (key == "log-to-driver")
    opts.log_to_driver = parse_bool(value, what);
  else if (key == "progress")
    opts.progress = parse_bool(value, what);
  else if (key == "log-level")
    set_log_level(parse_log_level(value, what));
  else if (key == "head-reconnect-timeout") {
    double ms = parse_number(value, what);
    if (ms > 86'400'000)
      bad(what, value, "expected milliseconds between 0 (give up at once) and 86400000 (a day)");
    opts.head_reconnect_timeout_ms = static_cast<int>(ms);
  } else if (key == "heartbeat-timeout") {
    double ms = parse_number(value, what);
    if (ms < 400 || ms > 3'600'000)
      bad(what, value, "expected milliseconds between 400 (two heartbeats) and 3600000");
    opts.heartbeat_timeout_ms = static_cast<int>(ms);
  } else if (key == "metrics-port") {
    try {
      opts.metrics_port = std::stoi(value);
    } catch (const std::exception&) {
      opts.metrics_port = -2;
    }
    if (opts.metrics_port < -1 || opts.metrics_port > 65535)
      bad(what, value, "expected a port (0 picks a free one, -1 serves no metrics)");
  }
  else if (key == "node")
    opts.node = value.empty() || value == "1" || value == "true";
  else if (key == "local-nodes") {
    double n = parse_number(value, what);
    if (n < 1 || n > 1024 || n != std::floor(n))
      bad(what, value, "expected a whole number of processes, from 1 to 1024");
    opts.local_nodes = static_cast<std::size_t>(n);
  }
}

} // namespace

std::size_t parse_bytes(const std::string& text, const std::string& what) {
  if (text.empty())
    bad(what, text, "expected a size such as 512M or 2G");
  std::size_t digits = 0;
  while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.'))
    ++digits;
  if (digits == 0)
    bad(what, text, "expected a size such as 512M or 2G");
  double v = parse_number(text.substr(0, digits), what);
  std::string unit = text.substr(digits);
  double scale = 1;
  if (unit.empty() || unit == "B")
    scale = 1;
  else if (unit == "K" || unit == "KB" || unit == "KiB")
    scale = 1024.0;
  else if (unit == "M" || unit == "MB" || unit == "MiB")
    scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "GB" || unit == "GiB")
    scale = 1024.0 * 1024 * 1024;
  else
    bad(what, text, "the unit must be one of B, K, M, G");
  // 2^63 bytes: beyond any machine, and still a number a size_t holds.
  if (v * scale >= 9223372036854775808.0)
    bad(what, text, "expected a size below 8 EiB");
  return static_cast<std::size_t>(v * scale);
}

std::map<std::string, double> parse_resources(const std::string& text, const std::string& what) {
  std::map<std::string, double> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty())
      continue;
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      bad(what, text, "expected NAME=AMOUNT pairs separated by commas, e.g. GPU=1,disk=2");
    out[item.substr(0, eq)] = parse_number(item.substr(eq + 1), what);
  }
  return out;
}

std::vector<std::string> other_arguments(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--actors-", 0) != 0) {
      out.push_back(arg);
      continue;
    }
    auto key = arg.substr(9);
    if (arg.find('=') == std::string::npos && !is_switch(key))
      ++i; // the flag's value is the next argument
  }
  return out;
}

void parse_options(int argc, char** argv, init_options& opts) {
  for (const char* key : known_flags) {
    std::string env = "ACTORS_";
    for (const char* p = key; *p; ++p)
      env += *p == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(*p)));
    if (const char* v = std::getenv(env.c_str()))
      apply(opts, key, v, "environment variable " + env);
  }
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--actors-", 0) != 0)
      continue;
    auto eq = arg.find('=');
    std::string key = arg.substr(9, eq == std::string::npos ? std::string::npos : eq - 9);
    bool known = false;
    for (const char* k : known_flags)
      known = known || key == k;
    if (!known) {
      std::string list;
      for (const char* k : known_flags)
        list += std::string(list.empty() ? "" : ", ") + "--actors-" + k;
      throw error(errc::invalid_argument, "unknown flag '" + arg + "': the flags are " + list);
    }
    std::string value;
    if (eq != std::string::npos)
      value = arg.substr(eq + 1);
    else if (is_switch(key))
      value = "";
    else if (i + 1 < argc)
      value = argv[++i];
    else
      throw error(errc::invalid_argument, "flag '" + arg + "' needs a value: --actors-" + key + "=VALUE");
    apply(opts, key, value, "flag --actors-" + key);
  }
}

} // namespace actors::runtime
