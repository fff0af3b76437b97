// The runtime's log (runtime/common/log.hpp): the line format, levels, the
// strict level names, and the log file beside stderr; reading that file back in
// chunks for `actors logs` (runtime/common/log_reader.hpp).
#include "runtime/common/log.hpp"
#include "runtime/common/log_reader.hpp"

#include "actors/errors.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;
namespace rt = actors::runtime;

namespace {

/// Takes the log's stderr lines into a pipe for one test.
class Log : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::pipe2(fds_, O_NONBLOCK | O_CLOEXEC), 0);
    rt::set_log_descriptor(fds_[1]);
    rt::set_log_level(rt::log_level::warning);
    rt::set_log_node("-");
    dir_ = fs::temp_directory_path() / ("log-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override {
    rt::set_log_file({});
    rt::set_log_descriptor(2);
    rt::set_log_level(rt::log_level::warning);
    ::close(fds_[0]);
    ::close(fds_[1]);
    fs::remove_all(dir_);
  }
  /// What reached "stderr" so far.
  std::string taken() {
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds_[0], buf, sizeof buf)) > 0;)
      out.append(buf, static_cast<std::size_t>(n));
    return out;
  }
  static std::string file_text(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  int fds_[2] = {-1, -1};
  fs::path dir_;
};

TEST_F(Log, ALineCarriesUtcTimeWithMillisecondsLevelNodePidAndComponent) {
  rt::log(rt::log_level::warning, "scheduler", "task 'render' waits for a GPU");
  rt::set_log_node("3f2a9c0000000001");
  rt::log(rt::log_level::error, "cluster", "node ", 7, " is gone");
  auto out = taken();
  const auto pid = std::to_string(::getpid());
  std::regex first("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z warning node=- pid=" + pid
                   + " \\[scheduler\\] task 'render' waits for a GPU\n");
  std::regex second("\n\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z error node=3f2a9c0000000001 pid=" + pid
                    + " \\[cluster\\] node 7 is gone\n$");
  EXPECT_TRUE(std::regex_search(out, first)) << out;
  EXPECT_TRUE(std::regex_search(out, second)) << out;
}

TEST_F(Log, TheLevelDecidesWhatReachesStderr) {
  rt::log(rt::log_level::info, "node", "started");
  EXPECT_EQ(taken(), "") << "info is below the default level, warning";
  rt::set_log_level(rt::log_level::info);
  rt::log(rt::log_level::info, "node", "started");
  rt::log(rt::log_level::debug, "node", "details");
  auto out = taken();
  EXPECT_NE(out.find(" info node=- "), std::string::npos) << out;
  EXPECT_EQ(out.find("details"), std::string::npos) << out;
  rt::set_log_level(rt::log_level::error);
  rt::log(rt::log_level::warning, "node", "only a warning");
  EXPECT_EQ(taken(), "");
}

TEST_F(Log, AnUnknownLevelIsAnErrorNamingWhereItCameFrom) {
  EXPECT_EQ(rt::parse_log_level("debug", "--log-level"), rt::log_level::debug);
  try {
    rt::parse_log_level("verbose", "--actors-log-level");
    FAIL() << "'verbose' was taken as a level";
  } catch (const actors::error& e) {
    EXPECT_STREQ(e.what(), "bad value 'verbose' for --actors-log-level: expected error, warning, info or debug");
  }
  ::setenv("ACTORS_LOG_LEVEL", "loud", 1);
  EXPECT_THROW(rt::check_log_level_environment(), actors::error);
  ::setenv("ACTORS_LOG_LEVEL", "info", 1);
  EXPECT_NO_THROW(rt::check_log_level_environment());
  ::unsetenv("ACTORS_LOG_LEVEL");
}

TEST_F(Log, TheLogFileTakesInfoAndUpWhileStderrKeepsItsLevel) {
  auto file = dir_ / "logs" / "node-00000000000000aa.log";
  rt::set_log_node("00000000000000aa");
  rt::set_log_file(file);
  EXPECT_EQ(rt::log_file(), file);
  rt::log(rt::log_level::info, "node", "node 00000000000000aa joined the cluster");
  rt::log(rt::log_level::debug, "node", "not kept");
  rt::log(rt::log_level::warning, "cluster", "a warning");
  rt::set_log_file({});
  auto kept = file_text(file);
  EXPECT_NE(kept.find(" info node=00000000000000aa pid="), std::string::npos) << kept;
  EXPECT_NE(kept.find("joined the cluster"), std::string::npos) << kept;
  EXPECT_NE(kept.find("[cluster] a warning"), std::string::npos) << kept;
  EXPECT_EQ(kept.find("not kept"), std::string::npos) << kept;
  auto out = taken();
  EXPECT_EQ(out.find("joined the cluster"), std::string::npos) << "info reached stderr at level warning: " << out;
  EXPECT_NE(out.find("a warning"), std::string::npos) << out;
  // Closed: later lines go to stderr only.
  rt::log(rt::log_level::warning, "cluster", "after");
  EXPECT_EQ(file_text(file).find("after"), std::string::npos);
}

