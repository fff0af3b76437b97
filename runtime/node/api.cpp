// The seam between the public API templates (actors/detail/runtime.hpp) and this
// process's node: each function checks that the runtime runs and hands the call to
// the service that owns it.

#include "runtime/common/log.hpp"
#include "runtime/node/node.hpp"
#include "runtime/node/options.hpp"
#include "runtime/scheduler/dependencies.hpp"

#include "actors/actors.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace actors::runtime {

namespace {

std::atomic<node*> the_node{nullptr};

node& require_node() {
  auto* n = the_node.load(std::memory_order_acquire);
  if (!n)
    throw error(errc::not_initialized,
                "the actors runtime is not running: call actors::init(argc, argv) at the start "
                "of main, before any other actors call");
  return *n;
}

/// One call of a registered function, placed by the scheduler.
class task_item final : public work_item {
 public:
  task_item(node& n, const detail::function_entry& fn, detail::args_ptr args,
            detail::task_options opts, detail::object_cell* result, int attempt)
    : work_item(resource_set::from(opts.num_cpus, opts.resources)),
      node_(n),
      fn_(fn),
      args_(std::move(args)),
      opts_(std::move(opts)),
      result_(result),
      attempt_(attempt) {}

  ~task_item() override {
    if (result_)
      detail::release(result_);
  }

  const detail::args_holder& args() const {
    return *args_;
  }

  void run() override {
    if (result_->current() != detail::object_cell::state::pending)
      return; // cancelled before it started
    try {
      node_.store.settle(result_, fn_.invoke(fn_.fn, *args_));
      return;
    } catch (const std::exception& e) {
      fail_or_retry(e.what());
    } catch (...) {
      fail_or_retry("an exception that is not a std::exception");
    }
  }

  void abandon(const std::string& reason) override {
    node_.store.settle(result_, detail::failure{errc::object_lost, reason, {}, {}});
  }

  std::string describe() const override {
    return "task '" + label() + "'";
  }

 private:
  std::string label() const {
    return opts_.name.empty() ? fn_.name : opts_.name;
  }

  void fail_or_retry(const std::string& what) {
    if (opts_.retry_exceptions && attempt_ < opts_.max_retries) {
      log(log_level::info, "tasks", describe(), " threw (", what, "); retry ", attempt_ + 1, " of ",
          opts_.max_retries);
      auto retry = std::make_unique<task_item>(node_, fn_, std::move(args_), opts_,
                                               std::exchange(result_, nullptr), attempt_ + 1);
      node_.sched.submit(std::move(retry));
      return;
    }
    node_.store.settle(result_, detail::failure{errc::task_failed, what, label(), node_.id.to_string()});
  }

  node& node_;
  const detail::function_entry& fn_;
  detail::args_ptr args_;
  detail::task_options opts_;
  detail::object_cell* result_;
  int attempt_;
};

/// Lets one thread sleep until a cell callback wakes it. Shared with the callbacks,
/// which may fire after the waiter gave up.
struct parker {
  std::mutex mu;
  std::condition_variable cv;
  std::size_t settled = 0;

  void wake() {
    std::lock_guard<std::mutex> guard{mu};
    ++settled;
    cv.notify_one();
  }

  /// Waits until `settled >= n` or the timeout; true if reached.
  bool wait(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock{mu};
    auto done = [&] { return settled >= n; };
    if (timeout < std::chrono::milliseconds{0}) {
      cv.wait(lock, done);
      return true;
    }
    return cv.wait_for(lock, timeout, done);
  }
};

bool is_pending(detail::object_cell* c) {
  return c->current() == detail::object_cell::state::pending;
}

} // namespace

node* current_node() noexcept {
  return the_node.load(std::memory_order_acquire);
}

} // namespace actors::runtime

namespace actors {

using runtime::require_node;

void init(const init_options& opts) {
  if (runtime::current_node())
    throw error(errc::invalid_argument, "actors::init was called twice: call actors::shutdown first");
  if (!opts.address.empty())
    throw error(errc::invalid_argument,
                "joining a cluster at '" + opts.address
                  + "' is not available in this build: leave the address empty for an embedded "
                    "cluster");
  auto cfg = runtime::resolve(opts);
  runtime::the_node.store(new runtime::node(std::move(cfg)), std::memory_order_release);
}

void init(int argc, char** argv) {
  init_options opts;
  runtime::parse_options(argc, argv, opts);
  init(opts);
}

void shutdown() {
  delete runtime::the_node.exchange(nullptr, std::memory_order_acq_rel);
}

bool is_initialized() {
  return runtime::current_node() != nullptr;
}

node_id current_node_id() {
  return require_node().id;
}

} // namespace actors

