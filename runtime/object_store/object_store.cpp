#include "runtime/object_store/object_store.hpp"

#include "runtime/common/log.hpp"
#include "runtime/common/network_thread.hpp"
#include "runtime/common/task_memory.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <sstream>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace actors::runtime {

namespace {

// The stores cells may still report to: cells outlive a store that was shut down
// while user code held references, and must not touch it then. A process runs
// one node, so one store, but tests of the remote layer run several in one
// process; a store beyond these slots frees its cells without telling it.
constexpr std::size_t live_store_slots = 16;
std::atomic<object_store*> live_stores[live_store_slots];
std::atomic<std::uint64_t> store_epochs{0};

// A large value of a shared-memory segment copied out of it straight into the
// value's own memory (receive_in_place, shm_mapping::copy_out) rather than
// decoded through the mapping; null where the type or the bytes do not allow it,
// and the caller decodes as usual.
std::shared_ptr<const void> copy_out_of_segment(const shm_mapping& segment, const detail::type_ops* want) {
  if (segment.size() < detail::huge_buffer_bytes || !want->receive_in_place)
    return nullptr;
  auto into = want->receive_in_place(segment.size());
  if (!into)
    return nullptr;
  std::string_view head(reinterpret_cast<const char*>(segment.data()), into->head_size);
  char* body = into->grow(into->value.get(), into->body_size, into->body_size);
  if (!into->head_matches(into->value.get(), head, into->body_size)
      || !segment.copy_out(into->head_size, body, into->body_size))
    return nullptr;
  return into->value;
}

// True if `cell` was made by a store that runs now.
bool is_live(const object_cell* cell) {
  for (auto& slot : live_stores)
    if (auto* s = slot.load(std::memory_order_acquire); s && s == cell->store)
      return cell->epoch == s->epoch();
  return false;
}

// While a value is encoded for spilling, the object_refs inside it land here so
// that the objects they name stay alive as long as the bytes do.
thread_local std::vector<object_cell*>* pin_collector = nullptr;

bool same_type(const detail::type_ops* a, const detail::type_ops* b) {
  return a == b || std::strcmp(a->name, b->name) == 0;
}

[[noreturn]] void throw_mismatch(const object_cell* cell, const detail::type_ops* stored,
                                 const detail::type_ops* want) {
  throw error(errc::type_mismatch,
              "object " + cell->id.to_string() + " holds a " + detail::demangle(stored->name)
                + ", but it was read as a " + detail::demangle(want->name)
                + ": use an object_ref of the type the task returns or put stored");
}

} // namespace

object_store::object_store(node_id node, std::size_t byte_limit, std::filesystem::path spill_dir,
                           remote_release_listener* remote)
  : node_(node), remote_(remote), epoch_(++store_epochs), limit_(byte_limit), spill_dir_(std::move(spill_dir)),
    shm_(node) {
  for (auto& slot : live_stores) {
    object_store* none = nullptr;
    if (slot.compare_exchange_strong(none, this))
      break;
  }
}

object_store::~object_store() {
  spiller_.stop();
  remove_own_spill_files();
  for (auto& slot : live_stores) {
    object_store* self = this;
    if (slot.compare_exchange_strong(self, nullptr))
      break;
  }
  std::lock_guard<std::mutex> guard{mu_};
  for (auto* c = lru_head_; c;) {
    auto* next = c->lru_next;
    c->in_lru = false;
    c->lru_prev = c->lru_next = nullptr;
    c = next;
  }
  lru_head_ = lru_tail_ = nullptr;
  published_.clear();
}

object_cell* object_store::create_pending() {
  objects_.fetch_add(1, std::memory_order_relaxed);
  auto* cell = new object_cell(this, object_id{node_.value, next_seq_.fetch_add(1, std::memory_order_relaxed)});
  cell->epoch = epoch_;
  return cell;
}

object_cell* object_store::create_ready(detail::value_box value) {
  auto* cell = create_pending();
  settle(cell, std::move(value));
  return cell;
}

