#pragma once

// The items of a generator task. The caller's node keeps one object_stream per
// generator it submitted: the items arrive there as objects the caller owns,
// in order, from a producer on this node (deliver) or on another one (add), and
// the caller reads them with next. The producer learns through an item_sink
// when the caller has max_buffered items unread, and waits until it reads some.

#include "runtime/object_store/object_store.hpp"

#include "actors/detail/failure.hpp"
#include "actors/ids.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

namespace actors::runtime {

/// Where a running generator's items go. Safe for concurrent use.
class item_sink {
 public:
  virtual ~item_sink() = default;
  /// Item `index` (each run of the task counts from 0; a run again after a
  /// failure yields the items already delivered once more, and they are skipped).
  virtual void deliver(std::uint64_t index, detail::value_box item) = 0;
  /// Whether a producer that made `made` items may make the next one now.
  virtual bool has_room(std::uint64_t made) = 0;
  /// Calls `go_on` once has_room(made) holds, or the items are no longer
  /// wanted (at once if either is so).
  virtual void when_room(std::uint64_t made, std::function<void()> go_on) = 0;
  /// False once the caller dropped the stream: the producer stops.
  virtual bool wanted() = 0;
};

/// Where a generator that waits for room is woken from: by the room, or by the
/// end of its call (a cancel), whichever comes first. Shared with the callbacks
/// of both, which may outlive the generator.
class producer_pause {
 public:
  /// What the next wake-up does.
  void set(std::function<void()> wake);
  /// Runs and clears what set() left, if anything.
  void fire();

 private:
  std::mutex mu_;
  std::function<void()> wake_;
};

/// Hands a running generator's item `index` to `items` (null: dropped) and says
/// whether the generator goes on at once. If it does not, `pause` calls `resume`
/// once `items` has room again (or the call ends and fires it).
template <class Resume>
bool hand_over(item_sink* items, const std::shared_ptr<producer_pause>& pause, std::uint64_t index,
               detail::value_box item, Resume resume) {
  if (!items)
    return true;
  items->deliver(index, std::move(item));
  if (items->has_room(index + 1))
    return true;
  pause->set(std::move(resume));
  items->when_room(index + 1, [pause] { pause->fire(); });
  return false;
}

/// Items a generator on another node may have sent that its caller's node has
/// not acknowledged: past that it waits, so that a fast generator never buries
/// the connection (and the heartbeats on it) under its items.
inline constexpr std::uint64_t stream_items_in_flight = 1024;

/// Tells a generator on another node how many of its items the caller has read
/// and how many reached its node (by index: the next index it waits for), or
/// that the caller dropped the stream (`closed`); the cluster sends it, and
/// nothing is sent when unset.
using ack_sender = std::function<void(const node_id& producer, const object_id& stream, std::uint64_t read,
                                      std::uint64_t received, bool closed)>;

/// The ack_sender of a node, shared with its streams, which may outlive it.
struct stream_acks {
  std::mutex mu;
  ack_sender send;
};

} // namespace actors::runtime

namespace actors::detail {

/// One generator's items as its caller receives them. Safe for concurrent use.
class object_stream final : public runtime::item_sink, public std::enable_shared_from_this<object_stream> {
 public:
  object_stream(runtime::object_store& store, object_id id, std::uint64_t max_buffered,
                std::shared_ptr<runtime::stream_acks> acks);
  /// Releases the items nobody read.
  ~object_stream() override;

  object_stream(const object_stream&) = delete;
  object_stream& operator=(const object_stream&) = delete;

  const object_id& id() const noexcept {
    return id_;
  }

  // -- the producer's side ---------------------------------------------------------------

  /// An item made on this node: stored as an object of this node.
  void deliver(std::uint64_t index, value_box item) override;
  /// An item made on node `producer` (another node), whose retained cell this
  /// takes over. An index already received is a run again's: dropped.
  void add(std::uint64_t index, object_cell* item, const node_id& producer);
  bool has_room(std::uint64_t made) override;
  void when_room(std::uint64_t made, std::function<void()> go_on) override;
  bool wanted() override;