namespace actors::detail {

using runtime::node;

object_cell* submit_task(const function_entry& fn, args_ptr args, task_options opts) {
  node& n = require_node();
  auto* result = n.store.create_pending();
  retain(result); // one for the caller, one for the task
  auto item = std::make_unique<runtime::task_item>(n, fn, std::move(args), std::move(opts), result, 0);
  auto* raw = item.release();
  runtime::when_ready(raw->args(), [&n, raw] { n.sched.submit(std::unique_ptr<runtime::work_item>(raw)); });
  return result;
}

object_cell* put_object(value_box value) {
  return require_node().store.create_ready(std::move(value));
}

std::shared_ptr<const void> get_value(object_cell* cell, const type_ops* want,
                                      std::chrono::milliseconds timeout) {
  if (!cell)
    throw error(errc::invalid_argument, "get of an empty object_ref: it names no object");
  if (runtime::is_pending(cell)) {
    node& n = require_node();
    if (cell->store != &n.store)
      throw object_lost_error("object " + cell->id.to_string()
                              + " belongs to a runtime that was shut down: it will never be ready");
    if (timeout.count() == 0)
      throw timeout_error("object " + cell->id.to_string() + " is not ready");
    auto p = std::make_shared<runtime::parker>();
    cell->on_settled([p] { p->wake(); });
    runtime::blocking_scope blocked;
    if (!p->wait(1, timeout))
      throw timeout_error("object " + cell->id.to_string() + " was not ready within "
                          + std::to_string(timeout.count())
                          + " ms: wait longer, or check that the task producing it can run "
                            "(resources, a dependency that never finishes)");
  }
  if (cell->current() == object_cell::state::failed)
    raise(*cell->why);
  return cell->store->value(cell, want);
}

std::vector<bool> wait_objects(const std::vector<object_cell*>& cells, std::size_t num_returns,
                               std::chrono::milliseconds timeout) {
  for (auto* c : cells)
    if (!c)
      throw error(errc::invalid_argument, "wait on an empty object_ref: it names no object");
  num_returns = std::min(num_returns, cells.size());
  std::size_t ready = 0;
  std::vector<object_cell*> pending;
  for (auto* c : cells)
    (runtime::is_pending(c) ? pending.push_back(c) : void(++ready));
  if (ready < num_returns && timeout.count() != 0) {
    require_node();
    auto p = std::make_shared<runtime::parker>();
    for (auto* c : pending)
      c->on_settled([p] { p->wake(); });
    runtime::blocking_scope blocked;
    p->wait(num_returns - ready, timeout);
  }
  std::vector<bool> flags(cells.size());
  for (std::size_t i = 0; i < cells.size(); ++i)
    flags[i] = !runtime::is_pending(cells[i]);
  return flags;
}

void cancel_task(object_cell* cell) {
  if (!cell)
    return;
  node& n = require_node();
  if (cell->store != &n.store)
    return;
  n.store.settle(cell, failure{errc::cancelled,
                               "the task making object " + cell->id.to_string() + " was cancelled",
                               {}, {}});
}

actor_cell* create_actor(const function_entry& factory, args_ptr args, actor_options opts) {
  node& n = require_node();
  if (!factory.construct)
    throw error(errc::invalid_argument, "'" + factory.name
                                          + "' is not an actor factory: it must return a class "
                                            "by value or as std::unique_ptr");
  auto id = n.host.next_id();
  if (!opts.name.empty()
      && !n.control.register_name(opts.name, runtime::named_actor_entry{id, factory.actor_class}))
    throw error(errc::invalid_argument, "an actor named '" + opts.name
                                          + "' exists already: choose another name, or reach "
                                            "it with get_actor");
  return n.host.create(id, factory, std::move(args), std::move(opts));
}

object_cell* submit_actor_call(actor_cell* actor, const method_entry& method, args_ptr args) {
  node& n = require_node();
  if (!actor)
    throw error(errc::invalid_argument, "call on an empty actor_handle: it names no actor");
  if (actor->host.load(std::memory_order_acquire) != &n.host) {
    // A cell no host serves is dead for good, so its reason no longer changes.
    auto why = actor->death.empty() ? "it belongs to a runtime that was shut down" : actor->death;
    return n.store.create_failed(
      failure{errc::actor_died, "actor " + actor->id.to_string() + " is dead: " + why, {}, {}});
  }
  return n.host.call(actor, method, std::move(args));
}

actor_cell* find_named_actor(const std::string& name, const char* class_name) {
  node& n = require_node();
  auto entry = n.control.lookup_name(name);
  if (!entry)
    return nullptr;
  if (entry->class_name != class_name)
    throw error(errc::type_mismatch, "actor '" + name + "' is a " + demangle(entry->class_name.c_str())
                                       + ", not a " + demangle(class_name)
                                       + ": call get_actor with its class");
  return n.host.find(entry->id);
}

void kill_actor(actor_cell* actor, bool no_restart) {
  node& n = require_node();
  if (!actor)
    throw error(errc::invalid_argument, "kill of an empty actor_handle: it names no actor");
  if (actor->host.load(std::memory_order_acquire) == &n.host)
    n.host.kill(actor, no_restart);
}

bool current_actor_was_restarted() {
  return runtime::current_context().actor_restarted;
}

object_cell* resolve_object(const object_id& id) {
  node& n = require_node();
  if (auto* c = n.store.find(id))
    return c;
  return n.store.create_failed(
    failure{errc::object_lost,
            "object " + id.to_string() + " is not known on node " + n.id.to_string()
              + ": no reference to it was left, so it was freed, or it comes from another cluster",
            {}, {}});
}

actor_cell* resolve_actor(const actor_id& id) {
  node& n = require_node();
  if (auto* a = n.host.find(id))
    return a;
  return n.host.make_dead(id, "it is not known on node " + n.id.to_string()
                                + ": it stopped, or it comes from another cluster");
}

void note_serialized(actor_cell*) noexcept {
  // Actors hosted here are found by id for as long as they live; nothing to pin.
}

} // namespace actors::detail
