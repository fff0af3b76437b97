// Tests of the shared-memory segments that hold large values
// (runtime/object_store/shared_memory.hpp): creating, sealing, reading from another
// process, removing while mapped, a registry's cleanup, the removal of segments
// whose process was killed, segment names, the host identity, and a 256 MiB
// segment mapped without a copy. Children are forked processes; every wait is
// bounded, and every test removes what it made, also when it fails.

#include "runtime/object_store/shared_memory.hpp"

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using actors::node_id;
using actors::runtime::create_shm_segment;
using actors::runtime::host_id;
using actors::runtime::open_shm_segment;
using actors::runtime::parse_shm_name;
using actors::runtime::remove_orphaned_segments;
using actors::runtime::shm_mapping;
using actors::runtime::shm_name;
using actors::runtime::shm_registry;
using actors::runtime::shm_writer;
using actors::runtime::this_process;
using actors::runtime::unlink_shm_segment;

constexpr std::size_t MiB = 1024 * 1024;

/// The byte at `i` of a test value made with `seed`.
std::byte pattern(std::size_t i, unsigned seed) {
  return static_cast<std::byte>((i * 131 + seed * 7 + (i >> 12)) & 0xff);
}

void fill(std::byte* p, std::size_t n, unsigned seed) {
  for (std::size_t i = 0; i < n; ++i)
    p[i] = pattern(i, seed);
}

/// Index of the first byte that differs from the pattern, or n.
std::size_t first_mismatch(const std::byte* p, std::size_t n, unsigned seed) {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] != pattern(i, seed))
      return i;
  return n;
}

bool exists_in_dev_shm(const std::string& name) {
  struct stat st {};
  return ::stat(("/dev/shm" + name).c_str(), &st) == 0;
}

/// Names under /dev/shm (without the '/').
std::vector<std::string> dev_shm_files() {
  std::vector<std::string> out;
  if (DIR* dir = ::opendir("/dev/shm")) {
    while (dirent* e = ::readdir(dir))
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
        out.emplace_back(e->d_name);
    ::closedir(dir);
  }
  return out;
}

/// A name of this project owned by this process that no registry will make.
std::string own_name(std::uint64_t seq) {
  return shm_name{this_process(), node_id{0x5eed}, 1'000'000'000 + seq}.to_string();
}

/// Reads one '\n'-terminated line from `fd` within `timeout`; empty on EOF or
/// timeout.
std::string read_line(int fd, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string line;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return {};
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return {};
    char c;
    ssize_t n = ::read(fd, &c, 1);
    if (n <= 0)
      return {};
    if (c == '\n')
      return line;
    line += c;
  }
}

void write_line(int fd, const std::string& text) {
  std::string line = text + "\n";
  auto n = ::write(fd, line.data(), line.size());
  (void)n;
}

/// A forked child process and the pipes to and from it.
struct child {
  pid_t pid = -1;
  int from = -1; // what the child writes
  int to = -1;   // what the child reads
};