object_cell* object_store::create_failed(detail::failure why) {
  auto* cell = create_pending();
  settle(cell, std::move(why));
  return cell;
}

object_cell* object_store::create_failed(const object_id& id, detail::failure why) {
  objects_.fetch_add(1, std::memory_order_relaxed);
  auto* cell = new object_cell(this, id);
  cell->epoch = epoch_;
  settle(cell, std::move(why));
  return cell;
}

bool object_store::settle(object_cell* cell, detail::value_box value) {
  auto bytes = value.ops->byte_size(value.value.get());
  std::string spilled_path;
  std::vector<object_cell*> pins;
  // Far under the limit this is one relaxed load; the lock comes in account().
  if (bytes_in_memory_.load(std::memory_order_relaxed) + bytes > limit_) {
    if (cell->current() != object_cell::state::pending)
      return false;
    auto refusal = make_room(cell, bytes, new_value{&value, nullptr, {}}, spilled_path, pins);
    if (!refusal.empty())
      return settle(cell, detail::failure{errc::object_store_full, std::move(refusal), {}, {}});
  }
  const bool on_disk = !spilled_path.empty();
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard<std::mutex> guard{cell->mu};
    if (cell->current() != object_cell::state::pending) {
      if (on_disk) {
        ::unlink(spilled_path.c_str());
        for (auto* p : pins)
          detail::release(p);
      }
      return false;
    }
    cell->bytes = bytes;
    if (on_disk) {
      cell->spilled.reset(new object_cell::spill_record{std::move(spilled_path), value.ops, std::move(pins)});
    } else {
      cell->value = std::move(value);
    }
    cell->state_.store(object_cell::state::ready, std::memory_order_release);
    waiters.swap(cell->waiters);
  }
  settled(cell, bytes, on_disk, std::move(waiters));
  return true;
}

void object_store::settled(object_cell* cell, std::size_t bytes, bool on_disk,
                           std::vector<std::function<void()>> waiters) {
  if (on_disk) {
    std::lock_guard<std::mutex> guard{mu_};
    ++spilled_objects_;
    spilled_bytes_total_ += bytes;
  } else {
    account(cell);
  }
  for (auto& w : waiters)
    w();
}

bool object_store::settle_encoded(object_cell* cell, std::string type_name, std::string bytes) {
  std::string spilled_path;
  std::vector<object_cell*> pins; // none: an encoding from elsewhere is written as it is
  if (bytes_in_memory_.load(std::memory_order_relaxed) + bytes.size() > limit_) {
    if (cell->current() != object_cell::state::pending)
      return false;
    auto refusal = make_room(cell, bytes.size(), new_value{nullptr, &bytes, type_name}, spilled_path, pins);
    if (!refusal.empty())
      return settle(cell, detail::failure{errc::object_store_full, std::move(refusal), {}, {}});
  }
  const bool on_disk = !spilled_path.empty();
  const std::size_t size = bytes.size();
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard<std::mutex> guard{cell->mu};
    if (cell->current() != object_cell::state::pending) {
      if (on_disk)
        ::unlink(spilled_path.c_str());
      return false;
    }
    cell->bytes = size;
    if (on_disk)
      cell->spilled.reset(
        new object_cell::spill_record{std::move(spilled_path), detail::type_ops_named(type_name), {}});
    else
      cell->encoded.reset(new object_cell::encoded_value{std::move(type_name), std::move(bytes), nullptr});
    cell->state_.store(object_cell::state::ready, std::memory_order_release);
    waiters.swap(cell->waiters);
  }
  settled(cell, size, on_disk, std::move(waiters));
  return true;
}

bool object_store::settle_remote(object_cell* cell, detail::object_cell::remote_copy where) {
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard<std::mutex> guard{cell->mu};
    if (cell->current() != object_cell::state::pending)
      return false;
    cell->remote = std::make_unique<detail::object_cell::remote_copy>(std::move(where));
    cell->state_.store(object_cell::state::ready, std::memory_order_release);
    waiters.swap(cell->waiters);
  }
  for (auto& w : waiters)
    w();
  return true;
}

