#pragma once

#include "actors/ids.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace actors {

/// One node of the cluster as the head knows it.
struct node_info {
  node_id id;
  /// host:port where the node takes connections from other nodes.
  std::string address;
  /// False once the node died or left; dead nodes stay listed.
  bool alive = true;
  /// The node runs the control store.
  bool is_head = false;
  /// A user's program that joined to submit work (it offers no CPUs unless told).
  bool is_driver = false;
  /// Resources the node offers ("CPU" included).
  std::map<std::string, double> resources_total;
  /// Resources free at the node's last report.
  std::map<std::string, double> resources_available;
  /// Port of the node's Prometheus endpoint (`/metrics`) on the address's host;
  /// 0 if it serves none.
  int metrics_port = 0;
  /// host:port where the node serves large values over its data channel; empty
  /// if it serves none (a node alone in its process).
  std::string data_address;
  /// host:port where the node's endpoint takes the message lanes of its peers;
  /// empty if it takes none (TLS on, or a node alone in its process).
  std::string lane_address;
  /// The node's process id on its host.
  std::int64_t pid = 0;
  /// The node's object store limit in bytes (`--object-store-bytes`): past it,
  /// values spill to disk.
  std::uint64_t object_store_bytes = 0;
};

/// Every node of the cluster, dead ones included, head first. In an embedded
/// cluster, just this node.
std::vector<node_info> nodes();

/// Asks the cluster's autoscaler to keep room for `bundles` (each an amount of
/// each resource, e.g. {{"CPU", 1}}), whether work uses it or not: it launches
/// nodes until the cluster's total capacity holds every bundle, and does not
/// remove them for being idle. Replaces the previous request, from any process;
/// an empty list withdraws it. Without an autoscaler, nothing happens. Throws
/// actors::error (invalid_argument) for a bundle with an empty resource name or
/// an amount that is negative or not finite.
void request_resources(const std::vector<std::map<std::string, double>>& bundles);

} // namespace actors
