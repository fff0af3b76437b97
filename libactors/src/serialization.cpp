#include "actors/serialization.hpp"

// The archives' Boost templates are compiled here, once, as Boost compiles
// binary_iarchive's and binary_oarchive's in its own library.
#include <boost/archive/impl/archive_serializer_map.ipp>
#include <boost/archive/impl/basic_binary_iarchive.ipp>
#include <boost/archive/impl/basic_binary_oarchive.ipp>

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>

namespace actors::detail {

std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out{abi::__cxa_demangle(mangled, nullptr, nullptr, &status),
                                             std::free};
  return status == 0 && out ? std::string(out.get()) : std::string(mangled);
}

namespace {

struct type_registry {
  std::mutex mu;
  std::unordered_map<std::string_view, const type_ops*> by_name;
};

type_registry& registry() {
  static auto* r = new type_registry; // never destroyed: ops_of may run during exit
  return *r;
}

} // namespace

void register_type_ops(const type_ops* ops) {
  auto& r = registry();
  std::lock_guard<std::mutex> guard{r.mu};
  r.by_name.emplace(ops->name, ops);
}

const type_ops* type_ops_named(std::string_view name) {
  auto& r = registry();
  std::lock_guard<std::mutex> guard{r.mu};
  auto i = r.by_name.find(name);
  return i == r.by_name.end() ? nullptr : i->second;
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
