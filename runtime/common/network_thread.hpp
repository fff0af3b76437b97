#pragma once

// Whether the calling thread is the node's network thread: CAF's middleman,
// which reads and writes every connection and sends the heartbeats, and on which
// the node endpoint handles what peers send (runtime/cluster/caf_transport.cpp).
// Work there must neither wait nor take long: peers take a node whose
// connections stay silent past the heartbeat timeout for dead. Parts that may
// take long when asked from there (writing spill files) hand the work to a
// thread of their own instead.

namespace actors::runtime {

/// True on the network thread; the node endpoint sets it.
inline thread_local bool on_network_thread = false;

} // namespace actors::runtime
