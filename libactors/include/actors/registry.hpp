#pragma once

/// ACTORS_REMOTE: registers functions, actor factories and actor methods by name, so
/// that every node can run them. List each once, in any translation unit that the
/// program (or the library a node loads) links:
///
///     ACTORS_REMOTE(square, make_counter, &Counter::add, &Counter::value);

#include "actors/detail/args.hpp"
#include "actors/detail/runtime.hpp"
#include "actors/serialization.hpp"

#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

namespace actors {
template <class T>
class async;
template <class T>
class generator;
} // namespace actors

namespace actors::detail {

/// Whether R is actors::async<T> (a coroutine's return type).
template <class R>
struct is_async : std::false_type {};
template <class T>
struct is_async<actors::async<T>> : std::true_type {};

/// Whether R is actors::generator<T> (a streaming coroutine's return type).
template <class R>
struct is_generator : std::false_type {};
template <class T>
struct is_generator<actors::generator<T>> : std::true_type {};

/// Whether functions returning R are coroutines the runtime drives.
template <class R>
inline constexpr bool is_coroutine_v = is_async<R>::value || is_generator<R>::value;

/// The entries of a coroutine method and a coroutine task; defined in
/// actors/async.hpp.
template <class C, class R, class M, class... Ps>
struct coroutine_method_traits;
template <class R, class... Ps>
struct coroutine_function_traits;

template <class T>
struct is_unique_ptr : std::false_type {};
template <class T, class D>
struct is_unique_ptr<std::unique_ptr<T, D>> : std::true_type {};

/// The class an actor factory returning `R` builds, or void if `R` is no class.
template <class R, class = void>
struct factory_class {
  using type = void;
};
template <class R>
struct factory_class<R, std::enable_if_t<std::is_class_v<R> && !is_unique_ptr<R>::value>> {
  using type = R;
};
template <class T, class D>
struct factory_class<std::unique_ptr<T, D>> {
  using type = T;
};

/// What a task returning `R` stores: the value, or unit for void.
template <class R>
using result_t = std::conditional_t<std::is_void_v<R>, unit, std::remove_cvref_t<R>>;

template <class R, class F>
value_box run_and_box(F&& f) {
  if constexpr (std::is_void_v<R>) {
    std::forward<F>(f)();
    return box(unit{});
  } else {
    return box(std::forward<F>(f)());
  }
}

template <class R, class... Ps>
struct function_traits {
  using args = call_args<Ps...>;

  static value_box invoke(const void* fn, args_holder& a) {
    auto f = reinterpret_cast<R (*)(Ps...)>(const_cast<void*>(fn));
    return run_and_box<R>([&]() -> R {
      return static_cast<args&>(a).apply([f](auto&&... xs) -> R { return f(std::forward<decltype(xs)>(xs)...); });
    });
  }

  static std::shared_ptr<void> construct(const void* fn, args_holder& a) {
    using C = typename factory_class<std::remove_cvref_t<R>>::type;
    auto f = reinterpret_cast<R (*)(Ps...)>(const_cast<void*>(fn));
    auto result = static_cast<args&>(a).apply([f](auto&&... xs) -> R { return f(std::forward<decltype(xs)>(xs)...); });
    if constexpr (is_unique_ptr<std::remove_cvref_t<R>>::value)
      return std::shared_ptr<C>(std::move(result));
    else
      return std::make_shared<C>(std::move(result));
  }

