#pragma once

#include "actors/detail/args.hpp"
#include "actors/detail/runtime.hpp"
#include "actors/errors.hpp"
#include "actors/scheduling.hpp"
#include "actors/object_ref.hpp"
#include "actors/placement_group.hpp"
#include "actors/registry.hpp"
#include "actors/task.hpp"

#include <boost/serialization/split_member.hpp>

#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace actors {

template <class C>
class actor_handle;

namespace detail {

template <class M>
struct member_traits;
template <class R, class C, class... Ps>
struct member_traits<R (C::*)(Ps...)> {
  using class_type = C;
  using result = R;
  /// The type registration keys the method under (noexcept dropped).
  using registered = R (C::*)(Ps...);
  template <template <class...> class T>
  using with_params = T<R, Ps...>;
};
template <class R, class C, class... Ps>
struct member_traits<R (C::*)(Ps...) const> : member_traits<R (C::*)(Ps...)> {
  using registered = R (C::*)(Ps...) const;
};
template <class R, class C, class... Ps>
struct member_traits<R (C::*)(Ps...) noexcept> : member_traits<R (C::*)(Ps...)> {};
template <class R, class C, class... Ps>
struct member_traits<R (C::*)(Ps...) const noexcept> : member_traits<R (C::*)(Ps...) const> {};

} // namespace detail

/// One call of a registered method on an actor; made by actor_handle::task.
template <class R, class... Ps>
class actor_call {
 public:
  actor_call(detail::actor_cell* actor, const detail::method_entry* method)
    : actor_(actor), method_(method) {}

  /// A generator method pauses while `n` of the call's items are unread, and
  /// goes on as they are read (default 0: it never pauses). Only for generators.
  actor_call& max_buffered(std::size_t n) {
    static_assert(detail::is_generator<std::remove_cvref_t<R>>::value,
                  "max_buffered(n) is for generator methods (returning actors::generator<T>)");
    max_buffered_ = n;
    return *this;
  }

  /// Queues the call and returns at once with a reference to its future result
  /// (an object_ref_stream<T> of its items for a generator<T>; include
  /// <actors/generator.hpp>). Calls from one caller run in the order they were made.
  template <class... As>
  auto remote(As&&... as) const {
    auto args = detail::make_args<Ps...>(std::forward<As>(as)...);
    if constexpr (detail::is_generator<std::remove_cvref_t<R>>::value)
      return object_ref_stream<typename std::remove_cvref_t<R>::value_type>(
        detail::submit_actor_stream(actor_, *method_, std::move(args), max_buffered_));
    else
      return result_ref<R>(detail::submit_actor_call(actor_, *method_, std::move(args)), std::in_place);
  }

 private:
  detail::actor_cell* actor_;
  const detail::method_entry* method_;
  std::uint64_t max_buffered_ = 0;
};

/// A reference to a live actor of class C, wherever it runs. Copyable, comparable,
/// hashable and serializable. An unnamed actor stops when its last handle is
/// dropped; a named one lives until killed. Safe to use from any thread.
template <class C>
class actor_handle {
 public:
  actor_handle() noexcept = default;

  /// Takes over one count on `cell` (runtime use).
  actor_handle(detail::actor_cell* cell, std::in_place_t) noexcept
    : cell_(cell), id_(cell ? detail::id_of(cell) : actor_id{}) {}

  actor_handle(const actor_handle& other) noexcept : cell_(other.cell_), id_(other.id_) {
    if (cell_)
      detail::retain(cell_);
  }
  actor_handle(actor_handle&& other) noexcept
    : cell_(std::exchange(other.cell_, nullptr)), id_(other.id_) {}
  actor_handle& operator=(actor_handle other) noexcept {
    std::swap(cell_, other.cell_);
    std::swap(id_, other.id_);
    return *this;
  }
  ~actor_handle() {
    if (cell_)
      detail::release(cell_);
  }

  /// Starts a call of registered method `m`: handle.task(&C::add).remote(5).
  template <class M>
  auto task(M m) const {
    using traits = detail::member_traits<M>;
    static_assert(std::is_base_of_v<typename traits::class_type, C>,
                  "the method does not belong to this actor's class");
    typename traits::registered registered = m;
    const auto& entry = detail::method_of(detail::method_key(registered), typeid(C).name());
    return typename traits::template with_params<actor_call>(cell_, &entry);
  }

