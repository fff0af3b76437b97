#pragma once

#include "actors/detail/args.hpp"
#include "actors/detail/checks.hpp"
#include "actors/detail/runtime.hpp"
#include "actors/scheduling.hpp"
#include "actors/object_ref.hpp"
#include "actors/placement_group.hpp"
#include "actors/registry.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace actors {

template <class T>
class object_ref_stream;

namespace detail {
/// What a call of a function or method returning R gives: R, or T for a
/// coroutine returning actors::async<T>.
template <class R>
struct call_value {
  using type = R;
};
template <class T>
struct call_value<actors::async<T>> {
  using type = T;
};
template <class R>
using call_value_t = typename call_value<std::remove_cvref_t<R>>::type;
} // namespace detail

/// What a call returns as a future: object_ref<R>, or object_ref<void> for void
/// (object_ref<T> for a coroutine method returning async<T>).
template <class R>
using result_ref = object_ref<std::conditional_t<std::is_void_v<detail::call_value_t<R>>, void,
                                                 std::remove_cvref_t<detail::call_value_t<R>>>>;

/// Builds one remote call of a registered function. Options go before `remote`:
///
///     task(f).num_cpus(2).resource("GPU", 1).max_retries(3).name("label").remote(x);
template <class R, class... Ps>
class task_builder {
 public:
  explicit task_builder(R (*f)(Ps...))
    : entry_(&detail::function_of(reinterpret_cast<const void*>(f), typeid(f).name())) {}

  /// CPUs the task holds while it runs (default 1; may be fractional or 0).
  task_builder& num_cpus(double n) {
    opts_.num_cpus = n;
    return *this;
  }
  /// Run inside bundle `bundle` of `pg`, using the resources it reserved.
  task_builder& placement_group(const actors::placement_group& pg, std::size_t bundle) {
    opts_.placement.group = pg.id();
    opts_.placement.bundle = bundle;
    return *this;
  }
  /// An amount of a custom resource the task needs, e.g. resource("GPU", 1).
  task_builder& resource(std::string name, double amount) {
    opts_.resources.emplace_back(std::move(name), amount);
    return *this;
  }
  /// Caps what the task allocates while it runs, in bytes: past it the task
  /// fails (task_error saying so) and its node carries on. The node's
  /// --task-memory-limit, if lower, still applies. Counts operator new on the
  /// task's thread, not malloc called directly (see docs/guide/tasks.md).
  task_builder& memory(std::size_t bytes) {
    opts_.memory_bytes = bytes;
    return *this;
  }
  /// Times the task is re-run when its node fails (default 3).
  task_builder& max_retries(int n) {
    opts_.max_retries = n;
    return *this;
  }
  /// Also re-run the task when it throws (default false).
  task_builder& retry_exceptions(bool yes) {
    opts_.retry_exceptions = yes;
    return *this;
  }
  /// How to pick a node: actors::spread round-robins over the nodes that fit.
  task_builder& strategy(scheduling_strategy s) {
    detail::check_strategy(s, "task(f).strategy(s)");
    opts_.placement.strategy = s;
    return *this;
  }
  /// Run on node `id`; if `soft`, fall back to other nodes when it cannot take the
  /// task (dead, or lacking the resources), else fail or wait for it.
  task_builder& node(node_id id, bool soft = true) {
    detail::check_affinity(id, "task(f).node(id)");
    opts_.placement.affinity = id;
    opts_.placement.soft = soft;
    return *this;
  }
  /// A label shown in listings and errors instead of the function's name.
  task_builder& name(std::string label) {
    opts_.name = std::move(label);
    return *this;
  }

  /// A generator pauses while `n` of its items are unread by the caller, and goes
  /// on as they are read (default 0: it never pauses). Only for generators.
  task_builder& max_buffered(std::size_t n) {
    static_assert(detail::is_generator<std::remove_cvref_t<R>>::value,
                  "max_buffered(n) is for generator tasks (functions returning actors::generator<T>)");
    opts_.max_buffered = n;
    return *this;
  }

  /// Submits the call and returns at once with a reference to its future result
  /// (an object_ref_stream<T> of its items for a generator<T>; include
  /// <actors/generator.hpp>). An object_ref<P> passed for a parameter of type P is
  /// waited for and its value passed (dataflow).
  template <class... As>
  auto remote(As&&... as) const {
    auto args = detail::make_args<Ps...>(std::forward<As>(as)...);
    if constexpr (detail::is_generator<std::remove_cvref_t<R>>::value)
      return object_ref_stream<typename std::remove_cvref_t<R>::value_type>(
        detail::submit_stream(*entry_, std::move(args), opts_));
    else
      return result_ref<R>(detail::submit_task(*entry_, std::move(args), opts_), std::in_place);
  }

 private:
  const detail::function_entry* entry_;
  detail::task_options opts_;
};

/// Starts a remote call of `f`, which must be listed in an ACTORS_REMOTE line
/// (otherwise throws not_registered_error saying so). `noexcept` functions too.
template <class R, class... Ps>
task_builder<R, Ps...> task(R (*f)(Ps...)) {
  return task_builder<R, Ps...>(f);
}

