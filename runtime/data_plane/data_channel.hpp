#pragma once

// The bulk data channel: the bytes of large objects between nodes over plain TCP,
// read straight into the buffer that becomes the object. A node serves what it
// holds with a data_server and fetches from its peers with a data_client; the CAF
// path stays the fallback when a peer has no data channel or it fails. The wire
// format is documented at the top of data_frames.hpp and in docs/wire-protocol.md
// ("The data channel"); the server is built in data_server.cpp, the client in
// data_client.cpp.

#include "actors/ids.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace actors::runtime {

/// What a data_source answers for one object: its type name and encoded bytes, or
/// the text of why it has none.
struct lookup_result {
  /// The encoded value, which the server writes to the socket as it is (no copy):
  /// `head`, then the `body` bytes, which `keep` holds alive and nobody changes.
  /// The body is an encoding the store may go on holding (no head), or the value
  /// itself when its encoding is a short head followed by its bytes as they are
  /// in memory (a vector of numbers): then it is sent without being encoded.
  /// Null `keep` on failure.
  std::string head;
  std::string_view body;
  std::shared_ptr<const void> keep;
  /// The value's type name, sent along with the bytes.
  std::string type_name;
  /// Why there is no value (when `keep` is null), e.g. "object X is no longer held
  /// by node N"; the fetching side sees it as the peer's error text.
  std::string error;

  bool ok() const noexcept {
    return keep != nullptr;
  }
  /// The bytes of the encoded value.
  std::uint64_t size() const noexcept {
    return head.size() + body.size();
  }

  static lookup_result found(std::string type_name, std::shared_ptr<const std::string> bytes);
  static lookup_result found_in_place(std::string type_name, std::string head, std::string_view body,
                                      std::shared_ptr<const void> keep);
  static lookup_result failed(std::string why);
};

/// Where a data_server finds the bytes it serves: the node's object store, or a
/// fake in tests.
class data_source {
 public:
  using reply = std::function<void(lookup_result)>;

  virtual ~data_source() = default;

  /// Looks up object `id` and calls `done` exactly once with its bytes or why not.
  /// `done` may run before `lookup` returns, or later on any thread (when a pending
  /// object settles); after the server has stopped, the answer is dropped. Called on
  /// the server's thread: it must not block, since every transfer waits behind it.
  virtual void lookup(const object_id& id, reply done) = 0;
};

/// How a data_server listens and guards its connections.
struct data_server_options {
  /// The address to listen on (numeric, IPv4 or IPv6).
  std::string bind_address = "0.0.0.0";
  /// The port; 0 picks a free one (see data_server::port()).
  std::uint16_t port = 0;
  /// The cluster's token: a peer must present it in its hello.
  std::string token;
  /// A peer that has not sent a complete hello this long after connecting is dropped.
  std::chrono::milliseconds handshake_timeout{5000};
  /// A response the peer reads nothing of for this long is abandoned, and the
  /// connection closed.
  std::chrono::milliseconds inactivity_timeout{30000};
  /// SO_SNDBUF and SO_RCVBUF of each connection; 0 leaves the kernel's autotuning.
  /// 1 MiB: on one host the receiver copies the bytes out while the sender's
  /// copy is still in the cache, and between hosts it covers a 10 Gbit/s link
  /// with a round trip of up to 0.8 ms (tests/perf/notes.md).
  int socket_buffer_bytes = 1 << 20;
};

/// Counters of a data_server, for metrics and tests.
struct data_server_stats {
  std::uint64_t connections_accepted = 0;
  /// Connections dropped in the handshake: wrong token, magic or version, no hello.
  std::uint64_t handshakes_refused = 0;
  /// Objects answered with their bytes, and those bytes (payloads only).
  std::uint64_t objects_served = 0;
  std::uint64_t bytes_served = 0;
};

/// Serves the objects of a data_source to peers that present the cluster's token,
/// one request at a time per connection, on one thread of its own. Public members are
/// safe to call from any thread. The source must outlive the server (until stop()
/// or the destructor has returned).
class data_server {
 public:
  /// Listens on `options.bind_address:options.port` and starts serving. Returns null
  /// and sets `error` to what failed, naming the address, if it cannot listen.
  static std::unique_ptr<data_server> start(data_source& source, data_server_options options,
                                            std::string& error);

  /// Calls stop().
  ~data_server();

  data_server(const data_server&) = delete;
  data_server& operator=(const data_server&) = delete;

  /// The port the server listens on (the one picked, if the options said 0).
  std::uint16_t port() const noexcept;

  data_server_stats stats() const noexcept;

  /// Stops listening, closes every connection (transfers in progress are cut off) and
  /// joins the thread. Idempotent. Called from data_source::lookup, it returns without
  /// joining.
  void stop();