  const actor_id& id() const noexcept {
    return id_;
  }
  explicit operator bool() const noexcept {
    return cell_ != nullptr;
  }
  detail::actor_cell* cell() const noexcept {
    return cell_;
  }

  friend bool operator==(const actor_handle& a, const actor_handle& b) noexcept {
    return a.id_ == b.id_;
  }

  template <class Archive>
  void save(Archive& ar, unsigned) const {
    node_id location = cell_ ? detail::location_of(cell_) : node_id{};
    ar << id_ << location;
    if (cell_)
      detail::note_serialized(cell_);
  }
  template <class Archive>
  void load(Archive& ar, unsigned) {
    actor_id id;
    node_id location;
    ar >> id >> location;
    *this = id == actor_id{} ? actor_handle{}
                             : actor_handle{detail::resolve_actor(id, location), std::in_place};
  }
  BOOST_SERIALIZATION_SPLIT_MEMBER()

 private:
  detail::actor_cell* cell_ = nullptr;
  actor_id id_;
};

/// Builds an actor from a registered factory. Options go before `remote`:
///
///     actor(make_counter).name("hits").max_restarts(3).remote(10);
template <class C, class R, class... Ps>
class actor_builder {
 public:
  explicit actor_builder(R (*factory)(Ps...))
    : entry_(&detail::function_of(reinterpret_cast<const void*>(factory), typeid(factory).name())) {}

  /// Registers the actor under a name that get_actor finds, in every process of
  /// the cluster that works in the same namespace (see init_options::ns).
  actor_builder& name(std::string n) {
    opts_.name = std::move(n);
    return *this;
  }
  /// Names the actor in namespace `ns` instead of the caller's (see
  /// init_options::ns); its methods work in `ns` too. No '/'.
  actor_builder& in_namespace(std::string ns) {
    opts_.ns = std::move(ns);
    return *this;
  }
  /// With a name: `remote` returns the live actor of that name if there is one
  /// (its class must be C, else type_mismatch), instead of refusing the name as
  /// taken. The arguments are then not used.
  actor_builder& get_if_exists(bool yes = true) {
    get_if_exists_ = yes;
    return *this;
  }
  /// `actors::detached`: the actor lives on after the process that created it
  /// ends, until killed. By default it ends with that process.
  actor_builder& lifetime(actor_lifetime l) {
    opts_.detached = l == actor_lifetime::detached;
    return *this;
  }
  /// Times the actor is rebuilt from its factory after it dies (default 0).
  actor_builder& max_restarts(int n) {
    opts_.max_restarts = n;
    return *this;
  }
  /// Times a call in flight is re-sent to a restarted instance (default 0).
  actor_builder& max_task_retries(int n) {
    opts_.max_task_retries = n;
    return *this;
  }
  /// CPUs reserved for the actor's whole life (default 0: an idle actor holds none).
  actor_builder& num_cpus(double n) {
    opts_.num_cpus = n;
    return *this;
  }
  /// How to pick a node: actors::spread round-robins over the nodes that fit.
  actor_builder& strategy(scheduling_strategy s) {
    detail::check_strategy(s, "actor(factory).strategy(s)");
    opts_.placement.strategy = s;
    return *this;
  }
  /// Create the actor on node `id`; if `soft`, elsewhere when that node cannot
  /// host it.
  actor_builder& node(node_id id, bool soft = true) {
    detail::check_affinity(id, "actor(factory).node(id)");
    opts_.placement.affinity = id;
    opts_.placement.soft = soft;
    return *this;
  }
  /// Run inside bundle `bundle` of `pg`, using the resources it reserved.
  actor_builder& placement_group(const actors::placement_group& pg, std::size_t bundle) {
    opts_.placement.group = pg.id();
    opts_.placement.bundle = bundle;
    return *this;
  }
  /// Up to `n` calls run at once, each on a thread of the actor's own (a threaded
  /// actor): the class must be safe for that, and calls no longer keep their
  /// order. The actor's resources are reserved once, whatever `n`. Default 1: one
  /// call at a time, each caller's calls in order.
  actor_builder& max_concurrency(int n) {
    if (n < 1)
      throw error(errc::invalid_argument, "max_concurrency(" + std::to_string(n) + "): an actor runs at least one "
                                          "call at a time; pass 1 or more");
    opts_.max_concurrency = n;
    return *this;
  }
  /// An amount of a custom resource reserved for the actor's life.
  actor_builder& resource(std::string name, double amount) {
    opts_.resources.emplace_back(std::move(name), amount);
    return *this;
  }

