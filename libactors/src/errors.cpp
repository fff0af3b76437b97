#include "actors/detail/failure.hpp"
#include "actors/errors.hpp"

namespace actors {

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::none:
      return "none";
    case errc::task_failed:
      return "task_failed";
    case errc::actor_died:
      return "actor_died";
    case errc::object_lost:
      return "object_lost";
    case errc::timeout:
      return "timeout";
    case errc::not_registered:
      return "not_registered";
    case errc::type_mismatch:
      return "type_mismatch";
    case errc::not_initialized:
      return "not_initialized";
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::cancelled:
      return "cancelled";
    case errc::object_store_full:
      return "object_store_full";
    case errc::serialization_failed:
      return "serialization_failed";
  }
  return "unknown";
}

task_error::task_error(std::string function, std::string node, std::string original)
  : error(errc::task_failed, "'" + function + "' threw on node " + node + ": " + original),
    function_(std::move(function)),
    node_(std::move(node)),
    original_(std::move(original)) {}

namespace detail {

void raise(const failure& f) {
  switch (f.code) {
    case errc::task_failed:
      throw task_error(f.function, f.node, f.message);
    case errc::actor_died:
      throw actor_died_error(f.message);
    case errc::object_lost:
      throw object_lost_error(f.message);
    case errc::timeout:
      throw timeout_error(f.message);
    case errc::not_registered:
      throw not_registered_error(f.message);
    case errc::cancelled:
      throw task_cancelled_error(f.message);
    case errc::object_store_full:
      throw object_store_full_error(f.message);
    default:
      throw error(f.code, f.message);
  }
}

} // namespace detail

} // namespace actors
