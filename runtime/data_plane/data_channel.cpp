// The data channel: the bytes of large objects between nodes over plain TCP.
//
// Wire format, version 1. Integers are little-endian. Every frame starts with a
// four-byte magic that reads as ASCII: "ADC" and a letter for the frame kind.
//
//   hello, client -> server, once after connecting: 16 bytes, then the token
//     0  u32 magic      "ADCH" (0x48434441)
//     4  u16 version    1
//     6  u16 reserved   0
//     8  u32 token_len  at most 4096
//     12 u32 reserved   0
//     16 the cluster token, token_len bytes
//   hello reply, server -> client: 8 bytes
//     0  u32 magic      "ADCA" (0x41434441)
//     4  u16 version    the server's version
//     6  u16 status     0 accepted, 1 token refused, 2 version not supported
//   After a refusal the server closes the connection. A first frame with another
//   magic, a longer token, or no complete hello within the handshake timeout is
//   closed without a reply.
//
//   request, client -> server: 24 bytes; one at a time per connection
//     0  u32 magic      "ADCQ" (0x51434441)
//     4  u32 kind       1 = fetch
//     8  u64 owner      the object_id
//     16 u64 seq
//   response, server -> client: 40 bytes, then the text, then the payload
//     0  u32 magic      "ADCR" (0x52434441)
//     4  u32 status     0 ok, 1 error
//     8  u64 owner      the object_id asked for, echoed
//     16 u64 seq
//     24 u32 text_len   at most 65536: the type name (ok) or the error text (error)
//     28 u32 reserved   0
//     32 u64 size       payload bytes; 0 for an error
//     40 the text, then the payload (the encoded value)
//
// An error response leaves the connection usable; anything else unexpected closes
// it. The client checks every header field before it reads what follows, and
// allocates the payload only once the size is within its limit.
//
// Threads: each data_server and data_client runs one io_context on one thread of
// its own (io_runner). Every piece of mutable state below belongs to that thread,
// except what a mutex or an atomic says otherwise.

#include "runtime/data_plane/data_channel.hpp"

#include "runtime/common/log.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <deque>
#include <mutex>
#include <new>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace actors::runtime {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using clock_type = std::chrono::steady_clock;

constexpr std::uint16_t protocol_version = 1;
constexpr std::uint32_t hello_magic = 0x48434441;    // "ADCH"
constexpr std::uint32_t accept_magic = 0x41434441;   // "ADCA"
constexpr std::uint32_t request_magic = 0x51434441;  // "ADCQ"
constexpr std::uint32_t response_magic = 0x52434441; // "ADCR"
constexpr std::size_t hello_size = 16;
constexpr std::size_t accept_size = 8;
constexpr std::size_t request_size = 24;
constexpr std::size_t response_size = 40;
constexpr std::uint32_t max_token = 4096;
constexpr std::uint32_t max_text = 65536;
constexpr std::uint16_t hello_ok = 0;
constexpr std::uint16_t hello_bad_token = 1;
constexpr std::uint16_t hello_bad_version = 2;
constexpr std::uint32_t kind_fetch = 1;
constexpr std::uint32_t status_ok = 0;
constexpr std::uint32_t status_error = 1;

// The most bytes one read or write call is given. Asio's composed reads and writes
// hand the kernel at most 64 KiB per call unless a completion condition says more;
// large calls are what lets a transfer run at memory speed.
constexpr std::size_t max_io = std::size_t{64} << 20;

// How far ahead of the bytes read the client's payload string is grown.
constexpr std::uint64_t payload_step = std::uint64_t{4} << 20;

