#include "runtime/secure/tls_gateway.hpp"

#include "runtime/common/log.hpp"

#include "actors/errors.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace actors::runtime {

namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

std::atomic<tls_gateway*> this_process{nullptr};

// Bytes one read takes at most.
constexpr std::size_t read_size = 256 * 1024;

std::string address_of(const tcp::socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec)
    return "an unknown address";
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

/// Why a TLS handshake failed, in words a user can act on.
std::string handshake_failure(ssl::stream<tcp::socket>& s, const error_code& ec) {
  long verify = SSL_get_verify_result(s.native_handle());
  if (verify != X509_V_OK)
    return "its certificate is refused: " + std::string(X509_verify_cert_error_string(verify))
           + " (it must be signed by this cluster's CA)";
  auto text = ec.message();
  if (text.find("wrong version number") != std::string::npos || text.find("http request") != std::string::npos
      || text.find("unknown protocol") != std::string::npos || text.find("packet length too long") != std::string::npos)
    return "it does not speak TLS (" + text + "): start it with --tls-cert, --tls-key and --tls-ca";
  if (text.find("alert") != std::string::npos)
    return "it ended the TLS handshake (" + text + "): its CA is not this cluster's, or it refused this process's "
           "certificate";
  if (text.find("peer did not return a certificate") != std::string::npos)
    return "it showed no certificate: start it with --tls-cert and --tls-key";
  return "TLS handshake failed: " + text;
}

void check_file(const std::string& path, const std::string& flag) {
  if (path.empty())
    throw error(errc::invalid_argument, flag + " file is missing: TLS needs a certificate, its key and the "
                                               "cluster's CA (--tls-cert, --tls-key, --tls-ca for actorsd and the "
                                               "actors command; --actors-tls-* or ACTORS_TLS_* for a program); "
                                               "`actors certs --out DIR --hosts ...` makes them");
  if (!std::ifstream(path))
    throw error(errc::invalid_argument, flag + " file " + path + " cannot be read");
}

/// A TLS context holding this process's identity, checking peers against the CA.
void load_identity(ssl::context& ctx, const tls_settings& files) {
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3
                  | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  auto load = [](const std::string& path, const char* what, auto&& fn) {
    error_code ec;
    fn(ec);
    if (ec)
      throw error(errc::invalid_argument,
                  std::string("cannot use ") + what + " " + path + ": " + ec.message() + " (is it PEM?)");
  };
  load(files.cert, "certificate", [&](error_code& ec) { ctx.use_certificate_chain_file(files.cert, ec); });
  load(files.key, "private key", [&](error_code& ec) { ctx.use_private_key_file(files.key, ssl::context::pem, ec); });
  load(files.ca, "CA certificate", [&](error_code& ec) { ctx.load_verify_file(files.ca, ec); });
  ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
}

} // namespace

tls_settings tls_settings::from_environment() {
  auto var = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  return {var("ACTORS_TLS_CERT"), var("ACTORS_TLS_KEY"), var("ACTORS_TLS_CA")};
}

void tls_settings::check(const std::string& flag_prefix) const {
  check_file(cert, flag_prefix + "certificate");
  check_file(key, flag_prefix + "key");
  check_file(ca, flag_prefix + "CA");
}

// -- frame_guard -------------------------------------------------------------------------

