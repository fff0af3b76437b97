#pragma once

// The data channel's wire format: the frames, their magic numbers and limits (the
// fields are written and read with runtime/common/little_endian.hpp). Internal to
// runtime/data_plane: the server (data_server.cpp) and the client
// (data_client.cpp) include it; it is not installed, and it needs no Asio.
// docs/wire-protocol.md ("The data channel") documents the same format for
// readers of the protocol.
//
// Wire format, version 1. Integers are little-endian. Every frame starts with a
// four-byte magic that reads as ASCII: "ADC" and a letter for the frame kind.
//
//   hello, client -> server, once after connecting: 16 bytes, then the token
//     0  u32 magic      "ADCH" (0x48434441)
//     4  u16 version    1
//     6  u16 reserved   0
//     8  u32 token_len  at most 4096
//     12 u32 reserved   0
//     16 the cluster token, token_len bytes
//   hello reply, server -> client: 8 bytes
//     0  u32 magic      "ADCA" (0x41434441)
//     4  u16 version    the server's version
//     6  u16 status     0 accepted, 1 token refused, 2 version not supported
//   After a refusal the server closes the connection. A first frame with another
//   magic, a longer token, or no complete hello within the handshake timeout is
//   closed without a reply.
//
//   request, client -> server: 24 bytes; one at a time per connection
//     0  u32 magic      "ADCQ" (0x51434441)
//     4  u32 kind       1 = fetch
//     8  u64 owner      the object_id
//     16 u64 seq
//   response, server -> client: 40 bytes, then the text, then the payload
//     0  u32 magic      "ADCR" (0x52434441)
//     4  u32 status     0 ok, 1 error
//     8  u64 owner      the object_id asked for, echoed
//     16 u64 seq
//     24 u32 text_len   at most 65536: the type name (ok) or the error text (error)
//     28 u32 reserved   0
//     32 u64 size       payload bytes; 0 for an error
//     40 the text, then the payload (the encoded value)
//
// An error response leaves the connection usable; anything else unexpected closes
// it. The client checks every header field before it reads what follows, and
// allocates the payload only once the size is within its limit.

#include "runtime/common/little_endian.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace actors::runtime::data_plane {

// The frames' constants, as the comment above gives them.
inline constexpr std::uint16_t protocol_version = 1;
inline constexpr std::uint32_t hello_magic = 0x48434441;    // "ADCH"
inline constexpr std::uint32_t accept_magic = 0x41434441;   // "ADCA"
inline constexpr std::uint32_t request_magic = 0x51434441;  // "ADCQ"
inline constexpr std::uint32_t response_magic = 0x52434441; // "ADCR"
inline constexpr std::size_t hello_size = 16;
inline constexpr std::size_t accept_size = 8;
inline constexpr std::size_t request_size = 24;
inline constexpr std::size_t response_size = 40;
inline constexpr std::uint32_t max_token = 4096;
inline constexpr std::uint32_t max_text = 65536;
inline constexpr std::uint16_t hello_ok = 0;
inline constexpr std::uint16_t hello_bad_token = 1;
inline constexpr std::uint16_t hello_bad_version = 2;
inline constexpr std::uint32_t kind_fetch = 1;
inline constexpr std::uint32_t status_ok = 0;
inline constexpr std::uint32_t status_error = 1;

} // namespace actors::runtime::data_plane
