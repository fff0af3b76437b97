#pragma once

#include <cstddef>
#include <filesystem>
#include <sstream>
#include <string>

namespace actors::runtime {

enum class log_level { error = 0, warning = 1, info = 2, debug = 3 };

/// The most detailed level any destination of this process's log wants (what
/// log() checks before it formats a line): the stderr level, or info while a
/// log file is open if that is more.
log_level current_log_level();

/// `text` as a level; throws actors::error (invalid_argument) naming `what`
/// (the flag or variable it came from) when it is not one.
log_level parse_log_level(const std::string& text, const std::string& what);

/// Checks ACTORS_LOG_LEVEL: throws (as parse_log_level) when it is set to
/// something that is not a level. Programs and actorsd call it at start.
void check_log_level_environment();

/// Sets the stderr level (a flag overrides ACTORS_LOG_LEVEL).
void set_log_level(log_level level);

/// The node id this process's lines carry ("-" until set).
void set_log_node(const std::string& node_id);

/// Also writes every line at info or more detailed to `file` (its directory
/// made if missing), rotated at 10 MiB with 3 older files kept; an empty path
/// closes it. A file that cannot be opened is reported on stderr, and lines go
/// on to stderr alone.
void set_log_file(const std::filesystem::path& file);

/// The file set_log_file opened, or empty.
std::filesystem::path log_file();

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

/// Writes one line, `2026-12-06T10:15:30.123Z warning node=<id> pid=<pid>
/// [<component>] <message>`, to stderr if `level` is within its level and to
/// the log file if one is open. Thread-safe; one write per line on stderr, so
/// the lines of several processes sharing it do not interleave.
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
