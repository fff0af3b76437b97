#pragma once

#include "runtime/common/lazy_deque.hpp"
#include "runtime/object_store/object_store.hpp"
#include "runtime/scheduler/object_stream.hpp"
#include "runtime/scheduler/resources.hpp"
#include "runtime/scheduler/scheduler.hpp"
#include "runtime/scheduler/task_log.hpp"
#include "runtime/scheduler/worker_pool.hpp"

#include "actors/detail/runtime.hpp"
#include "actors/ids.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace actors::runtime {
class actor_host;
}

namespace actors::detail {

class actor_cell;

/// The node that created an actor hosted elsewhere: told when the last local
/// handle to it goes, so that the hosting node can drop the actor. Called on the
/// thread that drops the handle; must not block or throw.
class remote_actor_creator {
 public:
  virtual ~remote_actor_creator() = default;
  virtual void handles_released(const actor_cell& cell) noexcept = 0;
};

/// Counts the actor handles encoded on this thread while it lives, so that a
/// value naming actors can be held for its reader as one naming objects is.
/// Nests: the innermost counts.
class handle_counter {
 public:
  handle_counter() noexcept;
  ~handle_counter();
  handle_counter(const handle_counter&) = delete;
  handle_counter& operator=(const handle_counter&) = delete;

  std::size_t count() const noexcept {
    return count_;
  }
  /// An actor handle was encoded on this thread.
  static void note() noexcept;

 private:
  std::size_t count_ = 0;
  handle_counter* outer_;
};

/// One call waiting in an actor's mailbox.
struct actor_call_request {
  const method_entry* method;
  args_ptr args;
  /// Retained for the call; settled with its result.
  object_cell* result;
  /// A generator method's: where its items go (null: dropped), and how many
  /// unread ones pause it (0: none).
  std::shared_ptr<runtime::item_sink> items = nullptr;
  std::uint64_t max_buffered = 0;
};

/// A hosted actor: the factory and arguments that build it, the instance, and the
/// mailbox its calls wait in. Calls run one at a time, in arrival order, on the
/// worker pool; a threaded actor (max_concurrency > 1) runs up to that many at
/// once on threads of its own. `refs` counts handles and queued calls; when it
/// reaches zero the actor stops. Every other field is guarded by `mu`.
class actor_cell final : public coroutine_executor {
 public:
  enum class state : std::uint8_t { creating, alive, dead };

  actor_cell(runtime::actor_host* host, actor_id id) : host(host), id(id) {}
  actor_cell(const actor_cell&) = delete;
  actor_cell& operator=(const actor_cell&) = delete;
  virtual ~actor_cell() = default;

  /// A suspended coroutine call of this actor can go on: queued for its drain.
  void resume(std::coroutine_handle<> h) override;

  /// Null once the host has stopped (handles may outlive the runtime).
  std::atomic<runtime::actor_host*> host;
  const actor_id id;
  std::atomic<std::uint32_t> refs{1};

  const function_entry* factory = nullptr;
  args_ptr ctor_args;
  actor_options opts;
  const char* class_name = nullptr;
  runtime::resource_set reservation;

  std::mutex mu;
  state st = state::creating;
  std::shared_ptr<void> instance;
  /// Made on the first call (lazy_deque): an actor never called holds none.
  runtime::lazy_deque<actor_call_request> mailbox;
  /// Drain jobs queued or running: at most opts.max_concurrency, each running
  /// one call at a time.
  int drains = 0;
  /// A threaded actor's own threads (null: the node's worker pool). Set at
  /// creation, kept across restarts; stopped off its own threads when the actor
  /// is forgotten or the host stops.
  std::shared_ptr<runtime::worker_pool> threads;
  /// An async actor (its class has a coroutine method): one drain at a time runs
  /// its calls, which interleave at co_await.
  bool async_actor = false;
  /// Coroutine calls started and not ended (suspended, or queued in `ready`).
  std::size_t in_flight = 0;
  /// Suspended coroutine calls whose awaited object or timer came: the drain
  /// resumes them before it takes new calls, also once the actor is dead (they
  /// hold their instance and end on their own).
  runtime::lazy_deque<std::coroutine_handle<>> ready;
  int restarts_used = 0;
  /// The working directory of the job that created it (null: none); its
  /// factory and methods see it as actors::working_dir().
  std::shared_ptr<const std::string> working_dir;
  /// The reservation is held (from the start of the creation that took it until
  /// death).
  bool reserved = false;
  /// The number of the creation that is wanted. Each creation work item carries
  /// the number it was queued with; queuing a new creation and dying bump it, so
  /// an older creation finds itself stale: if it has not started it gives its
  /// demand back without running the factory, and if it was building it drops
  /// what it built.
  std::uint64_t generation = 0;
  /// The current creation is queued (waiting for its arguments or for resources)
  /// and has not started: a restart needs no other.
  bool creation_waiting = false;
  /// Why the actor is dead.
  std::string death;

