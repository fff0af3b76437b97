#include "runtime/common/output_capture.hpp"

#include "runtime/common/log.hpp"

#include "actors/errors.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <iostream>
#include <unistd.h>

namespace actors::runtime {

namespace {

constexpr std::size_t longest_line = 64 * 1024;

} // namespace

output_capture::output_capture(sink to) : sink_(std::move(to)) {
  std::fflush(stdout);
  std::fflush(stderr);
  std::cout.flush();
  for (auto* s : {&out_, &err_}) {
    s->fd = s == &out_ ? 1 : 2;
    int p[2];
    s->original = ::fcntl(s->fd, F_DUPFD_CLOEXEC, 3);
    if (s->original < 0 || ::pipe2(p, O_CLOEXEC) != 0)
      throw error(errc::invalid_argument, std::string("cannot capture the output of this node's tasks: ")
                                            + std::strerror(errno));
    // The write end takes the stream's descriptor (without close-on-exec, as
    // before: child processes of tasks write there too).
    ::dup2(p[1], s->fd);
    ::close(p[1]);
    s->read_end = p[0];
  }
  set_log_descriptor(err_.original);
  set_console_descriptor(out_.original);
  out_.reader = std::thread([this] { pump(out_); });
  err_.reader = std::thread([this] { pump(err_); });
}

output_capture::~output_capture() {
  std::fflush(stdout);
  std::fflush(stderr);
  std::cout.flush();
  // Back to the originals: that closes the last write ends of the pipes (unless
  // a child process still holds one), and the readers see their end.
  for (auto* s : {&out_, &err_})
    ::dup2(s->original, s->fd);
  stopping_.store(true);
  set_log_descriptor(2);
  set_console_descriptor(1);
  for (auto* s : {&out_, &err_}) {
    s->reader.join();
    ::close(s->read_end);
    ::close(s->original);
  }
}

void output_capture::pump(stream& s) {
  std::string pending;
  char buf[16384];
  for (;;) {
    pollfd ready{s.read_end, POLLIN, 0};
    int polled = ::poll(&ready, 1, 100);
    if (polled < 0 && errno == EINTR)
      continue;
    if (polled == 0) {
      if (stopping_.load())
        break;
      continue;
    }
    auto n = ::read(s.read_end, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    write_fully(s.original, buf, static_cast<std::size_t>(n));
    pending.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (;;) {
      auto nl = pending.find('\n', start);
      if (nl == std::string::npos)
        break;
      sink_(s.fd, pending.substr(start, nl - start));
      start = nl + 1;
    }
    pending.erase(0, start);
    while (pending.size() >= longest_line) {
      sink_(s.fd, pending.substr(0, longest_line));
      pending.erase(0, longest_line);
    }
  }
  if (!pending.empty())
    sink_(s.fd, pending);
}

} // namespace actors::runtime