bool frame_guard::feed(const char* data, std::size_t n, std::string& out, std::string& why) {
  while (n > 0) {
    if (!in_payload_) {
      auto k = std::min(n, header_size - header_have_);
      std::memcpy(header_ + header_have_, data, k);
      header_have_ += k;
      data += k;
      n -= k;
      if (header_have_ < header_size)
        break;
      const auto* h = reinterpret_cast<const unsigned char*>(header_);
      std::uint32_t len = (std::uint32_t{h[4]} << 24) | (std::uint32_t{h[5]} << 16) | (std::uint32_t{h[6]} << 8) | h[7];
      if (len > max_) {
        why = "a frame announced " + std::to_string(len) + " bytes, past the maximum of " + std::to_string(max_);
        return false;
      }
      header_have_ = 0;
      payload_left_ = len;
      holding_ = len > hold_above_;
      if (holding_) {
        held_.reserve(header_size + len);
        held_.append(header_, header_size);
      } else {
        out.append(header_, header_size);
      }
      in_payload_ = len > 0;
      if (!in_payload_)
        ++frames_;
      continue;
    }
    auto k = static_cast<std::size_t>(std::min<std::uint64_t>(n, payload_left_));
    (holding_ ? held_ : out).append(data, k);
    data += k;
    n -= k;
    payload_left_ -= k;
    if (payload_left_ == 0) {
      in_payload_ = false;
      ++frames_;
      if (holding_) {
        out += held_;
        std::string().swap(held_);
        holding_ = false;
      }
    }
  }
  return true;
}

// -- the gateway -------------------------------------------------------------------------

struct tls_gateway::impl : std::enable_shared_from_this<tls_gateway::impl> {
  impl(const tls_settings& files, gateway_limits l)
    : server_ctx(ssl::context::tls_server), client_ctx(ssl::context::tls_client), limits(l) {
    load_identity(server_ctx, files);
    load_identity(client_ctx, files);
  }

  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  std::thread thread;
  ssl::context server_ctx;
  ssl::context client_ctx;
  gateway_limits limits;
  std::atomic<std::uint64_t> refused{0};
  std::atomic<bool> stopped{false};

  // Touched on the gateway's thread only.
  std::vector<std::shared_ptr<tcp::acceptor>> acceptors;
  // Guards routes: route_to is called from any thread.
  std::mutex mu;
  std::map<std::pair<std::string, std::uint16_t>, std::uint16_t> routes;

  /// One connection carried between a TLS socket to a peer and a plain loopback
  /// socket to CAF.
  struct pipe : std::enable_shared_from_this<pipe> {
    pipe(impl& g, ssl::context& ctx, tcp::socket raw, tcp::socket local)
      : g(g), outer(std::move(raw), ctx), inner(std::move(local)), timer(g.io), guard(g.limits.max_frame_bytes) {}

    impl& g;
    ssl::stream<tcp::socket> outer;
    tcp::socket inner;
    asio::steady_timer timer;
    frame_guard guard;
    std::string peer;
    bool incoming = false;
    bool closed = false;
    bool answered = false; // the peer sent a whole frame
    std::vector<char> from_peer = std::vector<char>(read_size);
    std::vector<char> from_caf = std::vector<char>(read_size);
    std::string to_caf;

    void refuse(const std::string& why) {
      if (!closed) {
        g.refused.fetch_add(1, std::memory_order_relaxed);
        log(log_level::warning, "tls", incoming ? "refused a connection from " : "closed the connection to ", peer,
            ": ", why);
      }
      close();
    }

    void close() {
      if (closed)
        return;
      closed = true;
      error_code ignored;
      timer.cancel();
      outer.lowest_layer().close(ignored);
      inner.close(ignored);
    }

    void arm_timeout() {
      timer.expires_after(g.limits.handshake_timeout);
      timer.async_wait([self = shared_from_this()](const error_code& ec) {
        if (ec || self->answered || self->closed)
          return;
        self->refuse("nothing valid came within " + std::to_string(self->g.limits.handshake_timeout.count())
                     + " ms of connecting (TLS handshake and a first message)");
      });
    }

    void start_pumps() {
      read_peer();
      read_caf();
    }

    void read_peer() {
      outer.async_read_some(asio::buffer(from_peer), [self = shared_from_this()](const error_code& ec, std::size_t n) {
        if (self->closed)
          return;
        if (ec) {
          self->close();
          return;
        }
        std::string why;
        self->to_caf.clear();
        if (!self->guard.feed(self->from_peer.data(), n, self->to_caf, why)) {
          self->refuse(why);
          return;
        }
        if (!self->answered && self->guard.frames() > 0) {
          self->answered = true;
          self->timer.cancel();
        }
        if (self->to_caf.empty()) {
          self->read_peer();
          return;
        }
        asio::async_write(self->inner, asio::buffer(self->to_caf), [self](const error_code& wec, std::size_t) {
          if (wec || self->closed) {
            self->close();
            return;
          }
          self->read_peer();
        });
      });
    }