TEST_F(Log, AFileThatCannotBeOpenedIsReportedAndStderrGoesOn) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "not-a-dir") << "x";
  rt::set_log_file(dir_ / "not-a-dir" / "node.log");
  EXPECT_EQ(rt::log_file(), fs::path{});
  rt::log(rt::log_level::warning, "node", "still here");
  auto out = taken();
  EXPECT_NE(out.find("cannot write the log file"), std::string::npos) << out;
  EXPECT_NE(out.find("still here"), std::string::npos) << out;
}

TEST_F(Log, ALogFileIsReadInChunksThatFollowItAsItGrowsAndIsRotated) {
  fs::create_directories(dir_);
  auto file = dir_ / "node.log";
  std::ofstream(file) << "one\ntwo\nthree\n";
  auto all = rt::read_log_chunk(file, 0, 0, 0);
  EXPECT_EQ(all.text, "one\ntwo\nthree\n");
  EXPECT_EQ(all.next, 14u);
  EXPECT_NE(all.inode, 0u);
  // Nothing new: nothing.
  auto none = rt::read_log_chunk(file, all.next, all.inode, 0);
  EXPECT_EQ(none.text, "");
  EXPECT_EQ(none.next, all.next);
  // What was added since.
  std::ofstream(file, std::ios::app) << "four\n";
  auto added = rt::read_log_chunk(file, none.next, none.inode, 0);
  EXPECT_EQ(added.text, "four\n");
  EXPECT_EQ(added.next, 19u);
  // Rotated: another file under the name, read from its start even when it is
  // already longer than the offset.
  fs::rename(file, dir_ / "node.1.log");
  std::ofstream(file) << "a new file that is longer than the old one was\n";
  auto rotated = rt::read_log_chunk(file, added.next, added.inode, 0);
  EXPECT_EQ(rotated.text, "a new file that is longer than the old one was\n");
  EXPECT_NE(rotated.inode, added.inode);
  // Shorter than the offset (truncated in place): from the start too.
  std::ofstream(file) << "short\n";
  EXPECT_EQ(rt::read_log_chunk(file, rotated.next, rotated.inode, 0).text, "short\n");
}

TEST_F(Log, ALogChunkEndsAtALineAndTheTailIsTheLastLines) {
  fs::create_directories(dir_);
  auto file = dir_ / "node.log";
  std::ofstream(file) << "first line\nsecond line\nthird line\nunfinished";
  // At most 30 bytes: the two whole lines within them, then the rest.
  auto part = rt::read_log_chunk(file, 0, 0, 0, 30);
  EXPECT_EQ(part.text, "first line\nsecond line\n");
  auto rest = rt::read_log_chunk(file, part.next, part.inode, 0, 30);
  EXPECT_EQ(rest.text, "third line\nunfinished");
  // The last lines, the unfinished one counting as one.
  EXPECT_EQ(rt::read_log_chunk(file, 0, 0, 1).text, "unfinished");
  EXPECT_EQ(rt::read_log_chunk(file, 0, 0, 2).text, "third line\nunfinished");
  std::ofstream(file, std::ios::app) << "\n";
  auto tail = rt::read_log_chunk(file, 0, 0, 2);
  EXPECT_EQ(tail.text, "third line\nunfinished\n");
  EXPECT_EQ(tail.next, fs::file_size(file));
  EXPECT_EQ(rt::read_log_chunk(file, 0, 0, 100).text, "first line\nsecond line\nthird line\nunfinished\n");
  // A tail of a large file reads back only as far as it needs.
  {
    std::ofstream big(file);
    for (int i = 0; i < 200000; ++i)
      big << "line " << i << "\n";
  }
  EXPECT_EQ(rt::read_log_chunk(file, 0, 0, 3).text, "line 199997\nline 199998\nline 199999\n");
}

TEST_F(Log, AMissingLogFileIsAnErrorNamingIt) {
  try {
    rt::read_log_chunk(dir_ / "absent.log", 0, 0, 0);
    FAIL() << "read a file that is not there";
  } catch (const actors::error& e) {
    EXPECT_NE(std::string(e.what()).find("absent.log"), std::string::npos) << e.what();
  }
}

} // namespace
