#pragma once

// Loopback connections for tests: a plain TCP connection to a port, and a minimal
// HTTP GET for the metrics endpoints.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace actors::test {

/// A TCP connection to 127.0.0.1:`port`, or -1.
inline int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  // A server that never answers fails the test instead of hanging it.
  timeval limit{15, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// The body of `GET path` from 127.0.0.1:`port`; throws on a connection error or
/// a status other than 200.
inline std::string http_get(int port, const std::string& path) {
  int fd = connect_loopback(port);
  if (fd < 0)
    throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
  std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  ::send(fd, request.data(), request.size(), 0);
  std::string response;
  char buf[65536];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
    response.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  auto head_end = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.1 200", 0) != 0 && response.rfind("HTTP/1.0 200", 0) != 0)
    throw std::runtime_error("GET " + path + " on port " + std::to_string(port) + " answered: "
                             + response.substr(0, response.find("\r\n")));
  return head_end == std::string::npos ? std::string{} : response.substr(head_end + 4);
}

} // namespace actors::test