class SharedMemory : public ::testing::Test {
 protected:
  /// Forks a child that runs `body(in, out)` and exits with its result. The child
  /// ends itself after 30 s whatever happens (alarm), so none outlives a test.
  child start(const std::function<int(int in, int out)>& body) {
    int up[2], down[2];
    if (::pipe(up) != 0 || ::pipe(down) != 0) {
      ADD_FAILURE() << "pipe: " << std::strerror(errno);
      return {};
    }
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::alarm(30);
      ::close(up[0]);
      ::close(down[1]);
      int code = body(down[0], up[1]);
      ::_exit(code);
    }
    ::close(up[1]);
    ::close(down[0]);
    if (pid < 0) {
      ADD_FAILURE() << "fork: " << std::strerror(errno);
      ::close(up[0]);
      ::close(down[1]);
      return {};
    }
    children_.push_back(pid);
    fds_.push_back(up[0]);
    fds_.push_back(down[1]);
    return child{pid, up[0], down[1]};
  }

  /// Waits for the child to end within `timeout` (killing it past that): its exit
  /// code, 128 + the signal that ended it, or -1 if it had to be killed.
  int wait(const child& c, std::chrono::milliseconds timeout = 20s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(c.pid, &status, WNOHANG);
      if (r == c.pid) {
        reaped_.insert(c.pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (r < 0)
        return -1;
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(c.pid, SIGKILL);
        ::waitpid(c.pid, &status, 0);
        reaped_.insert(c.pid);
        return -1;
      }
      std::this_thread::sleep_for(2ms);
    }
  }

  /// Runs `body` in a child and returns {exit code, first line it wrote}.
  std::pair<int, std::string> run(const std::function<int(int out)>& body) {
    child c = start([&](int, int out) { return body(out); });
    if (c.pid < 0)
      return {-1, ""};
    std::string line = read_line(c.from, 20s);
    return {wait(c), line};
  }

  void TearDown() override {
    for (pid_t pid : children_)
      if (!reaped_.count(pid)) {
        ::kill(pid, SIGKILL);
        int status = 0;
        ::waitpid(pid, &status, 0);
      }
    for (int fd : fds_)
      ::close(fd);
    // Whatever this test or its children left: names of this project owned by
    // one of them, and the other files it named.
    std::set<pid_t> ours(children_.begin(), children_.end());
    ours.insert(::getpid());
    auto ns = this_process().pid_ns;
    for (auto& file : dev_shm_files()) {
      auto parsed = parse_shm_name(file);
      if (parsed && parsed->owner.pid_ns == ns && ours.count(parsed->owner.pid))
        unlink_shm_segment("/" + file);
    }
    for (auto& name : extra_names_)
      unlink_shm_segment(name);
  }

  std::vector<pid_t> children_;
  std::set<pid_t> reaped_;
  std::vector<int> fds_;
  // Segments a test made under names the scan above does not catch.
  std::vector<std::string> extra_names_;
};

// --- segments ---------------------------------------------------------------

TEST_F(SharedMemory, SealedSegmentReadsByteExactInAnotherProcess) {
  shm_registry registry(node_id{0xabc});
  const std::size_t size = MiB + 123;
  auto writer = registry.create(size);
  ASSERT_TRUE(writer) << writer.error().message;
  EXPECT_EQ(writer->size(), size);
  fill(writer->data(), size, 1);
  std::string name = writer->name();
  auto sealed = writer->seal();
  ASSERT_TRUE(sealed) << sealed.error().message;
  EXPECT_EQ(sealed->name(), name);
  EXPECT_EQ(sealed->size(), size);
  EXPECT_EQ(first_mismatch(sealed->data(), size, 1), size);

  auto [code, line] = run([&](int out) {
    // A fresh process of the same host: only the name crosses.
    auto m = open_shm_segment(name);
    if (!m) {
      write_line(out, m.error().message);
      return 2;
    }
    std::size_t bad = first_mismatch(m->data(), m->size(), 1);
    write_line(out, "size " + std::to_string(m->size()) + " first mismatch " + std::to_string(bad));
    return m->size() == size && bad == size ? 0 : 1;
  });
  EXPECT_EQ(code, 0) << line;
  EXPECT_EQ(line, "size " + std::to_string(size) + " first mismatch " + std::to_string(size));
}

