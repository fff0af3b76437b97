#include "runtime/common/flag_names.hpp"

#include <atomic>

namespace actors::runtime {

namespace {

std::atomic<bool> daemon_names{false};

} // namespace

std::string flag_name(const std::string& setting) {
  return (daemon_names.load(std::memory_order_relaxed) ? "--" : "--actors-") + setting;
}

void use_daemon_flag_names() {
  daemon_names.store(true, std::memory_order_relaxed);
}

} // namespace actors::runtime
