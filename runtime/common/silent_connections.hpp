#pragma once

/// Closing connections between nodes that stay silent too long.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace actors::runtime {

/// Watches the TCP connections that carry messages between nodes and shuts down
/// each one over which nothing arrived for longer than its owner's timeout. The
/// middleman sends a heartbeat every 200 ms on each, so silence means the peer is
/// frozen or cut off; the close then reaches the owner as a closed connection
/// (the middleman's down messages), as any other close does.
///
/// This stands in for CAF's own `middleman.connection-timeout`, which in 0.17.6
/// closes a connection this process opened at the first heartbeat tick after the
/// connect (0 to 200 ms later) unless the peer's handshake came back by then: its
/// last-heard time starts at the clock's epoch. The peer has taken that connection
/// as its route here already, and the close took this process for dead there.
/// Here the silence is the kernel's (`TCP_INFO`'s time since data last came), so a
/// new connection has the whole timeout for its handshake, and one busy receiving
/// a large message is not silent.
///
/// A connection is watched if this process accepted it on a watched port or opened
/// it to a watched peer. One instance per process (`of_this_process`), swept
/// every 100 ms by a thread of its own once a node starts it. Owners are opaque
/// keys: a node uses its actor system. Safe for concurrent use.
class silent_connections {
 public:
  static silent_connections& of_this_process();

  silent_connections() = default;
  ~silent_connections();

  silent_connections(const silent_connections&) = delete;
  silent_connections& operator=(const silent_connections&) = delete;

  /// Connections of `owner` close after `timeout` of silence; 0 watches none.
  void set_timeout(const void* owner, std::chrono::milliseconds timeout);

  /// Connections this process accepts on `port` belong to `owner`.
  void watch_port(const void* owner, std::uint16_t port);

  /// Connections this process opens to `host`:`port` belong to `owner`. `host` is
  /// resolved once, here.
  void watch_peer(const void* owner, const std::string& host, std::uint16_t port);

  /// Stops watching anything of `owner`.
  void forget(const void* owner);

  /// One pass over this process's sockets: shuts down each watched connection
  /// silent for longer than its owner's timeout, and returns how many.
  std::size_t sweep();

  /// Runs `sweep` every 100 ms on a thread of its own until this object ends;
  /// calls after the first do nothing.
  void start_sweeping();

 private:
  std::mutex mu_;
  std::map<const void*, std::chrono::milliseconds> timeouts_;
  std::map<std::uint16_t, const void*> ports_;
  std::map<std::pair<std::string, std::uint16_t>, const void*> peers_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread sweeper_;
};

} // namespace actors::runtime
