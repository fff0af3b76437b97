#pragma once

#include "runtime/object_store/shared_memory.hpp"

#include "actors/detail/failure.hpp"
#include "actors/detail/runtime.hpp"
#include "actors/ids.hpp"
#include "actors/serialization.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace actors::runtime {
class object_store;
}

namespace actors::detail {

/// What it takes to make a value again if the node holding it dies (the task that
/// made it, with its arguments). The remote layer keeps it with the cell that
/// points at the value, so it goes when that cell goes.
class lineage {
 public:
  virtual ~lineage() = default;
};

/// An object's slot in its node's object store: pending until the task that makes it
/// settles it, then ready (a value, in memory or spilled) or failed (a failure).
/// `refs` counts the object_refs and runtime holders; the last release frees it.
///
/// Thread-safety: `refs` and `state_` are atomic; every other field is guarded by
/// `mu`, except the LRU hooks, which the store's own mutex guards.
class object_cell {
 public:
  enum class state : std::uint8_t { pending, ready, failed };

  object_cell(runtime::object_store* store, object_id id) : store(store), id(id) {}

  state current() const noexcept {
    return state_.load(std::memory_order_acquire);
  }

  /// Runs `fn` once the cell settles, or at once (on this thread) if it has.
  void on_settled(std::function<void()> fn);

  runtime::object_store* const store;
  /// Which store, of those that lived at `store`'s address, made this cell.
  std::uint64_t epoch = 0;
  const object_id id;
  std::atomic<std::uint32_t> refs{1};

  std::mutex mu;
  /// The value while in memory (null while spilled).
  value_box value;
  /// The value as bytes, when it came from another node and nobody read it yet;
  /// decoded on the first read, by the reader's type. Null otherwise. Shared so
  /// that a zero-copy read (get_span) keeps the bytes it points into.
  struct encoded_value {
    std::string type_name;
    /// The bytes, unless `mapping` is set.
    std::string bytes;
    /// When set, the bytes are this mapping's (a shared-memory segment of a node
    /// of this host) and `bytes` is empty.
    std::shared_ptr<const runtime::shm_mapping> mapping;

    /// The bytes, wherever they are.
    std::string_view view() const noexcept {
      if (mapping)
        return {reinterpret_cast<const char*>(mapping->data()), mapping->size()};
      return bytes;
    }
  };
  std::shared_ptr<encoded_value> encoded;
  /// Where the value is when another node holds it (a large result that stayed
  /// where it was made): fetched from there on the first read.
  struct remote_copy {
    node_id node;
    object_id id;
    std::string type_name;
    std::uint64_t size = 0;
    /// How to make the value again if `node` dies; null if it cannot be.
    std::shared_ptr<lineage> made_by;
    /// When `node` is this node: the cell holding the value here (retained),
    /// which reads go to. The value is not shared between the two cells, so it
    /// is counted once and spills while nothing reads it.
    object_cell* here = nullptr;
  };
  std::unique_ptr<remote_copy> remote;
  /// The value on disk: where, its type, and the objects named inside it, which
  /// stay alive while it is there. Null while the value is not spilled.
  /// (The rarely used parts of a cell are behind pointers: a queued task's pending
  /// result cell is most of what it costs in memory.)
  struct spill_record {
    std::string path;
    const type_ops* ops = nullptr;
    std::vector<object_cell*> pins;
  };
  std::unique_ptr<spill_record> spilled;
  /// This node's sealed shared-memory segment holding the value's encoding
  /// (object_store::share), which other processes of the host map and read.
  /// Unlinked when the cell is freed or its value spills. Null while not shared.
  struct shared_segment {
    std::shared_ptr<const runtime::shm_mapping> mapping;
    std::string type_name;
    /// The value's type, to spill the segment's bytes as it; null when only its
    /// name is known (an encoding from another node), and then it does not spill.
    const type_ops* ops = nullptr;
    /// The objects named inside the encoding, alive while the segment is.
    std::vector<object_cell*> pins;
    /// The segment's bytes counted on top of `bytes`: its size while the value
    /// is in memory too; 0 while the segment is the only copy (`encoded` maps
    /// it, and `bytes` is its size).
    std::size_t extra = 0;
  };
  std::unique_ptr<shared_segment> shared;
  /// Weight of the value as accounted by the store.
  std::size_t bytes = 0;
  /// `bytes` is counted in the store's total outside the LRU list: a value
  /// that could not be encoded (or whose type this node does not know) and so
  /// cannot spill, or a value decoded next to this node's own segment.
  bool counted = false;
  std::unique_ptr<failure> why;
  std::vector<std::function<void()>> waiters;
  /// The object was given out by id (serialized) and is in the store's id table.
  bool published = false;

  // LRU hooks for spilling; guarded by the store.
  object_cell* lru_prev = nullptr;
  object_cell* lru_next = nullptr;
  bool in_lru = false;

 private:
  friend class runtime::object_store;
  std::atomic<state> state_{state::pending};
};

} // namespace actors::detail
