#include "runtime/scheduler/local_tasks.hpp"

#include "runtime/common/coroutine_scope.hpp"
#include "runtime/common/log.hpp"
#include "runtime/common/task_memory.hpp"
#include "runtime/scheduler/dependencies.hpp"

#include "actors/errors.hpp"

#include <memory>
#include <string>
#include <utility>

namespace actors::runtime {

namespace {

/// What one run of a task needs, from its start to its end, and how it ends:
/// shared by a plain task (one call on a pool thread) and a coroutine task (which
/// may suspend and go on later).
struct task_run {
  task_run(object_store& store, scheduler& sched, task_log& tlog, node_id node, const detail::function_entry& fn,
           detail::args_ptr args, detail::task_options opts, detail::object_cell* result, int attempt,
           std::shared_ptr<const std::string> working_dir, std::int64_t queued_us, std::shared_ptr<item_sink> items)
    : store(store), sched(sched), tlog(tlog), node(node), fn(fn), args(std::move(args)), opts(std::move(opts)),
      result(result), attempt(attempt), working_dir(std::move(working_dir)), queued_us(queued_us),
      items(std::move(items)) {}

  /// Takes the result's reference over.
  task_run(task_run&& o) noexcept
    : task_run(o.store, o.sched, o.tlog, o.node, o.fn, std::move(o.args), std::move(o.opts),
               std::exchange(o.result, nullptr), o.attempt, std::move(o.working_dir), o.queued_us,
               std::move(o.items)) {}

  ~task_run() {
    if (result)
      detail::release(result);
  }

  object_store& store;
  scheduler& sched;
  task_log& tlog;
  node_id node;
  const detail::function_entry& fn;
  detail::args_ptr args;
  detail::task_options opts;
  detail::object_cell* result;
  int attempt;
  std::shared_ptr<const std::string> working_dir;
  std::int64_t queued_us;
  /// A generator's: where its items go (null: dropped).
  std::shared_ptr<item_sink> items;

  const std::string& label() const {
    return opts.name.empty() ? fn.name : opts.name;
  }

  std::string describe() const {
    return "task '" + label() + "'";
  }

  void succeeded(std::uint64_t slot, detail::value_box value) {
    store.settle(result, std::move(value));
    // A result the full store refused leaves the cell failed (object_store_full).
    const bool refused = result->current() == detail::object_cell::state::failed
                         && result->why->code == errc::object_store_full;
    tlog.finished(slot, !refused, queued_us);
  }

  /// The task threw `error`: settles its result with the failure, or runs it
  /// again (retry_exceptions).
  void failed(std::uint64_t slot, std::exception_ptr error) {
    tlog.finished(slot, false, queued_us);
    try {
      std::rethrow_exception(error);
    } catch (const task_memory_exceeded& e) {
      auto what = "task '" + label() + "' on node " + node.to_string() + " asked for " + std::to_string(e.requested)
                  + " more bytes while holding " + std::to_string(e.in_use) + ", past its memory limit of "
                  + std::to_string(e.limit) + " bytes: raise the node's --task-memory-limit"
                  + " (or the task's .memory(bytes)), or make the task use less memory";
      log(log_level::warning, "tasks", what);
      fail_or_retry(what);
    } catch (const object_store_full_error& e) {
      // A put inside the task met a full store: the same error reaches the caller.
      store.settle(result, detail::failure{errc::object_store_full,
                                           "task '" + label() + "' on node " + node.to_string()
                                             + " could not store a value: " + e.what(),
                                           {}, {}});
    } catch (const object_lost_error& e) {
      // A system failure, not the function's: an object it needed (usually an
      // argument held by a node that died) is gone. The owner may make it again
      // and re-run the task (max_retries).
      store.settle(result, detail::failure{errc::object_lost,
                                           "task '" + label() + "' on node " + node.to_string()
                                             + " lost an object it needed: " + e.what(),
                                           {}, {}});
    } catch (const std::exception& e) {
      fail_or_retry(e.what());
    } catch (...) {
      fail_or_retry("an exception that is not a std::exception");
    }
  }

  void fail_or_retry(const std::string& what);

  /// Whether an exception from this run would run the task again here, with the
  /// same arguments.
  bool may_retry() const {
    return opts.retry_exceptions && attempt < opts.max_retries;
  }
};

/// One call of a registered function, placed by the scheduler.
class task_item final : public work_item {
 public:
  task_item(task_run run, std::function<void()> on_give_back = {})
    : work_item(resource_set::from(run.opts.num_cpus, run.opts.resources)),
      run_(std::move(run)),
      on_give_back_(std::move(on_give_back)) {}

  const detail::args_holder& args() const {
    return *run_.args;
  }

  void run() override;

  void abandon(const std::string& reason) override {
    run_.store.settle(run_.result, detail::failure{errc::object_lost, reason, {}, {}});
  }

  std::string describe() const override {
    return run_.describe();
  }

  // A coroutine task that started keeps its demand until it ends.
  bool releases_on_return() const override {
    return !coroutine_started_;
  }

  // Only a first run may go back: a retry after an exception stays here.
  bool can_give_back() const override {
    return on_give_back_ && run_.attempt == 0 && run_.result->current() == detail::object_cell::state::pending;
  }

  void give_back() override {
    on_give_back_();
    run_.store.settle(run_.result, detail::failure{errc::cancelled, "given back to its owner", {}, {}});
  }

