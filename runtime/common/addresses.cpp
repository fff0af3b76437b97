#include "runtime/common/addresses.hpp"

#include "actors/errors.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace actors::runtime {

namespace {

// The numeric text of an IPv4 or IPv6 socket address.
std::string numeric(const sockaddr* sa, socklen_t len) {
  char text[NI_MAXHOST];
  if (::getnameinfo(sa, len, text, sizeof text, nullptr, 0, NI_NUMERICHOST) != 0)
    return {};
  return text;
}

// This host's first IPv4 address on an interface that is up and not loopback,
// or an empty string.
std::string first_interface_address() {
  ifaddrs* all = nullptr;
  if (::getifaddrs(&all) != 0)
    return {};
  std::string found;
  for (auto* i = all; i && found.empty(); i = i->ifa_next)
    if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && (i->ifa_flags & IFF_UP) && !(i->ifa_flags & IFF_LOOPBACK))
      found = numeric(i->ifa_addr, sizeof(sockaddr_in));
  ::freeifaddrs(all);
  return found;
}

} // namespace

bool is_wildcard(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]";
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1" || host == "[::1]";
}

std::string address_toward(const std::string& host) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), "9", &hints, &found) != 0 || !found)
    return {};
  std::string out;
  for (auto* a = found; a && out.empty(); a = a->ai_next) {
    // Connecting a datagram socket sends nothing: it only picks the route, and
    // with it the local address.
    int fd = ::socket(a->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      continue;
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0
        && ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0)
      out = numeric(reinterpret_cast<sockaddr*>(&local), len);
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return is_wildcard(out) ? std::string() : out;
}

std::pair<std::string, std::uint16_t> split_address(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size())
    throw error(errc::invalid_argument, "address '" + address + "' is not HOST:PORT, e.g. 127.0.0.1:6380");
  int port = 0;
  try {
    port = std::stoi(address.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  if (port <= 0 || port > 65535)
    throw error(errc::invalid_argument, "address '" + address + "' has no valid port (1-65535)");
  return {address.substr(0, colon), static_cast<std::uint16_t>(port)};
}

node_addresses choose_addresses(const std::string& head_address, const std::string& bind,
                                const std::string& advertise) {
  std::string head_host = head_address.empty() ? std::string() : split_address(head_address).first;
  bool remote_head = !head_host.empty() && !is_loopback(head_host);
  // This process's own address as the others see it: on the route to the head
  // when joining one (loopback for a head on this host), else the host's first
  // non-loopback interface.
  auto own = [&](const char* flag) {
    std::string found = !head_host.empty() ? address_toward(head_host) : first_interface_address();
    if (found.empty())
      throw error(errc::invalid_argument,
                  !head_host.empty() ? "found no address of this host on the route to the head at " + head_host
                                  + ": check that the head is reachable, or give " + flag + " ADDR"
                              : std::string("found no address of this host on a network interface that is up: give ")
                                  + flag + " ADDR");
    return found;
  };
  node_addresses out;
  out.bind = !bind.empty() ? bind : remote_head ? own("--bind (--actors-bind)") : std::string("127.0.0.1");
  if (!advertise.empty()) {
    if (is_wildcard(advertise))
      throw error(errc::invalid_argument, "cannot advertise '" + advertise
                                            + "': other hosts cannot dial it; give an address of this host");
    out.advertise = advertise;
  } else {
    out.advertise = is_wildcard(out.bind) ? own("--advertise-address (--actors-advertise-address)") : out.bind;
  }
  return out;
}

} // namespace actors::runtime
