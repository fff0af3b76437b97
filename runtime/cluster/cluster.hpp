#pragma once

#include "runtime/cluster/actor_calls.hpp"
#include "runtime/cluster/held_arguments.hpp"
#include "runtime/cluster/local_parts.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/object_directory.hpp"
#include "runtime/cluster/operations.hpp"
#include "runtime/cluster/placement.hpp"
#include "runtime/cluster/placement_groups.hpp"
#include "runtime/cluster/runtime_env.hpp"
#include "runtime/cluster/task_output.hpp"
#include "runtime/cluster/task_cancels.hpp"
#include "runtime/cluster/task_server.hpp"
#include "runtime/cluster/task_streams.hpp"
#include "runtime/cluster/spillback.hpp"
#include "runtime/cluster/task_submitter.hpp"
#include "runtime/cluster/transport.hpp"
#include "runtime/control_store/control_store.hpp"

#include "actors/detail/runtime.hpp"
#include "actors/ids.hpp"
#include "actors/nodes.hpp"

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace actors::runtime {

/// This node's remote layer: the parts that carry work and data between nodes,
/// built together and wired to each other, and the router that hands what
/// arrives from other nodes to the part that owns it. Every part is reached
/// through here by the node; none reaches up. Safe for concurrent use.
///
/// Listeners hear of a lost node in this order: the actor part (it marks the
/// actors it created there as restarting, so that their calls wait for the new
/// instance), the requests in flight, the object directory, the transport.
class cluster final : public message_handler, public endpoint_events {
 public:
  /// Every reference must outlive this object.
  cluster(local_parts local, cluster_settings settings, transport& links, head_link& head, actor_names& names,
          group_records& records, job_service_client& jobs);
  ~cluster() override;

  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  /// Joins the cluster as `rec` and waits for the first node table. Throws
  /// actors::error with the head's reason if refused.
  void join(const wire::node_record& rec);

  /// Placement of work submitted here (see placer::place).
  std::optional<node_id> place(const resource_set& demand, const detail::placement_options& p, bool for_actor,
                               const detail::args_holder* args = nullptr, bool* nowhere = nullptr) {
    return place_.place(demand, p, for_actor, args, nowhere);
  }

  task_submitter& tasks() noexcept {
    return submitter_;
  }
  task_cancels& cancels() noexcept {
    return cancels_;
  }
  actor_calls& actors() noexcept {
    return *actors_;
  }
  object_directory& objects() noexcept {
    return objects_;
  }
  placement_groups& groups() noexcept {
    return groups_;
  }
  membership& members() noexcept {
    return members_;
  }
  task_output& output() noexcept {
    return output_;
  }
  const membership& members() const noexcept {
    return members_;
  }

  /// Messages and payload bytes exchanged with other nodes.
  traffic_counts traffic() const {
    return links_.traffic();
  }

  /// Stops serving: the node's supervisor gave up on a service (`why`).
  void service_failed(const std::string& why);

  /// Fails every remote operation still in flight and what waits for a node;
  /// releases what this node holds for others.
  void stop();

  // From the transport.
  void on_message(message_kind kind, const std::string& payload, const return_address& from) override;
  std::string on_request(request_kind kind, const std::string& payload) override;
  void on_view(wire::cluster_view view) override;
  void on_peer_down(const node_id& id) override;
  void on_peer_unlisted(const node_id& id) override;
  void on_head_down() override;
  void on_tick() override;
  void on_stop_request() override;
  wire::state_table on_state_query(const std::string& what) override;

 private:
  /// Forgets the endpoints of dead nodes.
  struct forget_dead final : membership_listener {
    explicit forget_dead(transport& links) : links(links) {}
    void node_lost(const node_id& id, const std::string&) override {
      links.forget(id);
    }
    transport& links;
  };

  const local_parts local_;
  transport& links_;
  membership members_;
  operations ops_;
  placer place_;
  held_arguments held_;
  runtime_env env_;
  task_submitter submitter_;
  object_directory objects_;
  task_streams streams_;
  task_server served_;
  task_cancels cancels_;
  std::shared_ptr<actor_calls> actors_;
  placement_groups groups_;
  task_output output_;
  forget_dead forget_dead_;
  spillback spillback_;
};

} // namespace actors::runtime
