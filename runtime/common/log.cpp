#include "runtime/common/log.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace actors::runtime {

namespace {

log_level parse_level() {
  const char* s = std::getenv("ACTORS_LOG_LEVEL");
  if (!s)
    return log_level::warning;
  if (!std::strcmp(s, "error"))
    return log_level::error;
  if (!std::strcmp(s, "info"))
    return log_level::info;
  if (!std::strcmp(s, "debug"))
    return log_level::debug;
  return log_level::warning;
}

const char* level_name(log_level l) {
  switch (l) {
    case log_level::error:
      return "error";
    case log_level::warning:
      return "warning";
    case log_level::info:
      return "info";
    default:
      return "debug";
  }
}

} // namespace

log_level current_log_level() {
  static const log_level level = parse_level();
  return level;
}

void write_log(log_level level, const char* component, const std::string& message) {
  static std::mutex mu;
  std::lock_guard<std::mutex> guard{mu};
  std::fprintf(stderr, "actors %s [%s] %s\n", level_name(level), component, message.c_str());
}

} // namespace actors::runtime
