#pragma once

#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

#include <stdlib.h>

namespace actors::test {

/// A fresh directory under /tmp (e.g. for a store's spill files), removed with
/// everything in it at the end.
class temp_dir {
 public:
  explicit temp_dir(const std::string& prefix = "actors-test") {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (!mkdtemp(tmpl.data()))
      throw std::runtime_error("mkdtemp failed for " + tmpl);
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const {
    return path_;
  }

  /// Regular files directly inside.
  std::size_t file_count() const {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(path_))
      n += e.is_regular_file() ? 1 : 0;
    return n;
  }

 private:
  std::filesystem::path path_;
};

} // namespace actors::test
