#pragma once

// Reading a node's log file for `actors logs`, in chunks a message can carry:
// the last lines, or what came after the last read.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace actors::runtime {

/// What one read of a log file gave.
struct log_file_chunk {
  std::string text;
  /// Where the next read starts, and the file it started in (its inode): a
  /// read that finds another file there (the log was rotated) starts it over.
  std::uint64_t next = 0;
  std::uint64_t inode = 0;
};

/// The most one read returns.
constexpr std::size_t log_file_chunk_bytes = std::size_t{1} << 20;

/// Reads `file`. With `tail_lines` > 0: its last `tail_lines` lines (at most
/// `max_bytes` of them). Otherwise: the bytes from `from` on, or from the start
/// when the file is not the one `inode` names or is shorter than `from` (it was
/// rotated since); at most `max_bytes`, cut after the last whole line when one
/// ends within them. Throws actors::error saying which file could
/// not be read.
log_file_chunk read_log_chunk(const std::filesystem::path& file, std::uint64_t from, std::uint64_t inode,
                              std::size_t tail_lines, std::size_t max_bytes = log_file_chunk_bytes);

} // namespace actors::runtime
