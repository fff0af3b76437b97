// Message lanes on their own: the receiving side's reader fed bytes as they come,
// and the sending side against a plain socket server in this process that speaks
// the format from the header's documentation (so these tests pin that format).
// Every wait is bounded (10 s).

#include "runtime/cluster/message_lane.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace {

using namespace actors::runtime;
using namespace std::chrono_literals;

const std::string token = "the-cluster-token";

std::string frame(message_kind kind, const std::string& payload) {
  std::string out(lane_header_size, '\0');
  for (int i = 0; i < 4; ++i)
    out[i] = static_cast<char>(payload.size() >> (8 * i));
  out[4] = static_cast<char>(kind);
  return out + payload;
}

std::vector<lane_reader::event> feed_all(lane_reader& r, const std::string& bytes, std::size_t step) {
  std::vector<lane_reader::event> out;
  for (std::size_t at = 0; at < bytes.size(); at += step)
    r.feed(bytes.data() + at, std::min(step, bytes.size() - at), out);
  return out;
}

TEST(LaneReader, GivesTheHelloThenTheMessagesInOrderHoweverTheBytesAreCut) {
  const std::string stream = lane_hello(0xabcdef, 42, token) + frame(message_kind::task, "first")
                             + frame(message_kind::result, "") + frame(message_kind::release, std::string(70000, 'x'));
  for (std::size_t step : {std::size_t{1}, std::size_t{3}, std::size_t{4096}, stream.size()}) {
    lane_reader r{token};
    auto events = feed_all(r, stream, step);
    ASSERT_EQ(events.size(), 4u) << "step " << step;
    auto& h = std::get<lane_reader::hello>(events[0]);
    EXPECT_EQ(h.lane, 0xabcdefu);
    EXPECT_EQ(h.sender, 42u);
    EXPECT_EQ(h.status, lane_accepted);
    EXPECT_EQ(std::get<lane_reader::message>(events[1]).kind, message_kind::task);
    EXPECT_EQ(std::get<lane_reader::message>(events[1]).payload, "first");
    EXPECT_EQ(std::get<lane_reader::message>(events[2]).payload, "");
    EXPECT_EQ(std::get<lane_reader::message>(events[3]).payload.size(), 70000u);
  }
}

TEST(LaneReader, RefusesAWrongTokenOrVersionAndReadsNothingAfter) {
  {
    lane_reader r{token};
    auto events = feed_all(r, lane_hello(1, 2, "another-token") + frame(message_kind::task, "x"), 7);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(std::get<lane_reader::hello>(events[0]).status, lane_bad_token);
  }
  {
    auto hello = lane_hello(1, 2, token);
    hello[4] = 9; // version 9
    lane_reader r{token};
    auto events = feed_all(r, hello + frame(message_kind::task, "x"), 5);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(std::get<lane_reader::hello>(events[0]).status, lane_bad_version);
  }
}

TEST(LaneReader, BreaksOnAnotherMagicALongTokenOrAnOversizedMessage) {
  auto why = [](const std::string& bytes) {
    lane_reader r{token};
    std::vector<lane_reader::event> out;
    r.feed(bytes.data(), bytes.size(), out);
    if (out.empty() || !std::holds_alternative<lane_reader::broken>(out.back()))
      return std::string("not broken");
    return std::get<lane_reader::broken>(out.back()).why;
  };
  EXPECT_NE(why("GET / HTTP/1.1\r\n").find("no message lane hello"), std::string::npos);
  auto long_token = lane_hello(1, 2, token);
  long_token[8] = 0;
  long_token[9] = 0;
  long_token[10] = 1; // 65536 bytes
  EXPECT_NE(why(long_token).find("token of 65536 bytes"), std::string::npos);
  std::string huge(lane_header_size, '\xff');
  EXPECT_NE(why(lane_hello(1, 2, token) + huge).find("announces 4294967295 bytes"), std::string::npos);
  // A message cut short is no error: the rest may come.
  EXPECT_EQ(why(lane_hello(1, 2, token) + frame(message_kind::task, "abcdef").substr(0, 8)), "not broken");
}

