// The data channel on its own: a data_server and a data_client in this process on
// 127.0.0.1, and raw sockets standing in for a broken server or a silent client.
// The raw sockets speak the wire format from its documentation, so these tests also
// pin that format. Every wait is bounded (10 s).

#include "runtime/data_plane/data_channel.hpp"

#include "runtime/common/little_endian.hpp"
#include "runtime/common/log.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace actors;
using namespace actors::runtime;
using namespace std::chrono_literals;

constexpr auto bound = 10s;
constexpr std::size_t MiB = std::size_t{1} << 20;
const std::string token = "the-cluster-token";

std::string random_bytes(std::size_t n, std::uint64_t seed) {
  std::string s(n, '\0');
  std::uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
  for (std::size_t i = 0; i < n; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(s.data() + i, &x, std::min<std::size_t>(8, n - i));
  }
  return s;
}

/// A data source over a map; with `hold`, it keeps the answers to give later.
class map_source : public data_source {
 public:
  void add(const object_id& id, std::string type, std::string bytes) {
    std::lock_guard<std::mutex> guard{mu_};
    objects_[id] = {std::move(type), std::make_shared<const std::string>(std::move(bytes))};
  }

  void hold() {
    std::lock_guard<std::mutex> guard{mu_};
    hold_ = true;
  }

  /// Waits until `n` lookups are held.
  bool wait_held(std::size_t n) {
    std::unique_lock<std::mutex> guard{mu_};
    return cv_.wait_for(guard, bound, [&] { return held_.size() >= n; });
  }

  /// Answers the held lookups now (as a store would when the objects settle).
  void answer_held() {
    std::vector<reply> held;
    {
      std::lock_guard<std::mutex> guard{mu_};
      held.swap(held_);
    }
    for (auto& done : held)
      done(lookup_result::failed("answered late"));
  }

  void lookup(const object_id& id, reply done) override {
    std::unique_lock<std::mutex> guard{mu_};
    if (hold_) {
      held_.push_back(std::move(done));
      cv_.notify_all();
      return;
    }
    auto i = objects_.find(id);
    if (i == objects_.end()) {
      guard.unlock();
      done(lookup_result::failed("object " + id.to_string() + " is not held by this node"));
      return;
    }
    auto found = lookup_result::found(i->second.first, i->second.second);
    guard.unlock();
    done(std::move(found));
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<object_id, std::pair<std::string, std::shared_ptr<const std::string>>> objects_;
  bool hold_ = false;
  std::vector<reply> held_;
};

data_server_options server_options() {
  data_server_options o;
  o.bind_address = "127.0.0.1";
  o.token = token;
  return o;
}

data_client_options client_options() {
  data_client_options o;
  o.token = token;
  return o;
}

std::unique_ptr<data_server> start_server(data_source& source, data_server_options o = server_options()) {
  std::string error;
  auto s = data_server::start(source, std::move(o), error);
  EXPECT_TRUE(s) << error;
  return s;
}

/// The server's counters once `done` holds for them, or after 10 s the last
/// ones read. The server counts a response when its write completes, which may
/// be after the client has read the last byte of it.
template <class Done>
data_server_stats stats_once(const data_server& server, Done done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto s = server.stats();
  while (!done(s) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    s = server.stats();
  }
  return s;
}

/// The results of fetches, waited for with a bound.
class results {
 public:
  data_client::callback slot(std::size_t i) {
    {
      std::lock_guard<std::mutex> guard{mu_};
      if (got_.size() <= i)
        got_.resize(i + 1);
    }
    return [this, i](fetch_result r) {
      std::lock_guard<std::mutex> guard{mu_};
      if (got_[i])
        ADD_FAILURE() << "fetch " << i << " called back twice";
      got_[i] = std::move(r);
      ++count_;
      cv_.notify_all();
    };
  }

  /// Waits until every slot has its result.
  bool wait() {
    std::unique_lock<std::mutex> guard{mu_};
    return cv_.wait_for(guard, bound, [&] { return count_ == got_.size(); });
  }

