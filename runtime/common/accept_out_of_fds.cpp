// accept() for the whole process, ahead of libc's in the symbol lookup order (this
// library is linked before libc), so that running out of file descriptors sheds
// new connections instead of spinning.
//
// Why: CAF 0.17's acceptor (caf::policy::tcp::try_accept) treats an accept() that
// fails with anything but EAGAIN as "nothing to do" and leaves the listening socket
// in its level-triggered epoll set. Out of descriptors (EMFILE, ENFILE) the pending
// connection stays queued, the socket stays readable, and the middleman's thread
// calls accept() again at once: 100% of a core until a descriptor frees up.
//
// What this does: the classic spare-descriptor trick. One descriptor (/dev/null) is
// held from the start; when accept() fails for want of descriptors, it is closed,
// the pending connection is accepted and closed at once (the peer sees the
// connection closed), the spare is opened again, and the caller sees EAGAIN. The
// node logs it (at most one line per 10 s, with a count). Every other accept()
// is libc's, untouched.

#include "runtime/common/log.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <dlfcn.h>
#include <fcntl.h>
#include <mutex>
#include <sys/socket.h>
#include <unistd.h>

namespace {

using accept_fn = int (*)(int, sockaddr*, socklen_t*);

accept_fn libc_accept() {
  static const auto real = reinterpret_cast<accept_fn>(dlsym(RTLD_NEXT, "accept"));
  return real;
}

std::mutex shed_mu;
// Opened when the library loads, while descriptors are still free.
int spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
std::atomic<std::uint64_t> shed_count{0};
std::atomic<std::int64_t> last_report_s{0};

int shed_one(int listener, int why) {
  {
    std::lock_guard<std::mutex> guard{shed_mu};
    if (spare_fd >= 0) {
      ::close(spare_fd);
      spare_fd = -1;
    }
    int s = libc_accept()(listener, nullptr, nullptr);
    if (s >= 0)
      ::close(s);
    spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  auto n = ++shed_count;
  auto now_s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  auto last = last_report_s.load();
  if (now_s - last >= 10 && last_report_s.compare_exchange_strong(last, now_s))
    actors::runtime::log(actors::runtime::log_level::warning, "network", "out of file descriptors (",
                         why == EMFILE ? "EMFILE: this process's limit" : "ENFILE: the system's limit",
                         "): closed an incoming connection at once (", n,
                         " so far); raise the limit (ulimit -n) or find what holds the descriptors");
  errno = EAGAIN;
  return -1;
}

} // namespace

extern "C" int accept(int fd, sockaddr* __restrict addr, socklen_t* __restrict len) {
  auto real = libc_accept();
  if (!real) {
    errno = ENOSYS;
    return -1;
  }
  int s = real(fd, addr, len);
  if (s >= 0 || (errno != EMFILE && errno != ENFILE))
    return s;
  return shed_one(fd, errno);
}
