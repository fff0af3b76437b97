// Fuzzes the session file parser: the file any local user who can write the
// session directory controls, which drivers, nodes and the actors command read to
// find the head and its token.

#include "fuzz_target.hpp"
#include "runtime/node/session.hpp"

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto s = actors::runtime::parse_session(text);
  if (s && (s->address.empty() || s->pid <= 0))
    actors::fuzz::fail("a session was accepted without an address or a valid pid");
  return 0;
}