 private:
  struct impl;

  explicit data_server(std::shared_ptr<impl> state);

  std::shared_ptr<impl> impl_;
};

/// Why a fetch failed. Pinned values, only appended.
enum class fetch_errc : std::uint8_t {
  /// The fetch succeeded.
  none = 0,
  /// The peer could not be reached: connection refused, unreachable, its name did
  /// not resolve, or it closed the connection during the handshake.
  connect_failed = 1,
  /// The peer refused the hello: the cluster token or the protocol version.
  refused = 2,
  /// The peer answered with an error text: it does not hold the object, or could not
  /// encode it.
  peer_error = 3,
  /// The stream broke the protocol: it ended early (truncated) or a frame was corrupt.
  protocol_error = 4,
  /// The peer announced a value larger than the client's limit.
  too_large = 5,
  /// Nothing arrived for the inactivity timeout.
  timeout = 6,
  /// The client was stopped before the fetch finished.
  stopped = 7,
};

/// Where the payload of one fetch goes instead of fetch_result::bytes: the memory
/// of the value it becomes, picked by the fetch's caller (choose_destination)
/// once the response names the value's type and size.
class payload_destination {
 public:
  virtual ~payload_destination() = default;
  /// Where the payload's bytes from `offset` on go: at least one byte, and no
  /// more than the rest of the payload. Memory is committed as it is asked for,
  /// not for whatever size a broken peer announces.
  virtual std::pair<char*, std::size_t> writable(std::uint64_t offset) = 0;
};

/// Picks the destination of a payload of `size` bytes of type `type_name`; null
/// (or no chooser at all) reads it into fetch_result::bytes. May throw, which
/// fails the fetch saying why.
using choose_destination =
  std::function<std::unique_ptr<payload_destination>(const std::string& type_name, std::uint64_t size)>;

/// The outcome of one fetch.
struct fetch_result {
  fetch_errc error = fetch_errc::none;
  /// On success: the value's type name as the peer sent it.
  std::string type_name;
  /// On success: the encoded value, read from the socket straight into this string;
  /// move it into its destination. Empty when a destination was chosen.
  std::string bytes;
  /// On success, when the caller chose one: the destination that holds the
  /// payload.
  std::unique_ptr<payload_destination> destination;
  /// On failure: "fetching object <id> from <host>:<port> failed: <what failed>".
  std::string what;

  bool ok() const noexcept {
    return error == fetch_errc::none;
  }
};

/// How a data_client connects and what it accepts.
struct data_client_options {
  /// The cluster's token, presented in the hello.
  std::string token;
  /// At most this many connections to one peer; fetches beyond wait in a queue.
  std::size_t connections_per_peer = 4;
  /// A peer that announces a larger value fails that fetch (and loses that connection).
  std::uint64_t max_object_size = std::uint64_t{64} << 30;
  /// A fetch fails if nothing moves for this long: connecting, in the handshake, or
  /// waiting for and reading its response (which includes the time the peer takes
  /// to have the value).
  std::chrono::milliseconds inactivity_timeout{30000};
  /// SO_SNDBUF and SO_RCVBUF of each connection; 0 leaves the kernel's autotuning.
  /// The same 1 MiB as the server's (see data_server_options).
  int socket_buffer_bytes = 1 << 20;
};

/// Fetches objects from peers' data_servers, on one thread of its own. Keeps up to
/// `connections_per_peer` connections to each peer, reuses idle ones, and runs one
/// transfer per connection at a time, so that a broken stream fails only the fetch
/// on it. Public members are safe to call from any thread.
class data_client {
 public:
  /// Called once per fetch, on the client's thread (or, for a fetch made after
  /// stop(), on the caller's). It must not block; it may call fetch() and stop().
  using callback = std::function<void(fetch_result)>;

  explicit data_client(data_client_options options);

  /// Calls stop().
  ~data_client();

  data_client(const data_client&) = delete;
  data_client& operator=(const data_client&) = delete;

  /// Fetches object `id` from the data server at `host:port` (a numeric address or a
  /// name) and calls `done` with its bytes or the error. A connection that was idle
  /// and turns out closed by the peer is replaced once, transparently. `choose`,
  /// called on the client's thread, may pick where the payload goes.
  void fetch(std::string host, std::uint16_t port, object_id id, callback done, choose_destination choose = {});

  /// Fails every fetch not finished yet with fetch_errc::stopped, closes every
  /// connection and joins the thread; later fetches fail at once. Idempotent. Called
  /// from a callback, it fails the rest and returns without joining.
  void stop();

 private:
  struct impl;

  std::shared_ptr<impl> impl_;
};

} // namespace actors::runtime
