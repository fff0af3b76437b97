#include "runtime/cluster/task_streams.hpp"

#include "runtime/common/log.hpp"

#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace actors::runtime {

/// The sink of one generator running here for another node: each item becomes
/// an object of this node, answered to the owner like a task's result (inline if
/// small, else held here until the owner drops it).
class task_streams::remote_items final : public item_sink {
 public:
  remote_items(local_parts local, transport& links, object_directory& objects, object_id stream,
               std::uint64_t max_buffered, return_address to, std::weak_ptr<table> listed)
    : local_(local),
      links_(links),
      objects_(objects),
      owner_(node_id{stream.owner}),
      stream_(stream),
      max_buffered_(max_buffered),
      to_(std::move(to)),
      listed_(std::move(listed)) {}

  /// Leaves the table, unless a run again of the same generator here took its
  /// place there.
  ~remote_items() override {
    if (auto t = listed_.lock()) {
      std::lock_guard<std::mutex> guard{t->mu};
      auto i = t->sinks.find(stream_);
      if (i != t->sinks.end() && i->second.expired())
        t->sinks.erase(i);
    }
  }

  void deliver(std::uint64_t index, detail::value_box value) override {
    auto* cell = local_.store.create_ready(std::move(value));
    wire::stream_item item;
    item.stream = stream_;
    item.from = local_.id;
    item.index = index;
    item.item = objects_.result_for(cell, 0, owner_);
    detail::release(cell);
    links_.reply(to_, message_kind::stream_item, wire::pack(item));
  }

  bool has_room(std::uint64_t made) override {
    std::lock_guard<std::mutex> guard{mu_};
    return room_locked(made);
  }

  void when_room(std::uint64_t made, std::function<void()> go_on) override {
    {
      std::lock_guard<std::mutex> guard{mu_};
      if (!room_locked(made)) {
        waiters_.emplace_back(made, std::move(go_on));
        return;
      }
    }
    go_on();
  }

  bool wanted() override {
    std::lock_guard<std::mutex> guard{mu_};
    return !closed_;
  }

  /// The owner has read `read` items and received those before `received`
  /// (acks may come out of order), or dropped the stream.
  void acked(std::uint64_t read, std::uint64_t received, bool closed) {
    std::vector<std::function<void()>> go;
    {
      std::lock_guard<std::mutex> guard{mu_};
      read_ = std::max(read_, read);
      received_ = std::max(received_, received);
      closed_ = closed_ || closed;
      take_ready_locked(go);
    }
    for (auto& f : go)
      f();
  }

  /// Room for all from now on: the node stops.
  void open_up() {
    std::vector<std::function<void()>> go;
    {
      std::lock_guard<std::mutex> guard{mu_};
      unbounded_ = true;
      take_ready_locked(go);
    }
    for (auto& f : go)
      f();
  }

 private:
  bool room_locked(std::uint64_t made) const {
    if (unbounded_ || closed_)
      return true;
    return (max_buffered_ == 0 || made < read_ + max_buffered_) && made < received_ + stream_items_in_flight;
  }
  void take_ready_locked(std::vector<std::function<void()>>& go) {
    for (auto i = waiters_.begin(); i != waiters_.end();) {
      if (room_locked(i->first)) {
        go.push_back(std::move(i->second));
        i = waiters_.erase(i);
      } else {
        ++i;
      }
    }
  }

  const local_parts local_;
  transport& links_;
  object_directory& objects_;
  const node_id owner_;
  const object_id stream_;
  const std::uint64_t max_buffered_;
  const return_address to_;
  const std::weak_ptr<table> listed_;

  std::mutex mu_;
  std::uint64_t read_ = 0;
  std::uint64_t received_ = 0;
  bool unbounded_ = false;
  bool closed_ = false;
  std::vector<std::pair<std::uint64_t, std::function<void()>>> waiters_;
};

task_streams::task_streams(local_parts local, transport& links, object_directory& objects)
  : local_(local), links_(links), objects_(objects) {
  local_.streams.set_ack_sender(
    [this](const node_id& producer, const object_id& stream, std::uint64_t read, std::uint64_t received,
           bool closed) {
      links_.send(producer, message_kind::stream_ack, wire::pack(wire::stream_ack{stream, read, received, closed}));
    });
}

task_streams::~task_streams() {
  stop();
}

std::shared_ptr<item_sink> task_streams::sink_for(const object_id& stream, std::uint64_t max_buffered,
                                                  const return_address& from) {
  auto sink = std::make_shared<remote_items>(local_, links_, objects_, stream, max_buffered, from, table_);
  std::lock_guard<std::mutex> guard{table_->mu};
  table_->sinks[stream] = sink;
  return sink;
}

void task_streams::serve_item(wire::stream_item item) {
  auto stream = local_.streams.find(item.stream);
  auto* cell = local_.store.create_pending();
  // Made an object here even for a dropped stream: releasing it lets the
  // producer's node free a large item it holds for this node.
  settle_answered(local_.store, cell, std::move(item.item));
  if (!stream) {
    detail::release(cell);
    // Its caller dropped it before this producer was heard from: it stops.
    if (item.stream.owner == local_.id.value)
      local_.streams.tell_closed(item.from, item.stream);
    return;
  }
  stream->add(item.index, cell, item.from);
}

void task_streams::serve_ack(const wire::stream_ack& ack) {
  std::shared_ptr<remote_items> sink;
  {
    std::lock_guard<std::mutex> guard{table_->mu};
    auto i = table_->sinks.find(ack.stream);
    if (i != table_->sinks.end())
      sink = i->second.lock();
  }
  if (sink)
    sink->acked(ack.read, ack.received, ack.closed);
}

void task_streams::stop() {
  local_.streams.set_ack_sender({});
  std::vector<std::shared_ptr<remote_items>> sinks;
  {
    std::lock_guard<std::mutex> guard{table_->mu};
    for (auto& [id, weak] : table_->sinks)
      if (auto s = weak.lock())
        sinks.push_back(std::move(s));
    table_->sinks.clear();
  }
  for (auto& s : sinks)
    s->open_up();
}

} // namespace actors::runtime
