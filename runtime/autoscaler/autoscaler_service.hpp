#pragma once

#include "runtime/autoscaler/autoscale_config.hpp"
#include "runtime/autoscaler/node_provider.hpp"

#include <filesystem>
#include <memory>
#include <string>

namespace caf {
class actor;
class actor_system;
} // namespace caf

namespace actors::runtime {

class control_store;
struct autoscaler_figures;

/// The head's autoscaler: an actor on a thread of its own (it starts processes)
/// that every second reads the node table from the control store, runs one round
/// of the autoscaler over it, marks the nodes to drain, and publishes its status
/// into the table (`actors status`). Destroying it stops the actor, then the node
/// processes the local provider started.
class autoscaler_service {
 public:
  /// Throws actors::error if the provider cannot be set up. With a
  /// `launches_file` the launches are saved there, and taken over from there by
  /// the next head process (see autoscaler).
  autoscaler_service(caf::actor_system& sys, control_store& store, autoscale_config config,
                     local_node_command local, std::string head_address, std::string token,
                     std::filesystem::path log_dir, std::filesystem::path launches_file);
  ~autoscaler_service();

  /// For the head's metrics, as of the last round; safe from any thread.
  autoscaler_figures figures() const;

  autoscaler_service(const autoscaler_service&) = delete;
  autoscaler_service& operator=(const autoscaler_service&) = delete;

  /// Its parts, defined where its actor is.
  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

} // namespace actors::runtime
