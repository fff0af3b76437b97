#pragma once

/// Typed call arguments: one slot per parameter of the callee, holding either the
/// value or an object_ref to it (dataflow: the runtime waits for the object and the
/// callee receives its value).

#include "actors/detail/runtime.hpp"
#include "actors/object_ref.hpp"
#include "actors/serialization.hpp"

#include <boost/serialization/split_member.hpp>

#include <cstdint>
#include <cstring>
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

/// One argument: the value itself, or a reference to an object holding it. A
/// large value may be kept back by the caller of a call that runs on another
/// node (withhold, for one encoding): the wire form then names it, and the node
/// fetches it into the argument (withheld) before the call.
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
    if (ref_)
      pinned_.reset();
  }

  /// What the value weighs in memory (byte_size), 0 for a reference or a value
  /// kept back: about what its encoding takes.
  std::size_t size_hint() const {
    if (value_)
      return byte_size(*value_);
    const kept* k = kept_back();
    return k && k->holds && !k->id.seq ? byte_size(k->value) : 0;
  }

  /// Holds a value or a reference, or names a value its caller kept back.
  /// Boost leaves an object unread when the bytes say it is one read before
  /// (object tracking), which forged bytes can say.
  bool filled() const noexcept {
    return value_.has_value() || static_cast<bool>(ref_) || kept_back() != nullptr;
  }

  const T& get() const {
    if (value_)
      return *value_;
    if (const kept* k = kept_back()) {
      if (!k->holds)
        throw error(errc::serialization_failed,
                    "argument " + k->id.to_string()
                      + " was kept back by its caller and never fetched: a call that names one must come "
                        "through a task request");
      return k->value;
    }
    return *static_cast<const T*>(pinned_.get());
  }

  /// The value for a by-value parameter on the arguments' last use: moved out of
  /// the slot when the slot holds it (alone, if it is kept back: nothing is
  /// sending it), copied when it is a referenced object's (shared with every
  /// other reader of that object).
  T take() {
    if (value_)
      return std::move(*value_);
    if (kept* k = kept_back(); k && k->holds && pinned_.use_count() == 1)
      return std::move(k->value);
    return get();
  }

  /// Keeps the value back for the next encoding if it is that large (see
  /// args_holder::encode_keeping_back); `forget` ends it.
  void withhold(std::size_t threshold, const keep_argument& keep) {
    if constexpr (is_serializable_v<T>) {
      kept* k = kept_back();
      if (!value_ && !(k && k->holds))
        return;
      const T& v = value_ ? *value_ : k->value;
      std::size_t size = encoded_size(v);
      if (size == 0)
        size = byte_size(v);
      if (size < threshold)
        return;
      if (value_) {
        auto made = std::make_shared<kept>();
        made->value = std::move(*value_);
        made->holds = true;
        value_.reset();
        k = made.get();
        pinned_ = std::move(made);
      }
      k->size = size;
      // What serves it shares the slot's hold on it.
      k->id = keep(value_box{std::shared_ptr<const void>(pinned_, &k->value), ops_of<T>()}, size);
    }
  }

  /// After the encoding that kept the value back: the next one writes it whole.
  void forget() noexcept {
    if (kept* k = kept_back(); k && k->holds)
      k->id = {};
  }

  /// See args_holder::withheld.
  void withheld(std::vector<withheld_argument>& out) {
    if constexpr (is_serializable_v<T>) {
      const kept* k = kept_back();
      if (!k || k->holds)
        return;
      withheld_argument w;
      w.id = k->id;
      w.size = k->size;
      w.ops = ops_of<T>();
      w.decode = [this](const char* data, std::size_t size) {
        value_.emplace(detail::decode<T>(data, size));
        pinned_.reset();
      };
      w.adopt = [this](const value_box& box) {
        // By name: a library loaded into the process has its own ops_of<T>.
        if (!box.ops || !box.value || std::strcmp(box.ops->name, ops_of<T>()->name) != 0)
          return false;
        // Received into a value made for this (receive_in_place makes it
        // mutable), which the box alone holds.
        value_.emplace(std::move(*const_cast<T*>(static_cast<const T*>(box.value.get()))));
        pinned_.reset();
        return true;
      };
      out.push_back(std::move(w));
    }
  }

  template <class Archive>
  void save(Archive& ar, unsigned) const {
    const kept* k = kept_back();
    std::uint8_t form = value_ || (k && k->holds && !k->id.seq) ? by_value : k ? kept_back_form : by_reference;
    ar << form;
    if (form == by_value)
      ar << (value_ ? *value_ : k->value);
    else if (form == by_reference)
      ar << ref_;
    else
      ar << k->id << k->size;
  }

  template <class Archive>
  void load(Archive& ar, unsigned) {
    std::uint8_t form = by_value;
    ar >> form;
    if (form == by_reference) {
      ar >> ref_;
      // A slot holds a value or a reference; one with neither would be read
      // through a null pointer when the function is called.
      if (!ref_)
        throw error(errc::serialization_failed,
                    "an argument passed by reference names no object (a zero object id)");
    } else if (form == by_value) {
      value_.emplace();
      ar >> *value_;
    } else if (form == kept_back_form) {
      auto k = std::make_shared<kept>();
      ar >> k->id >> k->size;
      if (!k->id.seq)
        throw error(errc::serialization_failed, "an argument kept back by its caller names no value (a zero id)");
      pinned_ = std::move(k);
    } else {
      throw error(errc::serialization_failed,
                  "an argument's form is " + std::to_string(form)
                    + ", which no caller writes (0 value, 1 reference, 2 kept back): the bytes are corrupt");
    }
  }

  BOOST_SERIALIZATION_SPLIT_MEMBER()

 private:
  // How a slot is written on the wire: its first byte.
  static constexpr std::uint8_t by_value = 0;
  static constexpr std::uint8_t by_reference = 1;
  static constexpr std::uint8_t kept_back_form = 2;

  /// A value kept back by the caller (withhold), or, on the node that runs the
  /// call, what names it there until it is fetched.
  struct kept {
    /// The value, on the caller (`holds`); on the node it goes into value_.
    T value{};
    bool holds = false;
    /// The id it goes by during one encoding on the caller; on the node, the
    /// id to fetch.
    object_id id;
    std::uint64_t size = 0;
  };

  /// The slot's kept value or what names it, or null. It lives in pinned_,
  /// which a slot holding neither a value nor a reference uses for nothing
  /// else: a queued task's arguments are no larger for it.
  kept* kept_back() const noexcept {
    return value_ || ref_ || !pinned_ ? nullptr : static_cast<kept*>(const_cast<void*>(pinned_.get()));
  }

  std::optional<T> value_;
  object_ref<T> ref_;
  /// A referenced value during the call, or a kept value (kept_back).
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

  std::string encode_keeping_back(std::size_t threshold, const keep_argument& keep) override {
    struct forget_all {
      slots& s;
      ~forget_all() {
        std::apply([](auto&... x) { (x.forget(), ...); }, s);
      }
    } guard{slots_};
    std::apply([&](auto&... s) { (s.withhold(threshold, keep), ...); }, slots_);
    return encode();
  }

  void withheld(std::vector<withheld_argument>& out) override {
    std::apply([&](auto&... s) { (s.withheld(out), ...); }, slots_);
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