  fetch_result& at(std::size_t i) {
    std::lock_guard<std::mutex> guard{mu_};
    return *got_[i];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::optional<fetch_result>> got_;
  std::size_t count_ = 0;
};

fetch_result fetch_one(data_client& client, std::uint16_t port, object_id id) {
  results r;
  client.fetch("127.0.0.1", port, id, r.slot(0));
  if (!r.wait()) {
    ADD_FAILURE() << "no answer to the fetch of " << id.to_string() << " within 10 s";
    fetch_result none;
    none.error = fetch_errc::timeout;
    none.what = "the test gave up";
    return none;
  }
  return std::move(r.at(0));
}

std::string peer(std::uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

bool logs_warnings() {
  return current_log_level() >= log_level::warning;
}

// -- raw sockets: the wire format, written out here (its integer fields with the
// helpers of runtime/common/little_endian.hpp) -----------------------------------------

constexpr std::uint32_t hello_magic = 0x48434441;    // "ADCH"
constexpr std::uint32_t accept_magic = 0x41434441;   // "ADCA"
constexpr std::uint32_t request_magic = 0x51434441;  // "ADCQ"
constexpr std::uint32_t response_magic = 0x52434441; // "ADCR"

void set_timeout(int fd) {
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool read_exact(int fd, void* buf, std::size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    auto got = ::recv(fd, p, n, 0);
    if (got <= 0)
      return false;
    p += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

bool write_all(int fd, const void* buf, std::size_t n) {
  auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    auto sent = ::send(fd, p, n, MSG_NOSIGNAL);
    if (sent <= 0)
      return false;
    p += sent;
    n -= static_cast<std::size_t>(sent);
  }
  return true;
}

/// A response header as the server writes it.
std::string response_header(std::uint32_t magic, std::uint32_t status, const object_id& id, std::uint32_t text_len,
                            std::uint64_t size) {
  unsigned char h[40] = {};
  put32(h, magic);
  put32(h + 4, status);
  put64(h + 8, id.owner);
  put64(h + 16, id.seq);
  put32(h + 24, text_len);
  put64(h + 32, size);
  return std::string(reinterpret_cast<char*>(h), sizeof h);
}

/// A connection to `port` with 10 s timeouts on both directions.
int connect_raw(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  set_timeout(fd);
  return fd;
}

/// Waits until the peer closes `fd`; false if it sent data or stayed open for 10 s.
/// A peer that closes with bytes of ours unread resets the connection instead.
bool closed_by_peer(int fd) {
  char c;
  auto n = ::recv(fd, &c, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

/// A listening socket on 127.0.0.1 that accepts connections one after the other,
/// answers the hello, reads one request and hands the connection to a script (the
/// misbehaviour under test). The connection is closed when the script returns.
class fake_server {
 public:
  using script = std::function<void(int fd, const object_id& asked)>;

  explicit fake_server(script s) : script_(std::move(s)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listener_, 16);
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }

  ~fake_server() {
    stop_ = true;
    thread_.join();
    ::close(listener_);
  }

  std::uint16_t port() const {
    return port_;
  }

  int connections() const {
    return connections_;
  }

 private:
  void run() {
    while (!stop_) {
      pollfd p{listener_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0)
        continue;
      int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0)
        continue;
      ++connections_;
      set_timeout(fd);
      serve(fd);
      ::close(fd);
    }
  }

  void serve(int fd) {
    unsigned char hello[16];
    if (!read_exact(fd, hello, sizeof hello) || get32(hello) != hello_magic)
      return;
    std::string presented(get32(hello + 8), '\0');
    if (!read_exact(fd, presented.data(), presented.size()))
      return;
    unsigned char ack[8];
    put32(ack, accept_magic);
    put16(ack + 4, 1);
    put16(ack + 6, 0);
    if (!write_all(fd, ack, sizeof ack))
      return;
    unsigned char req[24];
    if (!read_exact(fd, req, sizeof req) || get32(req) != request_magic)
      return;
    script_(fd, object_id{get64(req + 8), get64(req + 16)});
  }

  script script_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

// -- the tests ------------------------------------------------------------------------------

TEST(DataChannel, DeliversValuesByteExactWithTheirTypeName) {
  map_source source;
  const std::vector<std::size_t> sizes = {0, 1, MiB, 256 * MiB};
  std::vector<std::string> values;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    values.push_back(random_bytes(sizes[i], i + 1));
    source.add(object_id{7, i}, "type_" + std::to_string(i), values.back());
  }
  auto server = start_server(source);
  ASSERT_TRUE(server);
  data_client client{client_options()};
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    auto r = fetch_one(client, server->port(), object_id{7, i});
    ASSERT_TRUE(r.ok()) << r.what;
    EXPECT_EQ(r.type_name, "type_" + std::to_string(i));
    ASSERT_EQ(r.bytes.size(), sizes[i]);
    EXPECT_TRUE(r.bytes == values[i]) << "the bytes of the " << sizes[i] << "-byte value differ";
  }
  // One connection, reused for each fetch in turn.
  EXPECT_EQ(server->stats().connections_accepted, 1u);
  EXPECT_EQ(stats_once(*server, [](const auto& s) { return s.objects_served >= 4; }).objects_served, 4u);
}

/// Answers every lookup with `head` and the bytes of a vector it keeps alive
/// only through the answer.
class in_place_source : public data_source {
 public:
  in_place_source(std::string head, std::string body) : head_(std::move(head)), body_(std::move(body)) {}

  void lookup(const object_id&, reply done) override {
    auto value = std::make_shared<const std::vector<char>>(body_.begin(), body_.end());
    std::string_view bytes(value->data(), value->size());
    done(lookup_result::found_in_place("in_place", head_, bytes, std::move(value)));
  }

 private:
  std::string head_, body_;
};

TEST(DataChannel, AValueSentInPlaceArrivesAsItsHeadThenItsBytes) {
  const std::string head = "HEAD-13-bytes";
  const std::string body = random_bytes(40 * MiB + 3, 77);
  in_place_source source(head, body);
  auto server = start_server(source);
  ASSERT_TRUE(server);
  data_client client{client_options()};
  for (std::uint64_t i = 0; i < 2; ++i) { // the connection is reused after it
    auto r = fetch_one(client, server->port(), object_id{3, i});
    ASSERT_TRUE(r.ok()) << r.what;
    EXPECT_EQ(r.type_name, "in_place");
    ASSERT_EQ(r.bytes.size(), head.size() + body.size());
    EXPECT_TRUE(r.bytes == head + body) << "the received bytes are not the head and then the body";
  }
  const auto served = 2 * (head.size() + body.size());
  EXPECT_EQ(stats_once(*server, [&](const auto& s) { return s.bytes_served >= served; }).bytes_served, served);
}

/// The result of a fetch, waited for 10 s at most.
fetch_result within_bound(std::future<fetch_result> f) {
  if (f.wait_for(bound) != std::future_status::ready) {
    ADD_FAILURE() << "no answer to the fetch within the bound";
    fetch_result none;
    none.error = fetch_errc::timeout;
    return none;
  }
  return f.get();
}

/// A destination that hands out at most `piece` bytes at a time, into one
/// buffer of the announced size.
class piecewise_destination : public payload_destination {
 public:
  piecewise_destination(std::uint64_t size, std::size_t piece) : bytes(size, '\0'), piece_(piece) {}

  std::pair<char*, std::size_t> writable(std::uint64_t offset) override {
    ++calls;
    return {bytes.data() + offset, std::min<std::size_t>(piece_, bytes.size() - offset)};
  }

  std::string bytes;
  std::size_t calls = 0;

 private:
  std::size_t piece_;
};

TEST(DataChannel, APayloadGoesWhereTheCallerChose) {
  map_source source;
  const std::string value = random_bytes(5 * MiB + 11, 21);
  source.add(object_id{4, 1}, "chosen", value);
  source.add(object_id{4, 2}, "not_chosen", "small");
  auto server = start_server(source);
  ASSERT_TRUE(server);
  data_client client{client_options()};
  auto fetch_choosing = [&](object_id id) {
    std::promise<fetch_result> got;
    client.fetch("127.0.0.1", server->port(), id, [&](fetch_result r) { got.set_value(std::move(r)); },
                 [](const std::string& type, std::uint64_t size) -> std::unique_ptr<payload_destination> {
                   if (type != "chosen")
                     return nullptr;
                   return std::make_unique<piecewise_destination>(size, 100'000);
                 });
    return within_bound(got.get_future());
  };
  auto r = fetch_choosing(object_id{4, 1});
  ASSERT_TRUE(r.ok()) << r.what;
  EXPECT_TRUE(r.bytes.empty()) << "the payload went into the string instead";
  ASSERT_TRUE(r.destination);
  auto& d = static_cast<piecewise_destination&>(*r.destination);
  EXPECT_TRUE(d.bytes == value) << "the bytes in the chosen destination differ";
  EXPECT_GE(d.calls, value.size() / 100'000) << "the destination was not asked piece by piece";
  // Where the chooser declines, the string takes the payload.
  auto plain = fetch_choosing(object_id{4, 2});
  ASSERT_TRUE(plain.ok()) << plain.what;
  EXPECT_FALSE(plain.destination);
  EXPECT_EQ(plain.bytes, "small");
}

TEST(DataChannel, AChooserThatThrowsFailsThatFetchSayingWhy) {
  map_source source;
  source.add(object_id{5, 1}, "t", random_bytes(MiB, 5));
  auto server = start_server(source);
  ASSERT_TRUE(server);
  data_client client{client_options()};
  std::promise<fetch_result> got;
  client.fetch("127.0.0.1", server->port(), object_id{5, 1}, [&](fetch_result r) { got.set_value(std::move(r)); },
               [](const std::string&, std::uint64_t) -> std::unique_ptr<payload_destination> {
                 throw std::bad_alloc();
               });
  auto r = within_bound(got.get_future());
  EXPECT_EQ(r.error, fetch_errc::too_large);
  EXPECT_NE(r.what.find("cannot make room for the 1048576 bytes"), std::string::npos) << r.what;
  // The client goes on fetching.
  auto again = fetch_one(client, server->port(), object_id{5, 1});
  EXPECT_TRUE(again.ok()) << again.what;
}

TEST(DataChannel, SixteenConcurrentFetchesAllArriveRight) {
  map_source source;
  std::vector<std::string> values;
  for (std::uint64_t i = 0; i < 16; ++i) {
    values.push_back(random_bytes((i + 1) * 300 * 1024 + i, 100 + i));
    source.add(object_id{3, i}, std::to_string(i) + "_t", values.back());
  }
  auto server = start_server(source);
  ASSERT_TRUE(server);
  data_client client{client_options()};
  results got;
  for (std::uint64_t i = 0; i < 16; ++i)
    client.fetch("127.0.0.1", server->port(), object_id{3, i}, got.slot(i));
  ASSERT_TRUE(got.wait()) << "16 fetches did not all finish within 10 s";
  for (std::uint64_t i = 0; i < 16; ++i) {
    auto& r = got.at(i);
    ASSERT_TRUE(r.ok()) << r.what;
    EXPECT_EQ(r.type_name, std::to_string(i) + "_t");
    EXPECT_TRUE(r.bytes == values[i]) << "object " << i << " differs";
  }
  // At most four connections to one peer, the rest of the fetches queued.
  EXPECT_GE(server->stats().connections_accepted, 1u);
  EXPECT_LE(server->stats().connections_accepted, 4u);
}

TEST(DataChannel, UnknownObjectFailsNamingTheObjectAndThePeer) {
  map_source source;
  source.add(object_id{1, 1}, "t", "here");
  auto server = start_server(source);
  ASSERT_TRUE(server);
  data_client client{client_options()};
  const object_id missing{0xabc, 0xdef};
  auto r = fetch_one(client, server->port(), missing);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error, fetch_errc::peer_error);
  EXPECT_NE(r.what.find(missing.to_string()), std::string::npos) << r.what;
  EXPECT_NE(r.what.find(peer(server->port())), std::string::npos) << r.what;
  EXPECT_NE(r.what.find("is not held by this node"), std::string::npos) << r.what;
  // An error answer leaves the connection good for the next fetch.
  auto ok = fetch_one(client, server->port(), object_id{1, 1});
  ASSERT_TRUE(ok.ok()) << ok.what;
  EXPECT_EQ(ok.bytes, "here");
  EXPECT_EQ(server->stats().connections_accepted, 1u);
}

TEST(DataChannel, WrongTokenFailsEveryFetchAndTheServerServesOthers) {
  map_source source;
  for (std::uint64_t i = 0; i < 6; ++i)
    source.add(object_id{1, i}, "t", "value " + std::to_string(i));
  auto server = start_server(source);
  ASSERT_TRUE(server);
  if (logs_warnings())
    testing::internal::CaptureStderr();
  {
    auto opts = client_options();
    opts.token = "not-the-token";
    data_client intruder{opts};
    results got;
    for (std::uint64_t i = 0; i < 6; ++i)
      intruder.fetch("127.0.0.1", server->port(), object_id{1, i}, got.slot(i));
    ASSERT_TRUE(got.wait());
    for (std::uint64_t i = 0; i < 6; ++i) {
      auto& r = got.at(i);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error, fetch_errc::refused);
      EXPECT_NE(r.what.find("refused the cluster token"), std::string::npos) << r.what;
      EXPECT_NE(r.what.find(peer(server->port())), std::string::npos) << r.what;
    }
  }
  if (logs_warnings()) {
    auto log = testing::internal::GetCapturedStderr();
    EXPECT_NE(log.find("presented a wrong cluster token"), std::string::npos) << log;
    EXPECT_NE(log.find("refused data-channel peer 127.0.0.1:"), std::string::npos) << log;
  }
  EXPECT_GE(server->stats().handshakes_refused, 1u);
  data_client member{client_options()};
  auto r = fetch_one(member, server->port(), object_id{1, 5});
  ASSERT_TRUE(r.ok()) << r.what;
  EXPECT_EQ(r.bytes, "value 5");
}

TEST(DataChannel, ServerRefusesAnotherVersionSayingSo) {
  map_source source;
  auto server = start_server(source);
  ASSERT_TRUE(server);
  int fd = connect_raw(server->port());
  ASSERT_GE(fd, 0);
  unsigned char hello[16] = {};
  put32(hello, hello_magic);
  put16(hello + 4, 2);
  put32(hello + 8, static_cast<std::uint32_t>(token.size()));
  ASSERT_TRUE(write_all(fd, hello, sizeof hello));
  ASSERT_TRUE(write_all(fd, token.data(), token.size()));
  unsigned char ack[8];
  ASSERT_TRUE(read_exact(fd, ack, sizeof ack));
  EXPECT_EQ(get32(ack), accept_magic);
  EXPECT_EQ(get16(ack + 4), 1);
  EXPECT_EQ(get16(ack + 6), 2); // version not supported
  EXPECT_TRUE(closed_by_peer(fd));
  ::close(fd);
}

TEST(DataChannel, SilentOrForeignClientsAreClosedInTheHandshake) {
  map_source source;
  source.add(object_id{1, 1}, "t", "v");
  auto opts = server_options();
  opts.handshake_timeout = 200ms;
  auto server = start_server(source, opts);
  ASSERT_TRUE(server);
  if (logs_warnings())
    testing::internal::CaptureStderr();

  // Connects and sends nothing.
  int silent = connect_raw(server->port());
  ASSERT_GE(silent, 0);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(closed_by_peer(silent));
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, 150ms);
  EXPECT_LT(waited, 5s);
  ::close(silent);

  // Sends half a hello and stops.
  int half = connect_raw(server->port());
  ASSERT_GE(half, 0);
  unsigned char hello[16] = {};
  put32(hello, hello_magic);
  put16(hello + 4, 1);
  ASSERT_TRUE(write_all(half, hello, 8));
  EXPECT_TRUE(closed_by_peer(half));
  ::close(half);

  // Speaks another protocol.
  int foreign = connect_raw(server->port());
  ASSERT_GE(foreign, 0);
  const std::string http = "GET / HTTP/1.1\r\n\r\n";
  ASSERT_TRUE(write_all(foreign, http.data(), http.size()));
  EXPECT_TRUE(closed_by_peer(foreign));
  ::close(foreign);

  if (logs_warnings()) {
    auto log = testing::internal::GetCapturedStderr();
    EXPECT_NE(log.find("sent no complete hello within 200 ms"), std::string::npos) << log;
    EXPECT_NE(log.find("sent no data-channel hello"), std::string::npos) << log;
    EXPECT_NE(log.find("refused data-channel peer 127.0.0.1:"), std::string::npos) << log;
  }
  EXPECT_EQ(server->stats().handshakes_refused, 3u);
  // And it goes on serving.
  data_client client{client_options()};
  auto r = fetch_one(client, server->port(), object_id{1, 1});
  EXPECT_TRUE(r.ok()) << r.what;
}

/// A broken server fails one fetch; the same client then fetches from a good one.
void expect_fails_then_client_recovers(const fake_server::script& misbehaviour, fetch_errc code,
                                       const std::string& says, data_client_options opts = client_options()) {
  map_source source;
  source.add(object_id{9, 9}, "good", random_bytes(3 * MiB, 9));
  auto healthy = start_server(source);
  ASSERT_TRUE(healthy);
  fake_server broken{misbehaviour};
  data_client client{opts};
  auto r = fetch_one(client, broken.port(), object_id{5, 5});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error, code) << r.what;
  EXPECT_NE(r.what.find(says), std::string::npos) << r.what;
  EXPECT_NE(r.what.find(peer(broken.port())), std::string::npos) << r.what;
  EXPECT_NE(r.what.find(object_id{5, 5}.to_string()), std::string::npos) << r.what;
  auto ok = fetch_one(client, healthy->port(), object_id{9, 9});
  ASSERT_TRUE(ok.ok()) << ok.what;
  EXPECT_EQ(ok.type_name, "good");
  EXPECT_TRUE(ok.bytes == random_bytes(3 * MiB, 9));
}

TEST(DataChannel, TruncatedPayloadFailsThatFetchOnly) {
  expect_fails_then_client_recovers(
    [](int fd, const object_id& id) {
      auto h = response_header(response_magic, 0, id, 4, 1000);
      write_all(fd, h.data(), h.size());
      write_all(fd, "type", 4);
      std::string half(500, 'x');
      write_all(fd, half.data(), half.size());
    },
    fetch_errc::protocol_error, "after 500 of 1000 payload bytes (truncated stream)");
}

TEST(DataChannel, CorruptHeaderFailsThatFetchOnly) {
  expect_fails_then_client_recovers(
    [](int fd, const object_id& id) {
      auto h = response_header(0xdeadbeef, 0, id, 4, 1000);
      write_all(fd, h.data(), h.size());
      closed_by_peer(fd);
    },
    fetch_errc::protocol_error, "corrupt frame: the response header starts 0xdeadbeef");
}

TEST(DataChannel, ResponseForAnotherObjectIsCorrupt) {
  expect_fails_then_client_recovers(
    [](int fd, const object_id&) {
      auto h = response_header(response_magic, 0, object_id{1, 2}, 0, 10);
      write_all(fd, h.data(), h.size());
      closed_by_peer(fd);
    },
    fetch_errc::protocol_error, "corrupt frame: the response is for object " + object_id{1, 2}.to_string());
}

TEST(DataChannel, SizeOverTheLimitFailsThatFetchOnly) {
  auto opts = client_options();
  opts.max_object_size = 16 * MiB;
  expect_fails_then_client_recovers(
    [](int fd, const object_id& id) {
      auto h = response_header(response_magic, 0, id, 0, 16 * MiB + 1);
      write_all(fd, h.data(), h.size());
      closed_by_peer(fd);
    },
    fetch_errc::too_large, "announces 16777217 bytes, over this client's limit of 16777216", opts);
}

TEST(DataChannel, SilentServerTimesOutThatFetchOnly) {
  auto opts = client_options();
  opts.inactivity_timeout = 300ms;
  expect_fails_then_client_recovers([](int fd, const object_id&) { closed_by_peer(fd); }, fetch_errc::timeout,
                                    "no response within 300 ms", opts);
}

TEST(DataChannel, ServerThatStallsMidPayloadTimesOut) {
  auto opts = client_options();
  opts.inactivity_timeout = 300ms;
  expect_fails_then_client_recovers(
    [](int fd, const object_id& id) {
      auto h = response_header(response_magic, 0, id, 0, 1000);
      write_all(fd, h.data(), h.size());
      write_all(fd, std::string(10, 'x').data(), 10);
      closed_by_peer(fd);
    },
    fetch_errc::timeout, "nothing arrived for 300 ms after 10 of 1000 payload bytes", opts);
}

TEST(DataChannel, NobodyListeningFailsNamingThePeer) {
  // A port that was free a moment ago.
  std::uint16_t port;
  {
    fake_server gone{[](int, const object_id&) {}};
    port = gone.port();
  }
  data_client client{client_options()};
  results got;
  for (std::uint64_t i = 0; i < 6; ++i)
    client.fetch("127.0.0.1", port, object_id{2, i}, got.slot(i));
  ASSERT_TRUE(got.wait());
  for (std::uint64_t i = 0; i < 6; ++i) {
    auto& r = got.at(i);
    EXPECT_EQ(r.error, fetch_errc::connect_failed) << r.what;
    EXPECT_NE(r.what.find("from " + peer(port) + " failed: cannot connect"), std::string::npos) << r.what;
  }
}

TEST(DataChannel, ConnectionThePeerClosedWhileIdleIsReplaced) {
  const std::string value = "second answer";
  // Each connection answers one fetch, then closes.
  fake_server once{[&](int fd, const object_id& id) {
    auto h = response_header(response_magic, 0, id, 1, value.size());
    write_all(fd, h.data(), h.size());
    write_all(fd, "t", 1);
    write_all(fd, value.data(), value.size());
  }};
  data_client client{client_options()};
  for (int i = 0; i < 3; ++i) {
    auto r = fetch_one(client, once.port(), object_id{4, 4});
    ASSERT_TRUE(r.ok()) << "fetch " << i << ": " << r.what;
    EXPECT_EQ(r.bytes, value);
  }
  EXPECT_EQ(once.connections(), 3);
}

TEST(DataChannel, StopFailsFetchesInFlightAndReturns) {
  map_source source;
  source.hold(); // no lookup is ever answered while the server runs
  auto server = start_server(source);
  ASSERT_TRUE(server);
  auto client = std::make_unique<data_client>(client_options());
  results got;
  for (std::uint64_t i = 0; i < 8; ++i)
    client->fetch("127.0.0.1", server->port(), object_id{6, i}, got.slot(i));
  // Four on the wire (one per connection), four queued.
  ASSERT_TRUE(source.wait_held(4));
  auto t0 = std::chrono::steady_clock::now();
  client->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  ASSERT_TRUE(got.wait());
  for (std::uint64_t i = 0; i < 8; ++i) {
    auto& r = got.at(i);
    EXPECT_EQ(r.error, fetch_errc::stopped) << r.what;
    EXPECT_NE(r.what.find("the data client was stopped"), std::string::npos) << r.what;
    EXPECT_NE(r.what.find(peer(server->port())), std::string::npos) << r.what;
  }
  // A fetch after stop() fails at once, on the caller's thread.
  results late;
  client->fetch("127.0.0.1", server->port(), object_id{6, 99}, late.slot(0));
  ASSERT_TRUE(late.wait());
  EXPECT_EQ(late.at(0).error, fetch_errc::stopped);
  client.reset();
  // The server stops too, and answers that come after it has gone are dropped.
  server->stop();
  server.reset();
  source.answer_held();
}

TEST(DataChannel, StopFromACallbackReturns) {
  map_source source;
  source.add(object_id{1, 1}, "t", "v");
  auto server = start_server(source);
  ASSERT_TRUE(server);
  data_client client{client_options()};
  std::promise<fetch_errc> after;
  client.fetch("127.0.0.1", server->port(), object_id{1, 1}, [&](fetch_result r) {
    EXPECT_TRUE(r.ok()) << r.what;
    client.stop(); // on the client's own thread: must not join itself
    client.fetch("127.0.0.1", server->port(), object_id{1, 1},
                 [&](fetch_result late) { after.set_value(late.error); });
  });
  auto f = after.get_future();
  ASSERT_EQ(f.wait_for(bound), std::future_status::ready);
  EXPECT_EQ(f.get(), fetch_errc::stopped);
}

TEST(DataChannel, ListeningOnABadAddressSaysWhere) {
  map_source source;
  auto opts = server_options();
  opts.bind_address = "not-an-address";
  opts.port = 4242;
  std::string error;
  auto server = data_server::start(source, opts, error);
  EXPECT_FALSE(server);
  EXPECT_NE(error.find("not-an-address:4242"), std::string::npos) << error;
}

} // namespace
