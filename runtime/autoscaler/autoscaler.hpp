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
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace actors::runtime {

/// What the head's metrics show of the autoscaler (actors_autoscaler_*), as of
/// its last round.
struct autoscaler_figures {
  /// Launched nodes by node type, then state: running, launching, draining.
  std::map<std::string, std::map<std::string, int>> nodes;
  /// Demand that waits, by resource name, summed over its shapes.
  std::map<std::string, double> pending;
  std::map<std::string, std::uint64_t> launches;        // by node type
  std::map<std::string, std::uint64_t> launch_failures; // by node type
  /// By node type, then reason: idle (removed), died (ended on its own).
  std::map<std::string, std::map<std::string, std::uint64_t>> terminations;
};

/// What a round asks of the head.
struct round_actions {
  /// Nodes to mark draining: no new work goes to them.
  std::vector<node_id> drain;
  /// Draining nodes that got work before the mark reached every node: they take
  /// work again, and are drained again once idle for idle_timeout_s.
  std::vector<node_id> undrain;
  /// Drained nodes to stop: told to leave the cluster (an orderly stop), and
  /// their launches ended through the provider.
  std::vector<node_id> stop;
};

class autoscaler {
 public:
  using clock_type = std::chrono::steady_clock;

  /// `head_address` and `token` are what launched nodes join with. With a
  /// `launches_file` (the head's --state-dir), the launches are saved there as they
  /// change, and those a previous head process saved are taken over: a restarted
  /// head neither starts them twice nor leaves them running.
  autoscaler(autoscale_config config, node_provider& provider, std::string head_address, std::string token,
             std::filesystem::path launches_file = {});

  /// One round over `view`, at `now`: launches, removals, failures. Returns the
  /// nodes to mark draining (they are stopped a round later if still idle) and
  /// those to stop.
  round_actions step(const wire::cluster_view& view, clock_type::time_point now);

  /// For `actors status`.
  wire::autoscaler_status status() const;

  /// For the head's metrics: node counts, demand and counters as of the last round.
  autoscaler_figures figures() const;

 private:
  struct launch {
    std::string id;
    std::string type;
    launch_place place;
    clock_type::time_point started;
    /// Set once a node with this launch id is in the table.
    std::optional<node_id> node;
    std::optional<clock_type::time_point> idle_since;
    std::optional<clock_type::time_point> draining_since;
    /// Made by a previous head process.
    bool adopted = false;
  };

  void take_over_saved_launches();
  void save_launches();

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
  // Launches that are over (failed, removed, died, or saved by a previous head
  // but gone): a node that shows up with one of these ids is not taken over.
  std::set<std::string> gone_;
  wire::autoscaler_status status_;
  std::deque<std::string> events_;
  // The counters of figures(): launches, launch_failures, terminations.
  autoscaler_figures counters_;
  std::uint64_t next_launch_ = 0;
  std::string launch_prefix_;
  std::filesystem::path launches_file_;
  // What was last written to launches_file_.
  std::string saved_;
};

} // namespace actors::runtime