 private:
  task_run run_;
  std::function<void()> on_give_back_;
  bool coroutine_started_ = false;
};

/// A coroutine task (its function returns actors::async<T> or generator<T>) from
/// its start to its end. It keeps the task's demand, its arguments (which the
/// coroutine's parameters may refer to) and its result while suspended; a
/// `co_await` that suspends gives the pool thread back, and the coroutine goes on
/// on the pool when what it waits for is ready. A generator's items go to the
/// run's item sink as they are yielded; it waits (holding no thread) while the
/// sink has no room, and stops at its next step once its result is cancelled.
class coroutine_task final : public detail::async_completion, public detail::coroutine_executor {
 public:
  coroutine_task(task_run run, resource_set demand, std::uint64_t slot)
    : run_(std::move(run)), demand_(std::move(demand)), slot_(slot), gate_(run_.sched.gate()) {}

  /// Makes the coroutine and runs it to its first suspension (or its end).
  void start() {
    std::coroutine_handle<> h;
    try {
      working_dir_scope in_job{run_.working_dir};
      namespace_scope in_ns{&run_.opts.ns};
      running_task_scope running{run_.result};
      h = run_.fn.start(run_.fn.fn, *run_.args, this);
    } catch (...) {
      failed(std::current_exception());
      return;
    }
    if (run_.fn.yields) {
      // A cancel wakes a generator that waits for room.
      pause_ = std::make_shared<producer_pause>();
      run_.result->on_settled([p = pause_] { p->fire(); });
    }
    go_on(h);
  }

  void resume(std::coroutine_handle<> h) override {
    // Dropped with the node: its scheduler, store and pool are going.
    gate_->post(demand_.cpu, [this, h] { go_on(h); });
  }

  void finished(detail::value_box value) override {
    // A generator's result is the number of items it made.
    run_.succeeded(slot_, run_.fn.yields ? detail::box(std::uint64_t{made_}) : std::move(value));
    end();
  }

  void failed(std::exception_ptr error) override {
    run_.failed(slot_, error);
    end();
  }

  bool yielded(detail::value_box item, std::coroutine_handle<> h) override {
    if (stopped(h))
      return false;
    return hand_over(run_.items.get(), pause_, made_++, std::move(item), [this, h] { resume(h); });
  }

 private:
  /// A generator whose result was cancelled, or whose items are no longer
  /// wanted, ends here instead of going on.
  bool stopped(std::coroutine_handle<> h) {
    if (!run_.fn.yields
        || (run_.result->current() == detail::object_cell::state::pending && (!run_.items || run_.items->wanted())))
      return false;
    h.destroy();
    run_.tlog.finished(slot_, false, run_.queued_us);
    run_.store.settle(run_.result, detail::failure{errc::cancelled, run_.describe() + " stopped: its caller dropped "
                                                                                       "the stream of its items",
                                                   {}, {}});
    end();
    return true;
  }

  void go_on(std::coroutine_handle<> h) {
    if (stopped(h))
      return;
    working_dir_scope in_job{run_.working_dir};
    namespace_scope in_ns{&run_.opts.ns};
    running_task_scope running{run_.result};
    coroutine_scope on_pool{this};
    task_memory_budget budget{task_memory_limit_for(run_.opts.memory_bytes)};
    h.resume();
  }

  void end() {
    auto& sched = run_.sched;
    auto demand = std::move(demand_);
    delete this; // the arguments go; a retry took them already
    sched.release(demand);
  }

  task_run run_;
  resource_set demand_;
  std::uint64_t slot_;
  std::shared_ptr<resume_gate> gate_;
  // A generator's: items made in this run, and where it waits for room.
  std::uint64_t made_ = 0;
  std::shared_ptr<producer_pause> pause_;
};

void task_run::fail_or_retry(const std::string& what) {
  if (may_retry()) {
    tlog.note_retried();
    log(log_level::info, "tasks", describe(), " threw (", what, "); retry ", attempt + 1, " of ", opts.max_retries);
    task_run again{std::move(*this)};
    ++again.attempt;
    again.queued_us = task_log::clock_us();
    sched.submit(std::make_unique<task_item>(std::move(again)));
    return;
  }
  store.settle(result, detail::failure{errc::task_failed, what, label(), node.to_string()});
}

void task_item::run() {
  if (run_.result->current() != detail::object_cell::state::pending)
    return; // cancelled before it started
  auto slot = run_.tlog.started(run_.label());
  if (run_.fn.start) {
    coroutine_started_ = true;
    (new coroutine_task(std::move(run_), demand, slot))->start();
    return;
  }
  const auto memory_limit = task_memory_limit_for(run_.opts.memory_bytes);
  detail::value_box result;
  try {
    task_memory_budget budget{memory_limit};
    working_dir_scope in_job{run_.working_dir};
    namespace_scope in_ns{&run_.opts.ns};
    running_task_scope running{run_.result};
    if (!run_.may_retry())
      run_.args->last_use();
    result = run_.fn.invoke(run_.fn.fn, *run_.args);
  } catch (...) {
    run_.failed(slot, std::current_exception());
    return;
  }
  run_.succeeded(slot, std::move(result));
}

} // namespace

void submit_local_task(object_store& store, scheduler& sched, task_log& tlog, node_id node,
                       const detail::function_entry& fn, detail::args_ptr args,
                       detail::task_options opts, detail::object_cell* result,
                       std::shared_ptr<const std::string> working_dir, std::function<void()> on_give_back,
                       std::shared_ptr<item_sink> items) {
  tlog.note_submitted();
  auto* item = new task_item(task_run{store, sched, tlog, node, fn, std::move(args), std::move(opts), result, 0,
                                      std::move(working_dir), task_log::clock_us(), std::move(items)},
                             std::move(on_give_back));
  when_ready(item->args(), [&sched, item] { sched.submit(std::unique_ptr<work_item>(item)); });
}

} // namespace actors::runtime