TEST_F(SharedMemory, WriteThroughTheSealedWriterMappingFaults) {
  shm_registry registry(node_id{0xabc});
  auto writer = registry.create(64 * 1024);
  ASSERT_TRUE(writer) << writer.error().message;
  fill(writer->data(), writer->size(), 2);
  auto sealed = writer->seal();
  ASSERT_TRUE(sealed) << sealed.error().message;

  // The kernel's view of the mapping: read-only, shared.
  std::ifstream maps("/proc/self/maps");
  std::string row, perms;
  auto start = reinterpret_cast<std::uintptr_t>(sealed->data());
  while (std::getline(maps, row)) {
    std::istringstream in(row);
    std::string range;
    in >> range >> perms;
    if (std::stoull(range.substr(0, range.find('-')), nullptr, 16) == start)
      break;
    perms.clear();
  }
  EXPECT_EQ(perms, "r--s") << "the sealed mapping must be read-only and shared";

  // And so the mode of the file: nobody opens it writable from now on.
  struct stat st {};
  ASSERT_EQ(::stat(("/dev/shm" + sealed->name()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0400u);

  // A write through the writer's own (now sealed) pages dies in a child, which
  // inherits the mapping with its protection.
  auto [code, line] = run([&](int) {
    auto* p = const_cast<volatile std::byte*>(sealed->data());
    p[100] = std::byte{0x55};
    return 0;
  });
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer catches the fault itself, reports it and aborts.
  EXPECT_EQ(code, 128 + SIGABRT) << "the write went through";
#elif defined(__SANITIZE_THREAD__)
  // ThreadSanitizer catches the fault itself and exits with its own code.
  EXPECT_NE(code, 0) << "the write went through";
#else
  EXPECT_EQ(code, 128 + SIGSEGV) << "the write went through";
#endif
  EXPECT_EQ(first_mismatch(sealed->data(), sealed->size(), 2), sealed->size());
}

TEST_F(SharedMemory, CreatingAnExistingNameFails) {
  std::string name = own_name(1);
  auto first = create_shm_segment(name, 4096);
  ASSERT_TRUE(first) << first.error().message;
  auto second = create_shm_segment(name, 4096);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, EEXIST);
  EXPECT_NE(second.error().message.find(name), std::string::npos) << second.error().message;
  EXPECT_NE(second.error().message.find("exists"), std::string::npos) << second.error().message;
  // The failed create did not take the first one's segment away.
  EXPECT_TRUE(exists_in_dev_shm(name));
}

TEST_F(SharedMemory, BadSizesAndNamesFailCleanly) {
  auto empty = create_shm_segment(own_name(2), 0);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, EINVAL);
  EXPECT_FALSE(exists_in_dev_shm(own_name(2)));

  auto nested = create_shm_segment("/actors.a/b", 4096);
  ASSERT_FALSE(nested);
  EXPECT_EQ(nested.error().code, EINVAL) << nested.error().message;
}

TEST_F(SharedMemory, OpeningAMissingSegmentSaysItWasFreedOrItsNodeDied) {
  std::string name = own_name(3);
  auto m = open_shm_segment(name);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, ENOENT);
  const auto& text = m.error().message;
  EXPECT_NE(text.find(name), std::string::npos) << text;
  EXPECT_NE(text.find("freed"), std::string::npos) << text;
  EXPECT_NE(text.find("died"), std::string::npos) << text;
  EXPECT_NE(text.find("node 0000000000005eed"), std::string::npos) << text;
}

TEST_F(SharedMemory, OpeningAnUnsealedSegmentIsRefused) {
  shm_registry registry(node_id{0xabc});
  auto writer = registry.create(4096);
  ASSERT_TRUE(writer) << writer.error().message;
  auto early = open_shm_segment(writer->name());
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().code, EAGAIN) << early.error().message;
  auto sealed = writer->seal();
  ASSERT_TRUE(sealed);
  EXPECT_TRUE(open_shm_segment(sealed->name()));
}

TEST_F(SharedMemory, RemoveKeepsMappingsReadableAndTheNameGoes) {
  shm_registry registry(node_id{0xabc});
  const std::size_t size = 2 * MiB;
  auto writer = registry.create(size);
  ASSERT_TRUE(writer) << writer.error().message;
  fill(writer->data(), size, 3);
  auto sealed = writer->seal();
  ASSERT_TRUE(sealed);
  std::string name = sealed->name();
  auto here = open_shm_segment(name);
  ASSERT_TRUE(here);

  // Another process maps it, then reads it only after the owner removed it.
  child reader = start([&](int in, int out) {
    auto m = open_shm_segment(name);
    if (!m) {
      write_line(out, m.error().message);
      return 2;
    }
    write_line(out, "mapped");
    if (read_line(in, 10s) != "go")
      return 3;
    if (first_mismatch(m->data(), m->size(), 3) != size)
      return 4;
    auto again = open_shm_segment(name);
    if (again || again.error().code != ENOENT)
      return 5;
    return 0;
  });
  ASSERT_GT(reader.pid, 0);
  ASSERT_EQ(read_line(reader.from, 10s), "mapped");

  EXPECT_EQ(registry.bytes(), size);
  EXPECT_TRUE(registry.remove(name));
  EXPECT_EQ(registry.bytes(), 0u);
  EXPECT_FALSE(registry.remove(name)) << "a second remove must do nothing";
  EXPECT_FALSE(exists_in_dev_shm(name));
  auto gone = open_shm_segment(name);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ENOENT);
  EXPECT_NE(gone.error().message.find("freed"), std::string::npos) << gone.error().message;

  write_line(reader.to, "go");
  EXPECT_EQ(wait(reader), 0) << "the other process could not read its mapping after the remove";
  // Both mappings here stay readable too.
  EXPECT_EQ(first_mismatch(sealed->data(), size, 3), size);
  EXPECT_EQ(first_mismatch(here->data(), size, 3), size);
}

