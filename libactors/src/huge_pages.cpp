#include "actors/detail/huge_pages.hpp"

#include <sys/mman.h>

#include <cstdint>

namespace actors::detail {

void advise_huge_pages(void* p, std::size_t size) noexcept {
#ifdef MADV_HUGEPAGE
  if (!p || size < huge_buffer_bytes)
    return;
  constexpr std::uintptr_t huge = std::uintptr_t{2} << 20;
  const auto begin = reinterpret_cast<std::uintptr_t>(p);
  const auto first = (begin + huge - 1) & ~(huge - 1);
  const auto last = (begin + size) & ~(huge - 1);
  if (last > first)
    ::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE); // advice: a failure changes nothing
#else
  (void)p;
  (void)size;
#endif
}

} // namespace actors::detail
