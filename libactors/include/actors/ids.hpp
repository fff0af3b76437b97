#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string>

namespace actors {

/// Identity of a node: random 64 bits drawn when the node starts.
struct node_id {
  std::uint64_t value = 0;

  friend auto operator<=>(const node_id&, const node_id&) = default;

  /// Sixteen lowercase hex digits.
  std::string to_string() const;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & value;
  }
};

/// Cluster-wide identity of an object: the node that owns it and a number that is
/// unique on that node. The owner is where the object's lineage and reference count
/// are kept.
struct object_id {
  std::uint64_t owner = 0;
  std::uint64_t seq = 0;

  friend auto operator<=>(const object_id&, const object_id&) = default;

  /// `owner-seq` in hex, as shown by logs and errors.
  std::string to_string() const;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & owner & seq;
  }
};

/// Cluster-wide identity of an actor: the node that created it and a number that is
/// unique there. Stable across restarts of the actor.
struct actor_id {
  std::uint64_t owner = 0;
  std::uint64_t seq = 0;

  friend auto operator<=>(const actor_id&, const actor_id&) = default;

  std::string to_string() const;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & owner & seq;
  }
};

} // namespace actors

template <>
struct std::hash<actors::object_id> {
  std::size_t operator()(const actors::object_id& id) const noexcept {
    return static_cast<std::size_t>(id.seq * 0x9e3779b97f4a7c15ULL ^ id.owner);
  }
};

template <>
struct std::hash<actors::actor_id> {
  std::size_t operator()(const actors::actor_id& id) const noexcept {
    return static_cast<std::size_t>(id.seq * 0x9e3779b97f4a7c15ULL ^ id.owner);
  }
};

template <>
struct std::hash<actors::node_id> {
  std::size_t operator()(const actors::node_id& id) const noexcept {
    return static_cast<std::size_t>(id.value);
  }
};