TEST_F(SharedMemory, CopyOutGivesTheSegmentsOwnBytesEvenAfterItsNameWasReused) {
  const std::size_t size = 3 * MiB + 123;
  const std::string name = own_name(7);
  auto make = [&](unsigned seed) {
    auto writer = create_shm_segment(name, size);
    EXPECT_TRUE(writer) << (writer ? "" : writer.error().message);
    if (!writer)
      return shm_mapping{};
    std::vector<std::byte> bytes(size);
    fill(bytes.data(), size, seed);
    EXPECT_FALSE(writer->write(0, bytes.data(), size));
    auto sealed = writer->seal();
    EXPECT_TRUE(sealed);
    return sealed ? std::move(*sealed) : shm_mapping{};
  };
  shm_mapping first = make(5);
  ASSERT_TRUE(first);
  auto first_read = open_shm_segment(name);
  ASSERT_TRUE(first_read) << first_read.error().message;

  // While the segment is there: the whole of it, then a range from an odd offset.
  std::vector<std::byte> out(size);
  ASSERT_TRUE(first_read->copy_out(0, out.data(), size));
  EXPECT_EQ(first_mismatch(out.data(), size, 5), size);
  std::vector<std::byte> part(MiB);
  ASSERT_TRUE(first_read->copy_out(MiB + 1, part.data(), part.size()));
  for (std::size_t i = 0; i < part.size(); ++i)
    ASSERT_EQ(part[i], pattern(MiB + 1 + i, 5)) << "byte " << i << " of a copy from offset " << MiB + 1;
  EXPECT_FALSE(first_read->copy_out(size - 10, part.data(), 11)) << "a range past the end was copied";
  EXPECT_TRUE(first_read->copy_out(size, part.data(), 0));

  // The name now holds another segment: the old mappings still give their own bytes.
  ASSERT_FALSE(unlink_shm_segment(name));
  shm_mapping second = make(9);
  ASSERT_TRUE(second);
  std::fill(out.begin(), out.end(), std::byte{0});
  ASSERT_TRUE(first_read->copy_out(0, out.data(), size));
  EXPECT_EQ(first_mismatch(out.data(), size, 5), size) << "the copy came from the file now under the name";
  ASSERT_TRUE(first.copy_out(0, out.data(), size));
  EXPECT_EQ(first_mismatch(out.data(), size, 5), size) << "the writer's mapping copied another file's bytes";
  ASSERT_TRUE(second.copy_out(0, out.data(), size));
  EXPECT_EQ(first_mismatch(out.data(), size, 9), size);

  // Gone altogether: from the mapping.
  ASSERT_FALSE(unlink_shm_segment(name));
  std::fill(out.begin(), out.end(), std::byte{0});
  ASSERT_TRUE(second.copy_out(0, out.data(), size));
  EXPECT_EQ(first_mismatch(out.data(), size, 9), size);
}

