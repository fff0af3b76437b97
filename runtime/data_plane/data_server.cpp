// The data channel's server: it listens for peers, checks each one's hello and
// token, and answers their fetches one at a time per connection with the bytes a
// data_source gives it. The frames it reads and writes are in data_frames.hpp; its
// thread and the rules of who touches what, in data_io.hpp.

#include "runtime/data_plane/data_channel.hpp"

#include "runtime/common/log.hpp"
#include "runtime/data_plane/data_frames.hpp"
#include "runtime/data_plane/data_io.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <atomic>
#include <mutex>
#include <optional>
#include <unordered_set>

namespace actors::runtime {

using namespace data_plane;

namespace {

/// Compares in time that depends only on the lengths, so that a wrong token tells
/// nothing about the right one.
bool same_token(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

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
  if (bytes)
    r.body = *bytes;
  r.keep = std::move(bytes);
  return r;
}

lookup_result lookup_result::found_in_place(std::string type_name, std::string head, std::string_view body,
                                            std::shared_ptr<const void> keep) {
  lookup_result r;
  r.type_name = std::move(type_name);
  r.head = std::move(head);
  r.body = body;
  r.keep = std::move(keep);
  return r;
}

lookup_result lookup_result::failed(std::string why) {
  lookup_result r;
  r.error = std::move(why);
  return r;
}

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
    : server(s), sock(std::move(sock_in)), watch(server.runner.io), peer(std::move(peer_in)) {
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
    if (r.ok() && r.type_name.size() > max_text)
      r = lookup_result::failed("its type name is longer than " + std::to_string(max_text) + " bytes");
    if (r.ok()) {
      text = std::move(r.type_name);
      payload = std::move(r);
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
    put64(out.data() + 32, payload.size());
    at = phase::writing;
    last_activity = clock_type::now();
    arm();
    // The header, the text and the source's bytes as they are, in one gathered write.
    std::array<asio::const_buffer, 4> frame{asio::buffer(out.data(), response_size), asio::buffer(text),
                                            asio::buffer(payload.head),
                                            asio::buffer(payload.body.data(), payload.body.size())};
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
      server.bytes_served += payload.size();
    }
    payload = {};
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

  void arm() {
    watch.arm(*this);
  }

  bool closed() const {
    return at == phase::closed;
  }

  /// The deadline passed: the handshake or the response is abandoned.
  void overdue() {
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
    watch.cancel();
    payload = {};
    server.connections.erase(shared_from_this());
  }

  impl& server;
  tcp::socket sock;
  deadline_watch<connection> watch;
  const std::string peer;
  phase at = phase::hello;
  clock_type::time_point hello_deadline{};
  clock_type::time_point last_activity{};
  std::array<unsigned char, response_size> in{};
  std::array<unsigned char, response_size> out{};
  std::string token;
  std::string text;
  lookup_result payload; // what is being written (empty otherwise)
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

} // namespace actors::runtime