  static function_entry entry(std::string name, R (*f)(Ps...)) {
    using C = typename factory_class<std::remove_cvref_t<R>>::type;
    function_entry e;
    e.name = std::move(name);
    e.invoke = &invoke;
    e.construct = nullptr;
    if constexpr (!std::is_void_v<C>)
      e.construct = &construct;
    e.decode_args = &args::decode;
    e.fn = reinterpret_cast<const void*>(f);
    e.signature = typeid(f).name();
    e.actor_class = nullptr;
    if constexpr (!std::is_void_v<C>)
      e.actor_class = typeid(C).name();
    return e;
  }
};

/// Key under which a member pointer is registered: its bytes and its type.
template <class M>
std::string method_key(M m) {
  std::string key(sizeof(M), '\0');
  std::memcpy(key.data(), &m, sizeof(M));
  key += typeid(M).name();
  return key;
}

/// What every method entry holds: name, class, type, the member pointer's bytes,
/// the decoder of its arguments and how to run it.
template <class C, class M, class Args>
method_entry method_entry_for(std::string name, M m, value_box (*invoke)(const void*, void*, args_holder&)) {
  method_entry e;
  e.name = std::move(name);
  e.invoke = invoke;
  e.decode_args = &Args::decode;
  e.actor_class = typeid(C).name();
  e.signature = typeid(M).name();
  e.method_bytes.assign(sizeof(M), '\0');
  std::memcpy(e.method_bytes.data(), &m, sizeof(M));
  return e;
}

template <class C, class R, class M, class... Ps>
struct method_traits {
  using args = call_args<Ps...>;

  static value_box invoke(const void* mp, void* self, args_holder& a) {
    M m;
    std::memcpy(&m, mp, sizeof(M));
    C* obj = static_cast<C*>(self);
    return run_and_box<R>([&]() -> R {
      return static_cast<args&>(a).apply([&](auto&&... xs) -> R { return (obj->*m)(std::forward<decltype(xs)>(xs)...); });
    });
  }

  static method_entry entry(std::string name, M m) {
    return method_entry_for<C, M, args>(std::move(name), m, &invoke);
  }
};

template <class R, class... Ps>
void register_one(std::string name, R (*f)(Ps...)) {
  if constexpr (is_coroutine_v<std::remove_cvref_t<R>>)
    register_function(coroutine_function_traits<std::remove_cvref_t<R>, Ps...>::entry(std::move(name), f));
  else
    register_function(function_traits<R, Ps...>::entry(std::move(name), f));
}

template <class C, class R, class M, class... Ps>
method_entry method_entry_of(std::string name, M m) {
  if constexpr (is_coroutine_v<std::remove_cvref_t<R>>)
    return coroutine_method_traits<C, std::remove_cvref_t<R>, M, Ps...>::entry(std::move(name), m);
  else
    return method_traits<C, R, M, Ps...>::entry(std::move(name), m);
}

template <class R, class C, class... Ps>
void register_one(std::string name, R (C::*m)(Ps...)) {
  using M = R (C::*)(Ps...);
  register_method(method_entry_of<C, R, M, Ps...>(std::move(name), m), method_key(m));
}

template <class R, class C, class... Ps>
void register_one(std::string name, R (C::*m)(Ps...) const) {
  using M = R (C::*)(Ps...) const;
  register_method(method_entry_of<const C, R, M, Ps...>(std::move(name), m), method_key(m));
}

/// Splits the macro's stringified argument list into clean names
/// ("&Counter::add" -> "Counter::add").
std::vector<std::string> split_names(const char* list);

/// Registers everything named in one ACTORS_REMOTE line at static initialisation.
struct registrar {
  template <class... Fs>
  explicit registrar(const char* names, Fs... fs) {
    auto ns = split_names(names);
    std::size_t i = 0;
    (register_one(ns.at(i++), fs), ...);
  }
};

} // namespace actors::detail

#define ACTORS_DETAIL_CONCAT2(a, b) a##b
#define ACTORS_DETAIL_CONCAT(a, b) ACTORS_DETAIL_CONCAT2(a, b)

/// Registers functions, actor factories and member functions of actor classes by
/// the names written here. See the file comment.
#define ACTORS_REMOTE(...)                                                                       \
  static const ::actors::detail::registrar ACTORS_DETAIL_CONCAT(actors_remote_registrar_,        \
                                                                __COUNTER__){#__VA_ARGS__,       \
                                                                             __VA_ARGS__}
