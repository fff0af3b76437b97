#include "runtime/control_store/head_state.hpp"

#include "runtime/common/durable_file.hpp"

#include "actors/errors.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace actors::runtime {

namespace {

// The first line of the file; the format version follows it on the second.
constexpr const char* magic = "actors head state";

[[noreturn]] void fail(const std::filesystem::path& file, const std::string& what) {
  throw error(errc::invalid_argument, "head state " + file.string() + ": " + what);
}

} // namespace

std::filesystem::path head_state_file(const std::filesystem::path& dir) {
  return dir / "head-state";
}

std::optional<head_state> load_head_state(const std::filesystem::path& dir) {
  auto file = head_state_file(dir);
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    if (!std::filesystem::exists(file))
      return std::nullopt;
    fail(file, std::string("cannot be read: ") + std::strerror(errno) + "; check its permissions");
  }
  std::string first;
  std::string version;
  std::getline(in, first);
  std::getline(in, version);
  if (first != magic)
    fail(file, "is not an actors head state file; point --state-dir at a directory of its own");
  if (version != std::to_string(head_state::format_version))
    fail(file, "has format version " + version + " but this head reads version "
                 + std::to_string(head_state::format_version)
                 + ": start the version of actors that wrote it, or move the directory away to start "
                   "a new cluster");
  std::ostringstream body;
  body << in.rdbuf();
  try {
    return wire::unpack<head_state>(body.str(), "head state");
  } catch (const std::exception& e) {
    fail(file, std::string(e.what()) + "; move the directory away to start a new cluster");
  }
}

void save_head_state(const std::filesystem::path& dir, const head_state& state) {
  write_durably(head_state_file(dir), std::string(magic) + "\n" + std::to_string(head_state::format_version) + "\n"
                                        + wire::pack(state));
}

} // namespace actors::runtime
