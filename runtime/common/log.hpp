#pragma once

#include <sstream>
#include <string>

namespace actors::runtime {

enum class log_level { error = 0, warning = 1, info = 2, debug = 3 };

/// The level set by ACTORS_LOG_LEVEL (error, warning, info, debug; default warning).
log_level current_log_level();

/// Where log lines go: a file descriptor (2, stderr, unless output_capture
/// took stderr over).
void set_log_descriptor(int fd);

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
