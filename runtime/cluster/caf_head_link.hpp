#pragma once

#include "runtime/cluster/caf_transport.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/control_store/control_store.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace caf {
class actor_system;
} // namespace caf

namespace actors::runtime {

/// The link to the head's control store over CAF: join requests, resource
/// reports, and reconnecting to the head's address when it went away. Safe for
/// concurrent use.
class caf_head_link final : public head_link {
 public:
  /// `control` is this node's client of the control store (local on the head);
  /// `links` carries this node's endpoint. Both must outlive this object.
  caf_head_link(caf::actor_system& sys, caf_transport& links, control_store& control, std::string token,
                std::string head_address, bool is_head);

  join_answer join(const wire::node_record& rec) override;
  std::optional<join_answer> reconnect(const wire::node_record& rec, std::string& why) override;
  void report(const wire::node_report& rep) override;
  void lost() override;
  void probe(const node_id& self, std::chrono::milliseconds timeout, std::function<void()> on_silence,
             std::function<void()> on_dead) override;
  void stop_probing() override;

 private:
  /// What a probe in flight calls back, cleared by stop_probing.
  struct probe_state;
  join_answer ask(const caf::actor& control, const wire::node_record& rec);

  caf::actor_system& sys_;
  caf_transport& links_;
  control_store& control_;
  const std::string token_;
  const std::string head_address_;
  const bool is_head_;
  std::shared_ptr<probe_state> probe_;
};


/// Connects to the control store served at `address` ("host:port"). Throws
/// actors::error saying what to check if nothing answers there.
std::unique_ptr<control_store> connect_control_store(caf::actor_system& sys, const std::string& address);

} // namespace actors::runtime
