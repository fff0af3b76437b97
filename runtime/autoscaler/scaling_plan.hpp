#pragma once

#include "runtime/autoscaler/autoscale_config.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace actors::runtime {

/// `count` pieces of work that each need `shape`.
struct shape_count {
  resource_map shape;
  std::uint64_t count = 0;
};

/// What the autoscaler knows of the cluster at one moment.
struct plan_input {
  std::vector<node_type_config> types;
  /// Available resources of each live node that takes work now.
  std::vector<resource_map> node_free;
  /// Total resources of the same nodes.
  std::vector<resource_map> node_total;
  /// Work waiting because no live node can take it now.
  std::vector<shape_count> pending;
  /// The standing request_resources bundles: capacity asked to exist, used or not.
  std::vector<resource_map> requested;
  /// Per type name: launched nodes alive.
  std::map<std::string, int> running;
  /// Per type name: launched, not joined yet.
  std::map<std::string, int> launching;
  double upscaling_speed = 1.0;
};

struct plan_output {
  /// Per type name: how many nodes to launch now (only entries > 0).
  std::map<std::string, int> launch;
  /// Distinct shapes that no node type and no live node can ever hold, sorted.
  std::vector<resource_map> infeasible;
};

/// Decides which nodes to launch: min_nodes first, then nodes for pending work
/// that live, launching and already planned nodes cannot take (largest first,
/// first fit, the cheapest type with room), then nodes for requested bundles
/// (against total capacity), capped by upscaling_speed. A pure function: the
/// same input gives the same output.
plan_output plan_scaling(const plan_input& in);

/// "{CPU: 1, GPU: 0.5}": a shape for logs and status.
std::string describe(const resource_map& shape);

} // namespace actors::runtime
