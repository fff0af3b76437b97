#pragma once

#include "runtime/cluster/local_parts.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/operations.hpp"
#include "runtime/cluster/placement.hpp"
#include "runtime/cluster/transport.hpp"
#include "runtime/control_store/control_store.hpp"
#include "runtime/wire/protocol.hpp"

#include "actors/scheduling.hpp"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace actors::runtime {

/// The name under which a bundle offers a resource it reserved, e.g.
/// CPU_pg_<group>_<index>.
std::string bundle_resource(const std::string& resource, const std::string& group, std::size_t index);

/// Placement groups. The creator's side: picks a node for each bundle and asks it
/// to reserve the bundle, knows when all are reserved, and gives them back. The
/// host's side: reserves a bundle through the scheduler (it takes the bundle's
/// resources and offers them again under the bundle's names) and gives it back.
/// A bundle that fits no live node waits unplaced: it counts as demand for the
/// autoscaler and is placed when a node that can hold it joins. The creator
/// keeps the head's record of each group current (`group_records`), so that any
/// process can list, find, wait for and remove it. Safe for concurrent use.
class placement_groups final : public membership_listener, public demand_source {
 public:
  placement_groups(local_parts local, transport& links, operations& ops, membership& members, placer& place,
                   group_records& records);

  /// What a group is besides its bundles.
  struct group_options {
    scheduling_strategy strategy = scheduling_strategy::pack;
    /// Empty: unnamed. Unique in namespace `ns`.
    std::string name;
    std::string ns;
    /// Outlives its creator, until removed.
    bool detached = false;
  };

  placement_groups(const placement_groups&) = delete;
  placement_groups& operator=(const placement_groups&) = delete;

  /// Records a group at the head and starts reserving its bundles on the nodes
  /// that fit them; returns its id. Throws actors::error if its name is taken.
  std::string create(const std::vector<std::map<std::string, double>>& bundles, const group_options& opts);
  /// True once every bundle of the group is reserved and seen in the node table;
  /// for a group another process created, once the head's record says so.
  bool wait(const std::string& id, std::chrono::milliseconds timeout);
  /// Gives the group's resources back on every node, whoever created it.
  void remove(const std::string& id);
  /// The group named `name` in namespace `ns`, as the head records it.
  std::optional<wire::group_record> find(const std::string& ns, const std::string& name);

  /// Another node asks this one to reserve a bundle; the answer goes to `from`.
  void serve_reserve(wire::bundle_request req, const return_address& from);
  /// Another node gives a bundle reserved here back.
  void serve_remove(const wire::bundle_ref& ref);

  /// A bundle may have become visible, or a node joined that can hold a bundle
  /// that waits unplaced.
  void view_changed() override;
  /// The bundles reserved here for a group whose creator is gone for good are
  /// given back.
  void node_gone_for_good(const node_id& id) override;

  /// The bundles that wait for a node that can hold them.
  void count_waiting(std::map<std::map<std::string, double>, std::uint64_t>& shapes) const override;

 private:
  class reservation;
  class bundle_op;
  void answered(const std::string& group, std::uint32_t index, bool ok, const std::string& why);
  void reserve(wire::bundle_request req, return_address reply_to);
  void release_bundle(const std::string& group, std::uint32_t index);
  /// Asks `node` to reserve bundle `index` of `group`.
  void send_reservation(const std::string& group, std::uint32_t index, const std::map<std::string, double>& bundle,
                        const node_id& node, bool detached);
  /// wait() for a group another process created: polls the head's record.
  bool wait_elsewhere(const std::string& id, std::chrono::milliseconds timeout);
  /// Places the bundles that wait unplaced on the nodes that fit them now.
  void place_waiting();
  /// Sends the head the record of group `id`, if it is still here.
  void report(const std::string& id);
  /// Whether every bundle of group `id` shows in this node's node table.
  bool visible(const std::string& id, const std::vector<node_id>& nodes) const;
  const local_parts local_;
  transport& links_;
  operations& ops_;
  membership& members_;
  placer& place_;
  group_records& records_;

  // Guards everything below.
  mutable std::mutex mu_;
  std::condition_variable changed_;
  // Groups this node created: where each bundle went and whether it is reserved.
  struct group_state {
    std::vector<std::map<std::string, double>> bundles;
    group_options opts;
    /// Where each bundle went; none yet for a bundle that fits no live node.
    std::vector<node_id> nodes;
    std::vector<bool> reserved;
    std::string failure;
  };
  std::unordered_map<std::string, group_state> groups_;
  /// The head's record of group `id`, `g` as this node knows it.
  wire::group_record record_of(const std::string& id, const group_state& g) const;
  // How many bundles of groups_ wait unplaced.
  std::size_t unplaced_ = 0;
  // Bundles reserved on this node: what they took and what they offer renamed.
  struct bundle_hold {
    resource_set taken;
    resource_set offered;
    node_id creator;
    bool detached = false;
    bool active = false;
    bool removed = false;
  };
  std::map<std::pair<std::string, std::uint32_t>, bundle_hold> bundles_;
  // Creators gone for good: their bundles still queued here are not reserved.
  std::set<node_id> gone_creators_;
};

} // namespace actors::runtime
