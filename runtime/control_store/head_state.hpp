#pragma once

/// The head's state on disk (`--state-dir`): what a restarted head needs to take
/// its cluster back. The format is described in docs/guide/fault-tolerance.md.

#include "runtime/wire/protocol.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace actors::runtime {

/// The control store's tables as they are saved.
struct head_state {
  /// Bumped on any incompatible change of the fields below.
  static constexpr std::uint32_t format_version = 7;

  std::string token;
  /// The node table, with each node's liveness when it was saved.
  wire::cluster_view view;
  std::map<std::string, wire::named_actor> names;
  /// Placement groups by id.
  std::map<std::string, wire::group_record> groups;
  /// How many times a head has loaded this state (1 after the first restart).
  std::uint64_t restarts = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & token & view & names & groups & restarts;
  }
};

/// The file that holds the state in `dir`.
std::filesystem::path head_state_file(const std::filesystem::path& dir);

/// Reads the state saved in `dir`; nullopt if none was saved there. Throws
/// actors::error naming the file if it cannot be read or is of another format.
std::optional<head_state> load_head_state(const std::filesystem::path& dir);

/// Saves `state` in `dir` (made if missing): writes a temporary file, flushes it to
/// disk and renames it over the previous one, so that a reader sees the old state
/// or the new one, never a mix. Throws actors::error saying what failed.
void save_head_state(const std::filesystem::path& dir, const head_state& state);

} // namespace actors::runtime
