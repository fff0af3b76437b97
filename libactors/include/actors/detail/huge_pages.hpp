#pragma once

/// Large buffers in transparent huge pages.

#include <cstddef>

namespace actors::detail {

/// The size from which advise_huge_pages asks for huge pages.
inline constexpr std::size_t huge_buffer_bytes = std::size_t{4} << 20;

/// Asks the kernel to back the `size` bytes at `p` with transparent huge pages
/// (madvise MADV_HUGEPAGE on the 2 MiB-aligned pages inside), before they are
/// first written. For a buffer of many MiB this saves a page fault (and, in a
/// virtual machine, often an exit to the hypervisor) per 4 KiB: copying into
/// fresh memory runs several times faster. Does nothing below
/// `huge_buffer_bytes`, or where the kernel offers no huge pages
/// (/sys/kernel/mm/transparent_hugepage/enabled set to `never`).
void advise_huge_pages(void* p, std::size_t size) noexcept;

} // namespace actors::detail
