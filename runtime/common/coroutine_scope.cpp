#include "runtime/common/coroutine_scope.hpp"

#include <utility>

namespace actors::runtime {

namespace {

thread_local detail::coroutine_executor* running_executor = nullptr;

} // namespace

coroutine_scope::coroutine_scope(detail::coroutine_executor* executor) noexcept
  : outer_(std::exchange(running_executor, executor)) {}

coroutine_scope::~coroutine_scope() {
  running_executor = outer_;
}

} // namespace actors::runtime

namespace actors::detail {

coroutine_executor* current_executor() noexcept {
  return runtime::running_executor;
}

} // namespace actors::detail