void object_store::keep_encoded(object_cell* cell, std::string bytes) {
  std::size_t before = 0;
  std::size_t after = 0;
  std::size_t segment_extra = 0;
  {
    std::lock_guard<std::mutex> guard{cell->mu};
    if (!cell->value.value)
      return;
    if (cell->shared) {
      // The segment holds this encoding already: it becomes the only copy.
      auto& seg = *cell->shared;
      cell->encoded = std::make_shared<object_cell::encoded_value>(
        object_cell::encoded_value{seg.type_name, {}, seg.mapping});
      seg.ops = cell->value.ops;
      segment_extra = std::exchange(seg.extra, 0);
    } else {
      cell->encoded.reset(new object_cell::encoded_value{cell->value.ops->name, std::move(bytes), nullptr});
    }
    cell->value = {};
    before = cell->bytes;
    after = cell->bytes = cell->encoded->view().size();
  }
  std::lock_guard<std::mutex> guard{mu_};
  bytes_in_memory_ -= segment_extra;
  if (cell->in_lru) {
    bytes_in_memory_ -= before;
    bytes_in_memory_ += after;
  }
}

std::shared_ptr<const void> object_store::fill(object_cell* cell, std::string bytes) {
  std::shared_ptr<const void> hold;
  {
    std::lock_guard<std::mutex> guard{cell->mu};
    if (cell->value.value || cell->encoded || !cell->remote)
      return nullptr;
    cell->encoded.reset(new object_cell::encoded_value{cell->remote->type_name, std::move(bytes), nullptr});
    cell->bytes = cell->encoded->view().size();
    hold = cell->encoded;
  }
  account(cell);
  return hold;
}

bool object_store::fill_value(object_cell* cell, detail::value_box value) {
  {
    std::lock_guard<std::mutex> guard{cell->mu};
    if (cell->value.value || cell->encoded || !cell->remote)
      return true;
    if (cell->remote->type_name != value.ops->name)
      return false;
    cell->value = std::move(value);
    cell->bytes = cell->value.ops->byte_size(cell->value.value.get());
  }
  account(cell);
  return true;
}

object_cell* object_store::find_or_make_foreign(const object_id& id, bool& created) {
  created = false;
  if (auto* c = find(id))
    return c;
  std::lock_guard<std::mutex> guard{mu_};
  auto i = published_.find(id);
  if (i != published_.end()) {
    auto n = i->second->refs.load(std::memory_order_relaxed);
    while (n > 0)
      if (i->second->refs.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel))
        return i->second;
    published_.erase(i); // on its way out; stand a new cell in its place
  }
  auto* c = new object_cell(this, id);
  c->epoch = epoch_;
  c->published = true;
  ++objects_;
  published_.emplace(id, c);
  created = true;
  return c;
}

bool object_store::settle(object_cell* cell, detail::failure why) {
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard<std::mutex> guard{cell->mu};
    if (cell->current() != object_cell::state::pending)
      return false;
    cell->why = std::make_unique<detail::failure>(std::move(why));
    cell->state_.store(object_cell::state::failed, std::memory_order_release);
    waiters.swap(cell->waiters);
  }
  for (auto& w : waiters)
    w();
  return true;
}

void object_store::account(object_cell* cell) {
  bool over = false;
  {
    std::lock_guard<std::mutex> guard{mu_};
    bytes_in_memory_ += cell->bytes;
    lru_push(cell);
    over = bytes_in_memory_ > limit_;
  }
  if (over)
    spill_over_limit();
}

void object_store::spill_over_limit() {
  if (!on_network_thread) {
    spill_until_fits(0);
    return;
  }
  if (spill_queued_.exchange(true))
    return; // the spill waiting there sees this value too
  spills_for_network_thread_.fetch_add(1, std::memory_order_relaxed);
  if (!spiller_.post([this] {
        spill_queued_.store(false);
        spill_until_fits(0);
      }))
    spill_queued_.store(false);
}

