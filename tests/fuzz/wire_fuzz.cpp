// Fuzzes the decoding of every payload nodes send each other (runtime/wire/
// protocol.hpp), as the endpoint and control store actors decode them. The first
// byte picks the payload type; the rest is the payload.

#include "fuzz_target.hpp"
#include "runtime/wire/protocol.hpp"

#include <string>

namespace {

namespace wire = actors::runtime::wire;

template <class T>
void decode(const std::string& blob, const char* what) {
  T x;
  try {
    x = wire::unpack<T>(blob, what);
  } catch (const actors::error&) {
    return; // malformed: refused with an error, as it must be (unpack turns every
            // decoding exception into actors::error)
  }
  // What decoded must encode and decode again.
  try {
    (void) wire::unpack<T>(wire::pack(x), what);
  } catch (const actors::error&) {
    actors::fuzz::fail("a decoded payload does not decode again after encoding");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  std::string blob(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 25) {
    case 0: decode<wire::node_record>(blob, "node record"); break;
    case 1: decode<wire::cluster_view>(blob, "node table"); break;
    case 2: decode<wire::node_report>(blob, "node report"); break;
    case 3: decode<wire::bundle_request>(blob, "bundle request"); break;
    case 4: decode<wire::inline_object>(blob, "inline object"); break;
    case 5: decode<wire::located_object>(blob, "located object"); break;
    case 6: decode<wire::task_request>(blob, "task request"); break;
    case 7: decode<wire::actor_create_request>(blob, "actor creation"); break;
    case 8: decode<wire::actor_call>(blob, "actor call"); break;
    case 9: decode<wire::fetch_request>(blob, "fetch request"); break;
    case 10: decode<wire::result>(blob, "result"); break;
    case 11: decode<wire::named_actor>(blob, "named actor"); break;
    case 12: decode<wire::state_table>(blob, "node state"); break;
    case 13: decode<wire::release_request>(blob, "release request"); break;
    case 14: decode<wire::task_batch>(blob, "task batch"); break;
    case 15: decode<wire::borrow_notice>(blob, "borrow"); break;
    case 16: decode<wire::actor_ref>(blob, "actor drop"); break;
    case 17: decode<wire::kill_request>(blob, "actor kill"); break;
    case 18: decode<wire::bundle_ref>(blob, "bundle removal"); break;
    case 19: decode<wire::request_answer>(blob, "request answer"); break;
    case 20: decode<wire::cancel_request>(blob, "task cancel"); break;
    case 21: decode<wire::stream_item>(blob, "stream item"); break;
    case 22: decode<wire::stream_ack>(blob, "stream ack"); break;
    case 23: decode<wire::stream_item_batch>(blob, "stream item batch"); break;
    case 24: decode<wire::actor_borrow>(blob, "actor borrow"); break;
  }
  return 0;
}
