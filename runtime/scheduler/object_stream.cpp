#include "runtime/scheduler/object_stream.hpp"

#include "runtime/common/log.hpp"
#include "runtime/scheduler/scheduler.hpp"

#include "actors/errors.hpp"
#include "actors/serialization.hpp"

#include <algorithm>
#include <string>
#include <tuple>

namespace actors::detail {

object_stream::object_stream(runtime::object_store& store, object_id id, std::uint64_t max_buffered,
                             std::shared_ptr<runtime::stream_acks> acks)
  : store_(store),
    id_(id),
    max_buffered_(max_buffered),
    ack_every_(std::max<std::uint64_t>(1, max_buffered / 2)),
    acks_(std::move(acks)) {}

object_stream::~object_stream() {
  for (auto* c : items_)
    release(c);
  if (result_)
    release(result_);
}

void object_stream::deliver(std::uint64_t index, value_box item) {
  add(index, store_.create_ready(std::move(item)), node_id{});
}

void object_stream::add(std::uint64_t index, object_cell* item, const node_id& producer) {
  std::unique_lock<std::mutex> lock{mu_};
  producer_ = producer;
  const bool remote = producer.value != 0;
  // A run again (after its node died) starts over at 0: it hears at once how far
  // the stream got, so that its window of items in flight covers the repeats.
  bool ack = remote && !closed_ && index < next_seen_;
  next_seen_ = index + 1;
  const bool fresh = !closed_ && index == received_;
  if (fresh) {
    ++received_;
    items_.push_back(item);
    ack = ack || (remote && received_ >= received_acked_ + runtime::stream_items_in_flight / 4);
  }
  const auto expected = received_;
  const auto read = read_;
  if (ack) {
    received_acked_ = received_;
    acked_ = read_;
  }
  const bool closed = closed_;
  // A producer not heard from when it closed learns it at its first item.
  const bool tell_closed = closed && remote && told_closed_ != producer;
  if (tell_closed)
    told_closed_ = producer;
  lock.unlock();
  if (fresh)
    changed_.notify_all();
  else
    release(item); // closed, or an item already received
  if (!fresh && !closed && index > expected)
    runtime::log(runtime::log_level::warning, "streams", "item ", index, " of stream ", id_.to_string(),
                 " came before item ", expected, ": dropped (the stream will end as lost)");
  if (ack)
    send_ack(producer, read, expected);
  else if (tell_closed)
    send_ack(producer, 0, 0, true);
}

bool object_stream::wanted() {
  std::lock_guard<std::mutex> guard{mu_};
  return !closed_;
}

bool object_stream::has_room(std::uint64_t made) {
  std::lock_guard<std::mutex> guard{mu_};
  return max_buffered_ == 0 || closed_ || made < read_ + max_buffered_;
}

void object_stream::when_room(std::uint64_t made, std::function<void()> go_on) {
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (max_buffered_ != 0 && !closed_ && made >= read_ + max_buffered_) {
      room_waiters_.emplace_back(made, std::move(go_on));
      return;
    }
  }
  go_on();
}

std::vector<std::function<void()>> object_stream::room_made_locked() {
  std::vector<std::function<void()>> go;
  for (auto i = room_waiters_.begin(); i != room_waiters_.end();) {
    if (closed_ || i->first < read_ + max_buffered_) {
      go.push_back(std::move(i->second));
      i = room_waiters_.erase(i);
    } else {
      ++i;
    }
  }
  return go;
}

void object_stream::send_ack(const node_id& producer, std::uint64_t read, std::uint64_t received, bool closed) {
  std::lock_guard<std::mutex> guard{acks_->mu};
  if (acks_->send)
    acks_->send(producer, id_, read, received, closed);
}

void object_stream::watch(object_cell* result, std::function<void()> cancel) {
  {
    std::lock_guard<std::mutex> guard{mu_};
    result_ = result;
    cancel_ = std::move(cancel);
  }
  result->on_settled([self = weak_from_this(), result] {
    if (auto s = self.lock())
      s->ended(result);
  });
}

void object_stream::ended(object_cell* result) {
  std::optional<failure> why;
  std::uint64_t made = 0;
  if (result->current() == object_cell::state::failed) {
    why = *result->why;
  } else {
    try {
      made = *static_cast<const std::uint64_t*>(store_.value(result, ops_of<std::uint64_t>()).get());
    } catch (const std::exception& e) {
      why = failure{errc::object_lost, "the end of stream " + id_.to_string() + " cannot be read: " + e.what(), {}, {}};
    }
  }
  {
    std::lock_guard<std::mutex> guard{mu_};
    ended_ = true;
    made_ = made;
    failure_ = std::move(why);
    cancel_ = nullptr;
  }
  changed_.notify_all();
}

