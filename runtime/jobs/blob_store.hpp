#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>

namespace actors::runtime {

/// SHA-256 of `bytes`, as 64 lowercase hex digits.
std::string sha256_hex(const std::string& bytes);

/// SHA-256 of a file's contents; throws actors::error naming the file if it
/// cannot be read.
std::string sha256_of_file(const std::filesystem::path& file);

/// 64 lowercase hex digits: a hash that is safe to use as a file name.
bool is_sha256_hex(const std::string& text);

/// Files by the SHA-256 of their contents, in one directory: the head keeps the
/// files of jobs there, and nodes cache what they fetched of them. A file is
/// written in chunks, in order, into a temporary file, and appears under its
/// hash only once its contents have that hash. Safe for concurrent use.
class blob_store {
 public:
  /// Makes `dir` if needed; throws actors::error if it cannot.
  explicit blob_store(std::filesystem::path dir);

  bool has(const std::string& hash) const;

  /// Where the file of `hash` is (whether or not it is there yet).
  std::filesystem::path path(const std::string& hash) const;

  /// Adds `bytes` at `offset` to the file of `hash` being written (offset 0
  /// starts it again); with `last`, checks its hash and keeps it. Returns what
  /// went wrong, or an empty string.
  std::string write(const std::string& hash, std::uint64_t offset, const std::string& bytes, bool last);

  /// Up to `max` bytes of the file of `hash` from `offset`, and whether that is
  /// its end. Throws actors::error if there is no such file.
  std::string read(const std::string& hash, std::uint64_t offset, std::size_t max, bool& last) const;

  /// Copies a local file in (its hash computed); returns the hash.
  std::string add_file(const std::filesystem::path& file);

 private:
  std::filesystem::path partial(const std::string& hash) const;

  std::filesystem::path dir_;
  mutable std::mutex mu_;
};

} // namespace actors::runtime