std::shared_ptr<const void> object_store::value(object_cell* cell, const detail::type_ops* want) {
  if (auto* here = held_here(cell))
    return value(here, want);
  if (held_elsewhere(cell, want))
    throw object_lost_error("object " + cell->id.to_string() + " is held by node "
                            + cell->remote->node.to_string() + ", which this node cannot reach");
  std::vector<object_cell*> old_pins;
  std::shared_ptr<const void> out;
  bool restored = false;
  std::size_t newly_counted = 0;
  {
    std::lock_guard<std::mutex> guard{cell->mu};
    if (cell->value.value) {
      if (!same_type(cell->value.ops, want))
        throw_mismatch(cell, cell->value.ops, want);
      return cell->value.value;
    }
    if (cell->encoded) {
      out = decode_encoded(cell, want, newly_counted);
    } else {
      out = restore_spilled(cell, want, old_pins);
      restored = true;
    }
  }
  if (!restored) {
    if (newly_counted > 0) {
      bool over = false;
      {
        std::lock_guard<std::mutex> guard{mu_};
        // A value decoded from another node's segment spills (or, a copy
        // fetched for a read, is dropped) like any other; next to this node's
        // own segment, it is counted on top of it.
        if (!cell->shared)
          lru_push(cell);
        else if (!cell->in_lru)
          cell->counted = true;
        bytes_in_memory_ += newly_counted;
        over = bytes_in_memory_ > limit_;
      }
      if (over)
        spill_over_limit();
    }
    return out;
  }
  for (auto* p : old_pins)
    detail::release(p);
  {
    std::lock_guard<std::mutex> guard{mu_};
    --spilled_objects_;
    restored_bytes_total_ += cell->bytes;
  }
  account(cell);
  return out;
}

std::shared_ptr<const void> object_store::decode_encoded(object_cell* cell, const detail::type_ops* want,
                                                         std::size_t& newly_counted) {
  check_encoded_type(cell, want);
  auto bytes = cell->encoded->view();
  try {
    if (cell->encoded->mapping)
      cell->value.value = copy_out_of_segment(*cell->encoded->mapping, want);
    if (!cell->value.value)
      cell->value.value = want->decode(bytes.data(), bytes.size());
  } catch (const std::exception& e) {
    throw error(errc::serialization_failed, "object " + cell->id.to_string()
                                              + " arrived from another node but cannot be decoded as a "
                                              + detail::demangle(want->name) + ": " + e.what());
  }
  cell->value.ops = want;
  const bool was_mapped = cell->encoded->mapping != nullptr;
  cell->encoded.reset();
  if (was_mapped && cell->shared) {
    // This node's own segment, which was the only copy and counted as `bytes`:
    // it stays, counted on top of the value now in memory too.
    cell->shared->extra = std::exchange(cell->bytes, want->byte_size(cell->value.value.get()));
    newly_counted = cell->bytes;
  } else if (was_mapped) {
    // Another node's segment, not counted here; the value decoded from it is
    // this node's, and counts (outside the LRU list, like other values from
    // other nodes).
    cell->bytes = want->byte_size(cell->value.value.get());
    newly_counted = cell->bytes;
  }
  return cell->value.value;
}

void object_store::check_encoded_type(const object_cell* cell, const detail::type_ops* want) {
  if (cell->encoded->type_name != want->name)
    throw error(errc::type_mismatch,
                "object " + cell->id.to_string() + " holds a " + detail::demangle(cell->encoded->type_name.c_str())
                  + ", but it was read as a " + detail::demangle(want->name)
                  + ": use an object_ref of the type the task returns or put stored");
}

