#pragma once

#include "runtime/cluster/local_parts.hpp"
#include "runtime/cluster/membership.hpp"

#include <chrono>
#include <mutex>

namespace actors::runtime {

/// Gives tasks that wait here for room back to their owners when other nodes
/// have room for them, and the owners place them again. An owner sends a node
/// more tasks than it can start at once (up to tasks_in_flight_per_node), so
/// without this, tasks sent before other nodes joined (the autoscaler's, say)
/// or had room would wait here while those nodes sit idle. Looked at with each
/// new node table, at most once per `pause`: the other nodes' free resources in
/// the table are as of their last report, and tasks given back need that long
/// to reach them. Only tasks sent by other nodes' owners and bound to no node or
/// placement group go back.
class spillback final : public membership_listener {
 public:
  spillback(local_parts local, membership& members) : local_(local), members_(members) {}

  void view_changed() override;

  static constexpr auto pause = std::chrono::seconds(1);

 private:
  const local_parts local_;
  membership& members_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point last_;
};

} // namespace actors::runtime
