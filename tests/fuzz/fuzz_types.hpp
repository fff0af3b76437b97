#pragma once

// User types the object fuzz target decodes and the corpus writer encodes seeds of.

#include <string>
#include <utility>
#include <vector>

namespace fuzz {

/// A user type of the kind the guide shows: fields, a nested container, a bool.
struct point {
  double x = 0;
  double y = 0;
  std::string label;
  std::vector<std::pair<int, std::string>> tags;
  bool visible = false;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & x & y & label & tags & visible;
  }
};

} // namespace fuzz