std::shared_ptr<const void> object_store::restore_spilled(object_cell* cell, const detail::type_ops* want,
                                                          std::vector<object_cell*>& old_pins) {
  if (!same_type(cell->spilled->ops, want))
    throw_mismatch(cell, cell->spilled->ops, want);
  std::ifstream in(cell->spilled->path, std::ios::binary);
  std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (!in.good() && !in.eof())
    throw object_lost_error("object " + cell->id.to_string() + " was spilled to " + cell->spilled->path
                            + " but cannot be read back: check that the spill directory was not removed or "
                              "filled");
  try {
    cell->value.value = want->decode(bytes.data(), bytes.size());
  } catch (const std::exception& e) {
    throw object_lost_error("object " + cell->id.to_string() + " spilled to " + cell->spilled->path
                            + " is corrupt (" + e.what() + ")");
  }
  cell->value.ops = want;
  std::error_code ec;
  std::filesystem::remove(cell->spilled->path, ec);
  old_pins.swap(cell->spilled->pins);
  cell->spilled.reset();
  return cell->value.value;
}

reference_collector::reference_collector() : outer_(pin_collector) {
  pin_collector = &cells_;
}

reference_collector::~reference_collector() {
  pin_collector = outer_;
  for (auto* c : cells_)
    detail::release(c);
}

std::vector<detail::object_cell*> reference_collector::take() {
  return std::move(cells_);
}

object_cell* object_store::held_here(object_cell* cell) {
  std::lock_guard<std::mutex> guard{cell->mu};
  return cell->remote ? cell->remote->here : nullptr;
}

bool object_store::held_elsewhere(object_cell* cell, const detail::type_ops* want) {
  std::lock_guard<std::mutex> guard{cell->mu};
  if (cell->value.value || cell->encoded || cell->spilled || !cell->remote || cell->remote->here)
    return false;
  if (cell->remote->type_name != want->name)
    throw error(errc::type_mismatch,
                "object " + cell->id.to_string() + " holds a " + detail::demangle(cell->remote->type_name.c_str())
                  + ", but it was read as a " + detail::demangle(want->name)
                  + ": use an object_ref of the type the task returns or put stored");
  return true;
}

void object_store::publish(object_cell* cell) {
  std::lock_guard<std::mutex> guard{mu_};
  if (cell->published)
    return;
  cell->published = true;
  published_.emplace(cell->id, cell);
}

object_cell* object_store::find(const object_id& id) {
  std::lock_guard<std::mutex> guard{mu_};
  auto i = published_.find(id);
  if (i == published_.end())
    return nullptr;
  // The cell may be on its way out (refs reached 0, forget not yet run).
  auto n = i->second->refs.load(std::memory_order_relaxed);
  while (n > 0) {
    if (i->second->refs.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel))
      return i->second;
  }
  return nullptr;
}

void object_store::forget(object_cell* cell) noexcept {
  if (cell->remote && cell->remote->here)
    detail::release(cell->remote->here);
  else if (remote_ && cell->remote)
    remote_->copy_released(*cell->remote);
  if (remote_ && cell->id.owner != node_.value)
    remote_->borrow_released(cell->id);
  std::string spill_path;
  std::string segment;
  {
    std::lock_guard<std::mutex> guard{mu_};
    --objects_;
    if (cell->in_lru) {
      lru_remove(cell);
      bytes_in_memory_ -= cell->bytes;
    } else if (cell->counted) {
      bytes_in_memory_ -= cell->bytes;
    }
    if (cell->shared) {
      bytes_in_memory_ -= cell->shared->extra;
      segment = cell->shared->mapping->name();
    }
    if (cell->published) {
      auto i = published_.find(cell->id);
      if (i != published_.end() && i->second == cell)
        published_.erase(i);
    }
    if (cell->spilled) {
      --spilled_objects_;
      spill_path = cell->spilled->path;
    }
  }
  if (!spill_path.empty()) {
    std::error_code ec;
    std::filesystem::remove(spill_path, ec);
  }
  if (!segment.empty())
    shm_.remove(segment);
}

