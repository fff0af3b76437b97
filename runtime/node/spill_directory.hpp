#pragma once

/// The spill directory a node makes for itself when it is given none, and the
/// removal of those that node processes killed on this host left behind.

#include <cstddef>
#include <filesystem>

namespace actors::runtime {

/// What the names of the node-made spill directories start with; the rest is
/// `<pid ns>.<pid>.<start time>-XXXXXX`: the process that made it (see
/// process_identity), and six random characters.
inline constexpr const char* spill_directory_prefix = "actors-spill-";

/// Makes a new spill directory for this process under `parent`, named after it.
/// Throws actors::error (invalid_argument) if it cannot be made, naming `parent`.
std::filesystem::path make_own_spill_directory(const std::filesystem::path& parent);

/// Removes, with everything in them, the spill directories under `parent` that
/// processes now gone made (make_own_spill_directory), and logs what went. Those
/// of live processes, and any other entry, stay. Returns how many went.
std::size_t remove_orphaned_spill_directories(const std::filesystem::path& parent);

} // namespace actors::runtime