void put16(unsigned char* p, std::uint16_t v) {
  for (int i = 0; i < 2; ++i)
    p[i] = static_cast<unsigned char>(v >> (8 * i));
}
void put32(unsigned char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<unsigned char>(v >> (8 * i));
}
void put64(unsigned char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i)
    p[i] = static_cast<unsigned char>(v >> (8 * i));
}
std::uint16_t get16(const unsigned char* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
std::uint32_t get32(const unsigned char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}
std::uint64_t get64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

/// `host:port`, with IPv6 addresses in brackets.
std::string endpoint_text(const std::string& host, std::uint16_t port) {
  if (host.find(':') != std::string::npos)
    return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string peer_text(const tcp::socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec)
    return "an unknown peer";
  return endpoint_text(ep.address().to_string(), ep.port());
}

// Buffers are set before connect (client) or on the listening socket (server),
// so that the window scale the handshake agrees on can use them.
void set_buffers(tcp::socket& s, int bytes) {
  if (bytes <= 0)
    return;
  error_code ignored;
  s.set_option(asio::socket_base::send_buffer_size(bytes), ignored);
  s.set_option(asio::socket_base::receive_buffer_size(bytes), ignored);
}

void set_no_delay(tcp::socket& s) {
  error_code ignored;
  s.set_option(tcp::no_delay(true), ignored);
}

/// Compares in time that depends only on the lengths, so that a wrong token tells
/// nothing about the right one.
bool same_token(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

std::string ms_text(std::chrono::milliseconds d) {
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

/// Lets a data_source answer from any thread, and drops answers once the server has
/// stopped: nothing is posted to the io_context after stop() closed the gate.
struct post_gate {
  std::mutex mu;
  asio::io_context* io = nullptr; // guarded by mu
};

} // namespace

lookup_result lookup_result::found(std::string type_name, std::shared_ptr<const std::string> bytes) {
  lookup_result r;
  r.type_name = std::move(type_name);
  r.bytes = std::move(bytes);
  return r;
}

lookup_result lookup_result::failed(std::string why) {
  lookup_result r;
  r.error = std::move(why);
  return r;
}

// -- server --------------------------------------------------------------------------

struct data_server::impl {
  struct connection;

  impl(data_source& src, data_server_options o) : source(src), opts(std::move(o)) {
  }

  bool listen(std::string& error);
  void accept();
  void shutdown();

  data_source& source;
  const data_server_options opts;
  io_runner runner; // before everything that uses its io_context
  tcp::acceptor acceptor{runner.io};
  asio::steady_timer accept_retry{runner.io};
  clock_type::time_point last_accept_warning{};
  std::shared_ptr<post_gate> gate = std::make_shared<post_gate>();
  std::unordered_set<std::shared_ptr<connection>> connections;
  bool stopped = false;
  std::uint16_t port = 0; // set before the thread starts, constant after

  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> served{0};
  std::atomic<std::uint64_t> bytes_served{0};
};

/// One peer's connection: the hello, then requests answered one at a time.
struct data_server::impl::connection : std::enable_shared_from_this<connection> {
  enum class phase { hello, refusing, idle, lookup, writing, closed };

  connection(impl& s, tcp::socket sock_in, std::string peer_in)
    : server(s), sock(std::move(sock_in)), timer(server.runner.io), peer(std::move(peer_in)) {
  }

  void start() {
    hello_deadline = clock_type::now() + server.opts.handshake_timeout;
    arm();
    asio::async_read(sock, asio::buffer(in.data(), hello_size),
                     [self = shared_from_this()](error_code ec, std::size_t) { self->on_hello(ec); });
  }

  void on_hello(error_code ec) {
    if (at == phase::closed)
      return;
    if (ec) {
      refuse(handshake_error(ec));
      return;
    }
    if (auto magic = get32(in.data()); magic != hello_magic) {
      refuse("sent no data-channel hello (its first bytes read " + hex32(magic) + ")");
      return;
    }
    auto version = get16(in.data() + 4);
    auto token_len = get32(in.data() + 8);
    if (token_len > max_token) {
      refuse("announced a token of " + std::to_string(token_len) + " bytes (at most "
             + std::to_string(max_token) + ")");
      return;
    }
    token.resize(token_len);
    asio::async_read(sock, asio::buffer(token),
                     [self = shared_from_this(), version](error_code ec, std::size_t) {
                       self->on_token(ec, version);
                     });
  }

  void on_token(error_code ec, std::uint16_t version) {
    if (at == phase::closed)
      return;
    if (ec) {
      refuse(handshake_error(ec));
      return;
    }
    if (version != protocol_version) {
      refuse("speaks data-channel version " + std::to_string(version) + ", this node "
               + std::to_string(protocol_version),
             hello_bad_version);
      return;
    }
    if (!same_token(token, server.opts.token)) {
      refuse("presented a wrong cluster token", hello_bad_token);
      return;
    }
    token.clear();
    at = phase::idle;
    reply_to_hello(hello_ok);
  }

  std::string handshake_error(error_code ec) const {
    if (ec == asio::error::eof)
      return "closed the connection before its hello was complete";
    return "failed in the handshake: " + ec.message();
  }

  /// Drops the peer in the handshake; with a status, tells it why first.
  void refuse(const std::string& why, std::optional<std::uint16_t> status = std::nullopt) {
    ++server.refused;
    log(log_level::warning, "data_server", "refused data-channel peer ", peer, ": it ", why);
    if (status) {
      at = phase::refusing;
      reply_to_hello(*status);
    } else {
      close();
    }
  }

  void reply_to_hello(std::uint16_t status) {
    put32(out.data(), accept_magic);
    put16(out.data() + 4, protocol_version);
    put16(out.data() + 6, status);
    asio::async_write(sock, asio::buffer(out.data(), accept_size),
                      [self = shared_from_this(), status](error_code ec, std::size_t) {
                        if (self->at == phase::closed)
                          return;
                        if (ec || status != hello_ok)
                          self->close();
                        else
                          self->read_request();
                      });
  }

  void read_request() {
    at = phase::idle;
    asio::async_read(sock, asio::buffer(in.data(), request_size),
                     [self = shared_from_this()](error_code ec, std::size_t) { self->on_request(ec); });
  }

  void on_request(error_code ec) {
    if (at == phase::closed)
      return;
    if (ec) {
      if (ec != asio::error::eof)
        log(log_level::debug, "data_server", "connection from ", peer, " ended: ", ec.message());
      close();
      return;
    }
    auto magic = get32(in.data());
    auto kind = get32(in.data() + 4);
    if (magic != request_magic || kind != kind_fetch) {
      log(log_level::warning, "data_server", "data-channel peer ", peer, " sent a corrupt request (magic ",
          hex32(magic), ", kind ", kind, "); closing the connection");
      close();
      return;
    }
    current = object_id{get64(in.data() + 8), get64(in.data() + 16)};
    at = phase::lookup;
    auto no = ++request_no;
    // The answer may come from any thread: it goes through the gate to this thread.
    // It holds the connection weakly, so that a source keeping it after the server
    // has gone holds nothing of the server but the closed gate.
    data_source::reply done = [gate = server.gate, weak = weak_from_this(), no](lookup_result r) {
      std::lock_guard<std::mutex> guard{gate->mu};
      if (!gate->io)
        return;
      asio::post(*gate->io, [weak, no, r = std::move(r)]() mutable {
        if (auto self = weak.lock())
          self->on_lookup(no, std::move(r));
      });
    };
    try {
      server.source.lookup(current, std::move(done));
    } catch (const std::exception& e) {
      on_lookup(no, lookup_result::failed(std::string{"looking it up failed: "} + e.what()));
    }
  }

  void on_lookup(std::uint64_t no, lookup_result r) {
    if (at != phase::lookup || no != request_no)
      return; // closed meanwhile, or a second answer to the same request
    std::uint32_t status = status_ok;
    if (r.bytes && r.type_name.size() > max_text)
      r = lookup_result::failed("its type name is longer than " + std::to_string(max_text) + " bytes");
    if (r.bytes) {
      text = std::move(r.type_name);
      payload = std::move(r.bytes);
    } else {
      status = status_error;
      text = r.error.empty() ? std::string{"no reason given"} : std::move(r.error);
      if (text.size() > max_text)
        text.resize(max_text);
    }
    put32(out.data(), response_magic);
    put32(out.data() + 4, status);
    put64(out.data() + 8, current.owner);
    put64(out.data() + 16, current.seq);
    put32(out.data() + 24, static_cast<std::uint32_t>(text.size()));
    put32(out.data() + 28, 0);
    put64(out.data() + 32, payload ? payload->size() : 0);
    at = phase::writing;
    last_activity = clock_type::now();
    arm();
    // The header, the text and the caller's bytes as they are, in one gathered write.
    std::array<asio::const_buffer, 3> frame{asio::buffer(out.data(), response_size), asio::buffer(text),
                                            payload ? asio::buffer(*payload) : asio::const_buffer{}};
    asio::async_write(
      sock, frame,
      [self = shared_from_this()](error_code ec, std::size_t) -> std::size_t {
        self->last_activity = clock_type::now();
        return ec ? 0 : max_io;
      },
      [self = shared_from_this(), status](error_code ec, std::size_t n) { self->on_written(ec, n, status); });
  }

  void on_written(error_code ec, std::size_t n, std::uint32_t status) {
    if (at == phase::closed)
      return;
    if (ec) {
      log(log_level::warning, "data_server", "sending object ", current.to_string(), " to data-channel peer ",
          peer, " failed after ", n, " bytes: ", ec.message());
      close();
      return;
    }
    if (status == status_ok) {
      ++server.served;
      server.bytes_served += payload->size();
    }
    payload.reset();
    text.clear();
    read_request();
  }

  /// When the peer is overdue: the end of the handshake (also for the reply to a
  /// refused hello), or the inactivity timeout after the last progress of a
  /// response. None while waiting for the peer's next request or for the source.
  std::optional<clock_type::time_point> deadline() const {
    if (at == phase::hello || at == phase::refusing)
      return hello_deadline;
    if (at == phase::writing)
      return last_activity + server.opts.inactivity_timeout;
    return std::nullopt;
  }

  // One timer wait at a time, re-armed from its handler while a deadline lasts:
  // progress only moves `last_activity`, which costs no system call.
  void arm() {
    auto d = deadline();
    if (!d || (armed && timer.expiry() <= *d))
      return;
    armed = true;
    timer.expires_at(*d);
    timer.async_wait([self = shared_from_this()](error_code ec) { self->on_timer(ec); });
  }

  void on_timer(error_code ec) {
    if (ec == asio::error::operation_aborted || at == phase::closed)
      return;
    armed = false;
    auto d = deadline();
    if (!d)
      return;
    if (clock_type::now() < *d) {
      arm();
      return;
    }
    if (at == phase::hello) {
      refuse("sent no complete hello within " + ms_text(server.opts.handshake_timeout));
      return;
    }
    if (at == phase::refusing) {
      close(); // it does not even read why it was refused
      return;
    }
    log(log_level::warning, "data_server", "data-channel peer ", peer, " read nothing of object ",
        current.to_string(), " for ", ms_text(server.opts.inactivity_timeout), "; closing the connection");
    close();
  }

  void close() {
    if (at == phase::closed)
      return;
    at = phase::closed;
    error_code ignored;
    sock.close(ignored);
    timer.cancel();
    payload.reset();
    server.connections.erase(shared_from_this());
  }

  impl& server;
  tcp::socket sock;
  asio::steady_timer timer;
  const std::string peer;
  phase at = phase::hello;
  bool armed = false;
  clock_type::time_point hello_deadline{};
  clock_type::time_point last_activity{};
  std::array<unsigned char, response_size> in{};
  std::array<unsigned char, response_size> out{};
  std::string token;
  std::string text;
  std::shared_ptr<const std::string> payload;
  object_id current;
  std::uint64_t request_no = 0;
};

bool data_server::impl::listen(std::string& error) {
  auto where = endpoint_text(opts.bind_address, opts.port);
  error_code ec;
  auto address = asio::ip::make_address(opts.bind_address, ec);
  if (ec) {
    error = "cannot listen on " + where + ": not a numeric address";
    return false;
  }
  tcp::endpoint ep{address, opts.port};
  acceptor.open(ep.protocol(), ec);
  if (!ec)
    acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && opts.socket_buffer_bytes > 0) {
    // Accepted sockets inherit these, in time for the window scale of the handshake.
    error_code ignored;
    acceptor.set_option(asio::socket_base::send_buffer_size(opts.socket_buffer_bytes), ignored);
    acceptor.set_option(asio::socket_base::receive_buffer_size(opts.socket_buffer_bytes), ignored);
  }
  if (!ec)
    acceptor.bind(ep, ec);
  if (!ec)
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec)
    port = acceptor.local_endpoint(ec).port();
  if (ec) {
    error = "cannot listen on " + where + ": " + ec.message();
    return false;
  }
  return true;
}

