#pragma once

#include "actors/detail/runtime.hpp"
#include "actors/scheduling.hpp"

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace actors {

/// What a placement group is besides its bundles and strategy.
struct placement_group_options {
  /// Empty: unnamed. A name is unique in its namespace; any process working in
  /// that namespace finds the group with get_placement_group(name).
  std::string name;
  /// The name's namespace; empty: this program's (actors::current_namespace()).
  std::string ns;
  /// with_creator (the default): the group is removed when the process that
  /// created it ends. detached: it stays until removed, from any process.
  actor_lifetime lifetime = actor_lifetime::with_creator;
};

/// Resources reserved together across the cluster, as bundles: with `pack` on as
/// few nodes as possible, with `spread` on different nodes where it can; with
/// `strict_pack` all on one node and with `strict_spread` each on a node of its
/// own, and otherwise not at all (the group waits for such nodes). Tasks and
/// actors then run inside a bundle with `.placement_group(pg, index)` and use only
/// what it reserved. Copyable; copies name the same group. A group goes when it
/// is removed or when the process that created it ends, unless it is detached.
///
///     actors::placement_group pg({{{"CPU", 1}}, {{"CPU", 1}}}, actors::spread);
///     if (pg.wait(std::chrono::seconds(5)))
///       actors::task(f).placement_group(pg, 0).remote(x);
///     pg.remove();
class placement_group {
 public:
  /// Starts reserving `bundles` (each a map of resource name to amount; "CPU"
  /// included). Returns at once; `wait` tells when every bundle is reserved.
  placement_group(std::vector<std::map<std::string, double>> bundles,
                  scheduling_strategy strategy = scheduling_strategy::pack, const placement_group_options& opts = {})
    : id_(detail::create_placement_group(bundles, strategy, opts.name, opts.ns,
                                         opts.lifetime == actor_lifetime::detached)),
      bundles_(bundles.size()) {}

  /// True once every bundle is reserved; false if that did not happen in time (a
  /// bundle may not fit any node yet).
  template <class Rep, class Period>
  bool wait(std::chrono::duration<Rep, Period> timeout) const {
    return detail::wait_placement_group(id_, std::chrono::ceil<std::chrono::milliseconds>(timeout));
  }

  /// Gives the reserved resources back, whichever process created the group.
  /// Work still running in the group keeps running; new work for it stays
  /// pending.
  void remove() const {
    detail::remove_placement_group(id_);
  }

  const std::string& id() const noexcept {
    return id_;
  }
  std::size_t bundle_count() const noexcept {
    return bundles_;
  }

 private:
  placement_group(std::string id, std::size_t bundles) : id_(std::move(id)), bundles_(bundles) {}
  friend std::optional<placement_group> get_placement_group(const std::string& name, const std::string& ns);

  std::string id_;
  std::size_t bundles_;
};

/// The placement group named `name` in namespace `ns` (empty: this program's),
/// made by any process of the cluster; nullopt if there is none.
inline std::optional<placement_group> get_placement_group(const std::string& name, const std::string& ns = {}) {
  auto [id, bundles] = detail::find_placement_group(name, ns);
  if (id.empty())
    return std::nullopt;
  return placement_group(std::move(id), bundles);
}

} // namespace actors
