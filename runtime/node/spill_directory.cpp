#include "runtime/node/spill_directory.hpp"

#include "runtime/common/flag_names.hpp"
#include "runtime/common/log.hpp"
#include "runtime/common/process_identity.hpp"
#include "actors/errors.hpp"

#include <stdlib.h>

#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace actors::runtime {

std::filesystem::path make_own_spill_directory(const std::filesystem::path& parent) {
  std::string tmpl = (parent / (spill_directory_prefix + this_process().to_string() + "-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data()))
    throw error(errc::invalid_argument, "cannot make a spill directory under " + parent.string() + ": "
                                          + std::generic_category().message(errno) + "; set spill_dir ("
                                          + flag_name("spill-dir") + ") to a writable directory");
  return tmpl;
}

std::size_t remove_orphaned_spill_directories(const std::filesystem::path& parent) {
  std::error_code ec;
  std::vector<std::filesystem::path> orphans;
  gone_processes owners;
  for (std::filesystem::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    std::string_view rest = name;
    if (!rest.starts_with(spill_directory_prefix))
      continue;
    rest.remove_prefix(std::string_view(spill_directory_prefix).size());
    auto dash = rest.rfind('-');
    if (dash == std::string_view::npos)
      continue;
    auto owner = parse_process_identity(rest.substr(0, dash));
    std::error_code type_ec;
    if (owner && owners.gone(*owner) && it->is_directory(type_ec))
      orphans.push_back(it->path());
  }
  std::size_t removed = 0;
  for (const auto& dir : orphans) {
    std::error_code remove_ec;
    std::filesystem::remove_all(dir, remove_ec);
    if (remove_ec && remove_ec != std::errc::no_such_file_or_directory)
      log(log_level::warning, "node", "cannot remove the spill directory ", dir.string(),
          " that a node process now gone left: ", remove_ec.message());
    else
      ++removed;
  }
  if (removed > 0)
    log(log_level::info, "node", "removed ", removed, " spill director", removed == 1 ? "y" : "ies", " under ",
        parent.string(), " left by node processes that are gone");
  return removed;
}

} // namespace actors::runtime
