#include "runtime/cluster/message_lane.hpp"
#include "runtime/common/little_endian.hpp"

#include <cerrno>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace actors::runtime {

namespace {

using clock = std::chrono::steady_clock;

int ms_left(clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Waits for `events` on `fd` until `deadline`; false on timeout or error.
bool wait_for(int fd, short events, clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, ms_left(deadline));
    if (r < 0 && errno == EINTR)
      continue;
    return r > 0;
  }
}

} // namespace

std::string lane_hello(std::uint64_t lane, std::uint64_t sender, const std::string& token) {
  std::string out(lane_hello_size, '\0');
  put32(out.data(), lane_hello_magic);
  put16(out.data() + 4, lane_version);
  put32(out.data() + 8, static_cast<std::uint32_t>(token.size()));
  put64(out.data() + 16, lane);
  put64(out.data() + 24, sender);
  return out + token;
}

std::string lane_accept(std::uint16_t status) {
  std::string out(lane_accept_size, '\0');
  put32(out.data(), lane_accept_magic);
  put16(out.data() + 4, lane_version);
  put16(out.data() + 6, status);
  return out;
}

// --- lane_reader --------------------------------------------------------------

void lane_reader::feed(const char* data, std::size_t n, std::vector<event>& out) {
  if (done_)
    return;
  buf_.append(data, n);
  auto fail = [&](std::string why) {
    out.emplace_back(broken{std::move(why)});
    done_ = true;
    buf_.clear();
    at_ = 0;
  };
  for (;;) {
    const char* p = buf_.data() + at_;
    const std::size_t avail = buf_.size() - at_;
    if (!greeted_) {
      if (avail >= 4 && get32(p) != lane_hello_magic)
        return fail("its first bytes are no message lane hello (magic " + hex32(get32(p))
                    + ", expected " + hex32(lane_hello_magic) + ")");
      if (avail < lane_hello_size)
        break;
      const auto token_len = get32(p + 8);
      if (token_len > lane_max_token)
        return fail("its hello announces a token of " + std::to_string(token_len) + " bytes (at most "
                    + std::to_string(lane_max_token) + ")");
      if (avail < lane_hello_size + token_len)
        break;
      hello h;
      h.lane = get64(p + 16);
      h.sender = get64(p + 24);
      const auto version = get16(p + 4);
      const bool token_ok = std::string_view(p + lane_hello_size, token_len) == token_;
      h.status = version != lane_version ? lane_bad_version : !token_ok ? lane_bad_token : lane_accepted;
      at_ += lane_hello_size + token_len;
      greeted_ = true;
      const bool accepted = h.status == lane_accepted;
      out.emplace_back(h);
      if (!accepted) {
        done_ = true;
        return;
      }
      continue;
    }
    if (avail < lane_header_size)
      break;
    const auto size = get32(p);
    if (size > max_lane_payload)
      return fail("a message announces " + std::to_string(size) + " bytes (at most " + std::to_string(max_lane_payload)
                  + ")");
    if (avail < lane_header_size + size)
      break;
    message m;
    m.kind = static_cast<message_kind>(static_cast<unsigned char>(p[4]));
    m.payload.assign(p + lane_header_size, size);
    at_ += lane_header_size + size;
    out.emplace_back(std::move(m));
  }
  if (at_ == buf_.size()) {
    buf_.clear();
    at_ = 0;
  } else if (at_ >= (64u << 10) && at_ * 2 >= buf_.size()) {
    buf_.erase(0, at_);
    at_ = 0;
  }
}

// --- message_lane -------------------------------------------------------------

std::shared_ptr<message_lane> message_lane::open(const std::string& host, std::uint16_t port, std::uint64_t lane,
                                                 std::uint64_t sender, const std::string& token,
                                                 std::chrono::milliseconds timeout, std::function<void()> on_break,
                                                 std::string& why) {
  const auto deadline = clock::now() + timeout;
  const std::string where = host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int e = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); e != 0) {
    why = "cannot resolve " + host + ": " + ::gai_strerror(e);
    return nullptr;
  }
  int fd = -1;
  std::string last = "no address";
  for (auto* a = found; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last = std::strerror(errno);
      continue;
    }
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0)
      break;
    if (errno == EINPROGRESS && wait_for(fd, POLLOUT, deadline)) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == 0)
        break;
      last = std::strerror(err);
    } else {
      last = errno == EINPROGRESS ? "no answer within " + std::to_string(timeout.count()) + " ms" : std::strerror(errno);
    }
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  if (fd < 0) {
    why = "cannot connect to " + where + ": " + last;
    return nullptr;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::shared_ptr<message_lane> out{new message_lane(fd, std::move(on_break))};
  // The hello fits any socket buffer; the accept is 8 bytes.
  const std::string hi = lane_hello(lane, sender, token);
  std::size_t sent = 0;
  while (sent < hi.size()) {
    ssize_t n = ::send(fd, hi.data() + sent, hi.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(fd, POLLOUT, deadline)) {
        why = "no room to send the hello to " + where + " within " + std::to_string(timeout.count()) + " ms";
        return nullptr;
      }
    } else {
      why = "cannot send the hello to " + where + ": " + std::strerror(errno);
      return nullptr;
    }
  }
  char ack[lane_accept_size];
  std::size_t got = 0;
  while (got < sizeof ack) {
    ssize_t n = ::recv(fd, ack + got, sizeof ack - got, 0);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(fd, POLLIN, deadline)) {
        why = where + " did not answer the hello within " + std::to_string(timeout.count()) + " ms";
        return nullptr;
      }
    } else {
      why = where + " closed the connection after the hello" + (n < 0 ? std::string(": ") + std::strerror(errno) : "")
            + " (another cluster token, or no message lane there)";
      return nullptr;
    }
  }
  if (get32(ack) != lane_accept_magic) {
    why = where + " answered the hello with magic " + hex32(get32(ack))
          + ": no message lane there";
    return nullptr;
  }
  if (auto status = get16(ack + 6); status != lane_accepted) {
    why = where + (status == lane_bad_token ? " refused this cluster token"
                                            : " speaks message lane version " + std::to_string(get16(ack + 4))
                                                + ", this process " + std::to_string(lane_version));
    return nullptr;
  }
  return out;
}

