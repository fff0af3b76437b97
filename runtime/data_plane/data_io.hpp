#pragma once

// The Asio plumbing that the data channel's server (data_server.cpp) and client
// (data_client.cpp) share: the thread each runs its io_context on, socket options,
// and how endpoints and durations read in messages. Internal to runtime/data_plane,
// not installed; data_channel.hpp stays free of Asio.
//
// Threads: each data_server and data_client runs one io_context on one thread of
// its own (io_runner). Every piece of mutable state of theirs belongs to that
// thread, except what a mutex or an atomic says otherwise.

#include "runtime/common/log.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace actors::runtime::data_plane {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using clock_type = std::chrono::steady_clock;

// The most bytes one read or write call is given. Asio's composed reads and writes
// hand the kernel at most 64 KiB per call unless a completion condition says more;
// large calls are what lets a transfer run at memory speed.
inline constexpr std::size_t max_io = std::size_t{64} << 20;

/// `host:port`, with IPv6 addresses in brackets.
inline std::string endpoint_text(const std::string& host, std::uint16_t port) {
  if (host.find(':') != std::string::npos)
    return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

inline std::string peer_text(const tcp::socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec)
    return "an unknown peer";
  return endpoint_text(ep.address().to_string(), ep.port());
}

// Buffers are set before connect (client) or on the listening socket (server),
// so that the window scale the handshake agrees on can use them.
inline void set_buffers(tcp::socket& s, int bytes) {
  if (bytes <= 0)
    return;
  error_code ignored;
  s.set_option(asio::socket_base::send_buffer_size(bytes), ignored);
  s.set_option(asio::socket_base::receive_buffer_size(bytes), ignored);
}

inline void set_no_delay(tcp::socket& s) {
  error_code ignored;
  s.set_option(tcp::no_delay(true), ignored);
}

inline std::string ms_text(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + " ms";
}

/// The io_context of a channel object and the one thread that runs it.
class io_runner {
 public:
  asio::io_context io;

  io_runner() = default;
  io_runner(const io_runner&) = delete;
  io_runner& operator=(const io_runner&) = delete;

  ~io_runner() {
    // Only the owner's last reference is left: from stop() or, when the channel was
    // stopped from its own thread, from the thread itself, which cannot join itself.
    if (thread_.joinable()) {
      if (std::this_thread::get_id() == id_)
        thread_.detach();
      else
        thread_.join();
    }
  }

  /// Starts the thread. `owner` keeps the state the handlers use alive while it runs.
  void start(std::shared_ptr<void> owner) {
    thread_ = std::thread([this, owner = std::move(owner)] { run(); });
    id_ = thread_.get_id();
  }

  /// Runs `shutdown` on the thread, lets the operations it aborted finish and joins.
  /// Called on the thread itself (from a callback), runs `shutdown` there and returns
  /// without joining. Later calls only wait for the join.
  template <class F>
  void stop(F shutdown) {
    bool first = !stopping_.exchange(true);
    bool on_thread = std::this_thread::get_id() == id_;
    if (first) {
      if (on_thread)
        shutdown();
      else
        asio::post(io, std::move(shutdown));
      work_.reset();
    }
    if (on_thread)
      return;
    std::lock_guard<std::mutex> guard{join_mu_};
    if (thread_.joinable())
      thread_.join();
  }

 private:
  void run() {
    for (;;) {
      try {
        io.run();
        return;
      } catch (const std::exception& e) {
        log(log_level::error, "data_channel", "a handler threw: ", e.what());
      }
    }
  }

  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io);
  std::atomic<bool> stopping_{false};
  std::mutex join_mu_;
  std::thread thread_;
  std::thread::id id_;
};

/// The timer of a connection whose deadline moves with its progress: one wait at
/// a time, re-armed from its own handler while the deadline lasts, so progress
/// only moves a time point and costs no system call. `Conn` (owned by a
/// shared_ptr) says when it is overdue (`deadline()`, nullopt for no deadline),
/// whether it is closed (`closed()`), and what to do when the deadline passes
/// (`overdue()`). Used on the io thread only.
template <class Conn>
class deadline_watch {
 public:
  explicit deadline_watch(asio::io_context& io) : timer_(io) {}

  /// Waits for `conn`'s deadline, unless a wait for it (or earlier) is armed.
  void arm(Conn& conn) {
    auto d = conn.deadline();
    if (!d || (armed_ && timer_.expiry() <= *d))
      return;
    armed_ = true;
    timer_.expires_at(*d);
    timer_.async_wait([self = conn.shared_from_this()](error_code ec) { self->watch.fired(*self, ec); });
  }

  void cancel() {
    timer_.cancel();
  }

  void fired(Conn& conn, error_code ec) {
    if (ec == asio::error::operation_aborted || conn.closed())
      return;
    armed_ = false;
    auto d = conn.deadline();
    if (!d)
      return;
    if (clock_type::now() < *d) {
      arm(conn);
      return;
    }
    conn.overdue();
  }

 private:
  asio::steady_timer timer_;
  bool armed_ = false;
};

} // namespace actors::runtime::data_plane
