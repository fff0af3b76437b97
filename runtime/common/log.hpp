#pragma once

#include <cstddef>
#include <sstream>
#include <string>

namespace actors::runtime {

enum class log_level { error = 0, warning = 1, info = 2, debug = 3 };

/// The level set by ACTORS_LOG_LEVEL (error, warning, info, debug; default warning).
log_level current_log_level();

/// Writes all `size` bytes to `fd`, through interrupted and partial writes
/// (gives up on an error).
void write_fully(int fd, const char* data, std::size_t size);

/// Where log lines go: a file descriptor (2, stderr, unless output_capture
/// took stderr over).
void set_log_descriptor(int fd);

/// Writes `text` to this process's own stdout, even while output_capture takes
/// what tasks print there (a daemon's messages are not its tasks' output).
void print_console(const std::string& text);

/// Where print_console writes: a file descriptor (1 unless output_capture took
/// stdout over).
void set_console_descriptor(int fd);

/// Writes one line to stderr: `actors <level> [<component>] <message>`. Thread-safe.
void write_log(log_level level, const char* component, const std::string& message);

template <class... Ts>
void log(log_level level, const char* component, const Ts&... parts) {
  if (level > current_log_level())
    return;
  std::ostringstream os;
  (os << ... << parts);
  write_log(level, component, os.str());
}

} // namespace actors::runtime