/// A lambda or another function object: refused at compile time, since the node
/// that runs a task finds its function by the name it was registered under.
template <class F>
  requires(!std::is_function_v<std::remove_cvref_t<F>> && !std::is_pointer_v<std::decay_t<F>>)
void task(F&&) {
  static_assert(detail::always_false<F>,
                "actors::task() takes a named function listed in ACTORS_REMOTE, not a lambda or function object: "
                "other nodes find a task's function by its registered name. Make it a plain function (what the "
                "lambda captured becomes an argument) and list it in ACTORS_REMOTE.");
}

/// Blocks until the object is ready and returns a copy of its value. Rethrows the
/// failure of the task that made it (task_error, actor_died_error, …).
template <class T>
T get(const object_ref<T>& ref) {
  if constexpr (std::is_void_v<T>) {
    detail::get_value(ref.cell(), detail::ops_of<detail::unit>(), detail::forever);
  } else {
    auto p = detail::get_value(ref.cell(), detail::ops_of<T>(), detail::forever);
    return *static_cast<const T*>(p.get());
  }
}

/// As `get`, but throws timeout_error if the object is not ready in time.
template <class T, class Rep, class Period>
T get(const object_ref<T>& ref, std::chrono::duration<Rep, Period> timeout) {
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(timeout);
  if constexpr (std::is_void_v<T>) {
    detail::get_value(ref.cell(), detail::ops_of<detail::unit>(), ms);
  } else {
    auto p = detail::get_value(ref.cell(), detail::ops_of<T>(), ms);
    return *static_cast<const T*>(p.get());
  }
}

/// Gets every object in order. Throws the first failure met.
template <class T>
std::vector<T> get(const std::vector<object_ref<T>>& refs) {
  std::vector<T> out;
  out.reserve(refs.size());
  for (const auto& r : refs)
    out.push_back(get(r));
  return out;
}

/// As `get` of every object, within one deadline for all: throws timeout_error if
/// they are not all ready within `timeout`.
template <class T, class Rep, class Period>
std::vector<T> get(const std::vector<object_ref<T>>& refs, std::chrono::duration<Rep, Period> timeout) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::milliseconds>(timeout);
  std::vector<T> out;
  out.reserve(refs.size());
  for (const auto& r : refs) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    out.push_back(get(r, std::max(left, std::chrono::milliseconds{0})));
  }
  return out;
}

/// The value itself, shared with the object store: no copy is made. The pointer
/// stays valid after the reference is dropped.
template <class T>
std::shared_ptr<const T> get_shared(const object_ref<T>& ref) {
  auto p = detail::get_value(ref.cell(), detail::ops_of<T>(), detail::forever);
  return std::static_pointer_cast<const T>(p);
}

/// Stores a value in the object store and returns a reference to it.
template <class T>
object_ref<std::remove_cvref_t<T>> put(T&& value) {
  return object_ref<std::remove_cvref_t<T>>(detail::put_object(detail::box(std::forward<T>(value))),
                                            std::in_place);
}

/// The outcome of `wait`: the references split by readiness, each part in input
/// order. A failed object counts as ready (its `get` throws).
template <class T>
struct wait_result {
  std::vector<object_ref<T>> ready;
  std::vector<object_ref<T>> pending;
};

/// Waits until `num_returns` objects are ready or `timeout` passes, whichever is
/// first. Never throws timeout_error: what is not ready is in `pending`.
template <class T, class Rep = std::int64_t, class Period = std::milli>
wait_result<T> wait(const std::vector<object_ref<T>>& refs, std::size_t num_returns,
                    std::chrono::duration<Rep, Period> timeout = std::chrono::milliseconds{-1}) {
  std::vector<detail::object_cell*> cells;
  cells.reserve(refs.size());
  for (const auto& r : refs)
    cells.push_back(r.cell());
  auto ms = timeout.count() < 0 ? detail::forever
                                : std::chrono::ceil<std::chrono::milliseconds>(timeout);
  auto flags = detail::wait_objects(cells, num_returns, ms);
  wait_result<T> out;
  for (std::size_t i = 0; i < refs.size(); ++i)
    (flags[i] ? out.ready : out.pending).push_back(refs[i]);
  return out;
}

/// Waits for all of `refs`.
template <class T>
wait_result<T> wait(const std::vector<object_ref<T>>& refs) {
  return wait(refs, refs.size());
}

/// How actors::cancel reaches further than the one task.
struct cancel_options {
  /// Also cancel the tasks that task submitted (and theirs), wherever they run.
  bool recursive = false;
};

/// Cancels the task that makes `ref` if it has not finished; its `get` then throws
/// task_cancelled_error. A task that has not started never does. A running one is
/// not interrupted: `actors::is_cancelled()` turns true inside it, on whichever
/// node it runs, so that it can stop early, and its result is dropped.
///
///     actors::cancel(ref, {.recursive = true});
template <class T>
void cancel(const object_ref<T>& ref, cancel_options opts = {}) {
  detail::cancel_task(ref.cell(), opts.recursive);
}

/// Inside a running task: true once the task was cancelled (see cancel). A task
/// that loops for long asks it now and then and returns early. False outside a
/// task, and in actor methods.
inline bool is_cancelled() noexcept {
  return detail::running_task_cancelled();
}

} // namespace actors
