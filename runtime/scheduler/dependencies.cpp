#include "runtime/scheduler/dependencies.hpp"

#include "runtime/object_store/object_cell.hpp"

#include <atomic>
#include <memory>
#include <vector>

namespace actors::runtime {

void when_ready(const detail::args_holder& args, std::function<void()> then) {
  std::vector<detail::object_cell*> deps;
  args.dependencies(deps);
  std::erase_if(deps, [](auto* c) { return c->current() != detail::object_cell::state::pending; });
  if (deps.empty()) {
    then();
    return;
  }
  struct countdown {
    std::atomic<std::size_t> left;
    std::function<void()> then;
  };
  // One count more than the dependencies, dropped after registering, so that
  // `then` cannot run before every callback is in place.
  auto c = std::make_shared<countdown>();
  c->left.store(deps.size() + 1);
  c->then = std::move(then);
  auto tick = [c] {
    if (c->left.fetch_sub(1, std::memory_order_acq_rel) == 1)
      c->then();
  };
  for (auto* d : deps)
    d->on_settled(tick);
  tick();
}

detail::object_cell* first_unsettled(const detail::args_holder& args) {
  std::vector<detail::object_cell*> deps;
  args.dependencies(deps);
  for (auto* d : deps)
    if (d->current() == detail::object_cell::state::pending)
      return d;
  return nullptr;
}

} // namespace actors::runtime
