// How a node's actor system connects and which connections it closes: it waits
// for a slow peer's handshake instead of closing the connection at CAF's next
// heartbeat tick, a connect to a silent peer gives up at its bound, and a
// connection that stays silent for the heartbeat timeout is closed.

#include "runtime/cluster/caf_connect.hpp"
#include "runtime/common/silent_connections.hpp"
#include "runtime/node/caf_settings.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using actors::runtime::apply_caf_settings;
using actors::runtime::connect_within;

namespace {

constexpr int heartbeat_timeout_ms = 2000;

/// An actor system set up as a node's, its silent connections closed after the
/// heartbeat timeout.
struct node_system {
  node_system() : sys{(apply_caf_settings(cfg), cfg)} {
    auto& silence = actors::runtime::silent_connections::of_this_process();
    silence.set_timeout(&sys, std::chrono::milliseconds(heartbeat_timeout_ms));
    silence.start_sweeping();
  }
  ~node_system() {
    actors::runtime::silent_connections::of_this_process().forget(&sys);
    for (auto& a : spawned)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }
  caf::actor_system_config cfg;
  caf::actor_system sys;
  // Ended with the system, which waits for its actors.
  std::vector<caf::actor> spawned;
};

int listen_on_loopback(std::uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 4) != 0)
    return -1;
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

int connect_to_loopback(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
    return fd;
  if (fd >= 0)
    ::close(fd);
  return -1;
}

/// A peer slow to answer: accepts one connection, waits `delay`, then relays
/// bytes both ways between it and `target_port` (a target of 0 relays nothing:
/// the peer stays silent until the relay ends).
class slow_relay {
 public:
  slow_relay(std::chrono::milliseconds delay, std::uint16_t target_port) {
    listener_ = listen_on_loopback(port_);
    worker_ = std::thread([this, delay, target_port] { run(delay, target_port); });
  }

  ~slow_relay() {
    stop_ = true;
    worker_.join();
    ::close(listener_);
  }

  std::uint16_t port() const { return port_; }

 private:
  bool wait_readable(int fd, int ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, ms) > 0;
  }

  void run(std::chrono::milliseconds delay, std::uint16_t target_port) {
    int from = -1;
    while (!stop_ && from < 0)
      if (wait_readable(listener_, 50))
        from = ::accept(listener_, nullptr, nullptr);
    auto until = std::chrono::steady_clock::now() + delay;
    while (!stop_ && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(10ms);
    int to = target_port != 0 && !stop_ ? connect_to_loopback(target_port) : -1;
    char buf[65536];
    while (!stop_ && to >= 0) {
      pollfd p[2] = {{from, POLLIN, 0}, {to, POLLIN, 0}};
      if (::poll(p, 2, 50) <= 0)
        continue;
      bool open = true;
      for (int i = 0; i < 2 && open; ++i) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
          continue;
        auto n = ::read(p[i].fd, buf, sizeof buf);
        open = n > 0 && ::write(p[1 - i].fd, buf, static_cast<std::size_t>(n)) == n;
      }
      if (!open)
        break;
    }
    if (to >= 0)
      ::close(to);
    if (from >= 0)
      ::close(from);
  }

  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread worker_;
};

caf::behavior echo() {
  return {[](int x) { return x + 1; }};
}

std::uint16_t publish_echo(node_system& server) {
  server.spawned.push_back(server.sys.spawn(echo));
  auto published = server.sys.middleman().publish(server.spawned.back(), 0, "127.0.0.1");
  EXPECT_TRUE(published) << server.sys.render(published.error());
  if (!published)
    return 0;
  actors::runtime::silent_connections::of_this_process().watch_port(&server.sys, *published);
  return *published;
}

} // namespace

TEST(CafConnect, AMemberWaitsForTheHandshakeOfAPeerSlowerThanAHeartbeatTick) {
  node_system server;
  auto port = publish_echo(server);
  // The handshake comes back after 700 ms, more than three heartbeat ticks.
  slow_relay slow{700ms, port};
  node_system member;
  auto remote = connect_within(member.sys, "127.0.0.1", slow.port(), 10s);
  ASSERT_TRUE(remote) << member.sys.render(remote.error());
  ASSERT_TRUE(*remote) << "connected, but no actor was returned";
  // And the route works.
  caf::scoped_actor self{member.sys};
  int answer = 0;
  self->request(*remote, 5s, 41).receive([&](int x) { answer = x; },
                                         [&](caf::error& err) { ADD_FAILURE() << member.sys.render(err); });
  EXPECT_EQ(answer, 42);
}

