// Jobs: `actors job submit` sends a program, its libraries and its working
// directory to the head, which runs it as a driver; the nodes have none of them
// (no --load) and fetch the libraries when the job's work arrives. A real head
// and node (actorsd) on loopback; `actors` is run as a user would.

#include "tests/support/local_cluster.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using actors::test::env;
using actors::test::eventually;
using actors::test::local_cluster;
using actors::test::run;

namespace {

class Jobs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster = std::make_unique<local_cluster>("job-test");
    // Neither loads the job library: they get it from the job.
    cluster->start_head({env("ACTORSD"), "--head", "--port", "0", "--num-cpus", "1", "--metrics-port", "-1"});
    cluster->start_node({env("ACTORSD"), "--num-cpus", "1", "--metrics-port", "-1"});
    ASSERT_TRUE(eventually(
      [] {
        auto [code, out] = run({env("ACTORS_CLI"), "--address", cluster->address, "--token", cluster->token,
                                "list", "nodes", "--json"},
                               cluster->dir + "/list.log");
        std::size_t listed = 0;
        for (auto at = out.find("\"id\":"); at != std::string::npos; at = out.find("\"id\":", at + 1))
          ++listed;
        return listed == 2;
      },
      20s));
  }

  static void TearDownTestSuite() {
    actors::test::tear_down(cluster);
  }

  /// `actors --address ... --token ... job ARGS...`, bounded by `timeout`.
  static std::pair<int, std::string> job(std::vector<std::string> args, std::chrono::seconds timeout = 120s) {
    std::vector<std::string> cmd{env("ACTORS_CLI"), "--address", cluster->address, "--token", cluster->token, "job"};
    cmd.insert(cmd.end(), args.begin(), args.end());
    return run(cmd, cluster->dir + "/job.log", timeout);
  }

  static std::unique_ptr<local_cluster> cluster;
};

std::unique_ptr<local_cluster> Jobs::cluster;

TEST_F(Jobs, ProgramRunsOnTheClusterItsLibrariesReachTheNodesAndTaskOutputReachesTheSubmitter) {
  auto [code, out] = job({"submit", "--load", env("JOB_LIBRARY"), "--", env("MULTIHOST_DRIVER"), "say", "6"});
  ASSERT_EQ(code, 0) << out << cluster->logs();
  // The head and the node both ran its tasks, with a library neither had.
  EXPECT_NE(out.find("6 tasks printed on 2 nodes"), std::string::npos) << out;
  // Each line a task printed came back with its node and pid in front.
  for (int i = 0; i < 6; ++i)
    EXPECT_TRUE(std::regex_search(out, std::regex("\\(node [0-9a-f]{8} pid [0-9]+\\) line " + std::to_string(i)
                                                  + " from a task")))
      << "line " << i << " missing:\n" << out;
  EXPECT_NE(out.find("SUCCEEDED"), std::string::npos) << out;
}

TEST_F(Jobs, TasksOnEveryNodeReadTheJobsWorkingDirectory) {
  auto wd = cluster->dir + "/files";
  std::filesystem::create_directories(wd);
  std::ofstream(wd + "/input.txt") << "the job's input\nsecond line\n";
  auto [code, out] = job({"submit", "--working-dir", wd, "--load", env("JOB_LIBRARY"), "--",
                          env("MULTIHOST_DRIVER"), "read", "input.txt", "8"});
  EXPECT_EQ(code, 0) << out;
  // The head and the node each have their copy of the directory.
  EXPECT_NE(out.find("read 'the job's input' on 2 nodes"), std::string::npos) << out;
}

TEST_F(Jobs, TaskOutputStaysOnTheNodesWithLogToDriverFalse) {
  auto [code, out] = job({"submit", "--load", env("JOB_LIBRARY"), "--", env("MULTIHOST_DRIVER"), "say", "4",
                          "--actors-log-to-driver=false"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("4 tasks printed"), std::string::npos) << out;
  EXPECT_EQ(out.find("from a task"), std::string::npos) << out;
}

TEST_F(Jobs, ProgramStartsInItsWorkingDirectoryWithItsEnvironmentAndItsExitStatusIsTheSubmitters) {
  auto wd = cluster->dir + "/wd";
  std::filesystem::create_directories(wd + "/sub");
  std::ofstream(wd + "/sub/data.txt") << "data from the working directory\n";
  auto [code, out] = job({"submit", "--working-dir", wd, "--env", "GREETING=hello", "--", "/bin/sh", "-c",
                          "cat sub/data.txt; echo \"$GREETING $ACTORS_JOB_ID\"; exit 3"});
  EXPECT_EQ(code, 3) << out;
  EXPECT_NE(out.find("data from the working directory"), std::string::npos) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("hello job-[0-9a-f]{8}"))) << out;
  EXPECT_NE(out.find("FAILED: exited with status 3"), std::string::npos) << out;
}

TEST_F(Jobs, ListStatusLogsAndStopOfAJob) {
  auto [code, id] = job({"submit", "--no-wait", "--", "/bin/sh", "-c", "echo started; sleep 60"});
  ASSERT_EQ(code, 0) << id;
  id.erase(id.find_last_not_of("\n") + 1);
  ASSERT_TRUE(std::regex_match(id, std::regex("job-[0-9a-f]{8}"))) << id;
  EXPECT_TRUE(eventually([&] { return job({"logs", id}).second.find("started") != std::string::npos; }, 20s));
  auto listed = job({"list"}).second;
  EXPECT_TRUE(std::regex_search(listed, std::regex(id + " +RUNNING"))) << listed;
  auto [stop_code, stopped] = job({"stop", id});
  EXPECT_EQ(stop_code, 0) << stopped;
  EXPECT_NE(stopped.find(id + ": STOPPED"), std::string::npos) << stopped;
  auto status = job({"status", id}).second;
  EXPECT_NE(status.find("STOPPED"), std::string::npos) << status;
  EXPECT_NE(status.find("stopped by `actors job stop`"), std::string::npos) << status;
}

TEST_F(Jobs, WorkingDirectoryOverTheLimitIsRefusedSayingSo) {
  auto wd = cluster->dir + "/big";
  std::filesystem::create_directories(wd);
  {
    std::ofstream big(wd + "/big.bin", std::ios::binary);
    std::string mib(1 << 20, 'x');
    for (int i = 0; i < 101; ++i)
      big << mib;
  }
  auto [code, out] = job({"submit", "--working-dir", wd, "--", "/bin/true"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("more than the limit"), std::string::npos) << out;
  std::filesystem::remove_all(wd);
}

TEST_F(Jobs, UnknownJobAndWrongTokenAreRefusedSayingWhat) {
  auto [code, out] = job({"status", "job-00000000"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("no job 'job-00000000'"), std::string::npos) << out;
  auto [code2, out2] = run({env("ACTORS_CLI"), "--address", cluster->address, "--token", "wrong", "job", "list"},
                           cluster->dir + "/job.log", 60s);
  EXPECT_EQ(code2, 2) << out2;
  EXPECT_NE(out2.find("cluster token"), std::string::npos) << out2;
}

} // namespace
