#pragma once

#include "runtime/cluster/local_parts.hpp"
#include "runtime/cluster/object_directory.hpp"
#include "runtime/cluster/transport.hpp"
#include "runtime/scheduler/object_stream.hpp"
#include "runtime/wire/protocol.hpp"

#include "actors/detail/runtime.hpp"
#include "actors/ids.hpp"

#include <memory>
#include <mutex>
#include <unordered_map>

namespace actors::runtime {

/// Carries the items of generators between nodes. On the node running a
/// generator another node owns: a sink that sends each item to the owner as it
/// is yielded (the way the task came, so before its result) and tells the
/// generator when the owner has read enough of them (max_buffered). On the
/// owner: each item as it arrives, made an object of the owner's and given to its
/// stream; and the acks of what the caller read, sent to the producer. Safe for
/// concurrent use.
class task_streams {
 public:
  task_streams(local_parts local, transport& links, object_directory& objects);
  ~task_streams();

  task_streams(const task_streams&) = delete;
  task_streams& operator=(const task_streams&) = delete;

  /// Where the items of the generator (a task or an actor call) of stream
  /// `stream`, which its owner sent here, go: to the owner, the way the call came
  /// (`from`). Known here, for the owner's acks, while the generator holds it.
  std::shared_ptr<item_sink> sink_for(const object_id& stream, std::uint64_t max_buffered,
                                      const return_address& from);

  /// An item of a stream this node owns; one of a stream its caller dropped is
  /// let go.
  void serve_item(wire::stream_item item);

  /// The owner read items of a generator running here, or dropped its stream.
  void serve_ack(const wire::stream_ack& ack);

  /// Sends no more acks, and lets the generators waiting for one go on (they
  /// stop with their node).
  void stop();

 private:
  class remote_items;
  struct table {
    std::mutex mu;
    std::unordered_map<object_id, std::weak_ptr<remote_items>> sinks;
  };

  const local_parts local_;
  transport& links_;
  object_directory& objects_;
  // Shared with the sinks, which may outlive this.
  std::shared_ptr<table> table_ = std::make_shared<table>();
};

} // namespace actors::runtime
