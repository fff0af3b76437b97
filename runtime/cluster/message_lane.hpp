#pragma once

// Message lanes: a TCP connection of this project's own from one process to a
// peer's node endpoint, carrying every message the process sends that peer
// (tasks, results, fetches, releases: all that caf_transport::send and reply
// carry) once it is open. The thread that sends writes the socket itself, and
// the peer's endpoint reads it on the middleman's thread: no hand-off to the
// middleman on the sending side, which over CAF's own connections costs a
// thread wake-up and about ten system calls per message (tests/perf/notes.md).
//
// A lane carries one direction only: the peer answers over a lane of its own.
// Until a lane is open, and for good if it cannot be opened, messages go over
// CAF as before. The switch keeps their order: the sender sends a marker over
// CAF after the last message that went that way, and the receiving endpoint
// holds what the lane brings until the marker arrives. Off under TLS (the lane
// would bypass the gateway).
//
// Wire format, version 1. Integers are little-endian.
//
//   hello, sender -> receiver, once after connecting: 32 bytes, then the token
//     0  u32 magic      "ADLH" (0x484c4441)
//     4  u16 version    1
//     6  u16 reserved   0
//     8  u32 token_len  at most 4096
//     12 u32 reserved   0
//     16 u64 lane       a random number, the marker's too
//     24 u64 sender     the sending node's id
//     32 the cluster token, token_len bytes
//   accept, receiver -> sender: 8 bytes
//     0  u32 magic      "ADLA" (0x414c4441)
//     4  u16 version    the receiver's version
//     6  u16 status     0 accepted, 1 token refused, 2 version not supported
//   message, sender -> receiver, any number after the accept: 5 bytes, then the payload
//     0  u32 size       payload bytes, at most max_lane_payload
//     4  u8  kind       a message_kind (runtime/cluster/transport.hpp)
//
// The receiver closes the connection, logging why and naming the peer, on a
// wrong magic, version or token, a hello longer than the limit, a size past the
// limit, or no complete hello within the handshake time. docs/wire-protocol.md
// ("Message lanes") documents the same.

#include "runtime/cluster/transport.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace actors::runtime {

inline constexpr std::uint16_t lane_version = 1;
inline constexpr std::uint32_t lane_hello_magic = 0x484c4441;  // "ADLH"
inline constexpr std::uint32_t lane_accept_magic = 0x414c4441; // "ADLA"
inline constexpr std::size_t lane_hello_size = 32;
inline constexpr std::size_t lane_accept_size = 8;
inline constexpr std::size_t lane_header_size = 5;
inline constexpr std::uint32_t lane_max_token = 4096;
/// The largest payload a lane carries (values this large go over the data
/// channel; a message carries at most a batch of small ones).
inline constexpr std::uint32_t max_lane_payload = 1u << 30;
inline constexpr std::uint16_t lane_accepted = 0;
inline constexpr std::uint16_t lane_bad_token = 1;
inline constexpr std::uint16_t lane_bad_version = 2;

/// The hello a lane's sender writes first.
std::string lane_hello(std::uint64_t lane, std::uint64_t sender, const std::string& token);
/// The receiver's answer to a hello.
std::string lane_accept(std::uint16_t status);

/// What the receiving side makes of the bytes of one lane, in order.
class lane_reader {
 public:
  struct hello {
    std::uint64_t lane = 0;
    std::uint64_t sender = 0;
    /// Whether the token and the version were right; the accept to send says which.
    std::uint16_t status = lane_accepted;
  };
  struct message {
    message_kind kind{};
    std::string payload;
  };
  /// The stream broke the format: the connection closes, and this says why.
  struct broken {
    std::string why;
  };
  using event = std::variant<hello, message, broken>;

  explicit lane_reader(std::string token) : token_(std::move(token)) {}

  /// Takes `n` more bytes and appends what they complete to `out`: the hello
  /// first, then messages. After a `broken` (or a refused hello) nothing more.
  void feed(const char* data, std::size_t n, std::vector<event>& out);

  bool greeted() const noexcept {
    return greeted_;
  }

 private:
  std::string token_;
  std::string buf_;
  std::size_t at_ = 0;
  bool greeted_ = false;
  bool done_ = false;
};

/// A send this soon after the last write on its lane is gathered with the ones
/// that follow it, and they go together when the lane is flushed.
inline constexpr std::chrono::microseconds lane_gather_window{20};

/// The sending end of one lane. Safe for concurrent use. A send on an idle lane
/// is written by the calling thread at once: one system call, no hand-off (a
/// sync round trip). One that follows the last write within
/// lane_gather_window is queued, and the first of those asks its caller to
/// have the lane flushed (on the node endpoint, which writes the whole queue in
/// one call): a flood of messages costs a write per batch, not per message,
/// and the peer a wake-up per batch. What the socket does not take is written
/// by a thread of the lane's own as the socket drains, so no sender ever waits,
/// the network thread included.
class message_lane {
 public:
  /// Connects to `host`:`port`, says hello and waits for the accept, all within
  /// `timeout`. Null, with `why` saying what failed, if any of it does.
  /// `on_break` runs once if the lane breaks (not when it is closed), on the
  /// thread that found out: messages may have been lost, as when a connection
  /// closes. It must not block.
  static std::shared_ptr<message_lane> open(const std::string& host, std::uint16_t port, std::uint64_t lane,
                                            std::uint64_t sender, const std::string& token,
                                            std::chrono::milliseconds timeout, std::function<void()> on_break,
                                            std::string& why);

  ~message_lane();
  message_lane(const message_lane&) = delete;
  message_lane& operator=(const message_lane&) = delete;

  enum class sent {
    /// Written, or queued behind what is being written.
    yes,
    /// Queued: call flush() (soon, on another thread: the node endpoint).
    flush_needed,
    /// The lane broke (now or before): the message may be lost, as with a
    /// connection that closes.
    broken,
  };
  sent send(message_kind kind, const std::string& payload);

  /// Writes what sends queued (see send), or hands it to the drain thread.
  void flush();

  /// Closes the lane: sends fail from now on, and what is queued is dropped.
  void close();

  bool broken() const noexcept {
    return broken_.load(std::memory_order_acquire);
  }

 private:
  message_lane(int fd, std::function<void()> on_break) : on_break_(std::move(on_break)), fd_(fd) {}
  // Writes what is queued, waiting for the socket to drain (the drain thread).
  void drain();
  // With mu_ held: what is queued goes on the drain thread.
  void start_drain_locked();
  // With mu_ held: the socket failed or was closed. Afterwards, without mu_,
  // the caller runs on_break_ if `failed` (a failure, not a close).
  void break_locked();
  void report_break();

  std::mutex mu_;
  std::function<void()> on_break_;
  std::atomic<bool> reported_{false};
  int fd_ = -1;
  // Bytes the socket did not take yet, in order; the drain thread writes them.
  std::string queued_;
  std::size_t queued_at_ = 0;
  bool draining_ = false;
  bool flush_requested_ = false;
  std::chrono::steady_clock::time_point last_write_{};
  std::thread drainer_;
  std::atomic<bool> broken_{false};
};

} // namespace actors::runtime
