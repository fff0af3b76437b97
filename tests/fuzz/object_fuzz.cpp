// Fuzzes the decoding of object payloads: values that arrive from another node
// or come back from the spill directory, decoded through type_ops::decode (the
// same decode<T> that user types go through). The first byte picks the type.

#include "fuzz_target.hpp"
#include "fuzz_types.hpp"

#include "actors/serialization.hpp"

#include <array>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace {

using fuzz::point;

template <class T>
void decode(const std::string& bytes) {
  const auto* ops = actors::detail::ops_of<T>();
  std::shared_ptr<const void> value;
  try {
    value = ops->decode(bytes);
  } catch (const std::exception&) {
    return; // the object store turns this into an error naming the object
  }
  (void) ops->byte_size(value.get());
  try {
    (void) ops->decode(ops->encode(value.get()));
  } catch (const std::exception&) {
    actors::fuzz::fail("a decoded value does not decode again after encoding");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 12) {
    case 0: decode<std::string>(bytes); break;
    case 1: decode<std::vector<int>>(bytes); break;
    case 2: decode<std::vector<std::string>>(bytes); break;
    case 3: decode<std::map<std::string, std::vector<double>>>(bytes); break;
    case 4: decode<std::unordered_map<std::string, std::int64_t>>(bytes); break;
    case 5: decode<std::deque<std::uint8_t>>(bytes); break;
    case 6: decode<std::list<std::string>>(bytes); break;
    case 7: decode<std::set<int>>(bytes); break;
    case 8: decode<std::unordered_set<std::string>>(bytes); break;
    case 9: decode<std::array<std::int32_t, 4>>(bytes); break;
    case 10: decode<point>(bytes); break;
    case 11: decode<std::vector<point>>(bytes); break;
  }
  return 0;
}