void data_server::impl::accept() {
  acceptor.async_accept([this](error_code ec, tcp::socket sock) {
    if (stopped || ec == asio::error::operation_aborted)
      return;
    if (ec) {
      // Out of descriptors, typically: try again shortly instead of spinning, and
      // say so at most every 10 s.
      auto now = clock_type::now();
      if (now - last_accept_warning >= std::chrono::seconds{10}) {
        last_accept_warning = now;
        log(log_level::warning, "data_server", "accepting a data-channel connection failed: ", ec.message(),
            "; retrying every 100 ms");
      }
      accept_retry.expires_after(std::chrono::milliseconds{100});
      accept_retry.async_wait([this](error_code wait_ec) {
        if (!wait_ec && !stopped)
          accept();
      });
      return;
    }
    ++accepted;
    set_no_delay(sock);
    auto peer = peer_text(sock);
    auto c = std::make_shared<connection>(*this, std::move(sock), std::move(peer));
    connections.insert(c);
    c->start();
    accept();
  });
}

void data_server::impl::shutdown() {
  stopped = true;
  error_code ignored;
  acceptor.close(ignored);
  accept_retry.cancel();
  auto all = connections; // close() erases from the set
  for (auto& c : all)
    c->close();
}

std::unique_ptr<data_server> data_server::start(data_source& source, data_server_options options,
                                                std::string& error) {
  auto state = std::make_shared<impl>(source, std::move(options));
  if (!state->listen(error))
    return nullptr;
  state->gate->io = &state->runner.io;
  state->accept(); // queued until the thread runs
  state->runner.start(state);
  return std::unique_ptr<data_server>(new data_server(std::move(state)));
}

