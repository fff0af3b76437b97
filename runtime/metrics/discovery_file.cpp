#include "runtime/metrics/discovery_file.hpp"

#include "runtime/common/log.hpp"

#include <filesystem>
#include <fstream>
#include <system_error>

namespace actors::runtime {

void discovery_file::view_changed() {
  auto tmp = path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << members_.discovery_json() << "\n";
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path_, ec);
  if (ec)
    log(log_level::warning, "metrics", "cannot write ", path_, ": ", ec.message());
}

} // namespace actors::runtime
