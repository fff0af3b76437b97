#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace actors::runtime {

/// Where a process's ports listen, and the host the other processes of its
/// cluster dial to reach them.
struct node_addresses {
  /// The interface the ports listen on (may be a wildcard such as 0.0.0.0).
  std::string bind;
  /// The host others dial: never a wildcard.
  std::string advertise;
};

/// Chooses a process's addresses from its flags (empty: not given).
///
/// - `bind` not given: a process joining a head at a non-loopback address listens
///   on its own address on the route to that head; any other process on 127.0.0.1.
/// - `advertise` not given: the bind address, unless that is a wildcard; then the
///   address on the route to the head (joining), or this host's first non-loopback
///   address (a head).
///
/// `head_address` is the head's HOST:PORT for a process that joins one, empty for a
/// head or an embedded node. Throws actors::error saying what to set when no usable
/// address can be found or a wildcard is given to advertise.
node_addresses choose_addresses(const std::string& head_address, const std::string& bind,
                                const std::string& advertise);

/// True for 0.0.0.0, ::, [::] and the empty string: addresses one listens on, never
/// one dials.
bool is_wildcard(const std::string& host);

/// True for localhost, 127.0.0.0/8 and ::1.
bool is_loopback(const std::string& host);

/// This host's address on the route to `host` (a name or an address), or an empty
/// string if there is no route or the name does not resolve. Sends nothing.
std::string address_toward(const std::string& host);

/// The host and port of a HOST:PORT. Throws actors::error naming a malformed one.
std::pair<std::string, std::uint16_t> split_address(const std::string& address);

} // namespace actors::runtime