data_server::data_server(std::shared_ptr<impl> state) : impl_(std::move(state)) {
}

data_server::~data_server() {
  stop();
}

std::uint16_t data_server::port() const noexcept {
  return impl_->port;
}

data_server_stats data_server::stats() const noexcept {
  data_server_stats s;
  s.connections_accepted = impl_->accepted.load();
  s.handshakes_refused = impl_->refused.load();
  s.objects_served = impl_->served.load();
  s.bytes_served = impl_->bytes_served.load();
  return s;
}

void data_server::stop() {
  {
    std::lock_guard<std::mutex> guard{impl_->gate->mu};
    impl_->gate->io = nullptr;
  }
  impl_->runner.stop([state = impl_.get()] { state->shutdown(); });
}

// -- client --------------------------------------------------------------------------

struct data_client::impl {
  struct connection;

  /// A fetch not finished yet.
  struct pending {
    object_id id;
    callback done;
    /// Sent once on a reused connection that turned out closed by the peer.
    bool retried = false;
  };

  /// The connections to one peer and the fetches waiting for one of them.
  struct peer_pool {
    std::string host;
    std::uint16_t port = 0;
    std::string name; // host:port, as errors say it
    std::deque<pending> queue;
    std::vector<std::shared_ptr<connection>> connections;
  };

