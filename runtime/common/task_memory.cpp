// The replaceable global operator new and delete of the whole process (this
// library is linked ahead of libstdc++, so its definitions win), and the per-thread
// budget they keep while a task with a memory limit runs.
//
// Cost when no task on the thread has a limit: one thread-local load and a branch
// per new and per delete, on top of malloc and free (the initial-exec TLS model
// keeps that load a single instruction in a shared library).

#include "runtime/common/task_memory.hpp"

#include <cstdlib>
#include <malloc.h>

namespace actors::runtime {

namespace {

struct thread_budget {
  // Bytes allocated less freed while the budget is on; may go negative when the
  // task frees memory it did not allocate (its arguments).
  std::int64_t used;
  // 0: no budget, nothing counted.
  std::size_t limit;
  // Count but never refuse.
  bool exempt;
};

// Constant-initialized, so no TLS wrapper call; initial-exec, so no __tls_get_addr.
thread_local thread_budget budget __attribute__((tls_model("initial-exec"))) = {0, 0, false};

void* allocate(std::size_t n) {
  if (n == 0)
    n = 1;
  for (;;) {
    if (void* p = std::malloc(n))
      return p;
    auto handler = std::get_new_handler();
    if (!handler)
      throw std::bad_alloc();
    handler();
  }
}

[[gnu::noinline]] void* allocate_counted(std::size_t n) {
  auto& b = budget;
  if (!b.exempt && b.used + static_cast<std::int64_t>(n) > static_cast<std::int64_t>(b.limit))
    throw task_memory_exceeded(n, b.used, b.limit);
  void* p = allocate(n);
  b.used += static_cast<std::int64_t>(malloc_usable_size(p));
  return p;
}

inline void* allocate_maybe_counted(std::size_t n) {
  if (__builtin_expect(budget.limit != 0, 0))
    return allocate_counted(n);
  return allocate(n);
}

inline void deallocate(void* p) noexcept {
  if (__builtin_expect(budget.limit != 0, 0) && p)
    budget.used -= static_cast<std::int64_t>(malloc_usable_size(p));
  std::free(p);
}

} // namespace

task_memory_budget::task_memory_budget(std::size_t limit) noexcept
  : outer_used_(budget.used), outer_limit_(budget.limit) {
  budget.used = 0;
  budget.limit = limit;
}

task_memory_budget::~task_memory_budget() {
  auto net = budget.used;
  budget.limit = outer_limit_;
  budget.used = outer_limit_ != 0 ? outer_used_ + net : 0;
}

std::int64_t task_memory_budget::in_use() const noexcept {
  return budget.used;
}

task_memory_exempt::task_memory_exempt() noexcept : outer_(budget.exempt) {
  budget.exempt = true;
}

task_memory_exempt::~task_memory_exempt() {
  budget.exempt = outer_;
}

} // namespace actors::runtime

// -- the replacements -------------------------------------------------------------------------
// Every non-aligned form, so that no allocation goes around the count. The aligned
// forms stay libstdc++'s (aligned_alloc and free): they are neither counted nor
// mixed with these.

void* operator new(std::size_t n) {
  return actors::runtime::allocate_maybe_counted(n);
}

void* operator new[](std::size_t n) {
  return actors::runtime::allocate_maybe_counted(n);
}

void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return actors::runtime::allocate_maybe_counted(n);
  } catch (...) {
    return nullptr;
  }
}

void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return actors::runtime::allocate_maybe_counted(n);
  } catch (...) {
    return nullptr;
  }
}

void operator delete(void* p) noexcept {
  actors::runtime::deallocate(p);
}

void operator delete[](void* p) noexcept {
  actors::runtime::deallocate(p);
}

void operator delete(void* p, std::size_t) noexcept {
  actors::runtime::deallocate(p);
}

void operator delete[](void* p, std::size_t) noexcept {
  actors::runtime::deallocate(p);
}

void operator delete(void* p, const std::nothrow_t&) noexcept {
  actors::runtime::deallocate(p);
}

void operator delete[](void* p, const std::nothrow_t&) noexcept {
  actors::runtime::deallocate(p);
}
