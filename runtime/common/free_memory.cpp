#include "runtime/common/free_memory.hpp"

#if ACTORS_TCMALLOC
#include <gperftools/malloc_extension.h>
#include <sys/mman.h>

#include <cstddef>
#endif

namespace actors::runtime {

#if ACTORS_TCMALLOC

namespace {

constexpr std::size_t huge_page_bytes = std::size_t{2} << 20;

/// tcmalloc's source of memory, in transparent huge pages: what the source
/// before it gives (sbrk, else mmap), asked for in whole 2 MiB pages aligned on
/// 2 MiB and advised MADV_HUGEPAGE. Where the system's THP setting is `madvise`
/// (Debian's default) the heap is otherwise faulted in 4 KiB at a time, and in
/// a virtual machine a fault costs more than copying its page several times:
/// fresh memory came at about 0.4 GB/s on the machine of docs/performance.md,
/// and every buffer below the size `advise_huge_pages` takes paid it.
class huge_page_source final : public SysAllocator {
 public:
  explicit huge_page_source(SysAllocator* next) : next_(next) {}

  void* Alloc(std::size_t size, std::size_t* actual_size, std::size_t alignment) override {
    const std::size_t rounded = (size + huge_page_bytes - 1) / huge_page_bytes * huge_page_bytes;
    std::size_t got = 0;
    void* p = next_->Alloc(rounded, &got, alignment > huge_page_bytes ? alignment : huge_page_bytes);
    if (!p) // no room for the rounding: as asked
      return next_->Alloc(size, actual_size, alignment);
    // Refused only where the kernel has no huge pages: then it is 4 KiB pages.
    ::madvise(p, got, MADV_HUGEPAGE);
    if (actual_size)
      *actual_size = got;
    return p;
  }

 private:
  SysAllocator* next_;
};

/// Put in place when the library is loaded, before the heap grows much.
struct heap_in_huge_pages {
  heap_in_huge_pages() {
    auto* extension = MallocExtension::instance();
    SysAllocator* next = extension->GetSystemAllocator();
    if (!next)
      return; // not tcmalloc after all (a preloaded malloc took its place)
    static huge_page_source source{next};
    extension->SetSystemAllocator(&source);
  }
};
const heap_in_huge_pages installed;

} // namespace

void return_free_memory() {
  MallocExtension::instance()->ReleaseFreeMemory();
}

#else

void return_free_memory() {}

#endif

} // namespace actors::runtime
