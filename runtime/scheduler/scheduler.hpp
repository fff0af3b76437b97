#pragma once

#include "runtime/scheduler/resources.hpp"
#include "runtime/scheduler/worker_pool.hpp"

#include "actors/detail/failure.hpp"

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <deque>
#include <set>
#include <string>
#include <utility>
#include <utility>
#include <string>
#include <vector>

namespace actors::detail {
class object_cell;
} // namespace actors::detail

namespace actors::runtime {

/// Something the scheduler places on this node: a resource demand and a body that
/// runs on a worker thread while holding it.
class work_item {
 public:
  explicit work_item(resource_set demand) : demand(std::move(demand)) {}
  virtual ~work_item() = default;

  /// Runs on a pool thread with `demand` held.
  virtual void run() = 0;
  /// Called instead of run when the node stops first; `reason` says why.
  virtual void abandon(const std::string& reason) = 0;
  /// Asked once run has returned: true if the demand goes back then (tasks, or an
  /// actor creation that found itself no longer wanted); false if the item keeps
  /// it and gives it back itself (an actor's lifetime reservation).
  virtual bool releases_on_return() const {
    return true;
  }
  /// What the item is, for messages.
  virtual std::string describe() const = 0;
  /// Whether the item, still pending, may go back to whoever sent it to run
  /// elsewhere (spillback: a task from another node's owner).
  virtual bool can_give_back() const {
    return false;
  }
  /// Sends the item back instead of running it; called once, outside the
  /// scheduler's lock, just before the item is destroyed.
  virtual void give_back() {}

  const resource_set demand;
};

/// Figures the scheduler reports.
struct scheduler_stats {
  std::size_t pending = 0;
  /// Pending items whose demand exceeds what this node has in total.
  std::size_t infeasible = 0;
  std::size_t running = 0;
  resource_set total;
  resource_set available;
};

class scheduler;

/// Runs the later parts of work that keeps its resources between them (a
/// coroutine task resumed after a `co_await`) on its scheduler's pool, for as
/// long as that scheduler lives: a timer or another node's answer may resume the
/// work after its node stopped, and that part is then dropped.
class resume_gate {
 public:
  /// Queues `job` on the pool, run as work holding `held_cpu` CPUs (a blocking
  /// `get` inside lends them); false if the scheduler is gone.
  bool post(double held_cpu, std::function<void()> job);

 private:
  friend class scheduler;
  std::mutex mu_;
  scheduler* sched_ = nullptr;
};

/// Decides when ready work runs on this node: holds items until their demand fits
/// the free resources, then hands them to the worker pool, first in, first out per
/// demand shape. Items that can never fit stay pending (a node that has the resource
/// could join) and are reported. Safe for concurrent use.
class scheduler {
 public:
  scheduler(resource_set total, worker_pool& pool);
  ~scheduler();

  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;

  /// Where an item that kept its demand past `run` (releases_on_return false)
  /// posts its later parts.
  std::shared_ptr<resume_gate> gate() const {
    return gate_;
  }

  /// Takes an item whose arguments are ready.
  void submit(std::unique_ptr<work_item> item);

  /// Gives resources back (an item that kept its demand, or a finished one).
  void release(const resource_set& demand);

  /// A running item's thread blocks: its CPUs go back until `reacquire_cpu`.
  void lend_cpu(double cpu);
  /// The blocked thread runs again and takes its CPUs back (even if that briefly
  /// oversubscribes the node).
  void reacquire_cpu(double cpu);

  /// Adds resources to what this node has (a placement group's bundle, renamed).
  void add_total(const resource_set& extra);
  /// Takes resources added with add_total away again.
  void remove_total(const resource_set& extra);

  /// Abandons every pending item; later submissions are abandoned at once.
  void stop();

  /// No node will join any more (this process was cut off from its cluster):
  /// abandons, with `why`, the pending items this node can never run, and later
  /// ones at once.
  void no_more_nodes(const std::string& why);

  scheduler_stats stats() const;

  /// Counts the pending items by demand shape into `shapes`: work waiting for
  /// room here, which the autoscaler sees as demand.
  void count_pending(std::map<std::map<std::string, double>, std::uint64_t>& shapes) const;

