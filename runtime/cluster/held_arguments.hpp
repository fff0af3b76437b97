#pragma once

#include "actors/ids.hpp"
#include "actors/serialization.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace actors::runtime {

/// Arguments of tasks this node sent that are too large to travel inside the
/// request: the owner keeps them here until the task answers, and the node that
/// runs the task fetches them as it fetches a large value (over the data
/// channel, or in chunks). Each is a large argument value, kept back as it is
/// (args_holder::encode_keeping_back), or the encoding of all of a task's
/// arguments when only together they are too large. They are not objects of the store: their
/// ids are in a range of the owner's id space that the store never gives out.
/// Safe for concurrent use.
class held_arguments {
 public:
  /// Arguments whose encoding is at least this large stay with the owner. Over
  /// loopback, a task given a 256 KiB vector runs twice as fast this way as
  /// with the vector inside its request; at 128 KiB both ways cost the same.
  static constexpr std::uint64_t keep_back_from = 128 * 1024;

  /// The type name fetchers see for the encoding of a task's arguments.
  static constexpr const char* type_name = "actors:arguments";

  /// What is held under one id: a value, or an encoding of type `type`.
  struct held {
    detail::value_box value;
    std::shared_ptr<const std::string> bytes;
    std::string type;
  };

  /// Whether `id` names held arguments rather than an object.
  static bool holds_arguments(const object_id& id) noexcept {
    return (id.seq & arguments_bit) != 0;
  }

  /// Keeps the encoded arguments `bytes`; returns the id a node fetches them by.
  object_id hold(const node_id& self, std::shared_ptr<const std::string> bytes) {
    return keep(self, held{{}, std::move(bytes), type_name});
  }

  /// Keeps an argument value; returns the id a node fetches it by.
  object_id hold_value(const node_id& self, detail::value_box value) {
    std::string type = value.ops->name;
    return keep(self, held{std::move(value), nullptr, std::move(type)});
  }

  /// What is held under `id`, or nullopt once it was dropped.
  std::optional<held> find(const object_id& id) const {
    std::lock_guard<std::mutex> guard{mu_};
    auto i = held_.find(id);
    if (i == held_.end())
      return std::nullopt;
    return i->second;
  }

  /// What is held under `id` with its encoding in `bytes` (a value is encoded
  /// the first time and the encoding kept with it, for the chunks that follow),
  /// or nullopt once it was dropped. Throws if the value cannot be encoded.
  std::optional<held> encoded(const object_id& id) {
    auto h = find(id);
    if (!h || h->bytes)
      return h;
    h->bytes = std::make_shared<const std::string>(h->value.ops->encode(h->value.value.get()));
    std::lock_guard<std::mutex> guard{mu_};
    if (auto i = held_.find(id); i != held_.end() && !i->second.bytes)
      i->second.bytes = h->bytes;
    return h;
  }

  /// The task answered (or its node died): what it held goes.
  void drop(const object_id& id) {
    std::optional<held> gone; // freed after the lock
    std::lock_guard<std::mutex> guard{mu_};
    auto i = held_.find(id);
    if (i == held_.end())
      return;
    gone = std::move(i->second);
    held_.erase(i);
  }

 private:
  static constexpr std::uint64_t arguments_bit = std::uint64_t{1} << 63;

  object_id keep(const node_id& self, held h) {
    object_id id{self.value, arguments_bit | next_.fetch_add(1, std::memory_order_relaxed)};
    std::lock_guard<std::mutex> guard{mu_};
    held_.emplace(id, std::move(h));
    return id;
  }

  std::atomic<std::uint64_t> next_{1};
  mutable std::mutex mu_;
  std::unordered_map<object_id, held> held_;
};

} // namespace actors::runtime
