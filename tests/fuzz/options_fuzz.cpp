// Fuzzes command-line flag parsing (--actors-* flags, as every program that calls
// actors::init and every node process reads them). The input is split into
// arguments at newlines.

#include "fuzz_target.hpp"
#include "runtime/node/options.hpp"

#include "actors/errors.hpp"

#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> args{"fuzz"};
  std::string current;
  for (std::size_t i = 0; i < size; ++i) {
    char c = static_cast<char>(data[i]);
    if (c == '\n') {
      args.push_back(current);
      current.clear();
    } else if (c != '\0') {
      current += c;
    }
  }
  args.push_back(current);
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  int argc = static_cast<int>(args.size());
  actors::init_options opts;
  try {
    actors::runtime::parse_options(argc, argv.data(), opts);
  } catch (const actors::error&) {
    // refused with a message naming the flag, as it must be
  }
  (void) actors::runtime::other_arguments(argc, argv.data());
  return 0;
}
