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

// Decodes the input where it lies, as the store decodes a shared-memory mapping.
template <class T>
void decode(const char* data, std::size_t size) {
  const auto* ops = actors::detail::ops_of<T>();
  std::shared_ptr<const void> value;
  try {
    value = ops->decode(data, size);
  } catch (const std::exception&) {
    return; // the object store turns this into an error naming the object
  }
  (void) ops->byte_size(value.get());
  try {
    auto again = ops->encode(value.get());
    (void) ops->decode(again.data(), again.size());
  } catch (const std::exception&) {
    actors::fuzz::fail("a decoded value does not decode again after encoding");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  const char* bytes = reinterpret_cast<const char*>(data) + 1;
  const std::size_t n = size - 1;
  switch (data[0] % 12) {
    case 0: decode<std::string>(bytes, n); break;
    case 1: decode<std::vector<int>>(bytes, n); break;
    case 2: decode<std::vector<std::string>>(bytes, n); break;
    case 3: decode<std::map<std::string, std::vector<double>>>(bytes, n); break;
    case 4: decode<std::unordered_map<std::string, std::int64_t>>(bytes, n); break;
    case 5: decode<std::deque<std::uint8_t>>(bytes, n); break;
    case 6: decode<std::list<std::string>>(bytes, n); break;
    case 7: decode<std::set<int>>(bytes, n); break;
    case 8: decode<std::unordered_set<std::string>>(bytes, n); break;
    case 9: decode<std::array<std::int32_t, 4>>(bytes, n); break;
    case 10: decode<point>(bytes, n); break;
    case 11: decode<std::vector<point>>(bytes, n); break;
  }
  return 0;
}
