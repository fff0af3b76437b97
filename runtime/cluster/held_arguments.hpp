#pragma once

#include "actors/ids.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace actors::runtime {

/// Encoded arguments too large to travel inside a task request: the owner keeps
/// them here until the task answers, and the node that runs the task fetches
/// them as it fetches a large value (over the data channel, or in chunks). They
/// are not objects of the store: their ids are in a range of the owner's id
/// space that the store never gives out. Safe for concurrent use.
class held_arguments {
 public:
  /// The type name fetchers see for held arguments.
  static constexpr const char* type_name = "actors:arguments";

  /// Whether `id` names held arguments rather than an object.
  static bool holds_arguments(const object_id& id) noexcept {
    return (id.seq & arguments_bit) != 0;
  }

  /// Keeps `bytes`; returns the id a node fetches them by.
  object_id hold(const node_id& self, std::shared_ptr<const std::string> bytes) {
    object_id id{self.value, arguments_bit | next_.fetch_add(1, std::memory_order_relaxed)};
    std::lock_guard<std::mutex> guard{mu_};
    held_.emplace(id, std::move(bytes));
    return id;
  }

  /// The bytes held under `id`, or null once they were dropped.
  std::shared_ptr<const std::string> find(const object_id& id) const {
    std::lock_guard<std::mutex> guard{mu_};
    auto i = held_.find(id);
    return i == held_.end() ? nullptr : i->second;
  }

  /// The task answered (or its node died): the bytes go.
  void drop(const object_id& id) {
    std::shared_ptr<const std::string> gone; // freed after the lock
    std::lock_guard<std::mutex> guard{mu_};
    auto i = held_.find(id);
    if (i == held_.end())
      return;
    gone = std::move(i->second);
    held_.erase(i);
  }

 private:
  static constexpr std::uint64_t arguments_bit = std::uint64_t{1} << 63;

  std::atomic<std::uint64_t> next_{1};
  mutable std::mutex mu_;
  std::unordered_map<object_id, std::shared_ptr<const std::string>> held_;
};

} // namespace actors::runtime
