#pragma once

#include "actors/detail/runtime.hpp"

namespace actors::runtime {

/// While alive, the calling thread runs a coroutine resumed by `executor`: a
/// `co_await` inside it suspends to that executor (detail::current_executor).
/// Scopes nest; each restores the one before.
class coroutine_scope {
 public:
  explicit coroutine_scope(detail::coroutine_executor* executor) noexcept;
  ~coroutine_scope();

  coroutine_scope(const coroutine_scope&) = delete;
  coroutine_scope& operator=(const coroutine_scope&) = delete;

 private:
  detail::coroutine_executor* outer_;
};

} // namespace actors::runtime
