#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace actors::runtime {

/// Where a head on this machine says it listens, so that `actors status` and
/// drivers started without an address find it (like Ray's session_latest).
struct session {
  std::string address;
  std::string token;
  long pid = 0;
};

/// $ACTORS_SESSION_DIR, else /tmp/actors.
std::filesystem::path session_dir();

/// Writes `session_latest` (mode 0600: it holds the token). Throws actors::error
/// if the directory cannot be written.
void write_session(const session& s);

/// Reads the text of a session file: `key=value` lines (address, token, pid);
/// other lines are ignored. Null if it names no address or no valid pid.
std::optional<session> parse_session(const std::string& text);

/// The session of a head that still runs, if any.
std::optional<session> read_session();

/// Removes `session_latest` if process `pid` wrote it.
void remove_session(long pid);

} // namespace actors::runtime
