#include "runtime/common/silent_connections.hpp"

#include "runtime/common/log.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace actors::runtime {

namespace {

constexpr auto sweep_interval = std::chrono::milliseconds(100);

/// The address and port of `sa` in text, IPv4 addresses mapped into IPv6
/// written as IPv4, so that both forms of one peer compare equal.
std::pair<std::string, std::uint16_t> endpoint_of(const sockaddr_storage& sa) {
  char text[INET6_ADDRSTRLEN] = {};
  if (sa.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(sa);
    inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
    return {text, ntohs(v4.sin_port)};
  }
  const auto& v6 = reinterpret_cast<const sockaddr_in6&>(sa);
  if (IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr))
    inet_ntop(AF_INET, &v6.sin6_addr.s6_addr[12], text, sizeof text);
  else
    inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
  return {text, ntohs(v6.sin6_port)};
}

} // namespace

silent_connections& silent_connections::of_this_process() {
  static silent_connections instance;
  return instance;
}

silent_connections::~silent_connections() {
  {
    std::lock_guard<std::mutex> guard{mu_};
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (sweeper_.joinable())
    sweeper_.join();
}

void silent_connections::set_timeout(const void* owner, std::chrono::milliseconds timeout) {
  std::lock_guard<std::mutex> guard{mu_};
  if (timeout.count() > 0)
    timeouts_[owner] = timeout;
  else
    timeouts_.erase(owner);
}

void silent_connections::watch_port(const void* owner, std::uint16_t port) {
  std::lock_guard<std::mutex> guard{mu_};
  ports_[port] = owner;
}

void silent_connections::watch_peer(const void* owner, const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0)
    return; // the connect fails the same way, and says so
  std::vector<std::string> addresses;
  for (auto* a = found; a != nullptr; a = a->ai_next)
    if (a->ai_family == AF_INET || a->ai_family == AF_INET6) {
      sockaddr_storage sa{};
      std::memcpy(&sa, a->ai_addr, a->ai_addrlen);
      addresses.push_back(endpoint_of(sa).first);
    }
  freeaddrinfo(found);
  std::lock_guard<std::mutex> guard{mu_};
  for (auto& address : addresses)
    peers_[{std::move(address), port}] = owner;
}

void silent_connections::forget(const void* owner) {
  std::lock_guard<std::mutex> guard{mu_};
  timeouts_.erase(owner);
  for (auto i = ports_.begin(); i != ports_.end();)
    i = i->second == owner ? ports_.erase(i) : std::next(i);
  for (auto i = peers_.begin(); i != peers_.end();)
    i = i->second == owner ? peers_.erase(i) : std::next(i);
}

std::size_t silent_connections::sweep() {
  std::map<const void*, std::chrono::milliseconds> timeouts;
  std::map<std::uint16_t, const void*> ports;
  std::map<std::pair<std::string, std::uint16_t>, const void*> peers;
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (timeouts_.empty())
      return 0;
    timeouts = timeouts_;
    ports = ports_;
    peers = peers_;
  }
  auto timeout_of = [&](const void* owner) {
    auto t = timeouts.find(owner);
    return t == timeouts.end() ? std::chrono::milliseconds(0) : t->second;
  };
  std::size_t closed = 0;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr)
    return 0;
  while (auto* entry = readdir(dir)) {
    char* end = nullptr;
    long number = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || number == dirfd(dir))
      continue;
    // The descriptors belong to other threads (CAF's multiplexer), which may
    // close one at any time and open another under the same number. A copy
    // names the socket it was made from until it is closed, so the checks and
    // the shutdown below are about one socket, never one that took its number.
    int fd = fcntl(static_cast<int>(number), F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
      continue;
    struct descriptor_copy {
      int fd;
      ~descriptor_copy() { ::close(fd); }
    } copy{fd};
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
      continue;
    sockaddr_storage local{}, peer{};
    socklen_t local_len = sizeof local, peer_len = sizeof peer;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0
        || getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0
        || (local.ss_family != AF_INET && local.ss_family != AF_INET6))
      continue;
    tcp_info info{};
    socklen_t info_len = sizeof info;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &info_len) != 0
        || info.tcpi_state != TCP_ESTABLISHED)
      continue;
    auto here = endpoint_of(local);
    auto there = endpoint_of(peer);
    std::chrono::milliseconds timeout{0};
    if (auto p = ports.find(here.second); p != ports.end())
      timeout = timeout_of(p->second);
    else if (auto q = peers.find(there); q != peers.end())
      timeout = timeout_of(q->second);
    if (timeout.count() <= 0 || info.tcpi_last_data_recv <= static_cast<std::uint32_t>(timeout.count()))
      continue;
    ::shutdown(fd, SHUT_RDWR);
    ++closed;
    log(log_level::warning, "cluster", "closed the connection with ", there.first, ":", there.second,
        ": nothing came over it for ", info.tcpi_last_data_recv / 1000.0, " s, longer than the heartbeat timeout (",
        timeout.count() / 1000.0, " s); the peer is frozen or cut off");
  }
  closedir(dir);
  return closed;
}

void silent_connections::start_sweeping() {
  std::lock_guard<std::mutex> guard{mu_};
  if (sweeper_.joinable() || stopping_)
    return;
  sweeper_ = std::thread([this] {
    std::unique_lock<std::mutex> lock{mu_};
    while (!stopping_) {
      lock.unlock();
      sweep();
      lock.lock();
      stop_cv_.wait_for(lock, sweep_interval, [&] { return stopping_; });
    }
  });
}

} // namespace actors::runtime
