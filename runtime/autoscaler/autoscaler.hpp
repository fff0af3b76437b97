#pragma once

// The autoscaler's decisions, one round at a time, over the head's node table:
// launch nodes for work no live node can take (scaling_plan.hpp), count launches
// that fail or never join, and stop launched nodes that stayed idle. No CAF: the
// autoscaler_service actor feeds it the table every second and carries out what
// it returns.

#include "runtime/autoscaler/autoscale_config.hpp"
#include "runtime/autoscaler/node_provider.hpp"
#include "runtime/wire/protocol.hpp"

#include "actors/ids.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace actors::runtime {

/// What the autoscaler counts, for the head's metrics.
struct autoscaler_counters {
  std::map<std::string, std::uint64_t> launches;        // by node type
  std::map<std::string, std::uint64_t> launch_failures; // by node type
  /// By node type, then reason: idle, failed (never joined), died.
  std::map<std::string, std::map<std::string, std::uint64_t>> terminations;
};

/// What a round asks of the head.
struct round_actions {
  /// Nodes to mark draining: no new work goes to them.
  std::vector<node_id> drain;
  /// Drained nodes to stop: told to leave the cluster (an orderly stop), and
  /// their launches ended through the provider.
  std::vector<node_id> stop;
};

class autoscaler {
 public:
  using clock_type = std::chrono::steady_clock;

  /// `head_address` and `token` are what launched nodes join with.
  autoscaler(autoscale_config config, node_provider& provider, std::string head_address, std::string token);

  /// One round over `view`, at `now`: launches, removals, failures. Returns the
  /// nodes to mark draining (they are stopped a round later if still idle) and
  /// those to stop.
  round_actions step(const wire::cluster_view& view, clock_type::time_point now);

  /// For `actors status`.
  wire::autoscaler_status status() const;

  const autoscaler_counters& counters() const noexcept {
    return counters_;
  }

  /// Launched nodes by type and state (running, launching, draining).
  std::map<std::string, std::map<std::string, int>> node_counts() const;

  /// Pending demand by resource name, summed over the shapes.
  std::map<std::string, double> pending_by_resource() const;

 private:
  struct launch {
    std::string id;
    std::string type;
    clock_type::time_point started;
    /// Set once a node with this launch id is in the table.
    std::optional<node_id> node;
    std::optional<clock_type::time_point> idle_since;
    std::optional<clock_type::time_point> draining_since;
  };

  void event(std::string text);
  void failed(const std::string& launch_id, const std::string& why, clock_type::time_point now);
  const node_type_config* type_named(const std::string& name) const;

  autoscale_config config_;
  node_provider& provider_;
  std::string head_address_;
  std::string token_;
  std::map<std::string, launch> launches_; // by launch id
  // After a failed launch, no launch of that type before this time; the wait
  // doubles with each failure in a row (5 s up to 60 s).
  std::map<std::string, std::pair<clock_type::time_point, int>> backoff_;
  std::set<std::string> infeasible_logged_;
  wire::autoscaler_status status_;
  std::deque<std::string> events_;
  autoscaler_counters counters_;
  std::uint64_t next_launch_ = 0;
  std::string launch_prefix_;
};

} // namespace actors::runtime
