#pragma once

#include "runtime/cluster/transport.hpp"
#include "runtime/jobs/job_service.hpp"
#include "runtime/wire/protocol.hpp"

#include "actors/ids.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace caf {
class actor;
class actor_system;
} // namespace caf

namespace actors::runtime {

/// How a node receives its peers' message lanes (runtime/cluster/message_lane.hpp).
struct lane_limits {
  /// What a lane may bring before its marker (over CAF) says to deliver it; past
  /// that, the endpoint stops reading it until the marker comes.
  std::size_t hold_bytes = std::size_t{64} << 20;
  /// How long after its hello a lane's marker may take. A lane whose marker has
  /// not come by then is closed and logged: its sender died before sending it,
  /// or it is no peer of this cluster.
  std::chrono::milliseconds marker_time = std::chrono::seconds(60);
};

/// The transport over CAF's middleman: the node endpoint actor (which decodes
/// each CAF message and hands it to the remote layer, nothing else), the
/// endpoints of the other nodes as the node tables list them, and direct
/// connections to them: after each node table, one to every live peer this node
/// has none to, so that messages to it do not go through the head (connecting
/// blocks: one thread each, joined by stop). Safe for concurrent use.
class caf_transport final : public transport, public job_service_client {
 public:
  /// Spawns the endpoint; it drops what arrives until `start`. `token` is checked
  /// on state queries and stop requests. A message for a node that no node table
  /// has listed yet waits up to `unlisted_wait` for one that does. Peers'
  /// message lanes are received within `lanes`.
  caf_transport(caf::actor_system& sys, std::string token,
                std::chrono::milliseconds unlisted_wait = std::chrono::seconds(10), lane_limits lanes = {});
  ~caf_transport() override;

  caf_transport(const caf_transport&) = delete;
  caf_transport& operator=(const caf_transport&) = delete;

  /// From now on, messages go to `messages` and the control plane to `events`.
  void start(message_handler& messages, endpoint_events& events);

  /// The node endpoint actor.
  caf::actor endpoint() const;

  /// Takes connections to the endpoint on `bind` (any port); returns the port.
  /// Throws actors::error if it cannot. Without TLS it opens the endpoint's
  /// message lane port on `bind` too (runtime/cluster/message_lane.hpp).
  std::uint16_t publish(const std::string& bind);

  /// The message lane port publish() opened; 0 if none (TLS, or it failed).
  std::uint16_t lane_port() const;

  /// Serves `control` (the head's control store) on `bind`:`port` (0: any);
  /// returns the port. Throws actors::error saying what to change.
  std::uint16_t serve_control(const caf::actor& control, const std::string& bind, std::uint16_t port);

  /// Serves `fresh` instead of the control store it served (which died) on the
  /// same port. False, logged, if that fails.
  bool serve_restarted_control(const caf::actor& fresh);

  /// The head's control store: its death is the head going away. With `monitor`
  /// false (this node is the head) it is only remembered.
  void watch_head(const caf::actor& control, bool monitor);

  /// On the head: job requests that reach the endpoint go to `jobs` (the job
  /// service, runtime/jobs/job_service.hpp).
  void serve_jobs(const caf::actor& jobs);

  /// Asks the head's job service, through the head node's endpoint.
  std::optional<std::string> ask_jobs(const std::string& op, std::string payload, std::chrono::milliseconds timeout,
                                      std::string& why) override;

  /// Stops sending and shuts the endpoint down; waits for the connecting threads.
  void stop();

  bool send(const node_id& to, message_kind kind, std::string payload) override;
  void reply(const return_address& to, message_kind kind, std::string payload) override;
  std::optional<std::string> request(const node_id& to, request_kind kind, std::string payload,
                                     std::chrono::milliseconds timeout, std::string& why) override;
  bool reaches(const node_id& id) const override;
  void forget(const node_id& id) override;
  traffic_counts traffic() const override;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

} // namespace actors::runtime
