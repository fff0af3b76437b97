#pragma once

/// Which process left a file behind, and whether it is gone: the owner named in
/// shared-memory segments and spill directories, so that the next node on a
/// host removes what a killed one left.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace actors::runtime {

/// A process, told apart from every other that had or will have its pid: the pid
/// namespace (pids are only meaningful inside one), the pid, and the pid's start
/// time (field 22 of /proc/PID/stat, clock ticks since boot), which tells a
/// reused pid apart.
struct process_identity {
  std::uint64_t pid_ns = 0;
  pid_t pid = 0;
  std::uint64_t start_time = 0;

  friend bool operator==(const process_identity&, const process_identity&) = default;

  /// `<pid ns>.<pid>.<start time>`, all decimal: the form names carry.
  std::string to_string() const;
};

/// This process. Read from /proc on each call (a forked child is another
/// process); zero fields where /proc cannot tell.
process_identity this_process();

/// The identity in `text`, exactly as process_identity::to_string writes it
/// (a positive pid), or nullopt.
std::optional<process_identity> parse_process_identity(std::string_view text);

/// A whole unsigned decimal number of at most 20 digits, digits only.
bool parse_decimal(std::string_view s, std::uint64_t& out);
bool parse_decimal(std::string_view s, pid_t& out);

/// Tells which owners are gone, asking /proc once per pid. Only says "gone" when
/// sure: the owner lived in this process's pid namespace and /proc shows no
/// process of that pid, or one that started at another time. If this process
/// cannot read its own identity, nothing is taken for gone.
class gone_processes {
 public:
  gone_processes();

  bool gone(const process_identity& owner);

 private:
  enum class liveness { gone, alive, unknown };
  struct seen {
    liveness state;
    std::uint64_t start_time; // when alive
  };
  const process_identity me_;
  std::unordered_map<pid_t, seen> seen_;
};

} // namespace actors::runtime