std::vector<std::vector<std::string>> object_store::describe(std::size_t limit) const {
  std::vector<std::vector<std::string>> rows;
  auto row = [&](object_cell* c) {
    std::unique_lock<std::mutex> lock{c->mu, std::try_to_lock};
    if (!lock.owns_lock())
      return;
    std::string where;
    std::string type;
    if (c->current() == object_cell::state::pending) {
      where = "PENDING";
    } else if (c->current() == object_cell::state::failed) {
      where = "FAILED";
    } else if (c->value.value) {
      where = "MEMORY";
      type = c->value.ops->name;
    } else if (c->encoded) {
      where = "MEMORY";
      type = c->encoded->type_name;
    } else if (c->spilled) {
      where = "SPILLED";
      type = c->spilled->ops->name;
    } else if (c->remote) {
      where = "REMOTE " + c->remote->node.to_string();
      type = c->remote->type_name;
    }
    rows.push_back({c->id.to_string(), std::to_string(c->remote ? c->remote->size : c->bytes), where,
                    type.empty() ? "" : detail::demangle(type.c_str())});
  };
  std::lock_guard<std::mutex> guard{mu_};
  for (auto* c = lru_head_; c && rows.size() < limit; c = c->lru_next)
    row(c);
  for (const auto& [id, c] : published_)
    if (!c->in_lru && rows.size() < limit)
      row(c);
  return rows;
}

object_store_stats object_store::stats() const {
  std::lock_guard<std::mutex> guard{mu_};
  object_store_stats s;
  s.objects = objects_.load(std::memory_order_relaxed);
  s.bytes_in_memory = bytes_in_memory_.load();
  s.bytes_limit = limit_;
  s.spilled_objects = spilled_objects_;
  s.spilled_bytes_total = spilled_bytes_total_;
  s.restored_bytes_total = restored_bytes_total_;
  s.dropped_copy_bytes_total = dropped_copy_bytes_total_;
  s.refused_total = refused_total_;
  s.spills_for_network_thread = spills_for_network_thread_.load(std::memory_order_relaxed);
  return s;
}

void object_store::lru_push(object_cell* cell) {
  if (cell->in_lru)
    return;
  cell->in_lru = true;
  cell->lru_prev = lru_tail_;
  cell->lru_next = nullptr;
  if (lru_tail_)
    lru_tail_->lru_next = cell;
  else
    lru_head_ = cell;
  lru_tail_ = cell;
}

void object_store::lru_remove(object_cell* cell) {
  if (!cell->in_lru)
    return;
  if (cell->lru_prev)
    cell->lru_prev->lru_next = cell->lru_next;
  else
    lru_head_ = cell->lru_next;
  if (cell->lru_next)
    cell->lru_next->lru_prev = cell->lru_prev;
  else
    lru_tail_ = cell->lru_prev;
  cell->lru_prev = cell->lru_next = nullptr;
  cell->in_lru = false;
}

} // namespace actors::runtime

namespace actors::detail {

void when_settled(object_cell* cell, std::function<void()> then) {
  cell->on_settled(std::move(then));
}

bool is_settled(const object_cell* cell) noexcept {
  return cell->current() != object_cell::state::pending;
}

void object_cell::on_settled(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> guard{mu};
    if (current() == state::pending) {
      waiters.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

void retain(object_cell* cell) noexcept {
  cell->refs.fetch_add(1, std::memory_order_relaxed);
}

void release(object_cell* cell) noexcept {
  if (cell->refs.fetch_sub(1, std::memory_order_acq_rel) != 1)
    return;
  // Freeing may tell other nodes (a message), inside a task past its memory
  // limit too: this noexcept path must not be refused.
  runtime::task_memory_exempt exempt;
  if (runtime::is_live(cell))
    cell->store->forget(cell);
  std::vector<object_cell*> pins;
  if (cell->spilled)
    pins.swap(cell->spilled->pins);
  if (cell->shared)
    pins.insert(pins.end(), cell->shared->pins.begin(), cell->shared->pins.end());
  delete cell;
  for (auto* p : pins)
    release(p);
}

object_id id_of(const object_cell* cell) noexcept {
  return cell->id;
}

void note_serialized(object_cell* cell) noexcept {
  if (runtime::is_live(cell))
    cell->store->publish(cell);
  if (runtime::pin_collector) {
    retain(cell);
    runtime::pin_collector->push_back(cell);
  }
}

} // namespace actors::detail
