#include "runtime/common/log_reader.hpp"

#include "actors/errors.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace actors::runtime {

namespace {

/// Reads `size` bytes at `offset`; fewer if the file ends first.
std::string read_at(int fd, std::uint64_t offset, std::size_t size) {
  std::string out(size, '\0');
  std::size_t got = 0;
  while (got < size) {
    auto n = ::pread(fd, out.data() + got, size - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return out;
}

} // namespace

log_file_chunk read_log_chunk(const std::filesystem::path& file, std::uint64_t from, std::uint64_t inode,
                              std::size_t tail_lines, std::size_t max_bytes) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st{};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    auto why = std::string(std::strerror(errno));
    if (fd >= 0)
      ::close(fd);
    throw error(errc::invalid_argument, "cannot read the log file " + file.string() + ": " + why);
  }
  auto size = static_cast<std::uint64_t>(st.st_size);
  log_file_chunk out;
  out.inode = static_cast<std::uint64_t>(st.st_ino);
  if (tail_lines > 0) {
    // Back from the end, a block at a time, until enough line ends are seen.
    std::uint64_t start = size;
    std::string text;
    std::size_t lines = 0;
    bool ends_with_newline = false;
    while (start > 0 && text.size() < max_bytes) {
      auto step = std::min<std::uint64_t>({start, 64 * 1024, max_bytes - text.size()});
      start -= step;
      auto block = read_at(fd, start, static_cast<std::size_t>(step));
      if (text.empty() && !block.empty())
        ends_with_newline = block.back() == '\n';
      text.insert(0, block);
      lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
      // The last line's own end does not start a line.
      if (lines - (ends_with_newline ? 1 : 0) >= tail_lines)
        break;
    }
    // Keep the last tail_lines lines: drop up to the newline before them.
    std::size_t keep_from = 0;
    std::size_t seen = 0;
    for (std::size_t i = text.size(); i-- > 0;) {
      if (text[i] != '\n' || (ends_with_newline && i + 1 == text.size()))
        continue;
      if (++seen == tail_lines) {
        keep_from = i + 1;
        break;
      }
    }
    out.text = text.substr(keep_from);
    out.next = size;
  } else {
    if (inode != out.inode || from > size)
      from = 0;
    auto text = read_at(fd, from, static_cast<std::size_t>(std::min<std::uint64_t>(size - from, max_bytes)));
    // A chunk cut short of the end stops after its last whole line.
    if (from + text.size() < size)
      if (auto last = text.rfind('\n'); last != std::string::npos)
        text.resize(last + 1);
    out.next = from + text.size();
    out.text = std::move(text);
  }
  ::close(fd);
  return out;
}

} // namespace actors::runtime
