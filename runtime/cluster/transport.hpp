#pragma once

/// How the remote layer reaches other nodes, kept apart from the parts that use
/// it so that they can be tested in one process with a fake (tests/support/).

#include "runtime/wire/protocol.hpp"

#include "actors/ids.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace actors::runtime {

/// What a message between node endpoints carries. Its payload is the wire type
/// named (runtime/wire/protocol.hpp).
enum class message_kind : std::uint8_t {
  /// wire::task_request; answered with a wire::result.
  task = 1,
  // 2 was the upload of large arguments: they are fetched from their owner now.
  /// wire::actor_call; answered with a wire::result.
  actor_call = 3,
  /// wire::result: the answer to a task, an actor call, a fetch or a bundle.
  result = 4,
  /// wire::fetch_request; answered with a wire::result.
  fetch = 5,
  /// wire::release_request: the requester dropped a value held here for it.
  release = 6,
  /// wire::borrow_notice: the sender starts or stops borrowing an object.
  borrow = 7,
  /// wire::actor_ref: the creator dropped its last handle to an actor hosted here.
  drop_actor = 8,
  /// wire::bundle_request; answered with a wire::result.
  bundle_reserve = 9,
  /// wire::bundle_ref: give a placement group's bundle back.
  bundle_remove = 10,
  /// wire::task_batch: several task requests; each answered with a wire::result.
  task_batch = 11,
  /// wire::result_batch: several results to one node, in the order they were sent.
  result_batch = 12,
  /// wire::output_lines: what tasks printed on the sender, for a driver.
  task_output = 13,
  /// wire::cancel_request: the owner cancelled a task it sent here.
  cancel_task = 14,
  /// wire::stream_item: an item of a generator the receiver owns.
  stream_item = 15,
  /// wire::stream_ack: the owner read items of a generator running here.
  stream_ack = 16,
  /// wire::stream_item_batch: several stream items, in the order they were made.
  stream_item_batch = 17,
  /// wire::actor_borrow: the sender starts or stops holding handles to an actor
  /// the receiver created.
  actor_borrow = 18,
};

/// Requests whose sender waits for the answer (a wire::request_answer).
enum class request_kind : std::uint8_t {
  /// wire::actor_create_request.
  create_actor = 1,
  /// wire::kill_request.
  kill_actor = 2,
  /// wire::actor_ref, asked of the actor's creator; answered with wire::actor_location.
  locate_actor = 3,
  /// An empty payload; answered with an ok wire::request_answer by a node that
  /// serves (a driver that gave up on the head checks its peers with it).
  ping = 4,
};

/// The way back to the endpoint a message came from. Opaque to the parts of the
/// remote layer: each transport keeps its own handle in it.
class return_address {
 public:
  return_address() = default;
  explicit return_address(std::shared_ptr<const void> handle) : handle_(std::move(handle)) {}

  const void* handle() const noexcept {
    return handle_.get();
  }

  explicit operator bool() const noexcept {
    return handle_ != nullptr;
  }

 private:
  std::shared_ptr<const void> handle_;
};

/// Messages and payload bytes exchanged with other nodes.
struct traffic_counts {
  std::uint64_t messages_sent = 0;
  std::uint64_t messages_received = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  /// Of the messages, those that went over message lanes (runtime/cluster/message_lane.hpp).
  std::uint64_t lane_messages_sent = 0;
  std::uint64_t lane_messages_received = 0;
};

/// How this node's remote layer sends to other nodes' endpoints. Sends are
/// one-way and keep their order per destination. Safe for concurrent use.
class transport {
 public:
  virtual ~transport() = default;

  /// Sends to the endpoint of node `to`. A node that no node table has listed
  /// yet (this node heard of it from another first) gets it once a table does;
  /// if none does in time, endpoint_events::on_peer_unlisted. False if it cannot
  /// go (the node is dead, or this transport stopped): then nothing was sent.
  virtual bool send(const node_id& to, message_kind kind, std::string payload) = 0;

  /// Answers the endpoint a message came from.
  virtual void reply(const return_address& to, message_kind kind, std::string payload) = 0;

  /// Asks node `to` and waits at most `timeout` for its answer's payload; nullopt
  /// with `why` set if it cannot be reached or does not answer in time.
  virtual std::optional<std::string> request(const node_id& to, request_kind kind, std::string payload,
                                             std::chrono::milliseconds timeout, std::string& why) = 0;

  /// Whether an endpoint is known for node `id`. (A restarted head lists the
  /// nodes it knew before they have joined it again; they have none until then.)
  virtual bool reaches(const node_id& id) const = 0;

  /// Forgets node `id`'s endpoint: it died. Later sends to it return false.
  virtual void forget(const node_id& id) = 0;

  virtual traffic_counts traffic() const {
    return {};
  }
};

/// Where a transport hands what arrives from other nodes: the remote layer's
/// router, which decodes each payload and gives it to the part that owns it.
class message_handler {
 public:
  virtual ~message_handler() = default;
  virtual void on_message(message_kind kind, const std::string& payload, const return_address& from) = 0;
  /// The answer's payload (a wire::request_answer).
  virtual std::string on_request(request_kind kind, const std::string& payload) = 0;
};

/// What a node endpoint hands to the remote layer besides messages from peers:
/// the control plane.
class endpoint_events {
 public:
  virtual ~endpoint_events() = default;
  /// A node table from the head (decoded; malformed ones are logged and dropped).
  virtual void on_view(wire::cluster_view view) = 0;
  /// The connection to node `id`'s endpoint closed.
  virtual void on_peer_down(const node_id& id) = 0;
  /// Messages waited for a node table that lists node `id`, and none came in
  /// time: they were dropped.
  virtual void on_peer_unlisted(const node_id& id) = 0;
  /// The connection to the head's control store closed.
  virtual void on_head_down() = 0;
  /// Every 100 ms: time to report this node's resources.
  virtual void on_tick() = 0;
  /// `actors stop` or the head asked this node to stop (token checked).
  virtual void on_stop_request() = 0;
  /// This node's rows for `actors list ...` (token checked).
  virtual wire::state_table on_state_query(const std::string& what) = 0;
};

} // namespace actors::runtime
