#pragma once

// TLS between the processes of a cluster. CAF 0.17's own OpenSSL module stalls,
// so a node terminates TLS itself: its gateway listens on the node's public ports
// and hands each connection whose peer proved a certificate of the cluster's CA,
// decrypted, to CAF, which listens on loopback only; connections CAF opens go to a
// loopback port of the gateway, which carries them to the peer over TLS. On the
// way in, the gateway also bounds how long a new connection may take to say
// something meaningful and how large a frame it may announce, before any byte
// reaches CAF. Boost.Asio and OpenSSL on one thread of its own; no CAF here.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace actors::runtime {

/// The PEM files of a process's TLS identity: its certificate (chain), its private
/// key, and the CA that every peer's certificate must be signed by.
struct tls_settings {
  std::string cert;
  std::string key;
  std::string ca;

  /// ACTORS_TLS_CERT, ACTORS_TLS_KEY and ACTORS_TLS_CA (each empty if unset).
  static tls_settings from_environment();

  /// Any of the three given: TLS is wanted.
  bool wanted() const {
    return !cert.empty() || !key.empty() || !ca.empty();
  }
  /// Throws actors::error unless all three are given and readable, naming the
  /// one that is not (`what` in front, e.g. "TLS ").
  void check(const std::string& what) const;
};

/// What the gateway refuses on the way in.
struct gateway_limits {
  /// A new connection must finish the TLS handshake and send one whole frame
  /// within this.
  std::chrono::milliseconds handshake_timeout{10000};
  /// A frame announcing more payload than this closes its connection.
  std::uint32_t max_frame_bytes = 256u << 20;
};

/// Checks the BASP frames of one direction of a connection as their bytes come:
/// frame headers (32 bytes, payload length big-endian at offset 4) must not
/// announce more than the maximum. A frame larger than `hold_above` is held
/// back until all of it has arrived, so that a header claiming much and sending
/// little costs its receiver nothing.
class frame_guard {
 public:
  static constexpr std::size_t header_size = 32;

  explicit frame_guard(std::uint32_t max_frame_bytes, std::size_t hold_above = 64 * 1024)
    : max_(max_frame_bytes), hold_above_(hold_above) {}

  /// Takes `n` bytes read from the peer and appends to `out` those that may go
  /// on now. False, with `why`, for a frame past the maximum.
  bool feed(const char* data, std::size_t n, std::string& out, std::string& why);

  /// Frames seen whole so far.
  std::uint64_t frames() const noexcept {
    return frames_;
  }

 private:
  std::uint32_t max_;
  std::size_t hold_above_;
  char header_[header_size];
  std::size_t header_have_ = 0;
  std::uint64_t payload_left_ = 0;
  bool in_payload_ = false;
  bool holding_ = false;
  std::string held_;
  std::uint64_t frames_ = 0;
};

/// A process's TLS gateway. Safe for concurrent use.
class tls_gateway {
 public:
  /// Loads the identity and starts the gateway's thread. Throws actors::error
  /// naming the file and what is wrong with it.
  tls_gateway(const tls_settings& files, gateway_limits limits = {});
  ~tls_gateway();

  tls_gateway(const tls_gateway&) = delete;
  tls_gateway& operator=(const tls_gateway&) = delete;

  /// Listens on `bind`:`port` (0: a free port) and carries each connection that
  /// passes to 127.0.0.1:`inner_port`. Returns the port listened on; throws
  /// actors::error if it cannot listen.
  std::uint16_t serve(const std::string& bind, std::uint16_t port, std::uint16_t inner_port);

  /// A loopback port whose connections the gateway carries over TLS to
  /// `host`:`port` (one per peer, made on first use).
  std::uint16_t route_to(const std::string& host, std::uint16_t port);

  /// Connections refused so far (no or a wrong certificate, plaintext, silence,
  /// a frame too large).
  std::uint64_t refused() const noexcept;

  /// Closes every listener and connection and joins the thread.
  void stop();

  /// The gateway that the connections of this process go through, or null
  /// (plaintext). Set by whoever owns it, before any connection is made.
  static tls_gateway* of_this_process() noexcept;
  static void use_for_this_process(tls_gateway* gateway) noexcept;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

} // namespace actors::runtime