  /// Takes up to `count` pending items of demand `shape` that can go back
  /// (can_give_back), the newest first, and gives them back. Returns how many.
  std::size_t give_back(const resource_set& shape, std::size_t count);

  /// What the pending items are (describe()), at most `limit`.
  std::vector<std::string> pending_names(std::size_t limit) const;

 private:
  friend class resume_gate;
  void dispatch_locked();
  void start_locked(work_item* item);
  void post_held(double held_cpu, std::function<void()> job);

  worker_pool& pool_;
  std::shared_ptr<resume_gate> gate_ = std::make_shared<resume_gate>();
  mutable std::mutex mu_;
  resource_set total_;
  resource_set available_;
  std::map<resource_set, std::deque<std::unique_ptr<work_item>>> pending_;
  std::size_t pending_count_ = 0;
  // Demands already reported as infeasible (one warning per shape).
  std::set<resource_set> warned_infeasible_;
  std::size_t running_ = 0;
  bool stopped_ = false;
  // Set by no_more_nodes: why work this node cannot run will never run.
  std::string cut_off_;
};

/// What the current pool thread is running, so that a blocking `get` can lend its
/// CPUs and an actor method can ask whether it was restarted.
struct execution_context {
  scheduler* sched = nullptr;
  worker_pool* pool = nullptr;
  double held_cpu = 0;
  /// A method of an actor runs (actors::exit_actor may be called).
  bool in_actor_method = false;
  bool actor_restarted = false;
  /// The running method called actors::exit_actor: its actor ends after it.
  bool exit_requested = false;
  /// The working directory of the job whose work runs (actors::working_dir), or
  /// null.
  std::shared_ptr<const std::string> working_dir;
  /// The result of the task that runs (actors::is_cancelled; the tasks it submits
  /// are its children), or null.
  detail::object_cell* running_task = nullptr;
  /// The namespace of the task or actor that runs (named actors; what the work
  /// it starts works in), or null: the process's.
  const std::string* ns = nullptr;
};

execution_context& current_context() noexcept;

/// While alive, the calling thread runs the task that makes `result`.
class running_task_scope {
 public:
  explicit running_task_scope(detail::object_cell* result)
    : previous_(std::exchange(current_context().running_task, result)) {}
  ~running_task_scope() {
    current_context().running_task = previous_;
  }
  running_task_scope(const running_task_scope&) = delete;
  running_task_scope& operator=(const running_task_scope&) = delete;

 private:
  detail::object_cell* previous_;
};

/// While alive, the calling thread runs work of a job whose working directory
/// here is `dir` (null: not a job's).
class working_dir_scope {
 public:
  explicit working_dir_scope(std::shared_ptr<const std::string> dir)
    : previous_(std::exchange(current_context().working_dir, std::move(dir))) {}
  ~working_dir_scope() {
    current_context().working_dir = std::move(previous_);
  }
  working_dir_scope(const working_dir_scope&) = delete;
  working_dir_scope& operator=(const working_dir_scope&) = delete;

 private:
  std::shared_ptr<const std::string> previous_;
};

/// While alive, the calling thread runs work in namespace `ns` (empty or null:
/// the process's); `ns` must outlive it.
class namespace_scope {
 public:
  explicit namespace_scope(const std::string* ns)
    : previous_(std::exchange(current_context().ns, ns && !ns->empty() ? ns : nullptr)) {}
  ~namespace_scope() {
    current_context().ns = previous_;
  }
  namespace_scope(const namespace_scope&) = delete;
  namespace_scope& operator=(const namespace_scope&) = delete;

 private:
  const std::string* previous_;
};

/// While alive, the calling thread counts as blocked: its CPUs and its pool slot
/// go to other work. No effect off pool threads.
class blocking_scope {
 public:
  blocking_scope();
  ~blocking_scope();
  blocking_scope(const blocking_scope&) = delete;
  blocking_scope& operator=(const blocking_scope&) = delete;

 private:
  execution_context* ctx_ = nullptr;
  double cpu_ = 0;
};

} // namespace actors::runtime
