#include "actors/version.hpp"

namespace actors {

const char* version() noexcept {
  return ACTORS_VERSION;
}

} // namespace actors
