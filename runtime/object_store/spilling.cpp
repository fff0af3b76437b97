// Spilling: the object store's values written to files in its spill directory
// when it is over its byte limit (oldest first), and new values (made here or
// come from another node) that no room can be made for. Reading a spilled value back is object_store::value.

#include "runtime/object_store/object_store.hpp"

#include "runtime/common/free_memory.hpp"
#include "runtime/common/log.hpp"
#include "runtime/common/network_thread.hpp"

#include <cerrno>
#include <fcntl.h>
#include <string_view>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace actors::runtime {

std::string object_store::make_room(object_cell* cell, std::size_t bytes, const new_value& incoming,
                                    std::string& spilled_path, std::vector<object_cell*>& pins) {
  std::string problem;
  // The network thread does not wait for the disk: a value that fits under the
  // limit comes in over it, and the spilling thread makes room behind it
  // (account, spill_over_limit). Only up to twice the limit: past that the
  // spilling thread is not keeping up, and room is made here, as elsewhere.
  if (on_network_thread && bytes <= limit_ && bytes_in_memory_.load(std::memory_order_relaxed) + bytes <= 2 * limit_)
    return {};
  // A value larger than the whole limit cannot fit however much spills.
  if (bytes > limit_)
    problem = "the value alone is larger than the limit";
  else if (spill_until_fits(bytes))
    return {};
  else {
    std::lock_guard<std::mutex> guard{mu_};
    problem = spill_problem_;
  }
  // Older values could not make room: the new value itself may go to disk.
  std::string encoded;
  std::string_view to_write;
  if (const auto* value = incoming.value) {
    if (!value->ops->encode)
      return full_message(bytes, problem + "; the new value, a " + detail::demangle(value->ops->name)
                                   + ", has no encoding, so it cannot go to disk either");
    try {
      reference_collector collect;
      encoded = value->ops->encode(value->value.get());
      pins = collect.take();
    } catch (const std::exception& e) {
      return full_message(bytes, problem + "; the new value cannot be encoded to go to disk: " + e.what());
    }
    to_write = encoded;
  } else if (incoming.encoding) {
    // Read back from disk, it is decoded as its type: one this node must know.
    if (!detail::type_ops_named(incoming.encoding_type))
      return full_message(bytes, problem + "; the new value, a "
                                   + detail::demangle(std::string(incoming.encoding_type).c_str())
                                   + ", is of a type this node does not know, so it cannot go to disk either");
    to_write = *incoming.encoding;
  } else {
    return full_message(bytes, problem);
  }
  std::string write_problem;
  spilled_path = write_spill_file(cell->id, to_write, write_problem);
  if (!spilled_path.empty())
    return {};
  for (auto* p : pins)
    detail::release(p);
  pins.clear();
  if (write_problem != problem)
    problem += "; writing the new value: " + write_problem;
  return full_message(bytes, problem);
}

std::string object_store::full_message(std::size_t incoming, const std::string& problem) {
  {
    std::lock_guard<std::mutex> guard{mu_};
    ++refused_total_;
  }
  return "the object store of node " + node_.to_string() + " is full: it holds "
         + std::to_string(bytes_in_memory_.load(std::memory_order_relaxed))
         + " bytes in memory against its limit of " + std::to_string(limit_)
         + " bytes (--object-store-bytes) and cannot take a value of " + std::to_string(incoming)
         + " bytes, because nothing could be spilled (" + problem
         + "). Raise --object-store-bytes, free objects by dropping their object_refs, "
           "or give the spill directory room";
}

namespace {

// A spill file is `<node id>.<object id>.obj`: named by its node too, since
// nodes may share a spill directory and a node spills values it got from others
// under their ids.
constexpr std::string_view spill_suffix = ".obj";

std::string spill_prefix(const node_id& node) {
  return node.to_string() + ".";
}

} // namespace

