#pragma once

// The little-endian integer fields of this project's own wire formats (the data
// channel's frames, the message lanes'): put writes one at `p`, get reads one
// from `p`, whatever the host's byte order and the pointer's alignment.

#include <cstdint>
#include <cstdio>
#include <string>

namespace actors::runtime {

inline void put16(void* p, std::uint16_t v) {
  auto* b = static_cast<unsigned char*>(p);
  for (int i = 0; i < 2; ++i)
    b[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline void put32(void* p, std::uint32_t v) {
  auto* b = static_cast<unsigned char*>(p);
  for (int i = 0; i < 4; ++i)
    b[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline void put64(void* p, std::uint64_t v) {
  auto* b = static_cast<unsigned char*>(p);
  for (int i = 0; i < 8; ++i)
    b[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline std::uint16_t get16(const void* p) {
  const auto* b = static_cast<const unsigned char*>(p);
  return static_cast<std::uint16_t>(b[0] | (b[1] << 8));
}
inline std::uint32_t get32(const void* p) {
  const auto* b = static_cast<const unsigned char*>(p);
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | b[i];
  return v;
}
inline std::uint64_t get64(const void* p) {
  const auto* b = static_cast<const unsigned char*>(p);
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | b[i];
  return v;
}

/// A magic number as errors and logs show it, e.g. "0x48434441".
inline std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

} // namespace actors::runtime
