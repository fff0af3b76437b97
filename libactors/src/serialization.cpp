#include "actors/serialization.hpp"

// The archives' Boost templates are compiled here, once, as Boost compiles
// binary_iarchive's and binary_oarchive's in its own library.
#include <boost/archive/impl/archive_serializer_map.ipp>
#include <boost/archive/impl/basic_binary_iarchive.ipp>
#include <boost/archive/impl/basic_binary_oarchive.ipp>

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

namespace boost::archive {
template class detail::archive_serializer_map<actors::detail::bounded_iarchive>;
template class basic_binary_iarchive<actors::detail::bounded_iarchive>;
template class detail::archive_serializer_map<actors::detail::binary_oarchive>;
template class basic_binary_oarchive<actors::detail::binary_oarchive>;
} // namespace boost::archive