    void read_caf() {
      inner.async_read_some(asio::buffer(from_caf), [self = shared_from_this()](const error_code& ec, std::size_t n) {
        if (ec || self->closed) {
          self->close();
          return;
        }
        asio::async_write(self->outer, asio::buffer(self->from_caf.data(), n),
                          [self](const error_code& wec, std::size_t) {
                            if (wec || self->closed) {
                              self->close();
                              return;
                            }
                            self->read_caf();
                          });
      });
    }
  };

  /// Calls `again` now, or after a pause when accepting failed (out of file
  /// descriptors, say), so that a failing accept does not spin.
  template <class F>
  void accept_again(const error_code& ec, F again) {
    if (ec == asio::error::operation_aborted || stopped.load())
      return;
    if (!ec) {
      again();
      return;
    }
    auto pause = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(50));
    pause->async_wait([pause, again](const error_code&) { again(); });
  }

  void accept_peers(std::shared_ptr<tcp::acceptor> acc, std::uint16_t inner_port) {
    acc->async_accept([this, self = shared_from_this(), acc, inner_port](const error_code& ec, tcp::socket raw) {
      if (stopped.load())
        return;
      if (!ec)
        take_peer(std::move(raw), inner_port);
      accept_again(ec, [this, acc, inner_port] { accept_peers(acc, inner_port); });
    });
  }

  void take_peer(tcp::socket raw, std::uint16_t inner_port) {
    error_code ignored;
    raw.set_option(tcp::no_delay(true), ignored);
    auto peer = address_of(raw);
    auto p = std::make_shared<pipe>(*this, server_ctx, std::move(raw), tcp::socket(io));
    p->peer = peer;
    p->incoming = true;
    p->arm_timeout();
    p->outer.async_handshake(ssl::stream_base::server, [this, p, inner_port](const error_code& ec) {
      if (p->closed)
        return;
      if (ec) {
        p->refuse(handshake_failure(p->outer, ec));
        return;
      }
      p->inner.async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), inner_port),
                             [p](const error_code& cec) {
                               if (p->closed)
                                 return;
                               if (cec) {
                                 p->refuse("cannot reach this process's own port behind the gateway: " + cec.message());
                                 return;
                               }
                               error_code ignored2;
                               p->inner.set_option(tcp::no_delay(true), ignored2);
                               p->start_pumps();
                             });
    });
  }

  void accept_local(std::shared_ptr<tcp::acceptor> acc, std::string host, std::uint16_t port) {
    acc->async_accept([this, self = shared_from_this(), acc, host, port](const error_code& ec, tcp::socket local) {
      if (stopped.load())
        return;
      if (!ec)
        dial(std::move(local), host, port);
      accept_again(ec, [this, acc, host, port] { accept_local(acc, host, port); });
    });
  }

  void dial(tcp::socket local, const std::string& host, std::uint16_t port) {
    error_code ignored;
    local.set_option(tcp::no_delay(true), ignored);
    auto p = std::make_shared<pipe>(*this, client_ctx, tcp::socket(io), std::move(local));
    p->peer = host + ":" + std::to_string(port);
    p->arm_timeout();
    error_code ec;
    auto address = asio::ip::make_address(host, ec);
    if (ec) {
      tcp::resolver resolver(io);
      auto found = resolver.resolve(host, std::to_string(port), ec);
      if (ec || found.empty()) {
        p->refuse("cannot resolve " + host + ": " + ec.message());
        return;
      }
      address = found.begin()->endpoint().address();
    }
    p->outer.lowest_layer().async_connect(tcp::endpoint(address, port), [p](const error_code& cec) {
      if (p->closed)
        return;
      if (cec) {
        p->refuse("cannot connect: " + cec.message());
        return;
      }
      error_code ignored2;
      p->outer.lowest_layer().set_option(tcp::no_delay(true), ignored2);
      p->outer.async_handshake(ssl::stream_base::client, [p](const error_code& hec) {
        if (p->closed)
          return;
        if (hec) {
          p->refuse(handshake_failure(p->outer, hec));
          return;
        }
        // The server speaks first (CAF's handshake): what it sends ends the timeout.
        p->start_pumps();
      });
    });
  }

  /// Runs `fn` on the gateway's thread and returns what it returns (or throws
  /// what it throws).
  template <class F>
  auto on_thread(F fn) -> decltype(fn()) {
    if (stopped.load())
      throw error(errc::invalid_argument, "the TLS gateway was stopped");
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    asio::post(io, [&task] { task(); });
    return result.get();
  }
};

