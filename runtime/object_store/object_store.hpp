#pragma once

#include "runtime/common/serial_executor.hpp"
#include "runtime/object_store/object_cell.hpp"
#include "runtime/object_store/shared_memory.hpp"

#include "actors/detail/failure.hpp"
#include "actors/ids.hpp"
#include "actors/serialization.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace actors::runtime {

using detail::object_cell;

/// Values whose encoding is at least this large are shared through a segment
/// (object_store::share): a segment costs the same fixed handful of system calls
/// whatever its size (create, reserve, map, seal, and the reader's open and map),
/// which only large values repay by not being copied through a socket.
inline constexpr std::size_t shared_memory_threshold = std::size_t{64} << 10;

/// A value in a sealed shared-memory segment of this node (object_store::share).
struct shared_copy {
  /// The segment's name, for open_shm_segment in a process of this host.
  std::string segment;
  /// The value's type (mangled).
  std::string type_name;
  /// The segment's size: the bytes of the value's encoding.
  std::size_t size = 0;
};

/// Figures the store reports.
struct object_store_stats {
  std::size_t objects = 0;
  std::size_t bytes_in_memory = 0;
  std::size_t bytes_limit = 0;
  std::size_t spilled_objects = 0;
  std::uint64_t spilled_bytes_total = 0;
  std::uint64_t restored_bytes_total = 0;
  /// Bytes of copies of other nodes' values dropped to make room (fill).
  std::uint64_t dropped_copy_bytes_total = 0;
  /// Values refused because the store was full and nothing could spill.
  std::uint64_t refused_total = 0;
  /// Spills the network thread handed to the spilling thread, which writes the
  /// files instead (runtime/common/network_thread.hpp).
  std::uint64_t spills_for_network_thread = 0;
};

/// Told when a cell whose object lives with another node is freed, so that the
/// other node can free its side. Called on the thread that drops the last
/// reference; must not block or throw.
class remote_release_listener {
 public:
  virtual ~remote_release_listener() = default;
  /// A cell whose value node `where.node` held for this node was freed.
  virtual void copy_released(const object_cell::remote_copy& where) noexcept = 0;
  /// The cell standing in here for object `id`, which another node owns, was
  /// freed: this node no longer borrows it.
  virtual void borrow_released(const object_id& id) noexcept = 0;
};

/// One node's objects: creates cells, accounts their bytes against a limit, spills
/// the oldest unused values to disk past it and restores them on `get`, finds
/// published objects by id, and frees a cell when its last reference goes.
/// Safe for concurrent use from any thread.
class object_store {
 public:
  /// `remote` (may be null: a node alone) hears of freed cells whose object lives
  /// with another node; it must outlive the store.
  object_store(node_id node, std::size_t byte_limit, std::filesystem::path spill_dir,
               remote_release_listener* remote = nullptr);
  ~object_store();

  object_store(const object_store&) = delete;
  object_store& operator=(const object_store&) = delete;

  /// A pending cell with one reference, for a result still to be made.
  object_cell* create_pending();

  /// A ready cell with one reference.
  object_cell* create_ready(detail::value_box value);

  /// A failed cell with one reference.
  object_cell* create_failed(detail::failure why);

  /// A failed cell with one reference standing for object `id` (one this node
  /// cannot find); it is not findable by id.
  object_cell* create_failed(const object_id& id, detail::failure why);

  /// Settles a pending cell with a value. False if it had settled already
  /// (cancelled): the value is dropped.
  ///
  /// A value that takes the store over its limit makes room by spilling older
  /// values; if that is not enough it goes to the spill directory itself. If
  /// neither works (the spill directory cannot take files, every value in memory
  /// is in use or has no encoding), the cell settles failed with
  /// errc::object_store_full instead, saying why; the value is dropped.
  bool settle(object_cell* cell, detail::value_box value);

  /// Settles a pending cell with a value encoded by another node; it is decoded
  /// on the first read. False if it had settled already. Refused like `settle`
  /// when no room can be made by spilling older values (bytes from another node
  /// do not go to disk themselves). Once stored, the bytes spill as they are,
  /// like a value, when room is needed.
  bool settle_encoded(object_cell* cell, std::string type_name, std::string bytes);

  /// Settles a pending cell with a value encoded into a sealed shared-memory
  /// segment that another node of this host holds (`mapping`, not null): it is
  /// decoded from the mapping on the first read, and read in place by get_span.
  /// False if it had settled already. The mapping is not counted against this
  /// store's limit (the node holding the segment counts it), so it is never
  /// refused; the value decoded from it on a read is counted.
  bool settle_shared(object_cell* cell, std::string type_name, std::shared_ptr<const shm_mapping> mapping);

  /// Settles a pending cell as ready with its value held by another node
  /// (`where`); a read needs the remote layer to fetch it first (held_elsewhere).
  bool settle_remote(object_cell* cell, detail::object_cell::remote_copy where);

  /// Replaces a ready cell's value by its encoding `bytes` (a value kept here for
  /// another node, which will fetch it as bytes).
  void keep_encoded(object_cell* cell, std::string bytes);