  explicit impl(data_client_options o) : opts(std::move(o)) {
    if (opts.connections_per_peer == 0)
      opts.connections_per_peer = 1;
  }

  void fetch(std::string host, std::uint16_t port, object_id id, callback done);
  void on_fetch(const std::string& host, std::uint16_t port, pending p);
  void dispatch(peer_pool& pool);
  void open(peer_pool& pool);
  void shutdown();

  static fetch_result failure(const object_id& id, const std::string& peer, fetch_errc code,
                              const std::string& what) {
    fetch_result r;
    r.error = code;
    r.what = "fetching object " + id.to_string() + " from " + peer + " failed: " + what;
    return r;
  }

  static void finish(pending& p, fetch_result r) {
    try {
      p.done(std::move(r));
    } catch (const std::exception& e) {
      log(log_level::error, "data_client", "a fetch callback threw: ", e.what());
    } catch (...) {
      log(log_level::error, "data_client", "a fetch callback threw");
    }
  }

  data_client_options opts;
  io_runner runner; // before everything that uses its io_context
  std::mutex mu;
  bool stopping = false; // guarded by mu: set once, before the shutdown is posted
  // Pools are never erased: there is one per peer, and connections refer to theirs.
  std::unordered_map<std::string, std::unique_ptr<peer_pool>> pools;
  bool stopped = false;
};

/// One connection to a peer: connect, hello, then one transfer at a time.
struct data_client::impl::connection : std::enable_shared_from_this<connection> {
  enum class phase { connecting, hello, idle, busy, closed };

  connection(impl& c, peer_pool& p) : client(c), pool(p), sock(c.runner.io), resolver(c.runner.io), timer(c.runner.io) {
  }

  void start() {
    last_activity = clock_type::now();
    arm();
    error_code ec;
    auto address = asio::ip::make_address(pool.host, ec);
    if (!ec) {
      tcp::endpoint ep{address, pool.port};
      sock.open(ep.protocol(), ec);
      if (ec) {
        // Never call back into the pool from start(): dispatch() is iterating it.
        asio::post(client.runner.io, [self = shared_from_this(), ec] { self->on_connected(ec); });
        return;
      }
      set_buffers(sock, client.opts.socket_buffer_bytes);
      sock.async_connect(ep, [self = shared_from_this()](error_code ec) { self->on_connected(ec); });
      return;
    }
    resolver.async_resolve(pool.host, std::to_string(pool.port),
                           [self = shared_from_this()](error_code ec, tcp::resolver::results_type found) {
                             if (self->at == phase::closed)
                               return;
                             if (ec) {
                               self->setup_failed(fetch_errc::connect_failed,
                                                  "cannot resolve " + self->pool.host + ": " + ec.message());
                               return;
                             }
                             asio::async_connect(self->sock, found, [self](error_code ec, const tcp::endpoint&) {
                               if (!ec)
                                 set_buffers(self->sock, self->client.opts.socket_buffer_bytes);
                               self->on_connected(ec);
                             });
                           });
  }

  void on_connected(error_code ec) {
    if (at == phase::closed)
      return;
    if (ec) {
      setup_failed(fetch_errc::connect_failed, "cannot connect: " + ec.message());
      return;
    }
    set_no_delay(sock);
    at = phase::hello;
    last_activity = clock_type::now();
    const auto& token = client.opts.token;
    hello.assign(hello_size, 0);
    put32(hello.data(), hello_magic);
    put16(hello.data() + 4, protocol_version);
    put32(hello.data() + 8, static_cast<std::uint32_t>(token.size()));
    hello.insert(hello.end(), token.begin(), token.end());
    asio::async_write(sock, asio::buffer(hello), [self = shared_from_this()](error_code ec, std::size_t) {
      if (self->at == phase::closed)
        return;
      if (ec) {
        self->setup_failed(fetch_errc::connect_failed, "sending the hello failed: " + ec.message());
        return;
      }
      self->last_activity = clock_type::now();
      asio::async_read(self->sock, asio::buffer(self->in.data(), accept_size),
                       [self](error_code ec, std::size_t) { self->on_hello_reply(ec); });
    });
  }

