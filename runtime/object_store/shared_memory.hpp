#pragma once

// Large values in POSIX shared memory, so that another process of the same host
// maps and reads them without a socket. One value is one segment: a file under
// /dev/shm that its node creates, fills, seals (read-only from then on) and
// unlinks when the value is freed. Plain POSIX: no CAF, no Boost.
//
// The pieces, in the order a value goes through them:
//   shm_registry::create  -> shm_writer (writable, this process only)
//   shm_writer::seal      -> shm_mapping (read-only; the name may now be given out)
//   open_shm_segment      -> shm_mapping in any process of the same host_id()
//   shm_registry::remove  -> the name goes; mappings already made stay valid
// A node's segments are named after it (shm_name), so that the next process to
// start on the host removes those of a node that died (remove_orphaned_segments).

#include "actors/ids.hpp"
#include "runtime/common/process_identity.hpp"

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace actors::runtime {

/// Why a shared-memory operation failed.
struct shm_error {
  /// The errno value: EEXIST (create: the name is taken), ENOENT (open: the
  /// segment was freed or its node died), EAGAIN (open: not sealed yet), ENOSPC
  /// (create: /dev/shm is full), EINVAL (a bad name or size), or what the OS said.
  int code = 0;
  /// A sentence that names the segment and says what to do.
  std::string message;
};

/// A value or the shm_error that stopped it; the interface of caf::expected
/// (`if (r)`, `*r`, `r->`, `r.error()`) so that callers read the same.
template <class T>
class shm_expected {
 public:
  shm_expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  shm_expected(shm_error why) : v_(std::in_place_index<1>, std::move(why)) {}

  explicit operator bool() const noexcept {
    return v_.index() == 0;
  }
  /// The value; only when `*this`.
  T& operator*() & {
    return std::get<0>(v_);
  }
  const T& operator*() const& {
    return std::get<0>(v_);
  }
  T&& operator*() && {
    return std::get<0>(std::move(v_));
  }
  T* operator->() {
    return &std::get<0>(v_);
  }
  const T* operator->() const {
    return &std::get<0>(v_);
  }
  /// The error; only when `!*this`.
  const shm_error& error() const {
    return std::get<1>(v_);
  }

 private:
  std::variant<T, shm_error> v_;
};

/// The parts of a segment name:
/// `/actors.<pid ns>.<pid>.<start time>.<node id hex>.<seq>`, numbers in decimal
/// except the node id (16 hex digits, as node_id::to_string). The name says
/// whose the segment is, so that it can be removed when its owner is gone.
struct shm_name {
  process_identity owner;
  node_id node;
  std::uint64_t seq = 0;

  friend bool operator==(const shm_name&, const shm_name&) = default;

  /// The name as passed to shm_open, with its leading '/'.
  std::string to_string() const;
};

/// What every segment name of this project starts with (after the '/').
inline constexpr std::string_view shm_name_prefix = "actors.";

/// The parts of `name` (with or without its leading '/'), or nullopt if it is not
/// a complete segment name of this project.
std::optional<shm_name> parse_shm_name(std::string_view name);

/// A read-only mapping of a whole segment into this process (MAP_SHARED,
/// PROT_READ): the pages are the segment's own, nothing is copied. Move-only;
/// unmaps when it goes. The mapping stays valid after the segment is unlinked.
/// Not synchronised: one thread moves or destroys it; any may read through it.
class shm_mapping {
 public:
  shm_mapping() noexcept = default;
  ~shm_mapping();
  shm_mapping(shm_mapping&& other) noexcept;
  shm_mapping& operator=(shm_mapping&& other) noexcept;
  shm_mapping(const shm_mapping&) = delete;
  shm_mapping& operator=(const shm_mapping&) = delete;

  /// The first byte (page aligned), or null for an empty mapping.
  const std::byte* data() const noexcept {
    return data_;
  }
  std::size_t size() const noexcept {
    return size_;
  }
  /// The segment's name, as given to open or create.
  const std::string& name() const noexcept {
    return name_;
  }
  /// True unless default-constructed or moved from.
  explicit operator bool() const noexcept {
    return data_ != nullptr;
  }

  /// Copies the `n` bytes at `offset` of the segment to `out`; false, copying
  /// nothing, if that range is not inside it. While the segment still exists
  /// (the same file under its name) the copy is a pread of the file: the kernel
  /// reads the pages through its own mapping of memory, which is several times
  /// faster than a copy through this mapping's 4 KiB pages (145-160 ms against
  /// 45-50 ms for 256 MiB on a 2-core virtual machine, where every TLB miss
  /// walks two page tables). Once it is unlinked, through this mapping.
  bool copy_out(std::size_t offset, void* out, std::size_t n) const;

  /// The bytes from `offset` to the end as elements of T, without a copy (the
  /// zero-copy read of a std::vector<T> written as its elements). Nullopt if that
  /// range is not a whole number of suitably aligned T.
  template <class T>
  std::optional<std::span<const T>> as_span(std::size_t offset = 0) const noexcept {
    static_assert(std::is_trivially_copyable_v<T>, "only trivially copyable T can be read in place");
    if (offset > size_ || (size_ - offset) % sizeof(T) != 0
        || reinterpret_cast<std::uintptr_t>(data_ + offset) % alignof(T) != 0)
      return std::nullopt;
    return std::span<const T>(reinterpret_cast<const T*>(data_ + offset), (size_ - offset) / sizeof(T));
  }

 private:
  friend class shm_writer;
  friend shm_expected<shm_mapping> open_shm_segment(const std::string& name);
  shm_mapping(std::byte* data, std::size_t size, std::string name, dev_t device, ino_t inode) noexcept
    : data_(data), size_(size), name_(std::move(name)), device_(device), inode_(inode) {}

  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::string name_;
  // The segment's file, to tell it from a later file of the same name.
  dev_t device_ = 0;
  ino_t inode_ = 0;
};

class shm_registry;

/// A new segment, writable by the process that created it and nobody else's:
/// fill it (write, or through data()), then seal it. Move-only. Dropped
/// unsealed, it unmaps and the segment is removed (through its registry if it
/// has one, which it must not outlive). Not synchronised.
class shm_writer {
 public:
  shm_writer() noexcept = default;
  ~shm_writer();
  shm_writer(shm_writer&& other) noexcept;
  shm_writer& operator=(shm_writer&& other) noexcept;
  shm_writer(const shm_writer&) = delete;
  shm_writer& operator=(const shm_writer&) = delete;

  /// Copies `n` bytes from `bytes` into the segment at `offset`, with the write
  /// system call: into tmpfs that is about twice as fast as a copy through a
  /// writable mapping, whose pages the kernel must map one by one. An error if
  /// the range is not inside the segment or the write fails.
  std::optional<shm_error> write(std::size_t offset, const void* bytes, std::size_t n);

  /// The segment mapped writable (on the first call: every page is mapped then),
  /// for a value encoded in place; null if it cannot be mapped.
  std::byte* data() noexcept;
  std::size_t size() const noexcept {
    return size_;
  }
  const std::string& name() const noexcept {
    return name_;
  }

  /// Makes the segment read-only for good: the writable mapping, if data() made
  /// one, becomes PROT_READ (a write through it faults; the same pages are
  /// returned, with no remap and no copy), else the segment is mapped read-only;
  /// and the file mode becomes 0400 (nobody opens it writable, and
  /// open_shm_segment accepts it from now on). The writer is empty then. On
  /// failure the writer is unchanged.
  shm_expected<shm_mapping> seal();

 private:
  friend class shm_registry;
  friend shm_expected<shm_writer> create_shm_segment(const std::string& name, std::size_t size);
  shm_writer(std::size_t size, std::string name, int fd) noexcept : size_(size), name_(std::move(name)), fd_(fd) {}
  void reset() noexcept;

  // The writable mapping, once data() made it.
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::string name_;
  // Open from creation to the seal (which changes the file's mode through it):
  // the writer is live while it is.
  int fd_ = -1;
  shm_registry* registry_ = nullptr;
};

/// Creates segment `name` (a leading '/', no other) of `size` bytes, mode 0600,
/// with its memory reserved now (so that a full /dev/shm is ENOSPC here, never
/// SIGBUS on a later write), zero-filled. EEXIST if the name
/// is taken; EINVAL if `size` is 0. Safe to call from any thread.
shm_expected<shm_writer> create_shm_segment(const std::string& name, std::size_t size);

/// Maps sealed segment `name` read-only, whole. ENOENT, with a message naming the
/// segment and saying it was freed or its node died, if there is no such segment;
/// EAGAIN if it is not sealed yet. Cost: open, fstat and mmap; the pages are
/// mapped on first touch. Safe to call from any thread.
shm_expected<shm_mapping> open_shm_segment(const std::string& name);

/// Unlinks segment `name`: it cannot be opened any more, and its memory goes
/// when the last mapping does. ENOENT if there is no such segment.
std::optional<shm_error> unlink_shm_segment(const std::string& name);

/// Unlinks every segment of this project under /dev/shm whose owner process is
/// gone: no /proc/PID, or a process there that started at another time. Leaves
/// alone names without this project's prefix or that do not parse, segments of
/// live processes, and those of another pid namespace (whose pids cannot be
/// checked from here). Returns how many it removed, and logs them. One readdir
/// of /dev/shm when there is nothing to remove. Safe to call from any thread and
/// from several processes at once.
std::size_t remove_orphaned_segments();

/// Identity of the shared memory this process can reach: equal for two processes
/// exactly when a segment one creates can be opened by the other, and in the
/// project's model that is one host (a network namespace stands for a host in
/// multi-host tests). 16 hex digits. Computed on each call: a process that moves
/// to another namespace gets its new identity.
std::string host_id();

/// One node's segments: names them after this process and the node, counts
/// their bytes, and unlinks them when they are removed or the registry goes.
/// Constructing one first removes the orphaned segments of the host.
/// Safe for concurrent use from any thread.
class shm_registry {
 public:
  explicit shm_registry(node_id node);
  /// Calls shutdown().
  ~shm_registry();
  shm_registry(const shm_registry&) = delete;
  shm_registry& operator=(const shm_registry&) = delete;

  /// A new segment of `size` bytes under a fresh name of this node, counted in
  /// bytes() until it is removed. Fails like create_shm_segment, or with ESHUTDOWN
  /// after shutdown().
  shm_expected<shm_writer> create(std::size_t size);

  /// Unlinks segment `name`, which this registry created (its value was freed);
  /// mappings of it, here or in other processes, stay valid. False, touching
  /// nothing, if the name is not one of this registry's live segments.
  bool remove(const std::string& name);

  /// Unlinks every segment this registry created and refuses new ones. Idempotent.
  void shutdown() noexcept;

  /// Bytes of the live segments this registry created (sealed or not).
  std::size_t bytes() const noexcept {
    return bytes_.load(std::memory_order_relaxed);
  }
  /// The names of the live segments this registry created.
  std::vector<std::string> names() const;

  node_id node() const noexcept {
    return node_;
  }

 private:
  const node_id node_;
  // Read from /proc once: every name of this registry carries it.
  const process_identity owner_;
  std::atomic<std::size_t> bytes_{0};

  // Guards live_ and closed_.
  mutable std::mutex mu_;
  // Name -> size of every segment created here and not yet removed.
  std::unordered_map<std::string, std::size_t> live_;
  bool closed_ = false;
};

} // namespace actors::runtime