/// A lane receiver on 127.0.0.1 for one connection: answers the hello with
/// `status`, then reads messages when told to.
struct test_server {
  explicit test_server(std::uint16_t status = lane_accepted) : status(status) {
    listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listener, 4), 0);
    socklen_t len = sizeof a;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~test_server() {
    if (conn >= 0)
      ::close(conn);
    ::close(listener);
  }

  /// Accepts, reads the hello and answers it.
  lane_reader::hello greet() {
    pollfd p{listener, POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 10000), 1);
    conn = ::accept(listener, nullptr, nullptr);
    std::vector<lane_reader::event> events;
    while (events.empty() && read_some(events)) {
    }
    auto answer = lane_accept(status);
    EXPECT_EQ(::send(conn, answer.data(), answer.size(), MSG_NOSIGNAL), static_cast<ssize_t>(answer.size()));
    return events.empty() ? lane_reader::hello{} : std::get<lane_reader::hello>(events[0]);
  }

  /// Reads until `n` messages came, or nothing came for `quiet`.
  std::vector<lane_reader::message> read(std::size_t n, std::chrono::milliseconds quiet = 10s) {
    std::vector<lane_reader::message> out;
    while (out.size() < n) {
      std::vector<lane_reader::event> events;
      if (!read_some(events, quiet))
        break;
      for (auto& e : events)
        if (auto* m = std::get_if<lane_reader::message>(&e))
          out.push_back(std::move(*m));
    }
    return out;
  }

  bool read_some(std::vector<lane_reader::event>& events, std::chrono::milliseconds wait = 10s) {
    pollfd p{conn, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) != 1)
      return false;
    char buf[65536];
    ssize_t n = ::recv(conn, buf, sizeof buf, 0);
    if (n <= 0)
      return false;
    reader.feed(buf, static_cast<std::size_t>(n), events);
    return true;
  }

  std::uint16_t status;
  int listener = -1;
  int conn = -1;
  std::uint16_t port = 0;
  lane_reader reader{token};
};

/// Sends as the transport does: flushes when the lane asks for it.
bool send_flushing(message_lane& lane, message_kind kind, const std::string& payload) {
  auto r = lane.send(kind, payload);
  if (r == message_lane::sent::flush_needed)
    lane.flush();
  return r != message_lane::sent::broken;
}

TEST(MessageLane, SaysHelloAndSendsMessagesInOrderAlsoPastWhatTheSocketTakesAtOnce) {
  test_server server;
  std::string why;
  std::atomic<int> breaks{0};
  std::shared_ptr<message_lane> lane;
  std::thread opener([&] {
    lane = message_lane::open("127.0.0.1", server.port, 77, 5, token, 10s, [&] { ++breaks; }, why);
  });
  auto hello = server.greet();
  opener.join();
  ASSERT_TRUE(lane) << why;
  EXPECT_EQ(hello.lane, 77u);
  EXPECT_EQ(hello.sender, 5u);

  // 64 MiB while the server reads nothing: far more than the socket takes, so
  // most of it waits for the drain thread, and sending does not wait.
  std::vector<std::string> sent;
  for (int i = 0; i < 64; ++i)
    sent.push_back(std::string(1 << 20, static_cast<char>('a' + i % 26)) + std::to_string(i));
  auto t0 = std::chrono::steady_clock::now();
  for (auto& s : sent)
    ASSERT_TRUE(send_flushing(*lane, message_kind::result, s));
  ASSERT_TRUE(send_flushing(*lane, message_kind::release, "last"));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s) << "sending waited for the reader";

  auto got = server.read(sent.size() + 1);
  ASSERT_EQ(got.size(), sent.size() + 1);
  for (std::size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(got[i].kind, message_kind::result);
    EXPECT_TRUE(got[i].payload == sent[i]) << "message " << i << " differs";
  }
  EXPECT_EQ(got.back().payload, "last");
  lane->close();
  EXPECT_EQ(lane->send(message_kind::release, "after close"), message_lane::sent::broken);
  EXPECT_EQ(breaks.load(), 0) << "a close is no break";
}

