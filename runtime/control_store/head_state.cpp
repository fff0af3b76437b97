#include "runtime/control_store/head_state.hpp"

#include "actors/errors.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <system_error>
#include <unistd.h>

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
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    throw error(errc::invalid_argument, "cannot make the head's state directory " + dir.string() + ": "
                                          + ec.message());
  auto file = head_state_file(dir);
  auto tmp = file;
  tmp += ".tmp";
  std::string bytes = std::string(magic) + "\n" + std::to_string(head_state::format_version) + "\n"
                      + wire::pack(state);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    throw error(errc::invalid_argument, "cannot write " + tmp.string() + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      std::string why = std::strerror(errno);
      ::close(fd);
      throw error(errc::invalid_argument, "cannot write " + tmp.string() + ": " + why);
    }
    done += static_cast<std::size_t>(n);
  }
  // The rename must not reach the disk before the bytes do.
  if (::fdatasync(fd) != 0 || ::close(fd) != 0)
    throw error(errc::invalid_argument, "cannot flush " + tmp.string() + ": " + std::strerror(errno));
  std::filesystem::rename(tmp, file, ec);
  if (ec)
    throw error(errc::invalid_argument, "cannot rename " + tmp.string() + " to " + file.string() + ": "
                                          + ec.message());
}

} // namespace actors::runtime
