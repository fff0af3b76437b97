#pragma once

#include "actors/detail/runtime.hpp"
#include "actors/ids.hpp"

#include <boost/serialization/split_member.hpp>

#include <cstddef>
#include <functional>
#include <utility>

namespace actors {

/// A reference to an immutable object somewhere in the cluster: the future result of
/// a task or actor call, or a value given to `put`. Copyable, comparable, hashable
/// and serializable; copies name the same object. The object is freed when no
/// reference to it remains. Safe to use from any thread.
template <class T>
class object_ref {
 public:
  using value_type = T;

  /// An empty reference that names no object.
  object_ref() noexcept = default;

  /// Takes over one count on `cell` (runtime use).
  object_ref(detail::object_cell* cell, std::in_place_t) noexcept
    : cell_(cell), id_(cell ? detail::id_of(cell) : object_id{}) {}

  object_ref(const object_ref& other) noexcept : cell_(other.cell_), id_(other.id_) {
    if (cell_)
      detail::retain(cell_);
  }

  object_ref(object_ref&& other) noexcept
    : cell_(std::exchange(other.cell_, nullptr)), id_(other.id_) {}

  object_ref& operator=(object_ref other) noexcept {
    std::swap(cell_, other.cell_);
    std::swap(id_, other.id_);
    return *this;
  }

  ~object_ref() {
    if (cell_)
      detail::release(cell_);
  }

  /// The object's cluster-wide id.
  const object_id& id() const noexcept {
    return id_;
  }

  /// False for a default-constructed reference.
  explicit operator bool() const noexcept {
    return cell_ != nullptr;
  }

  friend bool operator==(const object_ref& a, const object_ref& b) noexcept {
    return a.id_ == b.id_;
  }
  friend auto operator<=>(const object_ref& a, const object_ref& b) noexcept {
    return a.id_ <=> b.id_;
  }

  /// The runtime's cell (internal).
  detail::object_cell* cell() const noexcept {
    return cell_;
  }

  template <class Archive>
  void save(Archive& ar, unsigned) const {
    ar << id_;
    if (cell_)
      detail::note_serialized(cell_);
  }

  template <class Archive>
  void load(Archive& ar, unsigned) {
    object_id id;
    ar >> id;
    *this = id == object_id{} ? object_ref{} : object_ref{detail::resolve_object(id), std::in_place};
  }

  BOOST_SERIALIZATION_SPLIT_MEMBER()

 private:
  detail::object_cell* cell_ = nullptr;
  object_id id_;
};

} // namespace actors

template <class T>
struct std::hash<actors::object_ref<T>> {
  std::size_t operator()(const actors::object_ref<T>& r) const noexcept {
    return std::hash<actors::object_id>{}(r.id());
  }
};