  void on_hello_reply(error_code ec) {
    if (at == phase::closed)
      return;
    if (ec) {
      setup_failed(fetch_errc::connect_failed, ec == asio::error::eof
                                                 ? "the peer closed the connection in the handshake"
                                                 : "the handshake failed: " + ec.message());
      return;
    }
    auto magic = get32(in.data());
    auto version = get16(in.data() + 4);
    auto status = get16(in.data() + 6);
    if (magic != accept_magic) {
      setup_failed(fetch_errc::protocol_error,
                   "corrupt frame: the hello reply starts " + hex32(magic) + ", not a data-channel reply");
    } else if (status == hello_bad_token) {
      setup_failed(fetch_errc::refused, "the peer refused the cluster token this client presented");
    } else if (status == hello_bad_version) {
      setup_failed(fetch_errc::refused, "the peer speaks data-channel version " + std::to_string(version)
                                          + ", this client " + std::to_string(protocol_version));
    } else if (status != hello_ok) {
      setup_failed(fetch_errc::protocol_error, "corrupt frame: hello reply status " + std::to_string(status));
    } else {
      become_idle();
      client.dispatch(pool);
    }
  }

  /// Between transfers a read of the next response header is always pending: it
  /// notices a peer that closes an idle connection, and it is the read the next
  /// response arrives by.
  void become_idle() {
    at = phase::idle;
    asio::async_read(
      sock, asio::buffer(in.data(), response_size),
      [self = shared_from_this()](error_code ec, std::size_t) -> std::size_t {
        self->last_activity = clock_type::now();
        return ec ? 0 : max_io;
      },
      [self = shared_from_this()](error_code ec, std::size_t n) { self->on_header(ec, n); });
  }

  void begin(pending p) {
    current = std::move(p);
    at = phase::busy;
    last_activity = clock_type::now();
    arm();
    put32(request.data(), request_magic);
    put32(request.data() + 4, kind_fetch);
    put64(request.data() + 8, current->id.owner);
    put64(request.data() + 16, current->id.seq);
    asio::async_write(sock, asio::buffer(request), [self = shared_from_this()](error_code ec, std::size_t) {
      if (self->at != phase::busy)
        return; // the transfer ended already (the header read failed first)
      if (ec)
        self->broken(0, "sending the request failed: " + ec.message());
      else
        self->last_activity = clock_type::now();
    });
  }

  void on_header(error_code ec, std::size_t n) {
    if (at == phase::closed)
      return;
    if (at == phase::idle) {
      if (ec)
        log(log_level::debug, "data_client", "idle data-channel connection to ", pool.name, " ended: ", ec.message());
      else
        log(log_level::warning, "data_client", "data-channel peer ", pool.name,
            " sent a response nobody asked for; closing the connection");
      drop();
      return;
    }
    if (ec) {
      broken(n, ec == asio::error::eof ? "the peer closed the connection after " + std::to_string(n) + " of "
                                           + std::to_string(response_size) + " header bytes (truncated stream)"
                                       : "reading the response failed: " + ec.message());
      return;
    }
    auto magic = get32(in.data());
    status = get32(in.data() + 4);
    object_id id{get64(in.data() + 8), get64(in.data() + 16)};
    auto text_len = get32(in.data() + 24);
    size = get64(in.data() + 32);
    if (magic != response_magic) {
      fail(fetch_errc::protocol_error, "corrupt frame: the response header starts " + hex32(magic));
    } else if (status != status_ok && status != status_error) {
      fail(fetch_errc::protocol_error, "corrupt frame: response status " + std::to_string(status));
    } else if (id != current->id) {
      fail(fetch_errc::protocol_error, "corrupt frame: the response is for object " + id.to_string());
    } else if (text_len > max_text) {
      fail(fetch_errc::protocol_error, "corrupt frame: the response announces a text of "
                                         + std::to_string(text_len) + " bytes (at most "
                                         + std::to_string(max_text) + ")");
    } else if (status == status_error && size != 0) {
      fail(fetch_errc::protocol_error, "corrupt frame: an error response announces a payload");
    } else if (size > client.opts.max_object_size) {
      fail(fetch_errc::too_large, "the peer announces " + std::to_string(size) + " bytes, over this client's limit of "
                                    + std::to_string(client.opts.max_object_size));
    } else {
      text.resize(text_len);
      asio::async_read(sock, asio::buffer(text), [self = shared_from_this()](error_code ec, std::size_t) {
        self->on_text(ec);
      });
    }
  }