TEST_F(SharedMemory, RegistryDestructorUnlinksAllItsSegments) {
  std::vector<std::string> names;
  std::vector<shm_mapping> kept;
  {
    shm_registry registry(node_id{0xdef});
    for (std::size_t i = 0; i < 4; ++i) {
      auto writer = registry.create((i + 1) * 4096);
      ASSERT_TRUE(writer) << writer.error().message;
      fill(writer->data(), writer->size(), 4);
      names.push_back(writer->name());
      auto sealed = writer->seal();
      ASSERT_TRUE(sealed);
      kept.push_back(std::move(*sealed));
    }
    EXPECT_EQ(registry.bytes(), (1 + 2 + 3 + 4) * 4096u);
    auto listed = registry.names();
    std::sort(listed.begin(), listed.end());
    auto want = names;
    std::sort(want.begin(), want.end());
    EXPECT_EQ(listed, want);
    for (auto& n : names)
      EXPECT_TRUE(exists_in_dev_shm(n)) << n;
  }
  // No name of that node is left; the mappings still read.
  for (auto& file : dev_shm_files()) {
    auto parsed = parse_shm_name(file);
    EXPECT_FALSE(parsed && parsed->owner == this_process() && parsed->node == node_id{0xdef}) << file;
  }
  for (auto& m : kept)
    EXPECT_EQ(first_mismatch(m.data(), m.size(), 4), m.size());
}

TEST_F(SharedMemory, ShutdownUnlinksAndRefusesNewSegments) {
  shm_registry registry(node_id{0x123});
  auto writer = registry.create(4096);
  ASSERT_TRUE(writer);
  auto sealed = writer->seal();
  ASSERT_TRUE(sealed);
  registry.shutdown();
  EXPECT_FALSE(exists_in_dev_shm(sealed->name()));
  EXPECT_EQ(registry.bytes(), 0u);
  auto late = registry.create(4096);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, ESHUTDOWN);
  registry.shutdown(); // idempotent
}

TEST_F(SharedMemory, BytesCountLiveSegmentsAndAnUnsealedWriterDroppedIsRemoved) {
  shm_registry registry(node_id{0x456});
  auto a = registry.create(3 * 4096);
  auto b = registry.create(5 * 4096);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(registry.bytes(), 8 * 4096u);
  std::string b_name = b->name();
  {
    shm_writer dropped = std::move(*b); // never sealed: its value was not finished
  }
  EXPECT_FALSE(exists_in_dev_shm(b_name));
  EXPECT_EQ(registry.bytes(), 3 * 4096u);
  EXPECT_EQ(registry.names(), std::vector<std::string>{a->name()});
  EXPECT_FALSE(registry.remove(own_name(4))) << "a name the registry did not make is not its to remove";
  EXPECT_FALSE(registry.remove(b_name));
}

TEST_F(SharedMemory, VectorOfTriviallyCopyableValuesReadsInPlace) {
  std::vector<double> values(300'000);
  std::iota(values.begin(), values.end(), 0.5);
  shm_registry registry(node_id{0x789});
  const std::size_t bytes = values.size() * sizeof(double);
  auto writer = registry.create(bytes);
  ASSERT_TRUE(writer);
  std::memcpy(writer->data(), values.data(), bytes);
  auto sealed = writer->seal();
  ASSERT_TRUE(sealed);

  auto m = open_shm_segment(sealed->name());
  ASSERT_TRUE(m);
  auto span = m->as_span<double>();
  ASSERT_TRUE(span);
  EXPECT_EQ(static_cast<const void*>(span->data()), static_cast<const void*>(m->data())) << "a copy was made";
  ASSERT_EQ(span->size(), values.size());
  EXPECT_TRUE(std::equal(span->begin(), span->end(), values.begin()));
  EXPECT_FALSE(m->as_span<double>(4)) << "misaligned";
  EXPECT_FALSE(m->as_span<double>(bytes + 1)) << "past the end";
  auto tail = m->as_span<double>(bytes - sizeof(double));
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->size(), 1u);
  EXPECT_EQ((*tail)[0], values.back());
}

TEST_F(SharedMemory, MappingsMoveAndUnmapOnce) {
  shm_registry registry(node_id{0x789});
  auto writer = registry.create(4096);
  ASSERT_TRUE(writer);
  fill(writer->data(), 4096, 5);
  auto sealed = writer->seal();
  ASSERT_TRUE(sealed);
  EXPECT_FALSE(writer->data()) << "a sealed writer is empty";
  shm_mapping a = std::move(*sealed);
  EXPECT_FALSE(*sealed);
  shm_mapping b;
  b = std::move(a);
  EXPECT_FALSE(a);
  ASSERT_TRUE(b);
  EXPECT_EQ(first_mismatch(b.data(), b.size(), 5), b.size());
  auto again = writer->seal();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, EINVAL);
}

