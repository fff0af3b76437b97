#pragma once

#include "actors/detail/runtime.hpp"

#include <compare>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace actors::runtime {

/// An amount of each resource, CPU first-class (it is on every hot path) and the
/// custom ones in a sorted list. Used for demands and for what a node has.
struct resource_set {
  double cpu = 0;
  /// Sorted by name, no duplicates, no zero amounts.
  std::vector<std::pair<std::string, double>> custom;

  static resource_set from(double cpu, const detail::resource_list& extra);
  static resource_set from(double cpu, const std::map<std::string, double>& extra);

  /// The amounts by name, CPU included (as the wire and the public API carry them).
  std::map<std::string, double> to_map() const;

  /// True if every amount in `demand` is available here.
  bool fits(const resource_set& demand) const;
  void subtract(const resource_set& demand);
  void add(const resource_set& demand);

  /// `CPU=2, GPU=1` for messages.
  std::string to_string() const;

  friend auto operator<=>(const resource_set&, const resource_set&) = default;
};

} // namespace actors::runtime
