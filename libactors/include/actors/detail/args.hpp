#pragma once

/// Typed call arguments: one slot per parameter of the callee, holding either the
/// value or an object_ref to it (dataflow: the runtime waits for the object and the
/// callee receives its value).

#include "actors/detail/runtime.hpp"
#include "actors/object_ref.hpp"
#include "actors/serialization.hpp"

#include <boost/serialization/split_member.hpp>

#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace actors::detail {

template <class T>
struct is_object_ref : std::false_type {};
template <class T>
struct is_object_ref<object_ref<T>> : std::true_type {};

/// A parameter as stored: references and cv dropped.
template <class P>
using stored_t = std::remove_cvref_t<P>;

/// One argument: the value itself, or a reference to an object holding it.
template <class T>
class arg_slot {
 public:
  arg_slot() = default;

  template <class A>
  explicit arg_slot(A&& a) {
    if constexpr (std::is_same_v<std::remove_cvref_t<A>, object_ref<T>>)
      ref_ = std::forward<A>(a);
    else
      value_.emplace(std::forward<A>(a));
  }

  void dependencies(std::vector<object_cell*>& out) const {
    if (ref_)
      out.push_back(ref_.cell());
  }

  /// Fetches a referenced value before the call; the slot keeps it alive until
  /// `unpin`.
  void pin() {
    if (ref_)
      pinned_ = get_value(ref_.cell(), ops_of<T>(), std::chrono::milliseconds{0});
  }

  void unpin() noexcept {
    pinned_.reset();
  }

  /// What the value weighs in memory (byte_size), 0 for a reference: about what
  /// its encoding takes.
  std::size_t size_hint() const {
    return value_ ? byte_size(*value_) : 0;
  }

  /// Holds a value or a reference. Boost leaves an object unread when the bytes
  /// say it is one read before (object tracking), which forged bytes can say.
  bool filled() const noexcept {
    return value_.has_value() || static_cast<bool>(ref_);
  }

  const T& get() const {
    return value_ ? *value_ : *static_cast<const T*>(pinned_.get());
  }

  /// The value for a by-value parameter on the arguments' last use: moved out of
  /// the slot when the slot holds it, copied when it is a referenced object's
  /// (shared with every other reader of that object).
  T take() {
    if (value_)
      return std::move(*value_);
    return get();
  }

  template <class Archive>
  void save(Archive& ar, unsigned) const {
    bool by_ref = !value_;
    ar << by_ref;
    if (by_ref)
      ar << ref_;
    else
      ar << *value_;
  }

  template <class Archive>
  void load(Archive& ar, unsigned) {
    bool by_ref = false;
    ar >> by_ref;
    if (by_ref) {
      ar >> ref_;
      // A slot holds a value or a reference; one with neither would be read
      // through a null pointer when the function is called.
      if (!ref_)
        throw error(errc::serialization_failed,
                    "an argument passed by reference names no object (a zero object id)");
    } else {
      value_.emplace();
      ar >> *value_;
    }
  }

  BOOST_SERIALIZATION_SPLIT_MEMBER()

 private:
  std::optional<T> value_;
  object_ref<T> ref_;
  std::shared_ptr<const void> pinned_;
};

template <class T>
struct is_serializable<arg_slot<T>> : is_serializable<T> {};

/// The arguments of a call to a callee with parameters `Ps...`.
template <class... Ps>
class call_args final : public args_holder {
 public:
  using slots = std::tuple<arg_slot<stored_t<Ps>>...>;

  call_args() = default;

  template <class... As>
  explicit call_args(std::in_place_t, As&&... as) : slots_(arg_slot<stored_t<Ps>>(std::forward<As>(as))...) {}

  void dependencies(std::vector<object_cell*>& out) const override {
    std::apply([&](const auto&... s) { (s.dependencies(out), ...); }, slots_);
  }

  std::string encode() const override {
    if constexpr ((is_serializable_v<stored_t<Ps>> && ...)) {
      std::string out;
      // Reserved at about its final size, in huge pages when that is large.
      reserve_large(out, std::apply([](const auto&... s) { return (s.size_hint() + ... + std::size_t{64}); }, slots_));
      string_sink sink(out);
      {
        oarchive ar(sink, archive_flags);
        std::apply([&](const auto&... s) { ((ar << s), ...); }, slots_);
      }
      return out;
    } else {
      throw_not_serializable(typeid(std::tuple<stored_t<Ps>...>).name());
    }
  }

  static args_ptr decode(const std::string& bytes) {
    auto out = std::make_unique<call_args>();
    if constexpr ((is_serializable_v<stored_t<Ps>> && ...)) {
      bytes_source source(bytes.data(), bytes.size());
      iarchive ar(source, archive_flags);
      std::apply([&](auto&... s) { ((ar >> s), ...); }, out->slots_);
      bool all = std::apply([](const auto&... s) { return (s.filled() && ...); }, out->slots_);
      if (!all)
        throw error(errc::serialization_failed,
                    "an argument is missing from the bytes (they refer back to an object instead)");
    } else {
      throw_not_serializable(typeid(std::tuple<stored_t<Ps>...>).name());
    }
    return out;
  }

  /// Calls `f` with the argument values; referenced values stay pinned during it.
  template <class F>
  decltype(auto) apply(F&& f) {
    std::apply([](auto&... s) { (s.pin(), ...); }, slots_);
    struct unpin_all {
      slots& s;
      ~unpin_all() {
        std::apply([](auto&... x) { (x.unpin(), ...); }, s);
      }
    } guard{slots_};
    return call(std::forward<F>(f), std::index_sequence_for<Ps...>{});
  }

 private:
  template <class F, std::size_t... I>
  decltype(auto) call(F&& f, std::index_sequence<I...>) {
    return std::forward<F>(f)(pass<Ps>(std::get<I>(slots_), last_use_)...);
  }

  /// Hands a stored argument to a parameter declared as `P`: by const reference;
  /// for by-value and rvalue-reference parameters a copy while the arguments are
  /// kept for a retry, the value itself (moved) on their last use.
  template <class P>
  static decltype(auto) pass(arg_slot<stored_t<P>>& s, bool last_use) {
    static_assert(!std::is_lvalue_reference_v<P> || std::is_const_v<std::remove_reference_t<P>>,
                  "remote functions take arguments by value or const reference, "
                  "not by non-const reference");
    if constexpr (std::is_lvalue_reference_v<P>)
      return (s.get());
    else
      return last_use ? s.take() : stored_t<P>(s.get());
  }

  slots slots_;
};

/// Checks, at the call site, that argument `A` can bind to parameter `P`: either
/// something `P` can be built from, or an object_ref<P>.
template <class P, class A>
inline constexpr bool binds_v =
  std::is_same_v<std::remove_cvref_t<A>, object_ref<stored_t<P>>>
  || std::is_constructible_v<stored_t<P>, A&&>;

template <class... Ps, class... As>
args_ptr make_args(As&&... as) {
  static_assert(sizeof...(Ps) == sizeof...(As), "wrong number of arguments for this function");
  static_assert((binds_v<Ps, As> && ...),
                "an argument does not match the function's parameter: pass the value "
                "or an object_ref of exactly the parameter's type");
  return std::make_unique<call_args<Ps...>>(std::in_place, std::forward<As>(as)...);
}

} // namespace actors::detail
