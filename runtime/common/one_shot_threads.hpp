#pragma once

// Threads that each do one blocking job: connecting to a peer, opening a
// message lane, rebuilding a lost value, restarting an actor, loading a job's
// files, watching a job's process. A long-lived node starts one for every peer
// that joins, every job, every lost value; kept until the node stops, each
// such thread would hold its stack (and the job's captures) for the node's
// whole life. These threads are detached and free everything as they end;
// stopping waits for the jobs still running.

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>

namespace actors::runtime {

class one_shot_threads {
 public:
  one_shot_threads();
  /// Waits for the jobs still running (wait_all).
  ~one_shot_threads();
  one_shot_threads(const one_shot_threads&) = delete;
  one_shot_threads& operator=(const one_shot_threads&) = delete;

  /// Runs `job` on a thread of its own. False, running nothing, once wait_all
  /// has been called: the owner is stopping. Throws std::system_error if no
  /// thread can be made.
  bool start(std::function<void()> job);

  /// Refuses new jobs from now on and waits until every job started has
  /// returned. Must not be called from one of the jobs, nor while holding a
  /// lock that a running job may take.
  void wait_all();

  /// Jobs started that have not returned yet.
  std::size_t running() const;

 private:
  // Shared with the threads, so that a thread that is ending never touches
  // its owner, which may be gone by then.
  struct state {
    std::mutex mu;
    std::condition_variable idle;
    std::size_t running = 0;
    bool closed = false;
  };
  std::shared_ptr<state> st_;
};

} // namespace actors::runtime
