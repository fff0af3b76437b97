#include "runtime/common/log.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unistd.h>

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

namespace {

std::atomic<int> log_descriptor{2};
std::atomic<int> console_descriptor{1};

// One write where possible: lines of several threads or processes do not
// interleave.
void write_all(int fd, const std::string& text) {
  const char* data = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    auto n = ::write(fd, data, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    data += n;
    left -= static_cast<std::size_t>(n);
  }
}

} // namespace

void set_log_descriptor(int fd) {
  log_descriptor.store(fd);
}

void set_console_descriptor(int fd) {
  console_descriptor.store(fd);
}

void print_console(const std::string& text) {
  std::fflush(stdout);
  write_all(console_descriptor.load(), text);
}

void write_log(log_level level, const char* component, const std::string& message) {
  std::string line = std::string("actors ") + level_name(level) + " [" + component + "] " + message + "\n";
  static std::mutex mu;
  std::lock_guard<std::mutex> guard{mu};
  write_all(log_descriptor.load(), line);
}

} // namespace actors::runtime
