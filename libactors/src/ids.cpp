#include "actors/ids.hpp"

#include <cstdio>

namespace actors {

namespace {

std::string hex(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

} // namespace

std::string node_id::to_string() const {
  return hex(value);
}

std::string object_id::to_string() const {
  return hex(owner) + "-" + hex(seq);
}

std::string actor_id::to_string() const {
  return hex(owner) + "-" + hex(seq);
}

} // namespace actors
