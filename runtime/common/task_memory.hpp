#pragma once

// Per-task memory limits. Tasks run on worker threads inside the node process, so
// the limit is kept by the global operator new and delete this library replaces:
// while a task with a limit runs, they count on its thread the bytes allocated less
// the bytes freed, and refuse an allocation that would take the task past its limit
// by throwing task_memory_exceeded (a std::bad_alloc), which fails the task and
// leaves the node running.
//
// What is counted: every operator new / delete on the task's thread while it runs
// (its own code, the libraries it calls, the runtime on its behalf), by the
// allocator's usable size. What is not: malloc called directly (C libraries),
// over-aligned new, memory other threads allocate for the task, and memory the
// task frees on another thread after it ended.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

namespace actors::runtime {

/// Thrown by operator new on a thread running a task with a memory limit, when an
/// allocation would take the task past it. Holds figures only: building a message
/// here would allocate.
class task_memory_exceeded : public std::bad_alloc {
 public:
  task_memory_exceeded(std::size_t requested, std::int64_t in_use, std::size_t limit) noexcept
    : requested(requested), in_use(in_use), limit(limit) {}

  const char* what() const noexcept override {
    return "a task allocated past its memory limit";
  }

  /// Bytes the refused allocation asked for.
  std::size_t requested;
  /// Bytes the task held (allocated less freed on its thread) when it was refused.
  std::int64_t in_use;
  /// The task's limit in bytes.
  std::size_t limit;
};

/// While one lives on a thread, allocations on that thread are counted against
/// `limit` bytes; 0 means no limit and nothing is counted. Nested budgets (a task
/// run inline inside another's `get`) count on their own and hand their net bytes
/// to the outer one when they end. Not movable; lives on the stack of the thread
/// it limits.
class task_memory_budget {
 public:
  explicit task_memory_budget(std::size_t limit) noexcept;
  ~task_memory_budget();
  task_memory_budget(const task_memory_budget&) = delete;
  task_memory_budget& operator=(const task_memory_budget&) = delete;

  /// Bytes allocated less freed on this thread since the budget began.
  std::int64_t in_use() const noexcept;

 private:
  std::int64_t outer_used_;
  std::size_t outer_limit_;
};

/// While one lives on a thread, allocations there are counted but never refused:
/// for runtime code that must not throw (noexcept paths such as freeing an
/// object) but may run inside a task.
class task_memory_exempt {
 public:
  task_memory_exempt() noexcept;
  ~task_memory_exempt();
  task_memory_exempt(const task_memory_exempt&) = delete;
  task_memory_exempt& operator=(const task_memory_exempt&) = delete;

 private:
  bool outer_;
};

/// The limit of tasks on this node that set none themselves (--task-memory-limit);
/// 0 means none. Set by the node when it starts.
inline std::atomic<std::size_t> node_task_memory_limit{0};

/// The limit a task runs under: its own (`.memory(bytes)`), capped by the node's.
/// 0 means none.
inline std::size_t task_memory_limit_for(std::size_t task_limit) noexcept {
  auto node_limit = node_task_memory_limit.load(std::memory_order_relaxed);
  if (task_limit == 0)
    return node_limit;
  if (node_limit == 0)
    return task_limit;
  return task_limit < node_limit ? task_limit : node_limit;
}

} // namespace actors::runtime
