// Resource exhaustion on a real node process: a full object store whose spill
// directory cannot take files, tasks past a memory limit, and a flood of
// connections to a node with few file descriptors. In each case the work that
// cannot be done fails with a clear error and the node goes on serving.

#include "tests/cluster/job.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/runtime_fixture.hpp"

#include <actors/actors.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <memory>
#include <iterator>
#include <netinet/in.h>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;
using actors::test::process;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t MiB = 1 << 20;

// Sanitizers bring their own operator new, which wins over the runtime's: no
// task memory limit is kept in such a build.
constexpr bool memory_limits_kept = !actors::test::sanitized;

/// One head process (which runs tasks too) with the flags under test, and this
/// test as the driver.
class Limits : public ::testing::Test {
 protected:
  std::string dir;
  std::string address;
  std::string token;
  std::unique_ptr<process> head;

  void SetUp() override {
    char tmpl[] = "/tmp/actors-limits-test-XXXXXX";
    dir = mkdtemp(tmpl);
    setenv("ACTORS_SESSION_DIR", dir.c_str(), 1);
  }

  /// Starts the head with `extra` flags; with `fd_limit`, under `ulimit -n`.
  void start(std::vector<std::string> extra, int fd_limit = 0) {
    std::vector<std::string> args{actors::test::env("ACTORSD"), "--head", "--port", "0", "--num-cpus", "2",
                                  "--metrics-port", "-1", "--load", actors::test::env("JOB_LIBRARY")};
    args.insert(args.end(), extra.begin(), extra.end());
    if (fd_limit > 0)
      args.insert(args.begin(), {"/bin/bash", "-c", "ulimit -n " + std::to_string(fd_limit) + " && exec \"$0\" \"$@\""});
    head = std::make_unique<process>(args, dir + "/head.log");
    ASSERT_TRUE(actors::test::eventually(
      [&] { return !actors::test::read_key(dir + "/session_latest", "address").empty(); }));
    address = actors::test::read_key(dir + "/session_latest", "address");
    token = actors::test::read_key(dir + "/session_latest", "token");
    actors::init_options opts;
    opts.address = address;
    opts.token = token;
    opts.metrics_port = -1;
    actors::init(opts);
  }

  void TearDown() override {
    if (actors::is_initialized())
      actors::shutdown();
    if (head) {
      actors::test::run({actors::test::env("ACTORS_CLI"), "--address", address, "--token", token, "stop"},
                        dir + "/stop.log");
      head->wait_exit(5s);
      head.reset();
    }
    if (!::testing::Test::HasFailure())
      fs::remove_all(dir);
    else
      std::cerr << "limits test logs kept in " << dir << "\n";
  }

  static actors::node_id head_id() {
    for (const auto& n : actors::nodes())
      if (n.is_head)
        return n.id;
    return {};
  }

  bool head_running() {
    return !head->wait_exit(0ms).has_value();
  }

  /// CPU time (user + system) the head used, in clock ticks.
  long head_cpu_ticks() const {
    std::ifstream in("/proc/" + std::to_string(head->pid()) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto after = text.rfind(')');
    if (after == std::string::npos)
      return -1;
    std::istringstream fields(text.substr(after + 2));
    std::string f;
    long utime = 0;
    long stime = 0;
    // Fields 3.. after the name: state is field 3, utime 14, stime 15.
    for (int i = 3; i <= 15 && fields >> f; ++i) {
      if (i == 14)
        utime = std::stol(f);
      if (i == 15)
        stime = std::stol(f);
    }
    return utime + stime;
  }
};

} // namespace

TEST_F(Limits, ResultThatTheFullStoreCannotTakeFailsWithObjectStoreFullAndTheNodeCarriesOn) {
  auto spill = dir + "/spill";
  start({"--object-store-bytes", "1M", "--spill-dir", spill});
  auto id = head_id();
  ASSERT_TRUE(id.value);
  auto before = actors::task(job::make_vec).node(id, false).remote(std::int64_t{1000});
  ASSERT_EQ(actors::get(before).size(), 1000u);
  // The spill directory becomes a file under the running node: no spill can be written.
  fs::remove_all(spill);
  { std::ofstream(spill) << "not a directory"; }

  auto big = actors::task(job::make_vec).node(id, false).remote(std::int64_t{256 * 1024}); // 2 MiB
  try {
    actors::get(big);
    ADD_FAILURE() << "a result neither the store nor the spill directory can take was delivered";
  } catch (const actors::object_store_full_error& e) {
    std::string text = e.what();
    EXPECT_NE(text.find("node " + id.to_string()), std::string::npos) << text;
    EXPECT_NE(text.find("spill directory " + spill + ": Not a directory"), std::string::npos) << text;
    EXPECT_NE(text.find("--object-store-bytes"), std::string::npos) << text;
  }
  // A put inside a task meets the same error, and it reaches the driver as is.
  auto put = actors::task(job::put_vec).node(id, false).remote(std::int64_t{256 * 1024});
  EXPECT_THROW(actors::get(put), actors::object_store_full_error);

  EXPECT_TRUE(head_running());
  EXPECT_EQ(actors::get(actors::task(job::square).node(id, false).remote(std::int64_t{7})), 49);
  EXPECT_EQ(actors::get(before).size(), 1000u) << "an object stored before is no longer readable";
}