  /// The node hosting the actor. For a cell of an actor hosted elsewhere
  /// (`remote`), calls go there and `host` is null.
  node_id location;
  bool remote = false;
  /// Set when this remote cell was made by creating the actor: the hosting node
  /// keeps the actor for the creator, which is told when the cell goes (if the
  /// creator's remote layer still exists). Also set on a borrowing cell.
  std::weak_ptr<remote_actor_creator> creator;
  /// A remote cell of an actor another node created, made from a handle read
  /// here: this node borrows the actor from its creator while such cells live.
  bool borrowed = false;
};

} // namespace actors::detail

namespace actors::runtime {

using detail::actor_cell;

/// Adds a reference to `a` unless its last one went already (it is being
/// forgotten); true if it added one.
bool retain_if_alive(actor_cell* a) noexcept;

struct actor_host_stats {
  std::size_t creating = 0;
  std::size_t alive = 0;
  std::size_t dead = 0;
  std::uint64_t restarts_total = 0;
};

/// Hosts this node's actors: builds instances from factories through the
/// scheduler (so that an actor's resources are reserved for its life), runs their
/// calls in order on the worker pool, rebuilds them on restart up to max_restarts,
/// and stops them when killed or no longer referenced. Safe for concurrent use.
class actor_host {
 public:
  /// Called (once, on any thread) when a named actor dies for good, so that its
  /// name can be freed.
  using name_freed = std::function<void(const actor_id&, const std::string& name)>;

  actor_host(node_id node, object_store& store, scheduler& sched, worker_pool& pool, task_log& log,
             name_freed on_named_death = {});

  /// One row per actor hosted here: id, class, name, state, restarts.
  std::vector<std::vector<std::string>> describe() const;

  /// A named actor hosted here that is not dead.
  struct named_actor {
    std::string name;
    actor_id id;
    /// Mangled name of its class.
    std::string class_name;
  };
  /// The named actors hosted here, for announcing them to a restarted head.
  std::vector<named_actor> named_actors() const;
  ~actor_host();

  /// A fresh id for an actor about to be created here.
  actor_id next_id();

  /// Creates an actor; returns its cell with one reference (the caller's handle).
  /// `restarts` counts earlier instances (elsewhere, on nodes that died);
  /// `working_dir` is its job's working directory here (null: none).
  actor_cell* create(const actor_id& id, const detail::function_entry& factory,
                     detail::args_ptr args, detail::actor_options opts, int restarts = 0,
                     std::shared_ptr<const std::string> working_dir = nullptr);

  /// A cell for an actor that cannot be reached: its calls fail with
  /// actor_died_error saying `why`. One reference.
  actor_cell* make_dead(const actor_id& id, std::string why);

  /// A cell for an actor hosted on node `location`. One reference. `creator` is
  /// set when this node created the actor there.
  static actor_cell* make_remote(const actor_id& id, node_id location, const char* class_name,
                                 std::weak_ptr<detail::remote_actor_creator> creator = {});

