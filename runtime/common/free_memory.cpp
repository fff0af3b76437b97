#include "runtime/common/free_memory.hpp"

#include <dlfcn.h>

namespace actors::runtime {

void return_free_memory() {
  // Looked up rather than linked: libactors is the same whichever allocator the
  // program links.
  using release_fn = void (*)();
  static const auto release =
    reinterpret_cast<release_fn>(::dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory"));
  if (release)
    release();
}

} // namespace actors::runtime