  void on_text(error_code ec) {
    if (at == phase::closed)
      return;
    if (ec) {
      fail(fetch_errc::protocol_error, ec == asio::error::eof
                                         ? "the peer closed the connection in the response text (truncated stream)"
                                         : "reading the response failed: " + ec.message());
      return;
    }
    last_activity = clock_type::now();
    if (status == status_error) {
      // The peer answered properly: the connection stays good for the next fetch.
      auto p = std::move(*current);
      current.reset();
      auto what = "the peer says: " + text;
      reused = true;
      become_idle();
      client.dispatch(pool);
      finish(p, failure(p.id, pool.name, fetch_errc::peer_error, what));
      return;
    }
    try {
      // Allocated once, at the announced size, and read into in place: the caller
      // moves this string into the object it becomes.
      payload.reserve(size);
    } catch (const std::exception&) {
      fail(fetch_errc::too_large, "cannot allocate the " + std::to_string(size) + " bytes it announces");
      return;
    }
    got = 0;
    read_payload();
  }

  void read_payload() {
    if (got == size) {
      complete();
      return;
    }
    // The string grows (within its capacity: no copy) a step ahead of the bytes
    // read. Zeroing a step just before the kernel fills it costs little, since the
    // step is still in cache; and memory is committed only as bytes arrive, not
    // for whatever size a broken peer announces.
    if (got == payload.size())
      payload.resize(static_cast<std::size_t>(std::min<std::uint64_t>(size, got + payload_step)));
    sock.async_read_some(asio::buffer(payload.data() + got, payload.size() - got),
                         [self = shared_from_this()](error_code ec, std::size_t n) { self->on_payload(ec, n); });
  }

  void on_payload(error_code ec, std::size_t n) {
    if (at == phase::closed)
      return;
    got += n;
    last_activity = clock_type::now();
    if (ec) {
      fail(fetch_errc::protocol_error, ec == asio::error::eof
                                         ? "the peer closed the connection after " + std::to_string(got) + " of "
                                             + std::to_string(size) + " payload bytes (truncated stream)"
                                         : "reading the payload failed after " + std::to_string(got) + " of "
                                             + std::to_string(size) + " bytes: " + ec.message());
      return;
    }
    read_payload();
  }

  void complete() {
    auto p = std::move(*current);
    current.reset();
    fetch_result r;
    r.type_name = std::move(text);
    r.bytes = std::move(payload);
    text.clear();
    payload.clear();
    reused = true;
    become_idle();
    client.dispatch(pool);
    finish(p, std::move(r));
  }

  /// The connection broke before or while the response arrived. A connection that
  /// had served before and breaks before any byte of the response was most likely
  /// closed by the peer while idle: the fetch goes on another connection, once.
  void broken(std::size_t response_bytes, const std::string& what) {
    if (response_bytes == 0 && reused && !current->retried) {
      log(log_level::debug, "data_client", "reused data-channel connection to ", pool.name, " was closed (", what,
          "); sending the fetch again on a new one");
      current->retried = true;
      pool.queue.push_front(std::move(*current));
      current.reset();
      drop();
      client.dispatch(pool);
      return;
    }
    fail(fetch_errc::protocol_error, what);
  }

  /// Fails the transfer in progress and drops the connection.
  void fail(fetch_errc code, const std::string& what) {
    auto p = std::move(*current);
    current.reset();
    drop();
    client.dispatch(pool);
    finish(p, failure(p.id, pool.name, code, what));
  }

  /// The connection failed before it was ready. If no other connection to the peer
  /// is established, the waiting fetches fail with this error (the peer is down or
  /// refuses us); otherwise they wait for the established ones.
  void setup_failed(fetch_errc code, const std::string& what) {
    drop();
    bool established = std::any_of(pool.connections.begin(), pool.connections.end(), [](const auto& c) {
      return c->at == phase::idle || c->at == phase::busy;
    });
    if (established)
      return;
    auto waiting = std::move(pool.queue);
    pool.queue.clear();
    for (auto& p : waiting)
      finish(p, failure(p.id, pool.name, code, what));
  }

  /// When a fetch on this connection is overdue: the inactivity timeout after the
  /// last progress. None while idle.
  std::optional<clock_type::time_point> deadline() const {
    if (at == phase::idle || at == phase::closed)
      return std::nullopt;
    return last_activity + client.opts.inactivity_timeout;
  }

  void arm() {
    auto d = deadline();
    if (!d || (armed && timer.expiry() <= *d))
      return;
    armed = true;
    timer.expires_at(*d);
    timer.async_wait([self = shared_from_this()](error_code ec) { self->on_timer(ec); });
  }

  void on_timer(error_code ec) {
    if (ec == asio::error::operation_aborted || at == phase::closed)
      return;
    armed = false;
    auto d = deadline();
    if (!d)
      return;
    if (clock_type::now() < *d) {
      arm();
      return;
    }
    auto quiet = ms_text(client.opts.inactivity_timeout);
    if (at == phase::connecting)
      setup_failed(fetch_errc::timeout, "no connection within " + quiet);
    else if (at == phase::hello)
      setup_failed(fetch_errc::timeout, "no hello reply within " + quiet);
    else if (payload.empty())
      fail(fetch_errc::timeout, "no response within " + quiet);
    else
      fail(fetch_errc::timeout, "nothing arrived for " + quiet + " after " + std::to_string(got) + " of "
                                  + std::to_string(size) + " payload bytes");
  }

