// The data channel's client: a pool of connections per peer, each doing its
// hello and then one fetch at a time, with the fetches beyond waiting in the
// pool's queue, and the inactivity timeout on every step. The frames it reads and
// writes are in data_frames.hpp; its thread and the rules of who touches what, in
// data_io.hpp.

#include "runtime/data_plane/data_channel.hpp"

#include "actors/detail/huge_pages.hpp"

#include "runtime/common/log.hpp"
#include "runtime/data_plane/data_frames.hpp"
#include "runtime/data_plane/data_io.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <deque>
#include <exception>
#include <mutex>
#include <new>
#include <optional>
#include <unordered_map>
#include <vector>

namespace actors::runtime {

using namespace data_plane;

namespace {

// How far ahead of the bytes read the client's payload string is grown.
constexpr std::uint64_t payload_step = std::uint64_t{4} << 20;

} // namespace

struct data_client::impl {
  struct connection;

  /// A fetch not finished yet.
  struct pending {
    object_id id;
    callback done;
    choose_destination choose;
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

  void fetch(std::string host, std::uint16_t port, object_id id, callback done, choose_destination choose);
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

  connection(impl& c, peer_pool& p) : client(c), pool(p), sock(c.runner.io), resolver(c.runner.io), watch(c.runner.io) {
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
      // The caller's destination (the value the bytes become), or a string
      // allocated once, at the announced size, and read into in place: the caller
      // moves it into the object it becomes.
      if (current->choose)
        destination = current->choose(text, size);
      if (!destination) {
        payload.reserve(size);
        actors::detail::advise_huge_pages(payload.data(), payload.capacity());
      }
    } catch (const std::exception& e) {
      fail(fetch_errc::too_large, "cannot make room for the " + std::to_string(size) + " bytes it announces: "
                                    + e.what());
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
    asio::mutable_buffer into;
    if (destination) {
      auto [at, n] = destination->writable(got);
      into = asio::buffer(at, static_cast<std::size_t>(std::min<std::uint64_t>(n, size - got)));
    } else {
      if (got == payload.size())
        payload.resize(static_cast<std::size_t>(std::min<std::uint64_t>(size, got + payload_step)));
      into = asio::buffer(payload.data() + got, payload.size() - got);
    }
    sock.async_read_some(into, [self = shared_from_this()](error_code ec, std::size_t n) { self->on_payload(ec, n); });
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
    r.destination = std::move(destination);
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
    watch.arm(*this);
  }

  bool closed() const {
    return at == phase::closed;
  }

  /// The deadline passed: the fetch (or the connection's setup) fails.
  void overdue() {
    auto quiet = ms_text(client.opts.inactivity_timeout);
    if (at == phase::connecting)
      setup_failed(fetch_errc::timeout, "no connection within " + quiet);
    else if (at == phase::hello)
      setup_failed(fetch_errc::timeout, "no hello reply within " + quiet);
    else if (payload.empty() && !destination)
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
    watch.cancel();
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
  deadline_watch<connection> watch;
  phase at = phase::connecting;
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
  std::unique_ptr<payload_destination> destination; // instead of `payload`
};

void data_client::impl::fetch(std::string host, std::uint16_t port, object_id id, callback done,
                              choose_destination choose) {
  pending p{id, std::move(done), std::move(choose)};
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

void data_client::fetch(std::string host, std::uint16_t port, object_id id, callback done,
                        choose_destination choose) {
  impl_->fetch(std::move(host), port, id, std::move(done), std::move(choose));
}

void data_client::stop() {
  {
    std::lock_guard<std::mutex> guard{impl_->mu};
    impl_->stopping = true;
  }
  impl_->runner.stop([state = impl_.get()] { state->shutdown(); });
}

} // namespace actors::runtime
