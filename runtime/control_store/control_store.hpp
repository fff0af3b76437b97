#pragma once

#include "runtime/wire/protocol.hpp"

#include "actors/ids.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace caf {
class actor_system;
class actor;
} // namespace caf

namespace actors::runtime {

/// A named actor as the control store knows it.
struct named_actor_entry {
  actor_id id;
  /// Mangled name of the actor's class.
  std::string class_name;
  /// The node hosting it.
  node_id location;
};

/// The cluster's named actors, as the parts that name, find and rebuild actors
/// see them. Safe for concurrent use.
class actor_names {
 public:
  virtual ~actor_names() = default;
  /// Binds `name` to an actor. False if a live actor has the name already.
  virtual bool register_name(const std::string& name, const named_actor_entry& entry) = 0;
  /// The actor bound to `name`, if any.
  virtual std::optional<named_actor_entry> lookup_name(const std::string& name) = 0;
  /// Frees `name` if it is still bound to `id`. Does not wait for the answer.
  virtual void remove_name(const std::string& name, const actor_id& id) = 0;
};

/// The cluster's placement groups as the head records them: every group, where
/// its bundles went and its state, whoever created it. Safe for concurrent use.
class group_records {
 public:
  virtual ~group_records() = default;
  /// Records a new group; false with `why` if its name is taken in its namespace.
  virtual bool add_group(const wire::group_record& g, std::string& why) = 0;
  /// Records what changed of a group recorded before. Does not wait.
  virtual void update_group(const wire::group_record& g) = 0;
  /// The group with id `id`, or (with `id` empty) the one named `name` in
  /// namespace `ns`; nullopt if none.
  virtual std::optional<wire::group_record> find_group(const std::string& id, const std::string& ns,
                                                       const std::string& name) = 0;
  /// Forgets a group. Does not wait.
  virtual void remove_group(const std::string& id) = 0;
};

/// Client of the control store, the head's service actor that keeps the cluster's
/// shared tables: the nodes (membership, their resources, liveness) and the named
/// actors. Each call is one request to that actor, local or on the head, and blocks
/// the calling thread until it answers (10 s at most). While the head is away (see
/// link_lost), a call waits for it to come back within the same 10 s. Safe for
/// concurrent use.
class control_store final : public actor_names, public group_records {
 public:
  /// Spawns the control-store actor in `sys` (this node is the head); `token` is
  /// what joining nodes must show. With a `state_dir`, the store saves its tables
  /// there as they change, and starts from what it finds there (a restarted head):
  /// the nodes it knew get 10 s to join again before they are declared dead.
  /// Throws actors::error if the saved state cannot be read.
  control_store(caf::actor_system& sys, std::string token, std::filesystem::path state_dir = {});
  /// Talks to a control store that runs elsewhere.
  control_store(caf::actor_system& sys, const caf::actor& remote);
  ~control_store() override;

  bool register_name(const std::string& name, const named_actor_entry& entry) override;
  std::optional<named_actor_entry> lookup_name(const std::string& name) override;
  void remove_name(const std::string& name, const actor_id& id) override;

  bool add_group(const wire::group_record& g, std::string& why) override;
  void update_group(const wire::group_record& g) override;
  std::optional<wire::group_record> find_group(const std::string& id, const std::string& ns,
                                               const std::string& name) override;
  void remove_group(const std::string& id) override;
  /// Every placement group of the cluster. Throws actors::error if `token` is
  /// not the cluster's.
  std::vector<wire::group_record> groups(const std::string& token);

  /// The node table as an encoded wire::cluster_view. Throws actors::error if
  /// `token` is not the cluster's.
  std::string view(const std::string& token);

  /// Sets the standing request_resources bundles (an encoded vector of resource
  /// maps) in the node table, for the autoscaler. Does not wait for the answer.
  void request_resources(const std::string& bundles);

  /// Tells every node to stop. False if `token` is not the cluster's.
  bool stop_cluster(const std::string& token);

  /// The actor itself (for the cluster layer); null while the head is away.
  caf::actor handle() const;

  /// The head is gone: calls wait for rebind (or fail after their timeout).
  void link_lost();

  /// Talks to `remote` from now on: the control store of a restarted head.
  void rebind(const caf::actor& remote);

  /// Spawns a new control-store actor here in place of one that died, from the
  /// tables it last saved (in memory): the nodes stay listed and get 10 s to join
  /// it, as after a head restart, and so does `head`, this process's node. Returns
  /// the new actor (null for a control store that runs elsewhere, or stopped).
  caf::actor restart(const node_id& head);

  /// Stops a control-store actor spawned here. Later calls fail.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace actors::runtime