  /// Creates the actor and returns its handle at once; calls made before the
  /// instance exists wait for it. A factory that throws makes the actor dead: its
  /// calls fail with actor_died_error carrying the factory's message.
  template <class... As>
  actor_handle<C> remote(As&&... as) const {
    if (get_if_exists_ && opts_.name.empty())
      throw error(errc::invalid_argument, "actor(factory).get_if_exists() needs a name: add .name(\"...\")");
    auto args = detail::make_args<Ps...>(std::forward<As>(as)...);
    return actor_handle<C>(detail::create_actor(*entry_, std::move(args), opts_, get_if_exists_), std::in_place);
  }

 private:
  const detail::function_entry* entry_;
  detail::actor_options opts_;
  bool get_if_exists_ = false;
};

/// Starts creating an actor with `factory`, a registered function returning the
/// class by value or as std::unique_ptr.
template <class R, class... Ps>
auto actor(R (*factory)(Ps...)) {
  using C = typename detail::factory_class<std::remove_cvref_t<R>>::type;
  static_assert(!std::is_void_v<C>,
                "an actor factory returns its class by value or as std::unique_ptr");
  return actor_builder<C, R, Ps...>(factory);
}

/// A lambda or another function object as a factory: refused at compile time,
/// since the node that builds the actor finds its factory by its registered name.
template <class F>
  requires(!std::is_function_v<std::remove_cvref_t<F>> && !std::is_pointer_v<std::decay_t<F>>)
void actor(F&&) {
  static_assert(detail::always_false<F>,
                "actors::actor() takes a named factory function listed in ACTORS_REMOTE, not a lambda or function "
                "object: other nodes find it by its registered name.");
}

/// The actor of class C named `name` in namespace `ns`, or empty if no live actor
/// has that name there.
template <class C>
std::optional<actor_handle<C>> get_actor(const std::string& name, const std::string& ns) {
  auto* cell = detail::find_named_actor(name, ns, typeid(C).name());
  if (!cell)
    return std::nullopt;
  return actor_handle<C>(cell, std::in_place);
}

/// The actor of class C named `name` in the caller's namespace (see
/// init_options::ns), or empty if no live actor has that name there.
template <class C>
std::optional<actor_handle<C>> get_actor(const std::string& name) {
  return get_actor<C>(name, std::string());
}

/// The namespace named actors of the caller live in: the running task's or
/// actor's (its driver's), else this program's (init_options::ns).
inline std::string current_namespace() {
  return detail::current_namespace();
}

/// Kills the actor. With no_restart (the default) it is dead for good: calls made
/// after kill returns fail with actor_died_error. With no_restart=false it is
/// rebuilt from its factory if restarts remain.
template <class C>
void kill(const actor_handle<C>& handle, bool no_restart = true) {
  detail::kill_actor(handle.cell(), no_restart);
}

/// True inside an actor method when the instance was rebuilt by a restart.
inline bool was_restarted() {
  return detail::current_actor_was_restarted();
}

/// Inside an actor method: the actor ends once this call returns (its result is
/// delivered), is not restarted, frees its name, and later calls fail with
/// actor_died_error. Throws invalid_argument outside an actor method.
inline void exit_actor() {
  detail::exit_current_actor();
}

} // namespace actors

template <class C>
struct std::hash<actors::actor_handle<C>> {
  std::size_t operator()(const actors::actor_handle<C>& h) const noexcept {
    return std::hash<actors::actor_id>{}(h.id());
  }
};
