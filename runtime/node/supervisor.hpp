#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace caf {
class actor;
class actor_system;
} // namespace caf

namespace actors::runtime {

/// Watches a node's service actors (the control store, the node endpoint). A
/// service can die although nothing in the node asked it to: CAF lets any peer
/// that reaches a port send an exit message with the reason `kill`, which no
/// actor can refuse, and a bug may make a handler throw. The supervisor restarts
/// a dead service in place, one for one, with the function given for it, at most
/// `max_restarts` times within `window`. A service that cannot be restarted in
/// place (no function, or it returns a null handle), or that died too often, is
/// escalated: `escalate` gets the reason and the node stops (and a serving node
/// starts again as a new node).
class supervisor {
 public:
  static constexpr int max_restarts = 3;
  static constexpr std::chrono::seconds window{60};

  supervisor(caf::actor_system& sys, std::function<void(const std::string& why)> escalate);
  ~supervisor();

  supervisor(const supervisor&) = delete;
  supervisor& operator=(const supervisor&) = delete;

  /// Watches `child`, called `name` in the log. When it dies, `restart` (run on
  /// the supervisor's own thread) returns its replacement, which is watched in
  /// turn.
  void watch(const std::string& name, const caf::actor& child, std::function<caf::actor()> restart = {});

  /// Stops watching: services that stop from now on are stopping with their node.
  void stop();

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

} // namespace actors::runtime
