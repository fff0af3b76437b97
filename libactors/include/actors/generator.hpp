#pragma once

/// Streaming tasks (C++20). A function that returns `actors::generator<T>` makes
/// its results one at a time with `co_yield`; `task(f).remote(...)` returns an
/// `object_ref_stream<T>` at once, and each item is an object of its own, owned by
/// the caller, readable as soon as it is made (the caller sees the first item long
/// before the producer ends). Inside, the generator may `co_await` refs,
/// `when_all` and `sleep_for` as a coroutine task does, holding no thread while it
/// waits.
///
///     actors::generator<std::string> lines(std::string path) {
///       std::ifstream in(path);
///       for (std::string line; std::getline(in, line);)
///         co_yield line;
///     }
///     ACTORS_REMOTE(lines);
///
///     actors::object_ref_stream<std::string> s = actors::task(lines).max_buffered(64).remote("a.txt");
///     for (actors::object_ref<std::string> line : s)
///       use(actors::get(line));
///
/// A method of an actor may be a generator too: `handle.task(&C::m).remote(...)`
/// returns its stream, and the actor is an async actor (its calls interleave at
/// `co_await` and `co_yield`).
///
/// An exception in the producer surfaces at the next item (items before it stay
/// good). If the producer's node dies, the task runs again (max_retries) and the
/// items already received are skipped, which needs a deterministic generator;
/// with no retries left the next item throws object_lost_error. Dropping the last
/// copy of the stream cancels the producer.