  /// Queues a call; returns the result's cell with one reference. A generator
  /// method's items go to `items`, and it pauses while `max_buffered` are unread.
  detail::object_cell* call(actor_cell* actor, const detail::method_entry& method,
                            detail::args_ptr args, std::shared_ptr<item_sink> items = nullptr,
                            std::uint64_t max_buffered = 0);

  void kill(actor_cell* actor, bool no_restart);
  /// Ends the actor for good, not to be restarted; its calls fail saying `why`.
  void end(actor_cell* actor, const std::string& why);
  /// Ends every actor hosted here that node `creator` made, except detached
  /// ones; returns how many.
  std::size_t end_created_by(const node_id& creator, const std::string& why);

  /// The retained cell of a live actor hosted here, or null.
  actor_cell* find(const actor_id& id);

  /// Called when the last reference went: stops the actor and forgets it.
  void forget(actor_cell* actor) noexcept;

  /// Kills every actor (node shutdown).
  void stop();

  actor_host_stats stats() const;

  /// How many actors this node hosts that are not dead (being created or
  /// alive): stats().creating + stats().alive without visiting each actor.
  std::size_t live_count() const noexcept {
    auto n = live_.load(std::memory_order_relaxed);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }

 private:
  friend class actor_creation;
  friend class detail::actor_cell;
  friend class coroutine_call;

  /// A creation numbered under the cell's mutex, submitted once it is released.
  struct creation_ticket {
    std::uint64_t generation;
    resource_set demand;
  };
  /// With the cell's mutex held: makes a new creation the wanted one (earlier
  /// ones go stale) and picks its demand: nothing if the reservation is held.
  creation_ticket queue_creation_locked(actor_cell* actor);
  /// Unlocked: submits the creation to the scheduler once the factory's
  /// arguments are ready.
  void submit_creation(actor_cell* actor, creation_ticket ticket);
  /// A creation got its demand: true if it is still wanted, and then the demand
  /// is the actor's reservation from now on; false if it is stale.
  bool begin_creation(actor_cell* actor, std::uint64_t generation);
  /// The factory of creation `generation` returned or threw; ignored if stale.
  void on_created(actor_cell* actor, std::uint64_t generation, std::shared_ptr<void> instance);
  void on_creation_failed(actor_cell* actor, std::uint64_t generation, const std::string& why);
  /// The method (or stretch of a coroutine method) just run called
  /// actors::exit_actor(): clears the request; the actor dies, not to be
  /// restarted. The drain checks `exit_requested` first, so calls pay nothing.
  void end_as_asked(actor_cell* actor);
  /// Marks the actor dead and fails its queued calls; `lock` is released.
  void die_locked(actor_cell* actor, std::unique_lock<std::mutex>& lock, std::string why);
  void schedule_drain_locked(actor_cell* actor);
  void drain(actor_cell* actor);
  /// Starts a coroutine call on the drain's thread (it runs to its first co_await).
  void start_coroutine(actor_cell* actor, detail::actor_call_request call, std::shared_ptr<void> instance);
  /// Runs coroutine `h` of `actor` until it suspends or ends.
  static void run_coroutine(actor_cell* actor, std::coroutine_handle<> h);
  /// A coroutine call ended: one fewer in flight, and the mailbox may go on.
  void coroutine_ended(actor_cell* actor);
  /// How many calls an async actor interleaves at most.
  static std::size_t async_limit(const actor_cell* actor);
  /// Where the actor's calls run: its own threads, or the node's pool.
  worker_pool& pool_of(actor_cell* actor);

  const node_id node_;
  object_store& store_;
  scheduler& sched_;
  worker_pool& pool_;
  task_log& log_;
  const name_freed on_named_death_;
  std::atomic<std::uint64_t> next_seq_{1};
  std::atomic<std::uint64_t> restarts_total_{0};
  // Hosted actors not dead yet: one more when created, one less when a cell
  // becomes dead (under its mutex, so once per actor).
  std::atomic<std::int64_t> live_{0};

  // Guards the table of actors hosted here.
  mutable std::mutex mu_;
  std::unordered_map<actor_id, actor_cell*> actors_;
};

} // namespace actors::runtime
