// Fuzzes the decoding of task, actor-creation and method arguments
// (function_entry::decode_args, which is call_args<Ps...>::decode), then calls a
// function with what decoded, as a node does with a request from another node. The
// first byte picks the parameter list. No node runs here, so an argument passed by
// reference to an object is refused as the runtime refuses it without a node; the
// cluster tests cover references on a running node.

#include "fuzz_target.hpp"

#include "actors/actors.hpp"

#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

// Reads every argument whole, as a user function would.
struct reader {
  template <class... Xs>
  std::size_t operator()(const Xs&... xs) const {
    return (weigh(xs) + ... + 0);
  }
  template <class X>
  static std::size_t weigh(const X& x) {
    return actors::detail::encode(x).size();
  }
};

template <class... Ps>
void decode_and_call(const std::string& bytes) {
  using args = actors::detail::call_args<Ps...>;
  actors::detail::args_ptr decoded;
  try {
    decoded = args::decode(bytes);
  } catch (const std::exception&) {
    return; // the node turns this into a failed task naming the function
  }
  (void) static_cast<args&>(*decoded).apply(reader{});
  // What decoded must encode and decode again.
  try {
    (void) args::decode(decoded->encode());
  } catch (const std::exception&) {
    actors::fuzz::fail("decoded arguments do not decode again after encoding");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0: decode_and_call<int>(bytes); break;
    case 1: decode_and_call<std::string, double>(bytes); break;
    case 2: decode_and_call<const std::vector<int>&, std::map<std::string, std::vector<double>>>(bytes); break;
    case 3: decode_and_call<std::pair<int, std::string>, std::unordered_map<std::string, int>, bool>(bytes); break;
    case 4: decode_and_call<std::deque<std::string>, std::set<std::int64_t>, std::list<double>>(bytes); break;
  }
  return 0;
}
