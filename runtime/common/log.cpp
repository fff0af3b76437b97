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

} // namespace

void write_fully(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    auto n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

void set_log_descriptor(int fd) {
  log_descriptor.store(fd);
}

void set_console_descriptor(int fd) {
  console_descriptor.store(fd);
}

void print_console(const std::string& text) {
  std::fflush(stdout);
  write_fully(console_descriptor.load(), text.data(), text.size());
}

void write_log(log_level level, const char* component, const std::string& message) {
  std::string line = std::string("actors ") + level_name(level) + " [" + component + "] " + message + "\n";
  static std::mutex mu;
  std::lock_guard<std::mutex> guard{mu};
  // One write where it can: lines of several threads or processes do not
  // interleave.
  write_fully(log_descriptor.load(), line.data(), line.size());
}

} // namespace actors::runtime