void object_store::remove_own_spill_files() noexcept {
  // Objects still referenced when the store goes keep their files until here; in
  // a directory the node made, the node removes it all anyway, but a directory
  // given with --spill-dir stays, and so would they, run after run.
  try {
    const std::string prefix = spill_prefix(node_);
    std::error_code ec;
    std::size_t removed = 0;
    for (std::filesystem::directory_iterator it(spill_dir_, ec), end; !ec && it != end; it.increment(ec)) {
      const auto name = it->path().filename().string();
      if (name.size() > prefix.size() + spill_suffix.size() && name.starts_with(prefix)
          && name.ends_with(spill_suffix)) {
        std::error_code gone;
        if (std::filesystem::remove(it->path(), gone))
          ++removed;
      }
    }
    if (removed > 0)
      log(log_level::info, "object_store", "removed ", removed, " spill file", removed == 1 ? "" : "s",
          " of objects still referenced at shutdown from ", spill_dir_.string());
  } catch (const std::exception&) {
    // Out of memory at shutdown: the files stay, as they did before.
  }
}

std::string object_store::write_spill_file(const object_id& id, std::string_view bytes, std::string& problem) {
  auto path = (spill_dir_ / (spill_prefix(node_) + id.to_string() + std::string(spill_suffix))).string();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    problem = "spill directory " + spill_dir_.string() + ": " + std::system_category().message(errno);
    return {};
  }
  int err = 0;
  const char* at = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    auto n = ::write(fd, at, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      err = n < 0 ? errno : ENOSPC;
      break;
    }
    at += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0 && err == 0)
    err = errno;
  if (err != 0) {
    // No partial objects: a file that did not take every byte goes.
    ::unlink(path.c_str());
    problem = "spill directory " + spill_dir_.string() + ": " + std::system_category().message(err);
    return {};
  }
  return path;
}

bool object_store::spill_until_fits(std::size_t incoming) {
  std::lock_guard<std::mutex> spilling{spill_mu_};
  bool spilled = false;
  for (;;) {
    object_cell* victim = nullptr;
    {
      std::lock_guard<std::mutex> guard{mu_};
      if (bytes_in_memory_ + incoming <= limit_)
        break;
      // Oldest first; skip values a running task or reader shares right now, and
      // types that have no encoding. A value whose only copy is this node's
      // segment spills from it. A copy of a value another node holds is
      // dropped instead (spill() below).
      for (auto* c = lru_head_; c; c = c->lru_next) {
        std::unique_lock<std::mutex> cell_lock{c->mu, std::try_to_lock};
        if (!cell_lock.owns_lock())
          continue;
        bool spillable = is_copy(*c) ? droppable_copy(*c)
                         : c->value.value ? c->value.value.use_count() == 1 && c->value.ops->encode
                         : c->shared      ? c->shared->ops && c->encoded
                                          : c->encoded && !c->encoded->mapping && c->encoded.use_count() == 1;
        if (spillable && c->refs.load(std::memory_order_relaxed) > 0) {
          victim = c;
          break;
        }
      }
      if (!victim) {
        spill_problem_ = "every value in memory is in use by a running task or reader, or has no encoding";
        if (incoming == 0 && !warned_over_limit_) {
          warned_over_limit_ = true;
          log(log_level::warning, "object_store", "holding ", bytes_in_memory_.load(),
              " bytes in memory, over the limit of ", limit_,
              ": every value is in use or has no encoding, so none can spill");
        }
        return false;
      }
      victim->refs.fetch_add(1, std::memory_order_relaxed);
      lru_remove(victim);
    }
    bool ok = spill(victim);
    detail::release(victim);
    if (!ok)
      return false;
    spilled = true;
  }
  // What spilled was written out to lower this process's memory: the allocator
  // gives its pages back rather than keeping them for reuse (not under mu_: it
  // walks the allocator's free pages).
  if (spilled)
    return_free_memory();
  return true;
}

bool object_store::is_copy(const object_cell& c) {
  // Read from another node (fill) and not shared from here: nothing on disk
  // or in a segment depends on it, and the holder has it still.
  return c.remote && !c.shared && !c.spilled;
}