#include "actors/async.hpp"
#include "actors/detail/runtime.hpp"
#include "actors/errors.hpp"
#include "actors/object_ref.hpp"
#include "actors/serialization.hpp"

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace actors {

template <class T>
class generator;

namespace detail {

template <class T>
struct generator_promise {
  static_assert(!std::is_void_v<T> && !std::is_reference_v<T>, "generator<T> yields values: T is a value type");

  async_completion* done = nullptr;
  std::exception_ptr error;

  generator<T> get_return_object() noexcept;

  std::suspend_always initial_suspend() noexcept {
    return {};
  }

  /// Hands the item to the runtime, which sends it to the caller at once; the
  /// producer goes on unless the caller has `max_buffered` items unread.
  struct yield_awaiter {
    value_box item;
    async_completion* done;

    bool await_ready() const noexcept {
      return false;
    }
    bool await_suspend(std::coroutine_handle<> h) {
      auto* sink = done;
      // Past this call the runtime may resume or destroy the frame: touch nothing of it.
      return !sink->yielded(std::move(item), h);
    }
    void await_resume() const noexcept {}
  };

  template <class U>
  yield_awaiter yield_value(U&& v) {
    return {box(T(std::forward<U>(v))), done};
  }

  void return_void() noexcept {}

  /// Reports the end to the runtime, then frees the coroutine.
  struct final_awaiter {
    bool await_ready() noexcept {
      return false;
    }
    void await_suspend(std::coroutine_handle<generator_promise> h) noexcept {
      auto* sink = h.promise().done;
      auto error = h.promise().error;
      h.destroy();
      if (sink) {
        if (error)
          sink->failed(error);
        else
          sink->finished(box(unit{}));
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

} // namespace detail

/// The return type of a streaming task: `co_yield` each item (a T), then return.
/// The caller's `task(f).remote(...)` returns object_ref_stream<T>.
template <class T>
class generator : public detail::owned_coroutine<detail::generator_promise<T>> {
 public:
  using promise_type = detail::generator_promise<T>;
  using value_type = T;

 private:
  friend struct detail::generator_promise<T>;
  explicit generator(std::coroutine_handle<promise_type> h) noexcept : detail::owned_coroutine<promise_type>(h) {}
};

template <class T>
generator<T> detail::generator_promise<T>::get_return_object() noexcept {
  return generator<T>(std::coroutine_handle<generator_promise<T>>::from_promise(*this));
}

/// The items of a streaming task, in the order it yields them, each an
/// object_ref<T> as soon as it is made. Copies share one stream (each item goes
/// to one reader); dropping the last copy cancels the producer if it still runs.
/// Not serializable: read it where the task was submitted. Safe to use from any
/// thread.
template <class T>
class object_ref_stream {
 public:
  using value_type = object_ref<T>;

  /// An empty stream, with no items.
  object_ref_stream() = default;
  /// Takes over a stream the runtime opened (runtime use).
  explicit object_ref_stream(std::shared_ptr<detail::object_stream> s) noexcept : s_(std::move(s)) {}

  /// The next item, waiting for it as long as it takes; nullopt after the last
  /// one. Throws the producer's failure (task_error, object_lost_error, ...) once
  /// the items made before it are read.
  std::optional<object_ref<T>> next() {
    return next_within(detail::forever);
  }

  /// As next(), but throws timeout_error if no item comes within `timeout`.
  template <class Rep, class Period>
  std::optional<object_ref<T>> next(std::chrono::duration<Rep, Period> timeout) {
    return next_within(std::max(std::chrono::ceil<std::chrono::milliseconds>(timeout), std::chrono::milliseconds{0}));
  }

  /// Reads the items in order: `for (object_ref<T> r : stream)`.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = object_ref<T>;
    using difference_type = std::ptrdiff_t;
    using pointer = const object_ref<T>*;
    using reference = const object_ref<T>&;

    iterator() = default;
    reference operator*() const {
      return *item_;
    }
    pointer operator->() const {
      return &*item_;
    }
    iterator& operator++() {
      item_ = stream_->next();
      if (!item_)
        stream_ = nullptr;
      return *this;
    }
    void operator++(int) {
      ++*this;
    }
    friend bool operator==(const iterator& a, const iterator& b) noexcept {
      return a.stream_ == b.stream_;
    }

   private:
    friend class object_ref_stream;
    explicit iterator(object_ref_stream* s) : stream_(s) {
      ++*this;
    }
    object_ref_stream* stream_ = nullptr;
    std::optional<object_ref<T>> item_;
  };

  iterator begin() {
    return iterator(this);
  }
  iterator end() {
    return iterator();
  }

  /// Stops the generator (as dropping the last copy does) and drops the items not
  /// read yet; next() throws task_cancelled_error from then on, in every copy.
  void cancel() const {
    if (s_)
      detail::cancel_stream(*s_);
  }

 private:
  std::optional<object_ref<T>> next_within(std::chrono::milliseconds timeout) {
    if (!s_)
      return std::nullopt;
    if (auto* cell = detail::next_item(*s_, timeout))
      return object_ref<T>(cell, std::in_place);
    return std::nullopt;
  }

  std::shared_ptr<detail::object_stream> s_;
};

/// `actors::cancel(stream)`: stream.cancel().
template <class T>
void cancel(const object_ref_stream<T>& stream) {
  stream.cancel();
}

namespace detail {

/// A generator's coroutine as a registered task (actors/async.hpp's entry, marked
/// as one that yields).
template <class T, class... Ps>
struct coroutine_function_traits<actors::generator<T>, Ps...> : coroutine_task_entry<actors::generator<T>, Ps...> {
  static function_entry entry(std::string name, typename coroutine_task_entry<actors::generator<T>, Ps...>::fn_type f) {
    auto e = coroutine_task_entry<actors::generator<T>, Ps...>::entry(std::move(name), f);
    e.yields = true;
    return e;
  }
};

/// A generator method of an actor, likewise.
template <class C, class T, class M, class... Ps>
struct coroutine_method_traits<C, actors::generator<T>, M, Ps...>
  : coroutine_method_entry<C, actors::generator<T>, M, Ps...> {
  static method_entry entry(std::string name, M m) {
    auto e = coroutine_method_entry<C, actors::generator<T>, M, Ps...>::entry(std::move(name), m);
    e.yields = true;
    return e;
  }
};

} // namespace detail

} // namespace actors