message_lane::~message_lane() {
  close();
  if (fd_ >= 0)
    ::close(fd_);
}

void message_lane::report_break() {
  if (on_break_ && !reported_.exchange(true))
    on_break_();
}

void message_lane::break_locked() {
  broken_.store(true, std::memory_order_release);
  ::shutdown(fd_, SHUT_RDWR);
  queued_.clear();
  queued_at_ = 0;
}

message_lane::sent message_lane::send(message_kind kind, const std::string& payload) {
  char header[lane_header_size];
  put32(header, static_cast<std::uint32_t>(payload.size()));
  header[4] = static_cast<char>(kind);
  bool failed = false;
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (broken_.load(std::memory_order_relaxed))
      return sent::broken;
    const auto now = clock::now();
    if (payload.size() > max_lane_payload) {
      // Cannot go as one message: the receiver would close the lane for it.
      break_locked();
      failed = true;
    } else if (draining_ || flush_requested_ || now - last_write_ < lane_gather_window) {
      queued_.append(header, sizeof header);
      queued_.append(payload);
      if (draining_ || flush_requested_)
        return sent::yes;
      flush_requested_ = true;
      return sent::flush_needed;
    } else {
      iovec parts[2] = {{header, sizeof header}, {const_cast<char*>(payload.data()), payload.size()}};
      msghdr m{};
      m.msg_iov = parts;
      m.msg_iovlen = payload.empty() ? 1 : 2;
      ssize_t n;
      do
        n = ::sendmsg(fd_, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
      while (n < 0 && errno == EINTR);
      last_write_ = now;
      const std::size_t total = sizeof header + payload.size();
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        break_locked();
        failed = true;
      } else if (static_cast<std::size_t>(n < 0 ? 0 : n) < total) {
        const std::size_t wrote = n < 0 ? 0 : static_cast<std::size_t>(n);
        if (wrote < sizeof header) {
          queued_.append(header + wrote, sizeof header - wrote);
          queued_.append(payload);
        } else {
          queued_.append(payload, wrote - sizeof header, std::string::npos);
        }
        start_drain_locked();
      }
    }
  }
  if (failed) {
    report_break();
    return sent::broken;
  }
  return sent::yes;
}

void message_lane::flush() {
  bool failed = false;
  {
    std::lock_guard<std::mutex> guard{mu_};
    flush_requested_ = false;
    if (broken_.load(std::memory_order_relaxed) || draining_ || queued_at_ == queued_.size())
      return;
    ssize_t n;
    do
      n = ::send(fd_, queued_.data() + queued_at_, queued_.size() - queued_at_, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    last_write_ = clock::now();
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      break_locked();
      failed = true;
    } else {
      queued_at_ += n < 0 ? 0 : static_cast<std::size_t>(n);
      if (queued_at_ == queued_.size()) {
        queued_.clear();
        queued_at_ = 0;
      } else {
        start_drain_locked();
      }
    }
  }
  if (failed)
    report_break();
}

void message_lane::start_drain_locked() {
  // A drain thread that ran before has returned or is about to: it cleared
  // draining_ under mu_ and needs it no more.
  if (drainer_.joinable())
    drainer_.join();
  draining_ = true;
  drainer_ = std::thread([this] { drain(); });
}

void message_lane::drain() {
  std::unique_lock<std::mutex> lock{mu_};
  for (;;) {
    if (broken_.load(std::memory_order_relaxed) || queued_at_ == queued_.size()) {
      queued_.clear();
      queued_at_ = 0;
      draining_ = false;
      return;
    }
    ssize_t n = ::send(fd_, queued_.data() + queued_at_, queued_.size() - queued_at_, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      queued_at_ += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      break_locked();
      queued_.clear();
      queued_at_ = 0;
      draining_ = false;
      lock.unlock();
      report_break();
      return;
    }
    const int fd = fd_;
    lock.unlock();
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, 200);
    lock.lock();
  }
}

void message_lane::close() {
  std::thread drainer;
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (!broken_.load(std::memory_order_relaxed))
      break_locked();
    drainer = std::move(drainer_);
  }
  if (drainer.joinable() && drainer.get_id() != std::this_thread::get_id())
    drainer.join();
  else if (drainer.joinable())
    drainer.detach();
}

} // namespace actors::runtime