// --- orphans ----------------------------------------------------------------

TEST_F(SharedMemory, SegmentsOfAKilledProcessAreRemovedAndNothingElse) {
  // This process's own registry, made first (its constructor scans for orphans
  // too), with a live segment that must stay.
  shm_registry mine(node_id{0xa11e});
  auto live = mine.create(4096);
  ASSERT_TRUE(live);
  auto live_sealed = live->seal();
  ASSERT_TRUE(live_sealed);

  // A node process that makes segments and is killed with SIGKILL: no
  // destructor runs, its names stay in /dev/shm.
  child node = start([](int, int out) {
    shm_registry registry(node_id{0xdead});
    std::vector<shm_mapping> sealed;
    std::vector<shm_writer> unsealed;
    for (int i = 0; i < 3; ++i) {
      auto w = registry.create(64 * 1024);
      if (!w)
        return 2;
      write_line(out, w->name());
      if (i < 2) {
        auto s = w->seal();
        if (!s)
          return 3;
        sealed.push_back(std::move(*s));
      } else
        unsealed.push_back(std::move(*w));
    }
    write_line(out, "ready");
    for (;;)
      ::pause();
  });
  ASSERT_GT(node.pid, 0);
  std::vector<std::string> orphans;
  for (std::string line; (line = read_line(node.from, 10s)) != "ready";) {
    ASSERT_FALSE(line.empty()) << "the child did not report its segments";
    orphans.push_back(line);
  }
  ASSERT_EQ(orphans.size(), 3u);
  ::kill(node.pid, SIGKILL);
  ASSERT_EQ(wait(node), 128 + SIGKILL);

  // What must stay besides: a file without the prefix, a name with the prefix
  // that does not parse, and a segment whose owner is in another pid namespace
  // (its pid cannot be checked from here).
  std::string foreign = "/shm-test-not-ours." + std::to_string(::getpid());
  std::string malformed = "/actors.not-a-segment." + std::to_string(::getpid());
  auto other_ns_owner = this_process();
  other_ns_owner.pid_ns += 1;
  other_ns_owner.pid = node.pid; // dead here
  std::string other_ns = shm_name{other_ns_owner, node_id{1}, 1}.to_string();
  extra_names_ = {foreign, malformed, other_ns};
  std::vector<shm_mapping> others;
  for (auto& n : extra_names_) {
    auto w = create_shm_segment(n, 4096);
    ASSERT_TRUE(w) << w.error().message;
    auto s = w->seal(); // a writer of no registry leaves its name when sealed
    ASSERT_TRUE(s) << s.error().message;
    others.push_back(std::move(*s));
  }

  // What must go besides: a segment named after this pid but another start time
  // (the pid was reused).
  auto earlier = this_process();
  earlier.start_time -= 1;
  std::string reused = shm_name{earlier, node_id{2}, 1}.to_string();
  auto reused_writer = create_shm_segment(reused, 4096);
  ASSERT_TRUE(reused_writer);
  ASSERT_TRUE(reused_writer->seal());

  // Any process of the host may scan at the same time (a node starting), so the
  // outcome is checked name by name rather than by the count.
  std::size_t removed = remove_orphaned_segments();
  std::printf("removed %zu orphaned segments\n", removed);
  for (auto& n : orphans)
    EXPECT_FALSE(exists_in_dev_shm(n)) << n << " of the killed process is still there";
  EXPECT_FALSE(exists_in_dev_shm(reused)) << "a reused pid was taken for its first owner";
  EXPECT_TRUE(exists_in_dev_shm(live_sealed->name())) << "a live process's segment was removed";
  for (auto& n : extra_names_)
    EXPECT_TRUE(exists_in_dev_shm(n)) << n << " is not this project's to judge";
  EXPECT_TRUE(open_shm_segment(live_sealed->name()));
}

