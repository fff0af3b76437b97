// return_free_memory: the allocator's free pages go back to the system; and
// under tcmalloc the heap grows in transparent huge pages.

#include "runtime/common/free_memory.hpp"
#include "tests/support/runtime_fixture.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <dlfcn.h>
#include <fstream>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

constexpr std::size_t mib = std::size_t{1} << 20;

/// This process's resident memory, from /proc/self/statm.
std::size_t resident_bytes() {
  std::ifstream statm{"/proc/self/statm"};
  std::size_t pages = 0;
  std::size_t resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

/// This process's anonymous memory in transparent huge pages.
std::size_t anon_huge_bytes() {
  std::ifstream rollup{"/proc/self/smaps_rollup"};
  std::string key;
  std::size_t kib = 0;
  while (rollup >> key) {
    if (key == "AnonHugePages:" && rollup >> kib)
      return kib * 1024;
  }
  return 0;
}

/// The system's THP mode: always, madvise or never (the bracketed word).
std::string huge_page_mode() {
  std::ifstream in{"/sys/kernel/mm/transparent_hugepage/enabled"};
  std::string line;
  std::getline(in, line);
  auto open = line.find('[');
  auto close = line.find(']');
  return open == std::string::npos || close == std::string::npos ? "never" : line.substr(open + 1, close - open - 1);
}

bool tcmalloc_linked() {
  return ::dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory") != nullptr;
}

TEST(FreeMemory, PagesFreedByTheProgramLeaveTheProcess) {
  if (actors::test::sanitized)
    GTEST_SKIP() << "a sanitizer's allocator keeps freed memory in its quarantine";
  const auto baseline = resident_bytes();
  {
    // 64 blocks of 1 MiB, every page written, then freed.
    std::vector<std::unique_ptr<char[]>> blocks;
    for (int i = 0; i < 64; ++i) {
      blocks.emplace_back(new char[mib]);
      std::memset(blocks.back().get(), 1, mib);
    }
    ASSERT_GE(resident_bytes(), baseline + 48 * mib);
  }
  const auto freed = resident_bytes();
  actors::runtime::return_free_memory();
  const auto returned = resident_bytes();
  if (tcmalloc_linked()) {
    // tcmalloc keeps the pages for reuse until asked: what this function is for.
    EXPECT_GE(freed, baseline + 32 * mib) << "tcmalloc gave the pages back by itself: the test proves nothing";
  }
  EXPECT_LT(returned, baseline + 16 * mib)
    << "resident " << returned / mib << " MiB after return_free_memory, " << baseline / mib << " MiB before the "
    << "64 MiB were allocated, " << freed / mib << " MiB once they were freed";
}

TEST(FreeMemory, UnderTcmallocTheHeapGrowsInHugePages) {
  if (actors::test::sanitized || !tcmalloc_linked())
    GTEST_SKIP() << "the C library's malloc (or a sanitizer's): its heap is the system's to lay out";
  const auto mode = huge_page_mode();
  if (mode != "madvise")
    GTEST_SKIP() << "transparent huge pages are '" << mode << "' here: only under 'madvise' does the advice decide";
  const auto before = anon_huge_bytes();
  std::vector<std::unique_ptr<char[]>> blocks;
  // 64 blocks of 256 KiB and 32 of 1 MiB, every page written: sizes that
  // advise_huge_pages (from 4 MiB) leaves to the allocator.
  for (int i = 0; i < 64; ++i) {
    blocks.emplace_back(new char[mib / 4]);
    std::memset(blocks.back().get(), 1, mib / 4);
  }
  for (int i = 0; i < 32; ++i) {
    blocks.emplace_back(new char[mib]);
    std::memset(blocks.back().get(), 1, mib);
  }
  const auto after = anon_huge_bytes();
  EXPECT_GE(after, before + 24 * mib) << (after - std::min(after, before)) / mib
                                      << " MiB of the 48 MiB just written are in huge pages";
}

} // namespace
