#pragma once

/// Giving freed heap memory back to the system. In a build with tcmalloc as the
/// allocator (meson_options.txt `allocator`), loading the library also makes
/// tcmalloc's heap grow in transparent huge pages (free_memory.cpp).

namespace actors::runtime {

/// Hands the pages the allocator holds free back to the system, so that the
/// process's resident memory falls to what it uses. Under tcmalloc (the default,
/// meson_options.txt `allocator`) that is its free page heap, kept otherwise for
/// reuse; glibc gives large blocks back as they are freed, so a build with the
/// C library's malloc does nothing here. It walks the free pages once: for
/// after a burst of frees that exists to lower memory (the object store
/// spilling), not for every free.
void return_free_memory();

} // namespace actors::runtime