TEST_F(Limits, TaskPastTheNodesMemoryLimitFailsClearlyAndTheNodeRunsTheNext) {
  if (!memory_limits_kept)
    GTEST_SKIP() << "a sanitizer's operator new is in use";
  start({"--task-memory-limit", "64M"});
  auto id = head_id();
  ASSERT_TRUE(id.value);
  try {
    actors::get(actors::task(job::allocate_mib).node(id, false).remote(256));
    ADD_FAILURE() << "a task allocating 256 MiB under a 64 MiB limit succeeded";
  } catch (const actors::task_error& e) {
    std::string text = e.what();
    EXPECT_NE(text.find("memory limit of " + std::to_string(64 * MiB) + " bytes"), std::string::npos) << text;
    EXPECT_NE(text.find("--task-memory-limit"), std::string::npos) << text;
    EXPECT_EQ(e.node(), id.to_string());
  }
  EXPECT_TRUE(head_running());
  EXPECT_EQ(actors::get(actors::task(job::allocate_mib).node(id, false).remote(16)), 16 * MiB);
  EXPECT_EQ(actors::get(actors::task(job::square).node(id, false).remote(std::int64_t{5})), 25);
  EXPECT_NE(head->output().find("past its memory limit"), std::string::npos) << "the node did not log the failure";
}

TEST_F(Limits, TaskMemoryOptionCapsOneTaskOnly) {
  if (!memory_limits_kept)
    GTEST_SKIP() << "a sanitizer's operator new is in use";
  start({});
  auto id = head_id();
  ASSERT_TRUE(id.value);
  try {
    actors::get(actors::task(job::allocate_mib).memory(8 * MiB).node(id, false).remote(32));
    ADD_FAILURE() << "a task allocating 32 MiB under .memory(8 MiB) succeeded";
  } catch (const actors::task_error& e) {
    EXPECT_NE(std::string(e.what()).find("memory limit of " + std::to_string(8 * MiB) + " bytes"), std::string::npos)
      << e.what();
  }
  EXPECT_EQ(actors::get(actors::task(job::allocate_mib).node(id, false).remote(32)), 32 * MiB);
}

TEST_F(Limits, NodeWithFewFileDescriptorsSurvivesAConnectionFloodAndServesTasksAfter) {
  start({}, 64);
  auto id = head_id();
  ASSERT_TRUE(id.value);
  auto colon = address.rfind(':');
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &to.sin_addr);

  // Far more connections than the node has descriptors; non-blocking, so that
  // those past the listen backlog do not hold this test up.
  std::vector<int> flood;
  for (int i = 0; i < 300; ++i) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
      break;
    ::connect(s, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    flood.push_back(s);
  }
  std::this_thread::sleep_for(1s);
  auto cpu_before = head_cpu_ticks();
  std::this_thread::sleep_for(2s);
  auto cpu_used = head_cpu_ticks() - cpu_before;
  EXPECT_TRUE(head_running()) << "the flood brought the node down:\n" << head->output();
  // Out of descriptors, the node must not spin on accept(): an idle node uses
  // about nothing; spinning took a fifth of a core here even with the machine
  // busy. Allow a twentieth.
  EXPECT_LT(cpu_used, sysconf(_SC_CLK_TCK) / 10) << "the node used " << cpu_used << " ticks in 2 s while flooded";
  for (int s : flood)
    ::close(s);

  // The connection it had still works, and new ones are taken again.
  EXPECT_EQ(actors::get(actors::task(job::square).node(id, false).remote(std::int64_t{6}), 30s), 36);
  ASSERT_TRUE(actors::test::eventually(
    [&] {
      auto [code, out] = actors::test::run(
        {actors::test::env("ACTORS_CLI"), "--address", address, "--token", token, "list", "nodes"}, dir + "/list.log",
        10s);
      return code == 0;
    },
    30s))
    << "the node takes no new connections after the flood";
  EXPECT_TRUE(head_running());
}