TEST(MessageLane, ABrokenConnectionFailsSendsAndIsReportedOnce) {
  test_server server;
  std::string why;
  std::atomic<int> breaks{0};
  std::shared_ptr<message_lane> lane;
  std::thread opener([&] {
    lane = message_lane::open("127.0.0.1", server.port, 1, 5, token, 10s, [&] { ++breaks; }, why);
  });
  server.greet();
  opener.join();
  ASSERT_TRUE(lane) << why;
  ::shutdown(server.conn, SHUT_RDWR);
  ::close(server.conn);
  server.conn = -1;
  // The first sends may still go into the socket buffer; the reset comes back.
  bool failed = false;
  for (int i = 0; i < 1000 && !failed; ++i) {
    std::this_thread::sleep_for(1ms); // past the gathering window: each send writes
    failed = !send_flushing(*lane, message_kind::release, std::string(4096, 'x'));
    if (!failed)
      std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(failed) << "sends into a closed connection kept succeeding";
  EXPECT_TRUE(lane->broken());
  EXPECT_EQ(lane->send(message_kind::release, "more"), message_lane::sent::broken);
  EXPECT_EQ(breaks.load(), 1);
}

TEST(MessageLane, SendsInQuickSuccessionWaitForOneFlushAndGoTogether) {
  test_server server;
  std::string why;
  std::shared_ptr<message_lane> lane;
  std::thread opener([&] { lane = message_lane::open("127.0.0.1", server.port, 1, 5, token, 10s, {}, why); });
  server.greet();
  opener.join();
  ASSERT_TRUE(lane) << why;
  // The first goes at once; those right behind it wait for the flush that the
  // first of them asked for, however long that takes.
  int flushes_asked = 0;
  for (int i = 0; i < 100; ++i) {
    auto r = lane->send(message_kind::task, std::to_string(i));
    ASSERT_NE(r, message_lane::sent::broken);
    flushes_asked += r == message_lane::sent::flush_needed;
  }
  EXPECT_EQ(flushes_asked, 1);
  auto before = server.read(100, 300ms);
  EXPECT_LT(before.size(), 100u) << "nothing waited for the flush";
  lane->flush();
  auto after = server.read(100 - before.size());
  before.insert(before.end(), after.begin(), after.end());
  ASSERT_EQ(before.size(), 100u);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(before[static_cast<std::size_t>(i)].payload, std::to_string(i));
  // An idle lane writes at once again.
  std::this_thread::sleep_for(1ms);
  EXPECT_EQ(lane->send(message_kind::task, "alone"), message_lane::sent::yes);
  auto alone = server.read(1);
  ASSERT_EQ(alone.size(), 1u);
  EXPECT_EQ(alone[0].payload, "alone");
}

TEST(MessageLane, OpeningFailsSayingWhy) {
  std::string why;
  {
    test_server server{lane_bad_token};
    std::shared_ptr<message_lane> lane;
    std::thread opener([&] { lane = message_lane::open("127.0.0.1", server.port, 1, 5, token, 10s, {}, why); });
    server.greet();
    opener.join();
    EXPECT_FALSE(lane);
    EXPECT_NE(why.find("refused this cluster token"), std::string::npos) << why;
  }
  {
    // A port nobody listens on (the server's, once it is gone).
    std::uint16_t port;
    {
      test_server gone;
      port = gone.port;
    }
    EXPECT_FALSE(message_lane::open("127.0.0.1", port, 1, 5, token, 2s, {}, why));
    EXPECT_NE(why.find("cannot connect to 127.0.0.1:" + std::to_string(port)), std::string::npos) << why;
  }
}

} // namespace