TEST_F(SharedMemory, ANewRegistryRemovesOrphansOfTheHost) {
  auto earlier = this_process();
  earlier.start_time -= 1;
  std::string orphan = shm_name{earlier, node_id{3}, 7}.to_string();
  auto w = create_shm_segment(orphan, 4096);
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->seal());
  shm_registry registry(node_id{0xbeef});
  EXPECT_FALSE(exists_in_dev_shm(orphan));
}

// --- names ------------------------------------------------------------------

TEST_F(SharedMemory, NamesParseBackToTheirParts) {
  auto me = this_process();
  EXPECT_EQ(me.pid, ::getpid());
  EXPECT_NE(me.pid_ns, 0u);
  EXPECT_NE(me.start_time, 0u);

  shm_name n{me, node_id{0x0123456789abcdefULL}, 42};
  std::string text = n.to_string();
  std::string want = "/actors." + std::to_string(me.pid_ns) + "." + std::to_string(me.pid) + "."
                     + std::to_string(me.start_time) + ".0123456789abcdef.42";
  EXPECT_EQ(text, want);
  auto back = parse_shm_name(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, n);
  EXPECT_EQ(parse_shm_name(text.substr(1)), n) << "the leading '/' is optional";

  shm_name big{{~0ULL, 2147483647, ~0ULL}, node_id{~0ULL}, ~0ULL};
  EXPECT_EQ(parse_shm_name(big.to_string()), big);

  for (const char* bad : {"", "/", "/actors.", "/actors.1.2.3.0123456789abcdef", "/actors.1.2.3.0123456789abcdef.4.5",
                          "/actors.1.0.3.0123456789abcdef.4", "/actors.1.-2.3.0123456789abcdef.4",
                          "/actors.1.2.3.0123456789ABCDEF.4", "/actors.1.2.3.123456789abcdef.4",
                          "/actors.1.2.3.0123456789abcdefa.4", "/actors.1.2.x.0123456789abcdef.4",
                          "/actors.1.2.3.0123456789abcdef.", "/actors.1.99999999999.3.0123456789abcdef.4",
                          "/actors.1.2.99999999999999999999999.0123456789abcdef.4", "/other.1.2.3.0123456789abcdef.4",
                          "/actors.1.2.3.0123456789abcdef.+4", "/actors..2.3.0123456789abcdef.4"})
    EXPECT_FALSE(parse_shm_name(bad)) << bad;
}

// --- host identity ----------------------------------------------------------

TEST_F(SharedMemory, HostIdIsTheSameForEveryProcessOfTheHost) {
  std::string id = host_id();
  EXPECT_EQ(id.size(), 16u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
  EXPECT_EQ(host_id(), id);
  auto [code, line] = run([](int out) {
    write_line(out, host_id());
    return 0;
  });
  EXPECT_EQ(code, 0);
  EXPECT_EQ(line, id);
}

TEST_F(SharedMemory, HostIdDiffersInAnotherNetworkNamespace) {
  std::string here = host_id();
  auto [code, line] = run([](int out) {
    if (::unshare(CLONE_NEWNET) != 0) {
      write_line(out, errno == EPERM ? "EPERM" : std::string("error ") + std::strerror(errno));
      return 1;
    }
    write_line(out, host_id());
    return 0;
  });
  if (line == "EPERM")
    GTEST_SKIP() << "unshare(CLONE_NEWNET) needs CAP_SYS_ADMIN, which this process lacks";
  ASSERT_EQ(code, 0) << line;
  EXPECT_EQ(line.size(), 16u);
  EXPECT_NE(line, here) << "a network namespace is another host in the project's model";
}

TEST_F(SharedMemory, HostIdDiffersWithAnotherDevShm) {
  std::string here = host_id();
  auto [code, line] = run([](int out) {
    // A mount namespace of its own, changes to which stay in it, and a fresh
    // tmpfs at /dev/shm: segments of this host cannot be opened from there.
    if (::unshare(CLONE_NEWNS) != 0) {
      write_line(out, errno == EPERM ? "EPERM" : std::string("unshare: ") + std::strerror(errno));
      return 1;
    }
    if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0
        || ::mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=1m") != 0) {
      write_line(out, errno == EPERM ? "EPERM" : std::string("mount: ") + std::strerror(errno));
      return 1;
    }
    write_line(out, host_id());
    return 0;
  });
  if (line == "EPERM")
    GTEST_SKIP() << "a mount namespace and a tmpfs mount need CAP_SYS_ADMIN, which this process lacks";
  ASSERT_EQ(code, 0) << line;
  EXPECT_NE(line, here) << "processes that see different /dev/shm cannot share segments";
}

