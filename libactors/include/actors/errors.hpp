#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace actors {

/// Error codes shared by the runtime and the wire. Values are pinned: only append.
enum class errc : std::uint8_t {
  /// No error.
  none = 0,
  /// A task or actor method threw; the message carries the original text.
  task_failed = 1,
  /// The actor is dead: killed, out of restarts, or its factory threw.
  actor_died = 2,
  /// The object's value is gone and cannot be rebuilt.
  object_lost = 3,
  /// A `get` or `wait` ran out of time.
  timeout = 4,
  /// A function, factory or method is not registered with ACTORS_REMOTE.
  not_registered = 5,
  /// An object_ref<T> names a value of another type.
  type_mismatch = 6,
  /// The runtime is not running: call actors::init first.
  not_initialized = 7,
  /// A flag, option or argument is malformed.
  invalid_argument = 8,
  /// The task was cancelled before it finished.
  cancelled = 9,
  /// The object store and its spill directory cannot take the object.
  object_store_full = 10,
  /// A value could not be encoded or decoded.
  serialization_failed = 11,
};

/// Stable lowercase name of a code, as used in messages and metrics.
const char* to_string(errc code) noexcept;

/// Base of every exception the API throws. `what()` says what failed, where, and
/// what to do.
class error : public std::runtime_error {
 public:
  error(errc code, const std::string& what) : std::runtime_error(what), code_(code) {}

  /// The code this error carries across nodes.
  errc code() const noexcept {
    return code_;
  }

 private:
  errc code_;
};

/// A task or actor method threw. Names the function, the node it ran on and the
/// original message.
class task_error : public error {
 public:
  task_error(std::string function, std::string node, std::string original);

  const std::string& function() const noexcept {
    return function_;
  }
  const std::string& node() const noexcept {
    return node_;
  }
  /// The `what()` of the exception the user code threw.
  const std::string& original_message() const noexcept {
    return original_;
  }

 private:
  std::string function_;
  std::string node_;
  std::string original_;
};

/// The actor a call was made on is dead (killed, out of restarts, or its factory
/// threw).
class actor_died_error : public error {
 public:
  explicit actor_died_error(const std::string& what) : error(errc::actor_died, what) {}
};

/// The object's value is gone and cannot be rebuilt.
class object_lost_error : public error {
 public:
  explicit object_lost_error(const std::string& what) : error(errc::object_lost, what) {}
};

/// A `get` or `wait` ran out of time; the object may still become ready later.
class timeout_error : public error {
 public:
  explicit timeout_error(const std::string& what) : error(errc::timeout, what) {}
};

/// A function, actor factory or method was used without an ACTORS_REMOTE line.
class not_registered_error : public error {
 public:
  explicit not_registered_error(const std::string& what)
    : error(errc::not_registered, what) {}
};

/// The task was cancelled with actors::cancel before it finished.
class task_cancelled_error : public error {
 public:
  explicit task_cancelled_error(const std::string& what) : error(errc::cancelled, what) {}
};

/// The object store is full and cannot spill (or the value cannot be spilled).
class object_store_full_error : public error {
 public:
  explicit object_store_full_error(const std::string& what)
    : error(errc::object_store_full, what) {}
};

} // namespace actors