TEST(CafConnect, AConnectToAPeerThatNeverAnswersGivesUpAtItsBound) {
  slow_relay silent{30s, 0};
  node_system member;
  auto start = std::chrono::steady_clock::now();
  auto remote = connect_within(member.sys, "127.0.0.1", silent.port(), 500ms);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(remote) << "connected to a peer that never answered";
  EXPECT_EQ(remote.error(), caf::sec::request_timeout) << member.sys.render(remote.error());
  EXPECT_GE(took, 450ms);
  EXPECT_LT(took, 5s);
}

TEST(CafConnect, AConnectionThatStaysSilentForTheHeartbeatTimeoutIsClosed) {
  node_system server;
  auto port = publish_echo(server);
  int fd = connect_to_loopback(port);
  ASSERT_GE(fd, 0);
  // Read the server's handshake, then stay silent.
  char buf[4096];
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + std::chrono::milliseconds(heartbeat_timeout_ms) + 3s;
  bool closed = false;
  while (!closed && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0)
      closed = ::read(fd, buf, sizeof buf) <= 0;
  }
  auto took = std::chrono::steady_clock::now() - start;
  ::close(fd);
  EXPECT_TRUE(closed) << "a connection silent for longer than the heartbeat timeout stayed open";
  EXPECT_GE(took, std::chrono::milliseconds(heartbeat_timeout_ms - 100));
}

namespace {

/// Both ends of one loopback TCP connection made to `listener`.
std::pair<int, int> connected_pair(int listener, std::uint16_t port) {
  int client = connect_to_loopback(port);
  int accepted = ::accept(listener, nullptr, nullptr);
  return {client, accepted};
}

bool reads_end_of_stream(int fd) {
  pollfd p{fd, POLLIN, 0};
  char c = 0;
  return ::poll(&p, 1, 1000) > 0 && ::read(fd, &c, 1) == 0;
}

bool still_open(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

} // namespace

TEST(SilentConnections, ClosesWatchedConnectionsSilentForTheTimeoutAndNoOthers) {
  actors::runtime::silent_connections silence;
  int owner = 0;
  silence.set_timeout(&owner, 300ms);
  std::uint16_t watched_port = 0, other_port = 0, peer_port = 0;
  int watched = listen_on_loopback(watched_port);
  int other = listen_on_loopback(other_port);
  int peer = listen_on_loopback(peer_port);
  ASSERT_TRUE(watched >= 0 && other >= 0 && peer >= 0);
  silence.watch_port(&owner, watched_port);
  silence.watch_peer(&owner, "localhost", peer_port);

  auto [silent_client, silent_accepted] = connected_pair(watched, watched_port);
  auto [chatty_client, chatty_accepted] = connected_pair(watched, watched_port);
  auto [unwatched_client, unwatched_accepted] = connected_pair(other, other_port);
  auto [to_peer, peer_accepted] = connected_pair(peer, peer_port);
  // Nothing is silent for 300 ms yet.
  EXPECT_EQ(silence.sweep(), 0u);
  for (int i = 0; i < 6; ++i) {
    std::this_thread::sleep_for(100ms);
    ASSERT_EQ(::write(chatty_client, "x", 1), 1);
  }
  // The connection accepted on the watched port that stayed silent, and the one
  // opened to the watched peer; not the one that kept talking, nor the one on a
  // port nobody watches.
  EXPECT_EQ(silence.sweep(), 2u);
  EXPECT_TRUE(reads_end_of_stream(silent_client));
  EXPECT_TRUE(reads_end_of_stream(peer_accepted));
  EXPECT_TRUE(still_open(chatty_client));
  EXPECT_TRUE(still_open(unwatched_client));

  // An owner forgotten has nothing watched any more.
  silence.forget(&owner);
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(silence.sweep(), 0u);
  EXPECT_TRUE(still_open(chatty_client));

  for (int fd : {silent_client, silent_accepted, chatty_client, chatty_accepted, unwatched_client, unwatched_accepted,
                 to_peer, peer_accepted, watched, other, peer})
    ::close(fd);
}