// --- a large segment ----------------------------------------------------------

/// A field of /proc/self/smaps (in kB) for the mapping that starts at `start`,
/// or -1.
long smaps_kb(const void* start, const std::string& field) {
  std::ifstream smaps("/proc/self/smaps");
  std::string row;
  bool in = false;
  auto want = reinterpret_cast<std::uintptr_t>(start);
  while (std::getline(smaps, row)) {
    auto dash = row.find('-');
    auto space = row.find(' ');
    if (dash != std::string::npos && space != std::string::npos && dash < space
        && row.find_first_not_of("0123456789abcdef") == dash) {
      in = std::stoull(row.substr(0, dash), nullptr, 16) == want;
      continue;
    }
    if (in && row.rfind(field + ":", 0) == 0)
      return std::stol(row.substr(field.size() + 1));
  }
  return -1;
}

TEST_F(SharedMemory, A256MiBSegmentMapsWithoutACopy) {
  using clock = std::chrono::steady_clock;
  const std::size_t size = 256 * MiB;
  shm_registry registry(node_id{0x256});

  auto t0 = clock::now();
  auto writer = registry.create(size);
  ASSERT_TRUE(writer) << writer.error().message;
  auto t1 = clock::now();
  auto* words = reinterpret_cast<std::uint64_t*>(writer->data());
  for (std::size_t i = 0; i < size / 8; ++i)
    words[i] = i * 0x9e3779b97f4a7c15ULL;
  auto t2 = clock::now();
  auto sealed = writer->seal();
  ASSERT_TRUE(sealed);
  EXPECT_EQ(registry.bytes(), size);

  // Open + map, several times: the best and the median.
  std::vector<double> open_us;
  for (int i = 0; i < 21; ++i) {
    auto a = clock::now();
    auto m = open_shm_segment(sealed->name());
    auto b = clock::now();
    ASSERT_TRUE(m) << m.error().message;
    ASSERT_EQ(m->size(), size);
    open_us.push_back(std::chrono::duration<double, std::micro>(b - a).count());
  }
  std::sort(open_us.begin(), open_us.end());

  auto m = open_shm_segment(sealed->name());
  ASSERT_TRUE(m);
  // Nothing was read or copied to map it: none of its pages is resident yet.
  EXPECT_EQ(smaps_kb(m->data(), "Rss"), 0) << "opening touched the pages";
  auto t3 = clock::now();
  bool same = std::memcmp(m->data(), sealed->data(), size) == 0;
  auto t4 = clock::now();
  EXPECT_TRUE(same);
  auto span = m->as_span<std::uint64_t>();
  ASSERT_TRUE(span);
  EXPECT_EQ((*span)[12345], 12345 * 0x9e3779b97f4a7c15ULL);
  EXPECT_EQ((*span)[span->size() - 1], (span->size() - 1) * 0x9e3779b97f4a7c15ULL);
  // Read whole, the mapping holds the segment's own pages, no private copy.
  EXPECT_EQ(smaps_kb(m->data(), "Anonymous"), 0);
  EXPECT_EQ(smaps_kb(m->data(), "Rss"), static_cast<long>(size / 1024));

  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::printf("256 MiB segment: create+reserve %.1f ms, fill %.1f ms, open+map best %.1f us, median %.1f us, "
              "worst %.1f us, first read of all pages (memcmp against the writer's mapping) %.1f ms\n",
              ms(t1 - t0), ms(t2 - t1), open_us.front(), open_us[open_us.size() / 2], open_us.back(), ms(t4 - t3));
  // Page-table work only, no copy: far under the ~50 ms a copy of 256 MiB takes.
  // Bounded loosely (the best of 21) so that a busy machine does not fail it.
  EXPECT_LT(open_us.front(), 10'000.0);
}

} // namespace
