#include "actors/serialization.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>

namespace actors::detail {

std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out{abi::__cxa_demangle(mangled, nullptr, nullptr, &status),
                                             std::free};
  return status == 0 && out ? std::string(out.get()) : std::string(mangled);
}

void throw_not_serializable(const char* type_name) {
  throw error(errc::serialization_failed,
              "type " + demangle(type_name)
                + " cannot be serialized: give it a Boost.Serialization member `template <class "
                  "Archive> void serialize(Archive&, unsigned)` so it can spill to disk or cross "
                  "nodes");
}


} // namespace actors::detail