  void close() {
    if (at == phase::closed)
      return;
    at = phase::closed;
    error_code ignored;
    sock.close(ignored);
    resolver.cancel();
    timer.cancel();
  }

  /// Closes the connection and takes it out of its pool.
  void drop() {
    close();
    auto& all = pool.connections;
    all.erase(std::remove(all.begin(), all.end(), shared_from_this()), all.end());
  }

  impl& client;
  peer_pool& pool;
  tcp::socket sock;
  tcp::resolver resolver;
  asio::steady_timer timer;
  phase at = phase::connecting;
  bool armed = false;
  bool reused = false; // a transfer finished on it before
  clock_type::time_point last_activity{};
  std::optional<pending> current;
  std::vector<unsigned char> hello;
  std::array<unsigned char, request_size> request{};
  std::array<unsigned char, response_size> in{};
  std::uint32_t status = 0;
  std::uint64_t size = 0;
  std::uint64_t got = 0;
  std::string text;
  std::string payload;
};

void data_client::impl::fetch(std::string host, std::uint16_t port, object_id id, callback done) {
  pending p{id, std::move(done)};
  {
    std::lock_guard<std::mutex> guard{mu};
    if (!stopping) {
      // Posted under the lock: a fetch is either queued before the shutdown, which
      // fails it, or refused here.
      asio::post(runner.io, [this, host = std::move(host), port, p = std::move(p)]() mutable {
        on_fetch(host, port, std::move(p));
      });
      return;
    }
  }
  finish(p, failure(id, endpoint_text(host, port), fetch_errc::stopped, "the data client was stopped"));
}

void data_client::impl::on_fetch(const std::string& host, std::uint16_t port, pending p) {
  auto name = endpoint_text(host, port);
  if (stopped) {
    finish(p, failure(p.id, name, fetch_errc::stopped, "the data client was stopped"));
    return;
  }
  auto& pool = pools[name];
  if (!pool) {
    pool = std::make_unique<peer_pool>();
    pool->host = host;
    pool->port = port;
    pool->name = name;
  }
  pool->queue.push_back(std::move(p));
  dispatch(*pool);
}

void data_client::impl::dispatch(peer_pool& pool) {
  if (stopped)
    return;
  auto& all = pool.connections;
  while (!pool.queue.empty()) {
    auto idle = std::find_if(all.begin(), all.end(), [](const auto& c) { return c->at == connection::phase::idle; });
    if (idle == all.end())
      break;
    auto p = std::move(pool.queue.front());
    pool.queue.pop_front();
    (*idle)->begin(std::move(p));
  }
  auto opening = static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [](const auto& c) {
    return c->at == connection::phase::connecting || c->at == connection::phase::hello;
  }));
  while (pool.queue.size() > opening && all.size() < opts.connections_per_peer) {
    open(pool);
    ++opening;
  }
}

void data_client::impl::open(peer_pool& pool) {
  auto c = std::make_shared<connection>(*this, pool);
  pool.connections.push_back(c);
  c->start();
}

void data_client::impl::shutdown() {
  stopped = true;
  std::vector<pending> unfinished;
  std::vector<std::string> peers;
  for (auto& [name, pool] : pools) {
    for (auto& c : pool->connections) {
      if (c->current) {
        unfinished.push_back(std::move(*c->current));
        peers.push_back(name);
        c->current.reset();
      }
      c->close();
    }
    pool->connections.clear();
    for (auto& p : pool->queue) {
      unfinished.push_back(std::move(p));
      peers.push_back(name);
    }
    pool->queue.clear();
  }
  // Callbacks last: one may call fetch() or stop(), which find everything settled.
  for (std::size_t i = 0; i < unfinished.size(); ++i)
    finish(unfinished[i], failure(unfinished[i].id, peers[i], fetch_errc::stopped, "the data client was stopped"));
}

data_client::data_client(data_client_options options) : impl_(std::make_shared<impl>(std::move(options))) {
  impl_->runner.start(impl_);
}

data_client::~data_client() {
  stop();
}

void data_client::fetch(std::string host, std::uint16_t port, object_id id, callback done) {
  impl_->fetch(std::move(host), port, id, std::move(done));
}

void data_client::stop() {
  {
    std::lock_guard<std::mutex> guard{impl_->mu};
    impl_->stopping = true;
  }
  impl_->runner.stop([state = impl_.get()] { state->shutdown(); });
}

} // namespace actors::runtime
