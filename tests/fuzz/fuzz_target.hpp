#pragma once

/// What every fuzz target defines: libFuzzer's entry point. A target returns 0 for
/// every input; it crashes (or trips a sanitizer) only on a bug. The same entry is
/// linked into a plain replay program so that every compiler runs the corpus.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace actors::fuzz {

/// A broken invariant inside a target: report it and abort, so that libFuzzer keeps
/// the input.
[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::abort();
}

} // namespace actors::fuzz
