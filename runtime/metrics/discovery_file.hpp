#pragma once

#include "runtime/cluster/membership.hpp"

#include <string>

namespace actors::runtime {

/// Keeps a Prometheus file_sd_configs file (`actorsd --metrics-sd-file`) listing
/// every live node's metrics endpoint: rewritten (a temporary file, then a
/// rename) each time the node table changes.
class discovery_file final : public membership_listener {
 public:
  discovery_file(const membership& members, std::string path) : members_(members), path_(std::move(path)) {}

  void view_changed() override;

 private:
  const membership& members_;
  const std::string path_;
};

} // namespace actors::runtime
