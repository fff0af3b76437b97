// Shared values: values of this node put into sealed shared-memory segments
// (share) so that other processes of the host map and read them, values read
// from the segments of other nodes of the host (settle_shared, fill_shared), and
// the elements of stored vectors read where they lie (elements, for get_span).
// The segments themselves are shared_memory.hpp's.

#include "runtime/object_store/object_store.hpp"

#include "runtime/common/log.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <string_view>
#include <tuple>
#include <unistd.h>
#include <utility>

namespace actors::runtime {

namespace {

// Why share() gave nothing: bits of object_store::share_refusals_logged_.
constexpr unsigned no_encoding = 1;
constexpr unsigned cannot_encode = 2;
constexpr unsigned no_room = 4;
constexpr unsigned no_segment = 8;

shared_copy copy_of(const object_cell::shared_segment& seg) {
  return {seg.mapping->name(), seg.type_name, seg.mapping->size()};
}

// What a cell held when share() looked: its encoding is made without the cell's
// lock, and the segment is installed only if the cell holds the same still.
struct share_source {
  // A value in memory,
  std::shared_ptr<const void> value;
  // or its encoding as a string,
  std::shared_ptr<object_cell::encoded_value> encoded;
  // or its spill file.
  std::string spill_path;
  const detail::type_ops* ops = nullptr;
  std::string type_name;
};

// The cells named inside an encoding, released unless taken.
struct pin_list {
  std::vector<object_cell*> cells;
  pin_list() = default;
  pin_list(const pin_list&) = delete;
  pin_list& operator=(const pin_list&) = delete;
  ~pin_list() {
    for (auto* c : cells)
      detail::release(c);
  }
};

// Reads `size` bytes of the file at `path` into `out`; false if it has fewer
// or cannot be read (removed meanwhile: its value was restored).
bool read_whole(const std::string& path, std::byte* out, std::size_t size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  std::size_t done = 0;
  while (done < size) {
    auto n = ::read(fd, out + done, size - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return done == size;
}

// What a span holds: what its elements lie in, and a count on their cell.
class span_hold {
 public:
  span_hold(std::shared_ptr<const void> what, object_cell* cell) : what_(std::move(what)), cell_(cell) {
    detail::retain(cell_);
  }
  ~span_hold() {
    detail::release(cell_);
  }
  span_hold(const span_hold&) = delete;
  span_hold& operator=(const span_hold&) = delete;

 private:
  std::shared_ptr<const void> what_;
  object_cell* cell_;
};

} // namespace

bool object_store::settle_shared(object_cell* cell, std::string type_name,
                                 std::shared_ptr<const shm_mapping> mapping) {
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard<std::mutex> guard{cell->mu};
    if (cell->current() != object_cell::state::pending)
      return false;
    // Not counted: the node that holds the segment counts its bytes.
    cell->bytes = mapping->size();
    cell->encoded = std::make_shared<object_cell::encoded_value>(
      object_cell::encoded_value{std::move(type_name), {}, std::move(mapping)});
    cell->state_.store(object_cell::state::ready, std::memory_order_release);
    waiters.swap(cell->waiters);
  }
  for (auto& w : waiters)
    w();
  return true;
}

void object_store::fill_shared(object_cell* cell, std::shared_ptr<const shm_mapping> mapping) {
  std::lock_guard<std::mutex> guard{cell->mu};
  if (cell->value.value || cell->encoded || !cell->remote)
    return;
  cell->bytes = mapping->size();
  cell->encoded = std::make_shared<object_cell::encoded_value>(
    object_cell::encoded_value{cell->remote->type_name, {}, std::move(mapping)});
}

std::optional<shared_copy> object_store::share(object_cell* cell) {
  if (cell->current() != object_cell::state::ready)
    return std::nullopt;
  // The cell may change form while the segment is made without its lock (spilled,
  // restored, decoded); then the segment goes and the next round starts from what
  // it holds then. A value changes form rarely, so a few rounds are plenty.
  for (int round = 0; round < 4; ++round) {
    share_source from;
    {
      std::lock_guard<std::mutex> guard{cell->mu};
      if (cell->shared)
        return copy_of(*cell->shared);
      if (cell->value.value) {
        from.value = cell->value.value;
        from.ops = cell->value.ops;
        from.type_name = from.ops->name;
      } else if (cell->encoded && !cell->encoded->mapping) {
        from.encoded = cell->encoded;
        from.type_name = cell->encoded->type_name;
      } else if (cell->spilled) {
        from.spill_path = cell->spilled->path;
        from.ops = cell->spilled->ops;
        from.type_name = from.ops->name;
      } else {
        // Held by another node, or read from another node's segment.
        return std::nullopt;
      }
    }
    const auto what = "object " + cell->id.to_string() + " (a " + detail::demangle(from.type_name.c_str()) + ")";

    // The encoding's size, and the encoding itself unless its size is known
    // without it (then it is written straight into the segment below). Holding
    // `from.value` keeps the value from spilling meanwhile.
    std::string encoding;
    bool encode_into_segment = false;
    pin_list pins;
    std::size_t size = 0;
    auto cannot_encode_it = [&](const std::exception& e) {
      share_refused(cannot_encode, what + " cannot go into shared memory, it cannot be encoded: " + e.what());
    };
    if (from.value) {
      if (!from.ops->encode) {
        share_refused(no_encoding, what + " cannot go into shared memory: its type has no encoding, so only "
                                     "this process can read it");
        return std::nullopt;
      }
      size = from.ops->encoded_size(from.value.get());
      encode_into_segment = size > 0;
      if (!encode_into_segment) {
        try {
          reference_collector collect;
          encoding = from.ops->encode(from.value.get());
          pins.cells = collect.take();
        } catch (const std::exception& e) {
          cannot_encode_it(e);
          return std::nullopt;
        }
        size = encoding.size();
      }
    } else if (from.encoded) {
      size = from.encoded->bytes.size();
    } else {
      std::error_code ec;
      size = static_cast<std::size_t>(std::filesystem::file_size(from.spill_path, ec));
      if (ec)
        continue; // restored meanwhile
    }
    if (size < shared_memory_threshold)
      return std::nullopt;

    // A value from memory or disk takes `size` more bytes; an encoding moves from
    // its string into the segment.
    if (!from.encoded && !room_for(size)) {
      std::string problem;
      {
        std::lock_guard<std::mutex> guard{mu_};
        problem = size > limit_ ? "it is larger than the whole limit" : spill_problem_;
      }
      share_refused(no_room, what + " cannot go into shared memory: its " + std::to_string(size)
                               + " bytes do not fit under the object store limit of node " + node_.to_string()
                               + " (" + std::to_string(limit_) + " bytes, --object-store-bytes) and nothing "
                               + "could spill (" + problem + "); other processes of the host get it over "
                               + "the socket instead");
      return std::nullopt;
    }
    auto writer = shm_.create(size);
    if (!writer) {
      share_refused(no_segment, what + " cannot go into shared memory: " + writer.error().message
                                  + "; other processes of the host get it over the socket instead");
      return std::nullopt;
    }
    // Bytes at hand go in with write(): a vector of numbers as the head of its
    // encoding and its own memory, an encoding as it is. Other values are
    // encoded, and a spilled one read, through a writable mapping.
    std::optional<shm_error> unwritten;
    auto in_place = encode_into_segment && from.ops->in_place ? from.ops->in_place(from.value.get()) : std::nullopt;
    if (in_place && in_place->head.size() + in_place->body_size == size) {
      unwritten = writer->write(0, in_place->head.data(), in_place->head.size());
      if (!unwritten)
        unwritten = writer->write(in_place->head.size(), in_place->body, in_place->body_size);
    } else if (encode_into_segment || !from.spill_path.empty()) {
      auto* at = reinterpret_cast<char*>(writer->data());
      if (!at) {
        share_refused(no_segment, what + " cannot go into shared memory: its segment cannot be mapped ("
                                    + std::strerror(errno) + "); other processes of the host get it over the "
                                    + "socket instead");
        return std::nullopt;
      }
      if (encode_into_segment) {
        try {
          reference_collector collect;
          from.ops->encode_into(from.value.get(), at, size);
          pins.cells = collect.take();
        } catch (const std::exception& e) {
          cannot_encode_it(e); // dropping the writer removes the segment
          return std::nullopt;
        }
      } else if (!read_whole(from.spill_path, reinterpret_cast<std::byte*>(at), size)) {
        continue; // restored meanwhile; dropping the writer removes the segment
      }
    } else if (from.value) {
      unwritten = writer->write(0, encoding.data(), size);
      std::string().swap(encoding);
    } else {
      unwritten = writer->write(0, from.encoded->bytes.data(), size);
    }
    if (unwritten) {
      share_refused(no_segment, what + " cannot go into shared memory: " + unwritten->message
                                  + "; other processes of the host get it over the socket instead");
      return std::nullopt;
    }
    auto sealed = writer->seal();
    if (!sealed) {
      share_refused(no_segment, what + " cannot go into shared memory: " + sealed.error().message
                                  + "; other processes of the host get it over the socket instead");
      return std::nullopt;
    }
    auto mapping = std::make_shared<const shm_mapping>(std::move(*sealed));

    // Installed only if the cell still holds what the segment was made from.
    enum class installed { no, beside_value, instead_of_encoding, instead_of_file } how = installed::no;
    std::optional<shared_copy> existing;
    std::size_t old_bytes = 0;
    {
      std::lock_guard<std::mutex> guard{cell->mu};
      using segment = object_cell::shared_segment;
      if (cell->shared) {
        existing = copy_of(*cell->shared);
      } else if (from.value && cell->value.value == from.value) {
        cell->shared.reset(new segment{mapping, from.type_name, from.ops, std::move(pins.cells), size});
        how = installed::beside_value;
      } else if (from.encoded && cell->encoded == from.encoded) {
        // The segment is the only copy from now on: `encoded` maps it.
        cell->shared.reset(new segment{mapping, from.type_name, nullptr, {}, 0});
        cell->encoded = std::make_shared<object_cell::encoded_value>(
          object_cell::encoded_value{from.type_name, {}, mapping});
        old_bytes = std::exchange(cell->bytes, size);
        how = installed::instead_of_encoding;
      } else if (!from.spill_path.empty() && !cell->value.value && cell->spilled
                 && cell->spilled->path == from.spill_path) {
        // Back in memory, in the segment only; the file and its pins go to it.
        cell->shared.reset(new segment{mapping, from.type_name, from.ops, std::move(cell->spilled->pins), 0});
        cell->encoded = std::make_shared<object_cell::encoded_value>(
          object_cell::encoded_value{from.type_name, {}, mapping});
        cell->spilled.reset();
        cell->bytes = size;
        how = installed::instead_of_file;
      }
    }
    if (how == installed::no) {
      shm_.remove(mapping->name());
      if (existing)
        return existing;
      continue;
    }
    shared_copy made{mapping->name(), from.type_name, size};
    if (how == installed::beside_value) {
      bool over = false;
      {
        std::lock_guard<std::mutex> guard{mu_};
        bytes_in_memory_ += size;
        over = bytes_in_memory_ > limit_;
      }
      if (over)
        spill_over_limit();
    } else if (how == installed::instead_of_encoding) {
      std::lock_guard<std::mutex> guard{mu_};
      if (cell->in_lru || cell->counted)
        bytes_in_memory_ -= old_bytes;
      else
        cell->counted = true;
      bytes_in_memory_ += size;
    } else {
      std::error_code ec;
      std::filesystem::remove(from.spill_path, ec);
      {
        std::lock_guard<std::mutex> guard{mu_};
        --spilled_objects_;
        restored_bytes_total_ += size;
      }
      account(cell);
    }
    return made;
  }
  return std::nullopt;
}

detail::element_run object_store::elements(object_cell* cell, const detail::type_ops* want,
                                           const detail::vector_layout& layout) {
  if (auto* here = held_here(cell))
    return elements(here, want, layout);
  detail::element_run run;
  std::shared_ptr<const void> holder;
  {
    std::lock_guard<std::mutex> guard{cell->mu};
    if (!cell->value.value && cell->encoded && layout.raw_offset > 0) {
      check_encoded_type(cell, want);
      const auto bytes = cell->encoded->view();
      if (auto raw = detail::raw_vector_elements(bytes.data(), bytes.size(), layout)) {
        std::tie(run.data, run.count) = *raw;
        if (cell->encoded->mapping)
          holder = cell->encoded->mapping;
        else
          holder = cell->encoded;
      }
    }
  }
  if (!holder) {
    holder = value(cell, want);
    std::tie(run.data, run.count) = layout.elements(holder.get());
  }
  run.keep = std::make_shared<const span_hold>(std::move(holder), cell);
  return run;
}

bool object_store::room_for(std::size_t bytes) {
  if (bytes_in_memory_.load(std::memory_order_relaxed) + bytes <= limit_)
    return true;
  return bytes <= limit_ && spill_until_fits(bytes);
}

void object_store::share_refused(unsigned reason, const std::string& why) {
  {
    std::lock_guard<std::mutex> guard{mu_};
    if ((share_refusals_logged_ & reason) != 0)
      return;
    share_refusals_logged_ |= reason;
  }
  log(log_level::warning, "object_store", why, " (said once per reason)");
}

} // namespace actors::runtime
