#pragma once

#include <filesystem>
#include <string>

namespace actors::runtime {

/// Writes `bytes` to `file` so that a reader, or a restart after a crash, finds the
/// old contents or the new ones, never a mix: a temporary file beside it (mode
/// 0600), flushed to disk, then renamed over it. Makes the directory if missing.
/// Throws actors::error saying what failed.
void write_durably(const std::filesystem::path& file, const std::string& bytes);

} // namespace actors::runtime
