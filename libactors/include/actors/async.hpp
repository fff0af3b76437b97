#pragma once

/// Coroutine tasks and coroutine methods of actors (C++20). A function or method
/// that returns `actors::async<T>` may `co_await` an object_ref, `actors::when_all`
/// of refs, or `actors::sleep_for`; while it waits it holds no thread. A coroutine
/// task keeps its resources (num_cpus, ...) from its start to its end. An actor
/// with at least one coroutine method is an *async actor*: other calls of it run
/// while one waits, on one thread at a time, interleaving only at `co_await`, so
/// its state needs no lock.
///
///     actors::async<int> add_later(actors::object_ref<int> a, int b) {
///       co_return co_await a + b;           // no thread held while `a` is made
///     }
///     ACTORS_REMOTE(add_later);
///     actors::object_ref<int> r = actors::task(add_later).remote(ref, 1);
///
///     class Cache {
///      public:
///       actors::async<int> lookup(actors::object_ref<int> slow) {
///         int v = co_await slow;            // suspends; other calls run meanwhile
///         co_await actors::sleep_for(std::chrono::milliseconds(10));
///         co_return v + hits_++;
///       }
///      private:
///       int hits_ = 0;
///     };
///     ACTORS_REMOTE(make_cache, &Cache::lookup);
///     actors::object_ref<int> r = cache.task(&Cache::lookup).remote(ref);

#include "actors/detail/args.hpp"
#include "actors/detail/runtime.hpp"
#include "actors/errors.hpp"
#include "actors/object_ref.hpp"
#include "actors/registry.hpp"
#include "actors/serialization.hpp"
#include "actors/task.hpp"

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstring>
#include <memory>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace actors {

template <class T>
class async;

namespace detail {

template <class T>
struct async_value {
  using type = std::conditional_t<std::is_void_v<T>, unit, T>;
};

/// The part of a coroutine's promise that does not depend on void or not.
template <class T>
struct async_promise_base {
  std::optional<typename async_value<T>::type> value;
  std::exception_ptr error;
  async_completion* done = nullptr;

  std::suspend_always initial_suspend() noexcept {
    return {};
  }

  /// Reports the end to the runtime, then frees the coroutine.
  struct final_awaiter {
    bool await_ready() noexcept {
      return false;
    }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) noexcept {
      auto& p = h.promise();
      auto* done = p.done;
      auto error = p.error;
      std::optional<value_box> boxed;
      if (!error) {
        try {
          boxed = box(std::move(*p.value));
        } catch (...) {
          error = std::current_exception();
        }
      }
      h.destroy();
      if (done) {
        if (error)
          done->failed(error);
        else
          done->finished(std::move(*boxed));
      }
    }
    void await_resume() noexcept {}
  };

  final_awaiter final_suspend() noexcept {
    return {};
  }
  void unhandled_exception() noexcept {
    error = std::current_exception();
  }
};

template <class T>
struct async_promise : async_promise_base<T> {
  async<T> get_return_object() noexcept;
  template <class U>
  void return_value(U&& v) {
    this->value.emplace(std::forward<U>(v));
  }
};

template <>
struct async_promise<void> : async_promise_base<void> {
  async<void> get_return_object() noexcept;
  void return_void() noexcept {
    value.emplace();
  }
};

/// The executor of the running coroutine; throws a clear error outside one.
inline coroutine_executor& executor_here(const char* what) {
  auto* ex = current_executor();
  if (!ex)
    throw error(errc::invalid_argument, std::string(what)
                                          + " works only inside a coroutine task or a coroutine method of an "
                                            "actor (one that returns actors::async<T>), run by the runtime");
  return *ex;
}

template <class U>
struct ref_awaiter {
  object_ref<U> ref;

  bool await_ready() const noexcept {
    return detail::is_settled(ref.cell());
  }
  void await_suspend(std::coroutine_handle<> h) {
    auto& ex = executor_here("co_await of an object_ref");
    detail::when_settled(ref.cell(), [&ex, h] { ex.resume(h); });
  }
  /// The value, or the failure thrown as get would.
  decltype(auto) await_resume() const {
    if constexpr (std::is_void_v<U>)
      actors::get(ref);
    else
      return actors::get(ref);
  }
};

struct sleep_awaiter {
  std::chrono::nanoseconds delay;

  bool await_ready() const noexcept {
    return delay.count() <= 0;
  }
  void await_suspend(std::coroutine_handle<> h) {
    auto& ex = executor_here("co_await actors::sleep_for");
    detail::after(delay, [&ex, h] { ex.resume(h); });
  }
  void await_resume() const noexcept {}
};

template <class U>
struct all_awaiter {
  std::vector<object_ref<U>> refs;

  bool await_ready() const noexcept {
    for (const auto& r : refs)
      if (!detail::is_settled(r.cell()))
        return false;
    return true;
  }
  void await_suspend(std::coroutine_handle<> h) {
    auto& ex = executor_here("co_await actors::when_all");
    // Resumed once, by whichever settles last. The count starts at one for this
    // registration, so that refs settling meanwhile cannot resume it early.
    auto left = std::make_shared<std::atomic<std::size_t>>(1);
    auto one_settled = [left, &ex, h] {
      if (left->fetch_sub(1, std::memory_order_acq_rel) == 1)
        ex.resume(h);
    };
    for (const auto& r : refs)
      if (!detail::is_settled(r.cell())) {
        left->fetch_add(1, std::memory_order_relaxed);
        detail::when_settled(r.cell(), one_settled);
      }
    one_settled();
  }
  std::vector<U> await_resume() const {
    return actors::get(refs);
  }
};

} // namespace detail