  /// Gives a cell whose value another node holds the value's bytes (the fetch
  /// finished). No effect if the cell has its value already.
  ///
  /// Such a copy counts against the limit and is never written to disk: when
  /// room is needed and nothing uses it, it is dropped (oldest first, with the
  /// values that spill), and a later read fetches it again. Returns a hold on
  /// what it filled (null if nothing): while it lives the copy is in use, so
  /// that the reader who waited for the fetch reads it before it can go.
  std::shared_ptr<const void> fill(object_cell* cell, std::string bytes);

  /// Like `fill`, with the value's bytes in a shared-memory segment of another
  /// node of this host (`mapping`, not null), as `settle_shared`. No effect if
  /// the cell has its value already. The mapping is not counted; the value
  /// decoded from it on a read is, as a copy that can be dropped.
  void fill_shared(object_cell* cell, std::shared_ptr<const shm_mapping> mapping);

  /// Like `fill`, with the value itself (received straight into its memory);
  /// the caller holds it (a copy of `value.value`) until read. False, and no
  /// effect, if it is not of the type the holder said the object has.
  bool fill_value(object_cell* cell, detail::value_box value);

  /// Puts the encoding of a ready value held here (in memory, as bytes, or
  /// spilled) into a sealed shared-memory segment of this node, so that another
  /// process of this host maps it and decodes it in place: no socket, no copy.
  /// Encodes once: later calls return the same segment, until the value spills
  /// (then its segment is unlinked; a later call makes a new one). The segment
  /// is unlinked when the cell is freed and when the store goes; mappings made of
  /// it stay valid. Its bytes count against the limit like a value's (room is
  /// made by spilling first), and a cell whose only copy is the segment is read
  /// from it here too.
  ///
  /// Nullopt if the encoding is smaller than shared_memory_threshold, if the cell
  /// is not ready or its value is held by another node, or (logged once per
  /// reason) if the value has no encoding, no room can be made, or the segment
  /// cannot be made (/dev/shm full): the caller then sends the bytes over the
  /// socket.
  std::optional<shared_copy> share(object_cell* cell);

  /// True while a ready cell's value is held by another node only: the remote
  /// layer fetches it (fill) before it can be read here. Throws actors::error if
  /// that value is not of type `want`.
  static bool held_elsewhere(object_cell* cell, const detail::type_ops* want);

  /// The cell of this node that holds the value of `cell`, which stands for it
  /// under another id (remote_copy::here); null for any other cell. Reads of
  /// `cell` go there.
  static object_cell* held_here(object_cell* cell);

  /// The retained cell standing in for an object owned by another node: the one
  /// already here, or a new pending one (then `created` is set and the caller
  /// fetches the value).
  object_cell* find_or_make_foreign(const object_id& id, bool& created);

  /// Settles a pending cell with a failure. False if it had settled already.
  bool settle(object_cell* cell, detail::failure why);

  /// The value of a ready cell as type `want`, restored from disk if spilled.
  /// Throws actors::error on a type mismatch or an unreadable spill file, and
  /// object_lost_error if another node holds the value (held_elsewhere).
  std::shared_ptr<const void> value(object_cell* cell, const detail::type_ops* want);

  /// The elements of the std::vector stored in a ready cell, as type `want`,
  /// without a copy (get_span): in the value if it is in memory; straight in
  /// the encoded bytes (a mapping or a string) if `layout` says the elements lie
  /// there raw and they are aligned for their type; otherwise in the value
  /// decoded (or restored) once, as `value` does. The run keeps what it points
  /// into and a count on the cell. Throws what `value` throws.
  detail::element_run elements(object_cell* cell, const detail::type_ops* want, const detail::vector_layout& layout);

  /// Makes the cell findable by its id.
  void publish(object_cell* cell);

  /// The retained cell with this id, or null if it is unknown or freed.
  object_cell* find(const object_id& id);

  /// Called by release() when the last reference went: forgets the cell.
  void forget(object_cell* cell) noexcept;

  object_store_stats stats() const;

  /// One row per object this store can name: id, bytes, where (memory, spilled,
  /// remote, pending), type. At most `limit` rows.
  std::vector<std::vector<std::string>> describe(std::size_t limit) const;

  const std::filesystem::path& spill_dir() const noexcept {
    return spill_dir_;
  }

  /// Tells this store's cells from those of an earlier store at the same address.
  std::uint64_t epoch() const noexcept {
    return epoch_;
  }