  // -- the task ----------------------------------------------------------------------------

  /// Takes over one count of the generator task's `result`: when it settles,
  /// with the number of items made or the task's failure, the stream ends.
  /// `cancel` stops the task; close calls it if it has not ended.
  void watch(object_cell* result, std::function<void()> cancel);

  // -- the caller's side ---------------------------------------------------------------------

  /// The next item, retained for the caller, waiting at most `timeout` (-1 ms:
  /// forever); null after the last one. Throws the task's failure after the
  /// items made before it, timeout_error, and task_cancelled_error once closed.
  object_cell* next(std::chrono::milliseconds timeout);

  /// The caller dropped or cancelled the stream: cancels the task if it runs
  /// (and tells a producer on another node), and drops the items, those unread
  /// and those still to come; next() throws task_cancelled_error from then on.
  void close() noexcept;

 private:
  void ended(object_cell* result);
  bool readable_locked() const noexcept {
    return !items_.empty() || ended_ || closed_;
  }
  /// Takes the room waiters that may go on now.
  std::vector<std::function<void()>> room_made_locked();
  void send_ack(const node_id& producer, std::uint64_t read, std::uint64_t received, bool closed = false);

  runtime::object_store& store_;
  const object_id id_;
  const std::uint64_t max_buffered_;
  // Acks go out every this many reads (at least one per max_buffered).
  const std::uint64_t ack_every_;
  const std::shared_ptr<runtime::stream_acks> acks_;

  // Guards everything below.
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<object_cell*> items_;
  // Items received (the index the next new one has) and read.
  std::uint64_t received_ = 0;
  std::uint64_t read_ = 0;
  // What the last acks said: items read, and items received (by index).
  std::uint64_t acked_ = 0;
  std::uint64_t received_acked_ = 0;
  // The index after the last item that came: an index below it starts a run
  // again, whose producer must hear at once what came before.
  std::uint64_t next_seen_ = 0;
  // Where the last item came from (zero: this node), and the last producer told
  // that the stream closed (told once).
  node_id producer_;
  node_id told_closed_;
  // Producers on this node waiting for room: (items made, go on).
  std::vector<std::pair<std::uint64_t, std::function<void()>>> room_waiters_;
  object_cell* result_ = nullptr;
  std::function<void()> cancel_;
  bool ended_ = false;
  bool closed_ = false;
  std::uint64_t made_ = 0;
  std::optional<failure> failure_;
};

} // namespace actors::detail

namespace actors::runtime {

/// The streams of the generators this node submitted, by id, for their items to
/// find. Safe for concurrent use.
class object_streams {
 public:
  object_streams(node_id node, object_store& store);
  ~object_streams();

  object_streams(const object_streams&) = delete;
  object_streams& operator=(const object_streams&) = delete;

  /// A new stream for a generator about to be submitted: the caller's handle,
  /// whose last copy closes it (and forgets it here).
  std::shared_ptr<detail::object_stream> open(std::uint64_t max_buffered);

  /// The stream `id`, or null if its caller dropped it (or it is not this node's).
  std::shared_ptr<detail::object_stream> find(const object_id& id) const;

  /// Where acks to producers on other nodes go; empty stops them.
  void set_ack_sender(ack_sender send);
  /// Tells `producer` that the caller dropped stream `id` (an item of it came
  /// after that).
  void tell_closed(const node_id& producer, const object_id& id);

  /// Streams open now.
  std::size_t size() const;

 private:
  struct table {
    mutable std::mutex mu;
    std::unordered_map<object_id, std::weak_ptr<detail::object_stream>> streams;
  };

  const node_id node_;
  object_store& store_;
  std::atomic<std::uint64_t> next_seq_{1};
  // Shared with the handles, which may outlive this.
  std::shared_ptr<table> table_ = std::make_shared<table>();
  std::shared_ptr<stream_acks> acks_ = std::make_shared<stream_acks>();
};

} // namespace actors::runtime
