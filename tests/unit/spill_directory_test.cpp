// The spill directory a node makes for itself is named after its process, and
// the next node on the host removes those of processes that are gone (killed
// nodes never remove their own), leaving everything else alone.
#include "runtime/common/process_identity.hpp"
#include "runtime/node/spill_directory.hpp"
#include "actors/errors.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using actors::runtime::make_own_spill_directory;
using actors::runtime::parse_process_identity;
using actors::runtime::process_identity;
using actors::runtime::remove_orphaned_spill_directories;
using actors::runtime::spill_directory_prefix;
using actors::runtime::this_process;

class SpillDirectory : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "spill-directory-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    parent = tmpl;
  }

  void TearDown() override {
    std::error_code ec;
    fs::remove_all(parent, ec);
  }

  /// A directory named as `owner` would name its own, holding a spilled value.
  fs::path directory_of(const process_identity& owner, const std::string& suffix = "Ab3dE9") {
    auto dir = parent / (spill_directory_prefix + owner.to_string() + "-" + suffix);
    fs::create_directories(dir / "job-files");
    std::ofstream(dir / "0000000000000001.0000000000000002.obj") << "spilled value";
    return dir;
  }

  fs::path parent;
};

TEST_F(SpillDirectory, ItsNameSaysWhichProcessMadeIt) {
  auto dir = make_own_spill_directory(parent);
  EXPECT_TRUE(fs::is_directory(dir));
  EXPECT_EQ(dir.parent_path(), parent);
  std::string name = dir.filename().string();
  ASSERT_EQ(name.rfind(spill_directory_prefix, 0), 0u) << name;
  std::string owner = name.substr(std::string(spill_directory_prefix).size());
  ASSERT_NE(owner.rfind('-'), std::string::npos) << name;
  auto parsed = parse_process_identity(owner.substr(0, owner.rfind('-')));
  ASSERT_TRUE(parsed) << name;
  EXPECT_EQ(*parsed, this_process());
  EXPECT_NE(make_own_spill_directory(parent), dir) << "two nodes of one process share a directory";
}

TEST_F(SpillDirectory, ADirectoryThatCannotBeMadeSaysWhereAndWhatToDo) {
  try {
    make_own_spill_directory(parent / "missing" / "deeper");
    FAIL() << "made a spill directory under a missing directory";
  } catch (const actors::error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find((parent / "missing" / "deeper").string()), std::string::npos) << what;
    EXPECT_NE(what.find("spill"), std::string::npos) << what;
    EXPECT_NE(what.find("No such file or directory"), std::string::npos) << what;
  }
}

TEST_F(SpillDirectory, TheDirectoryOfAKilledProcessGoesWithEverythingInIt) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The killed node: makes its directory, spills into it, and dies without
    // cleaning up.
    ::close(pipe_fds[0]);
    auto dir = make_own_spill_directory(parent);
    std::ofstream(dir / "value.obj") << "spilled";
    std::string path = dir.string() + "\n";
    if (::write(pipe_fds[1], path.data(), path.size()) != static_cast<ssize_t>(path.size()))
      ::_exit(1);
    ::pause();
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string path;
  char c;
  while (::read(pipe_fds[0], &c, 1) == 1 && c != '\n')
    path += c;
  ::close(pipe_fds[0]);
  ::kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_FALSE(path.empty()) << "the child did not make its directory";
  ASSERT_TRUE(fs::exists(fs::path(path) / "value.obj"));

  auto mine = make_own_spill_directory(parent);
  EXPECT_EQ(remove_orphaned_spill_directories(parent), 1u);
  EXPECT_FALSE(fs::exists(path)) << "the killed process's directory is still there";
  EXPECT_TRUE(fs::is_directory(mine)) << "this live process's directory went";
}

TEST_F(SpillDirectory, OnlyDirectoriesOfProcessesSurelyGoneGo) {
  // Must go: this pid with another start time (the pid was reused since).
  auto earlier = this_process();
  earlier.start_time -= 1;
  auto reused = directory_of(earlier);

  // Must stay: this live process's; one of another pid namespace (its pid says
  // nothing here); names this project did not make; and a plain file named as
  // an orphan's directory would be.
  auto live = directory_of(this_process());
  auto other_ns_owner = earlier;
  other_ns_owner.pid_ns += 1;
  auto other_ns = directory_of(other_ns_owner);
  auto unnamed = parent / (std::string(spill_directory_prefix) + "Xy12Zq");
  fs::create_directories(unnamed);
  auto foreign = parent / ("other-spill-" + earlier.to_string() + "-Ab3dE9");
  fs::create_directories(foreign);
  auto file = parent / (spill_directory_prefix + earlier.to_string() + "-file00");
  std::ofstream(file) << "not a directory";

  EXPECT_EQ(remove_orphaned_spill_directories(parent), 1u);
  EXPECT_FALSE(fs::exists(reused)) << "a reused pid was taken for its first owner";
  for (const auto& kept : {live, other_ns, unnamed, foreign, file})
    EXPECT_TRUE(fs::exists(kept)) << kept << " is not a gone node's to remove";
  EXPECT_EQ(remove_orphaned_spill_directories(parent / "missing"), 0u) << "a missing parent holds nothing";
}

TEST_F(SpillDirectory, IdentitiesParseBackExactly) {
  auto me = this_process();
  EXPECT_EQ(parse_process_identity(me.to_string()), me);
  for (const char* bad : {"", "1.2", "1.2.3.4", "1.0.3", "1.-2.3", "a.2.3", "1..3", "1.2.", ".2.3", "1.2.3-"})
    EXPECT_FALSE(parse_process_identity(bad)) << bad;
}

} // namespace