 private:
  void account(object_cell* cell);
  /// Decodes the cell's encoded bytes as `want` into its value and drops them;
  /// `newly_counted` is set to the bytes to count if they were not counted
  /// before (another node's mapping). The cell's mutex is held.
  std::shared_ptr<const void> decode_encoded(object_cell* cell, const detail::type_ops* want,
                                             std::size_t& newly_counted);
  /// Throws type_mismatch unless the cell's encoded bytes are a `want`. The
  /// cell's mutex is held.
  static void check_encoded_type(const object_cell* cell, const detail::type_ops* want);
  /// Reads a spilled value back as `want` and removes its file; its pins go to
  /// `old_pins`, for the caller to release after the cell's mutex. The cell's
  /// mutex is held.
  std::shared_ptr<const void> restore_spilled(object_cell* cell, const detail::type_ops* want,
                                              std::vector<object_cell*>& old_pins);
  /// Spills the oldest spillable values until `incoming` more bytes fit under
  /// the limit. False if it could not get there; `spill_problem_` says why.
  bool spill_until_fits(std::size_t incoming);
  /// Spills until the store is under its limit: here, or, on the network
  /// thread (runtime/common/network_thread.hpp), on the spilling thread.
  void spill_over_limit();
  /// Writes a value to the spill directory, or drops a copy (droppable_copy).
  bool spill(object_cell* cell);
  /// A copy of a value another node holds, read here (fill): it is dropped,
  /// never written. Call with `c.mu` held.
  static bool is_copy(const object_cell& c);
  /// A copy (is_copy) that nothing here uses: it can go. Call with `c.mu` held.
  static bool droppable_copy(const object_cell& c);
  /// Writes `bytes` to the spill file of object `id`, all or nothing. The path,
  /// or empty with `problem` saying why (a partly written file is removed).
  /// Removes the spill files this store wrote (named after its node) that are
  /// still in its spill directory: those of objects referenced at shutdown.
  void remove_own_spill_files() noexcept;
  std::string write_spill_file(const object_id& id, std::string_view bytes, std::string& problem);
  /// Spills until `bytes` more fit under the limit; false if they cannot.
  bool room_for(std::size_t bytes);
  /// Logs why share() gave nothing, the first time for each `reason` (a bit).
  void share_refused(unsigned reason, const std::string& why);
  /// A value about to settle, which make_room may write to disk itself when no
  /// older value can spill: one made here (encoded then), or an encoding as it
  /// came from another node (written as it is if its type is known here).
  struct new_value {
    const detail::value_box* value = nullptr;
    const std::string* encoding = nullptr;
    std::string_view encoding_type;
  };
  /// Room for a new value of `bytes` bytes: spills older values, or writes
  /// `incoming` to disk in `cell`. Empty if the value may settle (and
  /// `spilled_path` is set if it went to disk), otherwise the text of the
  /// object_store_full failure.
  std::string make_room(object_cell* cell, std::size_t bytes, const new_value& incoming,
                        std::string& spilled_path, std::vector<object_cell*>& pins);
  /// The end of settling `cell` with a value of `bytes` bytes, in memory or
  /// (`on_disk`) in a spill file: counts it and runs `waiters`.
  void settled(object_cell* cell, std::size_t bytes, bool on_disk, std::vector<std::function<void()>> waiters);
  /// The text of a refusal (and counts it).
  std::string full_message(std::size_t incoming, const std::string& problem);
  void lru_push(object_cell* cell);
  void lru_remove(object_cell* cell);

  const node_id node_;
  remote_release_listener* const remote_;
  const std::uint64_t epoch_;
  const std::size_t limit_;
  const std::filesystem::path spill_dir_;
  std::atomic<std::uint64_t> next_seq_{1};

  // Guards the LRU list, the byte counters and the id table.
  mutable std::mutex mu_;
  object_cell* lru_head_ = nullptr;
  object_cell* lru_tail_ = nullptr;
  // Written under mu_; read without it as the hint that keeps puts far under
  // the limit on the one-lock path.
  std::atomic<std::size_t> bytes_in_memory_{0};
  // Cells alive; counted without mu_, since a cell's creation takes no other lock.
  std::atomic<std::size_t> objects_{0};
  std::size_t spilled_objects_ = 0;
  std::uint64_t spilled_bytes_total_ = 0;
  std::uint64_t restored_bytes_total_ = 0;
  std::uint64_t dropped_copy_bytes_total_ = 0;
  std::uint64_t refused_total_ = 0;
  bool warned_over_limit_ = false;
  // Why the last attempt to spill could not make room.
  std::string spill_problem_;
  std::unordered_map<object_id, object_cell*> published_;
  // The reasons share() logged already (bits).
  unsigned share_refusals_logged_ = 0;
  // This node's shared-memory segments (share). Built with the store, which
  // removes those that dead processes of the host left; unlinks the remaining
  // ones when the store goes.
  shm_registry shm_;
  // Serialises spilling so two threads do not pick the same victims.
  std::mutex spill_mu_;
  // Spills for the network thread, which writes no files (spill_over_limit);
  // set while a spill waits there.
  serial_executor spiller_;
  std::atomic<bool> spill_queued_{false};
  std::atomic<std::uint64_t> spills_for_network_thread_{0};
};

/// While one lives on a thread, the object_refs encoded on that thread are collected
/// (each retained), so that the objects they name can be kept alive as long as the
/// bytes that name them.
class reference_collector {
 public:
  reference_collector();
  ~reference_collector();
  reference_collector(const reference_collector&) = delete;
  reference_collector& operator=(const reference_collector&) = delete;
  /// The objects named so far; the caller takes over their counts.
  std::vector<detail::object_cell*> take();

 private:
  std::vector<detail::object_cell*> cells_;
  std::vector<detail::object_cell*>* outer_;
};

} // namespace actors::runtime
