// return_free_memory: the allocator's free pages go back to the system.

#include "runtime/common/free_memory.hpp"
#include "tests/support/runtime_fixture.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <dlfcn.h>
#include <fstream>
#include <memory>
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

} // namespace
