#include "runtime/common/durable_file.hpp"

#include "actors/errors.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <system_error>
#include <unistd.h>

namespace actors::runtime {

void write_durably(const std::filesystem::path& file, const std::string& bytes) {
  std::error_code ec;
  if (file.has_parent_path())
    std::filesystem::create_directories(file.parent_path(), ec);
  if (ec)
    throw error(errc::invalid_argument, "cannot make the directory " + file.parent_path().string() + ": "
                                          + ec.message());
  auto tmp = file;
  tmp += ".tmp";
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
