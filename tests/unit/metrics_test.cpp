#include "runtime/wire/protocol.hpp"
#include "tests/support/http.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/runtime_fixture.hpp"

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <cstdio>
#include <fstream>
#include <string>

namespace {

int counted_square(int x) {
  static actors::metrics::counter calls("app_counted_squares_total", "Calls of counted_square",
                                        {{"kind", "test"}});
  calls.inc();
  return x * x;
}

ACTORS_REMOTE(counted_square);

class Metrics : public actors::test::runtime_test {
 protected:
  int port() const {
    for (const auto& n : actors::nodes())
      if (n.id == actors::current_node_id())
        return n.metrics_port;
    return 0;
  }
};

/// The value of the first sample line that starts with `series`.
double sample(const std::string& text, const std::string& series) {
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos)
    return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

} // namespace

TEST_F(Metrics, NodeServesItsMetricsInThePrometheusFormat) {
  ASSERT_GT(port(), 0);
  for (int i = 0; i < 7; ++i)
    actors::get(actors::task(counted_square).remote(i));
  auto node = actors::current_node_id().to_string();
  // A task counts as finished just after its result is there: the last one may
  // be a moment behind the get.
  std::string text;
  for (int tries = 0; tries < 100; ++tries) {
    text = actors::test::http_get(port(), "/metrics");
    if (sample(text, "actors_tasks_total{node=\"" + node + "\",state=\"finished\"}") >= 7)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (const char* family : {"actors_tasks_total", "actors_tasks", "actors_task_run_seconds",
                             "actors_task_latency_seconds", "actors_actors", "actors_object_store_bytes",
                             "actors_resources", "actors_network_bytes_total"}) {
    EXPECT_NE(text.find(std::string("# HELP ") + family + " "), std::string::npos) << family;
    EXPECT_NE(text.find(std::string("# TYPE ") + family + " "), std::string::npos) << family;
  }
  EXPECT_EQ(sample(text, "actors_tasks_total{node=\"" + node + "\",state=\"submitted\"}"), 7);
  EXPECT_EQ(sample(text, "actors_tasks_total{node=\"" + node + "\",state=\"finished\"}"), 7);
  EXPECT_EQ(sample(text, "actors_resources{node=\"" + node + "\",resource=\"CPU\",kind=\"total\"}"), 2);
  EXPECT_GE(sample(text, "app_counted_squares_total{kind=\"test\"}"), 7);
  EXPECT_EQ(sample(text, "actors_build_info{node=\"" + node + "\",version=\"" + actors::version() + "\",protocol=\""
                           + std::to_string(actors::runtime::wire::protocol_version) + "\"}"),
            1)
    << text.substr(0, 2000);
}

TEST(Version, TheLibraryReportsTheVersionOfItsHeaders) {
  EXPECT_STREQ(actors::version(), ACTORS_VERSION);
  EXPECT_EQ(std::string(ACTORS_VERSION), std::to_string(ACTORS_VERSION_MAJOR) + "." + std::to_string(ACTORS_VERSION_MINOR)
                                             + "." + std::to_string(ACTORS_VERSION_PATCH));
}

TEST_F(Metrics, OutputPassesPromtool) {
  actors::get(actors::task(counted_square).remote(1));
  auto text = actors::test::http_get(port(), "/metrics");
  char path[] = "/tmp/actors-metrics-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << text;
  auto [code, out] = actors::test::run({"/bin/sh", "-c", std::string("promtool check metrics < ") + path},
                                       std::string(path) + ".log");
  std::remove(path);
  std::remove((std::string(path) + ".log").c_str());
  EXPECT_EQ(code, 0) << "promtool (from Debian's prometheus package, which ./dev installs) said:\n" << out;
}

TEST_F(Metrics, HeadServesServiceDiscovery) {
  auto sd = actors::test::http_get(port(), "/sd");
  EXPECT_EQ(sd.front(), '[');
  EXPECT_NE(sd.find("\"targets\":[\"127.0.0.1:" + std::to_string(port()) + "\"]"), std::string::npos) << sd;
  EXPECT_NE(sd.find(actors::current_node_id().to_string()), std::string::npos) << sd;
}