bool object_store::droppable_copy(const object_cell& c) {
  return (c.value.value || c.encoded) && (!c.value.value || c.value.value.use_count() == 1)
         && (!c.encoded || c.encoded.use_count() == 1);
}

bool object_store::spill(object_cell* cell) {
  std::unique_lock<std::mutex> guard{cell->mu};
  if (!cell->value.value && !cell->shared && !cell->encoded)
    return true;
  if (is_copy(*cell)) {
    // A copy: it goes, and a read fetches it again (from cell->remote). A
    // reader holding the value keeps its own pointer meanwhile.
    cell->value = {};
    cell->encoded.reset();
    auto freed = std::exchange(cell->bytes, 0);
    guard.unlock();
    std::lock_guard<std::mutex> g{mu_};
    bytes_in_memory_ -= freed;
    dropped_copy_bytes_total_ += freed;
    return true;
  }
  std::vector<object_cell*> pins;
  std::string encoded;
  std::string_view bytes;
  const detail::type_ops* ops = nullptr;
  // A shared value's segment holds its encoding (and its pins) already; an
  // encoding from another node, not decoded here, goes to disk as it is.
  if (cell->shared) {
    bytes = {reinterpret_cast<const char*>(cell->shared->mapping->data()), cell->shared->mapping->size()};
    ops = cell->shared->ops;
  } else if (!cell->value.value) {
    ops = detail::type_ops_named(cell->encoded->type_name);
    if (!ops) {
      guard.unlock();
      std::lock_guard<std::mutex> g{mu_};
      cell->counted = true;
      spill_problem_ = "object " + cell->id.to_string() + " is a " + detail::demangle(cell->encoded->type_name.c_str())
                       + ", a type this node does not know";
      return false;
    }
    bytes = cell->encoded->view();
  } else {
    ops = cell->value.ops;
    try {
      reference_collector collect;
      encoded = cell->value.ops->encode(cell->value.value.get());
      bytes = encoded;
      pins = collect.take();
    } catch (const std::exception& e) {
      log(log_level::warning, "object_store", "cannot spill object ", cell->id.to_string(), ": ", e.what());
      // It stays in memory, counted outside the LRU list: it is not offered for
      // spilling again.
      guard.unlock();
      std::lock_guard<std::mutex> g{mu_};
      cell->counted = true;
      spill_problem_ = "object " + cell->id.to_string() + " cannot be encoded: " + e.what();
      return false;
    }
  }
  std::string problem;
  auto path = write_spill_file(cell->id, bytes, problem);
  if (path.empty()) {
    for (auto* p : pins)
      detail::release(p);
    guard.unlock();
    std::lock_guard<std::mutex> g{mu_};
    // One line per new reason, not one per put while the disk stays full.
    if (problem != spill_problem_)
      log(log_level::warning, "object_store", "cannot spill object ", cell->id.to_string(), " (",
          problem, "); it stays in memory");
    spill_problem_ = std::move(problem);
    lru_push(cell);
    return false;
  }
  auto bytes_freed = cell->bytes;
  std::string segment;
  if (cell->shared) {
    // The segment goes: readers that mapped it keep their mapping.
    pins = std::move(cell->shared->pins);
    bytes_freed += cell->shared->extra;
    segment = cell->shared->mapping->name();
    cell->shared.reset();
    cell->encoded.reset();
  }
  cell->spilled.reset(new object_cell::spill_record{std::move(path), ops, std::move(pins)});
  cell->value = {};
  cell->encoded.reset();
  auto weight = cell->bytes;
  guard.unlock();
  if (!segment.empty())
    shm_.remove(segment);
  std::lock_guard<std::mutex> g{mu_};
  bytes_in_memory_ -= bytes_freed;
  ++spilled_objects_;
  spilled_bytes_total_ += weight;
  return true;
}

} // namespace actors::runtime
