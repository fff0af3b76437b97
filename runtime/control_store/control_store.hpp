#pragma once

#include "actors/ids.hpp"

#include <memory>
#include <optional>
#include <string>

namespace caf {
class actor_system;
}

namespace actors::runtime {

/// A named actor as the control store knows it.
struct named_actor_entry {
  actor_id id;
  /// Mangled name of the actor's class.
  std::string class_name;
};

/// Client of the control store, the head's service actor that keeps the cluster's
/// shared tables (here: the named actors). Each call is one request to that actor
/// and blocks the calling thread until it answers. Safe for concurrent use.
class control_store {
 public:
  /// Spawns the control-store actor in `sys`.
  explicit control_store(caf::actor_system& sys);
  ~control_store();

  /// Binds `name` to an actor. False if a live actor has the name already.
  bool register_name(const std::string& name, const named_actor_entry& entry);

  /// The actor bound to `name`, if any.
  std::optional<named_actor_entry> lookup_name(const std::string& name);

  /// Frees `name` if it is still bound to `id`. Does not wait for the answer.
  void remove_name(const std::string& name, const actor_id& id);

  /// Stops the actor. Later calls fail.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace actors::runtime
