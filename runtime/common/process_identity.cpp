#include "runtime/common/process_identity.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>

namespace actors::runtime {

namespace {

/// Inode of a /proc/self/ns/* link, 0 if it cannot be read.
std::uint64_t ns_inode(const char* path) {
  struct stat st {};
  if (::stat(path, &st) != 0)
    return 0;
  return static_cast<std::uint64_t>(st.st_ino);
}

enum class stat_read { found, no_such_process, unreadable };

/// Start time of a process (field 22 of its /proc/PID/stat at `stat_path`).
/// `no_such_process` only when /proc says there is none.
stat_read read_start_time(const std::string& stat_path, std::uint64_t& start) {
  int fd = ::open(stat_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT || errno == ESRCH ? stat_read::no_such_process : stat_read::unreadable;
  char buf[4096];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  int e = errno;
  ::close(fd);
  if (n <= 0)
    // A process that exits between open and read reads as ESRCH.
    return n < 0 && e == ESRCH ? stat_read::no_such_process : stat_read::unreadable;
  std::string_view text(buf, static_cast<std::size_t>(n));
  // Field 2, the command name, is in parentheses and may hold spaces and ')':
  // fields 3 onwards follow the last ')', one space before each.
  auto close = text.rfind(')');
  if (close == std::string_view::npos)
    return stat_read::unreadable;
  text.remove_prefix(close + 1);
  std::string_view field;
  for (int i = 3; i <= 22; ++i) {
    auto begin = text.find_first_not_of(' ');
    if (begin == std::string_view::npos)
      return stat_read::unreadable;
    text.remove_prefix(begin);
    auto end = text.find(' ');
    field = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end);
  }
  auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), start);
  if (ec != std::errc{} || end != field.data() + field.size())
    return stat_read::unreadable;
  return stat_read::found;
}

template <class T>
bool parse_whole_decimal(std::string_view s, T& out) {
  if (s.empty() || s.size() > 20)
    return false;
  for (char c : s)
    if (c < '0' || c > '9')
      return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

} // namespace

bool parse_decimal(std::string_view s, std::uint64_t& out) {
  return parse_whole_decimal(s, out);
}

bool parse_decimal(std::string_view s, pid_t& out) {
  return parse_whole_decimal(s, out);
}

std::string process_identity::to_string() const {
  char buf[72];
  std::snprintf(buf, sizeof buf, "%llu.%lld.%llu", static_cast<unsigned long long>(pid_ns),
                static_cast<long long>(pid), static_cast<unsigned long long>(start_time));
  return buf;
}

process_identity this_process() {
  process_identity me;
  me.pid = ::getpid();
  me.pid_ns = ns_inode("/proc/self/ns/pid");
  std::uint64_t start = 0;
  if (read_start_time("/proc/self/stat", start) == stat_read::found)
    me.start_time = start;
  return me;
}

std::optional<process_identity> parse_process_identity(std::string_view text) {
  std::string_view parts[3];
  for (int i = 0; i < 3; ++i) {
    auto dot = text.find('.');
    if ((dot == std::string_view::npos) != (i == 2))
      return std::nullopt;
    parts[i] = text.substr(0, dot);
    text.remove_prefix(dot == std::string_view::npos ? text.size() : dot + 1);
  }
  process_identity out;
  if (!parse_decimal(parts[0], out.pid_ns) || !parse_decimal(parts[1], out.pid) || out.pid <= 0
      || !parse_decimal(parts[2], out.start_time))
    return std::nullopt;
  return out;
}

gone_processes::gone_processes() : me_(this_process()) {}

bool gone_processes::gone(const process_identity& owner) {
  // Without our own pid namespace and start time, /proc cannot be trusted to
  // tell a dead owner from one it does not show. A pid of another pid namespace
  // names some other process here, or none.
  if (me_.pid_ns == 0 || me_.start_time == 0 || owner.pid_ns != me_.pid_ns)
    return false;
  auto it = seen_.find(owner.pid);
  if (it == seen_.end()) {
    std::uint64_t start = 0;
    seen at{liveness::unknown, 0};
    switch (read_start_time("/proc/" + std::to_string(owner.pid) + "/stat", start)) {
      case stat_read::found: at = {liveness::alive, start}; break;
      case stat_read::no_such_process: at = {liveness::gone, 0}; break;
      case stat_read::unreadable: break;
    }
    it = seen_.emplace(owner.pid, at).first;
  }
  const seen& s = it->second;
  return s.state == liveness::gone || (s.state == liveness::alive && s.start_time != owner.start_time);
}

} // namespace actors::runtime
