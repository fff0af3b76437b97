#include "runtime/node/session.hpp"

#include "actors/errors.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <sys/stat.h>
#include <system_error>

namespace actors::runtime {

namespace {

std::filesystem::path session_file() {
  return session_dir() / "session_latest";
}

bool process_alive(long pid) {
  return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

} // namespace

std::filesystem::path session_dir() {
  if (const char* d = std::getenv("ACTORS_SESSION_DIR"); d && *d)
    return d;
  return "/tmp/actors";
}

void write_session(const session& s) {
  std::error_code ec;
  std::filesystem::create_directories(session_dir(), ec);
  auto tmp = session_file();
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "address=" << s.address << "\ntoken=" << s.token << "\npid=" << s.pid << "\n";
    if (!out)
      throw error(errc::invalid_argument, "cannot write the session file " + tmp.string()
                                            + ": set ACTORS_SESSION_DIR to a writable directory");
  }
  ::chmod(tmp.c_str(), 0600);
  std::filesystem::rename(tmp, session_file(), ec);
  if (ec)
    throw error(errc::invalid_argument, "cannot write the session file " + session_file().string() + ": "
                                          + ec.message());
}

std::optional<session> parse_session(const std::string& text) {
  session s;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos)
      continue;
    auto key = line.substr(0, eq);
    auto value = line.substr(eq + 1);
    if (key == "address") {
      s.address = value;
    } else if (key == "token") {
      s.token = value;
    } else if (key == "pid") {
      char* end = nullptr;
      errno = 0;
      long pid = std::strtol(value.c_str(), &end, 10);
      s.pid = errno == 0 && end != value.c_str() && *end == '\0' && pid > 0
                  && pid <= std::numeric_limits<pid_t>::max() ? pid : 0;
    }
  }
  if (s.address.empty() || s.pid <= 0)
    return std::nullopt;
  return s;
}

std::optional<session> read_session() {
  std::ifstream in(session_file());
  if (!in)
    return std::nullopt;
  // A session file is three short lines; anything much longer is not one.
  std::string text(4096, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  auto s = parse_session(text);
  if (!s || !process_alive(s->pid))
    return std::nullopt;
  return s;
}

void remove_session(long pid) {
  std::ifstream in(session_file());
  if (!in)
    return;
  std::string line;
  while (std::getline(in, line))
    if (line == "pid=" + std::to_string(pid)) {
      std::error_code ec;
      std::filesystem::remove(session_file(), ec);
      return;
    }
}

} // namespace actors::runtime