object_cell* object_stream::next(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock{mu_};
  std::optional<runtime::blocking_scope> blocked;
  if (!readable_locked()) {
    if (timeout.count() == 0)
      throw timeout_error("no item of stream " + id_.to_string() + " is ready");
    // Not under the lock: a pool thread's CPUs go back to the scheduler.
    lock.unlock();
    blocked.emplace();
    lock.lock();
    auto readable = [this] { return readable_locked(); };
    if (timeout.count() < 0)
      changed_.wait(lock, readable);
    else if (!changed_.wait_for(lock, timeout, readable))
      throw timeout_error("no item of stream " + id_.to_string() + " came within " + std::to_string(timeout.count())
                          + " ms (" + std::to_string(read_)
                          + " read so far): wait longer, or check that the generator can run and goes on");
  }
  if (!items_.empty()) {
    auto* c = items_.front();
    items_.pop_front();
    ++read_;
    auto go = room_made_locked();
    std::optional<std::tuple<node_id, std::uint64_t, std::uint64_t>> ack;
    if (max_buffered_ && producer_.value && read_ - acked_ >= ack_every_) {
      acked_ = read_;
      received_acked_ = received_;
      ack.emplace(producer_, read_, received_);
    }
    lock.unlock();
    for (auto& f : go)
      f();
    if (ack)
      send_ack(std::get<0>(*ack), std::get<1>(*ack), std::get<2>(*ack));
    return c;
  }
  if (closed_)
    throw task_cancelled_error("stream " + id_.to_string() + " was cancelled: its generator was stopped and "
                               "its unread items dropped");
  if (failure_) {
    auto why = *failure_;
    lock.unlock();
    raise(why);
  }
  if (received_ < made_) {
    auto what = "the generator of stream " + id_.to_string() + " made " + std::to_string(made_) + " items, but only "
                + std::to_string(received_) + " reached this node";
    lock.unlock();
    throw object_lost_error(what);
  }
  return nullptr;
}

void object_stream::close() noexcept {
  std::deque<object_cell*> unread;
  std::function<void()> cancel;
  std::vector<std::function<void()>> waiters;
  node_id producer;
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (closed_)
      return;
    closed_ = true;
    if (!ended_) {
      producer = producer_;
      told_closed_ = producer_;
    }
    unread.swap(items_);
    cancel = std::move(cancel_);
    for (auto& [made, go] : room_waiters_)
      waiters.push_back(std::move(go));
    room_waiters_.clear();
  }
  changed_.notify_all();
  // Cancelled first, so that a producer woken here sees it and stops.
  if (cancel) {
    try {
      cancel();
    } catch (const std::exception& e) {
      runtime::log(runtime::log_level::warning, "streams", "stream ", id_.to_string(),
                   " was dropped, but its generator could not be cancelled: ", e.what());
    }
  }
  for (auto& go : waiters)
    go();
  // A producer on another node that has not ended hears it at once (one that
  // sent nothing yet hears it at its first item).
  if (producer.value)
    send_ack(producer, 0, 0, true);
  for (auto* c : unread)
    release(c);
}

} // namespace actors::detail

namespace actors::runtime {

void producer_pause::set(std::function<void()> wake) {
  std::lock_guard<std::mutex> guard{mu_};
  wake_ = std::move(wake);
}

void producer_pause::fire() {
  std::function<void()> wake;
  {
    std::lock_guard<std::mutex> guard{mu_};
    wake.swap(wake_);
  }
  if (wake)
    wake();
}

object_streams::object_streams(node_id node, object_store& store) : node_(node), store_(store) {}

object_streams::~object_streams() {
  set_ack_sender({});
}

std::shared_ptr<detail::object_stream> object_streams::open(std::uint64_t max_buffered) {
  const object_id id{node_.value, next_seq_.fetch_add(1, std::memory_order_relaxed)};
  auto core = std::make_shared<detail::object_stream>(store_, id, max_buffered, acks_);
  {
    std::lock_guard<std::mutex> guard{table_->mu};
    table_->streams[id] = core;
  }
  // The caller's handle: its last copy closes the stream and forgets it here.
  return std::shared_ptr<detail::object_stream>(
    core.get(), [core, table = std::weak_ptr<object_streams::table>(table_)](detail::object_stream*) {
      if (auto t = table.lock()) {
        std::lock_guard<std::mutex> guard{t->mu};
        t->streams.erase(core->id());
      }
      core->close();
    });
}

std::shared_ptr<detail::object_stream> object_streams::find(const object_id& id) const {
  std::lock_guard<std::mutex> guard{table_->mu};
  auto i = table_->streams.find(id);
  return i == table_->streams.end() ? nullptr : i->second.lock();
}

void object_streams::tell_closed(const node_id& producer, const object_id& id) {
  std::lock_guard<std::mutex> guard{acks_->mu};
  if (acks_->send)
    acks_->send(producer, id, 0, 0, true);
}

void object_streams::set_ack_sender(ack_sender send) {
  std::lock_guard<std::mutex> guard{acks_->mu};
  acks_->send = std::move(send);
}

std::size_t object_streams::size() const {
  std::lock_guard<std::mutex> guard{table_->mu};
  return table_->streams.size();
}

} // namespace actors::runtime
