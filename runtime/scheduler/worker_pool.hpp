#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace actors::runtime {

/// A hint to the processor that this thread busy-waits.
inline void pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/// The threads that run user code (task bodies, actor factories and methods), kept
/// apart from CAF's scheduler threads so that user code that blocks never starves
/// message handling. At most `max_running` jobs run at once; a job that blocks (in
/// `get` or `wait`) says so and stops counting, and another thread takes its place.
/// Safe for concurrent use.
class worker_pool {
 public:
  /// With `spin`, a thread that finished a job looks for the next for a little
  /// while before it sleeps: faster when jobs come from this process, wasteful
  /// when they come over the network and other processes need the cores.
  worker_pool(std::size_t max_running, bool spin);
  ~worker_pool();

  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;

  /// Queues a job; it runs on a pool thread as soon as one is free.
  void post(std::function<void()> job);

  /// The calling pool thread is about to block: let another job run meanwhile.
  void on_block();
  /// The calling pool thread runs again (briefly exceeding max_running is fine).
  void on_unblock();

  /// Runs the jobs still queued, then joins every thread. Idempotent.
  void stop();

/// True on a thread of any pool.
  static bool on_pool_thread() noexcept;

  std::size_t threads() const;

 private:
  /// With mu_ held, makes sure enough threads will look at the queue: starts
  /// one, or says to wake an idle one (true: the caller notifies cv_ once it
  /// has released mu_), unless the threads already on their way, or the running
  /// limit, cover what is queued.
  bool wake_or_spawn_locked();
  void spawn_locked();
  void work();

  const std::size_t max_running_;
  const bool spin_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
  std::size_t idle_ = 0;
  std::size_t running_ = 0;
  // Threads looking for a job before they sleep; they need no wake-up.
  std::size_t spinning_ = 0;
  // Threads started that have not yet looked at the queue.
  std::size_t starting_ = 0;
  // Idle threads woken that have not yet looked at the queue.
  std::size_t waking_ = 0;
  // queue_.size(), readable without the lock by spinning threads.
  std::atomic<std::size_t> queued_{0};
  bool stopping_ = false;
};

} // namespace actors::runtime