tls_gateway::tls_gateway(const tls_settings& files, gateway_limits limits)
  : impl_(std::make_shared<impl>(files, limits)) {
  impl_->thread = std::thread([g = impl_] {
    for (;;) {
      try {
        g->io.run();
        return;
      } catch (const std::exception& e) {
        log(log_level::error, "tls", "a handler threw: ", e.what());
      }
    }
  });
}

tls_gateway::~tls_gateway() {
  stop();
}

std::uint16_t tls_gateway::serve(const std::string& bind, std::uint16_t port, std::uint16_t inner_port) {
  return impl_->on_thread([&]() -> std::uint16_t {
    error_code ec;
    auto address = asio::ip::make_address(bind, ec);
    if (ec)
      throw error(errc::invalid_argument, "cannot listen on '" + bind + "': not a numeric address");
    auto acc = std::make_shared<tcp::acceptor>(impl_->io);
    tcp::endpoint ep(address, port);
    acc->open(ep.protocol(), ec);
    if (!ec)
      acc->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec)
      acc->bind(ep, ec);
    if (!ec)
      acc->listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      throw error(errc::invalid_argument, "cannot listen on " + bind + ":" + std::to_string(port) + ": "
                                            + ec.message() + "; is the port taken?");
    impl_->acceptors.push_back(acc);
    impl_->accept_peers(acc, inner_port);
    return acc->local_endpoint().port();
  });
}

std::uint16_t tls_gateway::route_to(const std::string& host, std::uint16_t port) {
  std::lock_guard<std::mutex> guard{impl_->mu};
  auto key = std::make_pair(host, port);
  if (auto i = impl_->routes.find(key); i != impl_->routes.end())
    return i->second;
  auto local = impl_->on_thread([&]() -> std::uint16_t {
    auto acc = std::make_shared<tcp::acceptor>(impl_->io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    impl_->acceptors.push_back(acc);
    impl_->accept_local(acc, host, port);
    return acc->local_endpoint().port();
  });
  impl_->routes.emplace(key, local);
  return local;
}

std::uint64_t tls_gateway::refused() const noexcept {
  return impl_->refused.load(std::memory_order_relaxed);
}

void tls_gateway::stop() {
  if (impl_->stopped.exchange(true))
    return;
  if (this_process.load() == this)
    this_process.store(nullptr);
  impl_->work.reset();
  impl_->io.stop();
  if (impl_->thread.joinable())
    impl_->thread.join();
  // The gateway's thread is gone: close the acceptors here and run what that
  // completes, so that the accept handlers, which hold the gateway's state, end
  // and the state is freed with this object. Open pipes go with the io_context.
  error_code ignored;
  for (auto& acc : impl_->acceptors)
    acc->close(ignored);
  impl_->acceptors.clear();
  impl_->io.restart();
  impl_->io.poll();
}

tls_gateway* tls_gateway::of_this_process() noexcept {
  return this_process.load();
}

void tls_gateway::use_for_this_process(tls_gateway* gateway) noexcept {
  this_process.store(gateway);
}

} // namespace actors::runtime