namespace detail {

/// Owns a coroutine not started yet, until release() hands it to the runtime
/// (async<T> and generator<T>). Move-only; destroys one never released.
template <class Promise>
class owned_coroutine {
 public:
  owned_coroutine(owned_coroutine&& other) noexcept : h_(std::exchange(other.h_, {})) {}
  owned_coroutine& operator=(owned_coroutine&& other) noexcept {
    if (this != &other) {
      if (h_)
        h_.destroy();
      h_ = std::exchange(other.h_, {});
    }
    return *this;
  }
  owned_coroutine(const owned_coroutine&) = delete;
  owned_coroutine& operator=(const owned_coroutine&) = delete;
  ~owned_coroutine() {
    if (h_)
      h_.destroy();
  }

  /// Hands the unstarted coroutine to the runtime, which hears from it through
  /// `done` (its end, and a generator's items).
  std::coroutine_handle<> release(async_completion* done) noexcept {
    h_.promise().done = done;
    return std::exchange(h_, {});
  }

 protected:
  explicit owned_coroutine(std::coroutine_handle<Promise> h) noexcept : h_(h) {}

 private:
  std::coroutine_handle<Promise> h_;
};

} // namespace detail

/// The return type of a coroutine task or method: `co_return` a T (nothing for
/// void). The caller's `task(f).remote(...)` or `handle.task(&C::m).remote(...)`
/// returns object_ref<T>, as for a plain function or method returning T.
template <class T>
class async : public detail::owned_coroutine<detail::async_promise<T>> {
 public:
  using promise_type = detail::async_promise<T>;
  using value_type = T;

 private:
  friend struct detail::async_promise<T>;
  explicit async(std::coroutine_handle<promise_type> h) noexcept : detail::owned_coroutine<promise_type>(h) {}
};

namespace detail {

/// The registry entry of a coroutine method (see registry.hpp): `start` builds
/// the coroutine on the decoded arguments, which the runtime keeps until it ends.
template <class C, class R, class M, class... Ps>
struct coroutine_method_entry {
  using args = call_args<Ps...>;

  static value_box invoke(const void*, void*, args_holder&) {
    throw error(errc::invalid_argument, "a coroutine method cannot be run as a plain one");
  }

  static std::coroutine_handle<> start(const void* mp, void* self, args_holder& a, async_completion* done) {
    M m;
    std::memcpy(&m, mp, sizeof(M));
    C* obj = static_cast<C*>(self);
    R coroutine =
      static_cast<args&>(a).apply([&](auto&&... xs) -> R { return (obj->*m)(std::forward<decltype(xs)>(xs)...); });
    return coroutine.release(done);
  }

  static method_entry entry(std::string name, M m) {
    auto e = method_entry_for<C, M, args>(std::move(name), m, &invoke);
    e.start = &start;
    return e;
  }
};

/// The registry entry of a coroutine task: `start` builds the coroutine on the
/// decoded arguments, which the runtime keeps until it ends.
template <class R, class... Ps>
struct coroutine_task_entry {
  using args = call_args<Ps...>;
  using fn_type = R (*)(Ps...);

  static value_box invoke(const void*, args_holder&) {
    throw error(errc::invalid_argument, "a coroutine task cannot be run as a plain function");
  }

  static std::coroutine_handle<> start(const void* fn, args_holder& a, async_completion* done) {
    auto f = reinterpret_cast<fn_type>(const_cast<void*>(fn));
    R coroutine = static_cast<args&>(a).apply([f](auto&&... xs) -> R { return f(std::forward<decltype(xs)>(xs)...); });
    return coroutine.release(done);
  }

  static function_entry entry(std::string name, fn_type f) {
    function_entry e;
    e.name = std::move(name);
    e.invoke = &invoke;
    e.start = &start;
    e.construct = nullptr;
    e.decode_args = &args::decode;
    e.fn = reinterpret_cast<const void*>(f);
    e.actor_class = nullptr;
    e.signature = typeid(f).name();
    return e;
  }
};

/// A coroutine task's and a coroutine method's entries; actors/generator.hpp
/// specialises them for generators.
template <class R, class... Ps>
struct coroutine_function_traits : coroutine_task_entry<R, Ps...> {};
template <class C, class R, class M, class... Ps>
struct coroutine_method_traits : coroutine_method_entry<C, R, M, Ps...> {};

template <class T>
async<T> async_promise<T>::get_return_object() noexcept {
  return async<T>(std::coroutine_handle<async_promise<T>>::from_promise(*this));
}

inline async<void> async_promise<void>::get_return_object() noexcept {
  return async<void>(std::coroutine_handle<async_promise<void>>::from_promise(*this));
}

} // namespace detail

/// `co_await ref` inside a coroutine task or method: suspends until the object is ready,
/// holding no thread, then gives its value (or throws as get would).
template <class U>
detail::ref_awaiter<U> operator co_await(const object_ref<U>& ref) {
  return {ref};
}

/// `co_await actors::when_all(refs)`: every value, in order, once all are ready.
template <class U>
detail::all_awaiter<U> when_all(std::vector<object_ref<U>> refs) {
  return {std::move(refs)};
}

/// `co_await actors::sleep_for(d)`: resumes after `d`, holding no thread meanwhile.
template <class Rep, class Period>
detail::sleep_awaiter sleep_for(std::chrono::duration<Rep, Period> d) {
  return {std::chrono::duration_cast<std::chrono::nanoseconds>(d)};
}

} // namespace actors
