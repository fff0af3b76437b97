// The TLS gateway's check of BASP frames as their bytes come in pieces.

#include "runtime/secure/tls_gateway.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

using actors::runtime::frame_guard;

namespace {

/// A frame: a 32-byte header announcing `len` bytes (big-endian at offset 4),
/// then `len` bytes of `fill`.
std::string frame(std::uint32_t len, char fill = 'p') {
  std::string f(32, '\0');
  f[0] = 0x05;
  f[4] = static_cast<char>(len >> 24);
  f[5] = static_cast<char>(len >> 16);
  f[6] = static_cast<char>(len >> 8);
  f[7] = static_cast<char>(len);
  return f + std::string(len, fill);
}

} // namespace

TEST(FrameGuard, SmallFramesPassAsTheyComeWhateverTheirPieces) {
  frame_guard g(1 << 20);
  auto bytes = frame(10) + frame(0) + frame(100, 'q');
  std::string out;
  std::string why;
  // One byte at a time: a header goes on once it is whole, payload bytes at once.
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    ASSERT_TRUE(g.feed(&bytes[i], 1, out, why)) << why;
    if (i == 31) {
      EXPECT_EQ(out.size(), 32u) << "the first header, once whole";
    }
    if (i == 35) {
      EXPECT_EQ(out.size(), 36u) << "payload bytes as they come";
    }
  }
  EXPECT_EQ(out, bytes);
  EXPECT_EQ(g.frames(), 3u);
}

TEST(FrameGuard, ALargeFrameIsHeldUntilItIsWhole) {
  frame_guard g(1 << 20, 1000);
  auto big = frame(5000);
  std::string out;
  std::string why;
  ASSERT_TRUE(g.feed(big.data(), 4000, out, why));
  EXPECT_TRUE(out.empty()) << "a frame past the hold size went on before it was whole";
  ASSERT_TRUE(g.feed(big.data() + 4000, big.size() - 4000, out, why));
  EXPECT_EQ(out, big);
  EXPECT_EQ(g.frames(), 1u);
}

TEST(FrameGuard, AFrameAnnouncingMoreThanTheMaximumIsRefused) {
  frame_guard g(4096);
  std::string out;
  std::string why;
  auto ok = frame(4096);
  ASSERT_TRUE(g.feed(ok.data(), ok.size(), out, why)) << why;
  auto header = frame(4097).substr(0, 32);
  EXPECT_FALSE(g.feed(header.data(), 20, out, why) && g.feed(header.data() + 20, 12, out, why));
  EXPECT_NE(why.find("4097 bytes, past the maximum of 4096"), std::string::npos) << why;
  EXPECT_EQ(out, ok) << "nothing of the refused frame goes on";
}
