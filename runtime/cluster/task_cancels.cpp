#include "runtime/cluster/task_cancels.hpp"

namespace actors::runtime {

void task_cancels::cancel(detail::object_cell* result, bool recursive) {
  // Taken before the result settles: its children are forgotten then.
  auto children = recursive ? local_.children.take(result) : std::vector<detail::object_cell*>{};
  if (result->current() == detail::object_cell::state::pending)
    local_.store.settle(result, detail::failure{errc::cancelled,
                                                "the task making object " + result->id.to_string()
                                                  + " was cancelled",
                                                {}, {}});
  // Sent, not answered yet: the node running it stops it there.
  if (auto sent = ops_.find_making(result))
    links_.send(sent->target, message_kind::cancel_task,
                wire::pack(wire::cancel_request{local_.id, sent->key, recursive}));
  for (auto* child : children) {
    cancel(child, true);
    detail::release(child);
  }
}

void task_cancels::serve(const wire::cancel_request& req) {
  auto* result = served_.task_result(req.owner, req.key);
  if (!result)
    return; // it ended already
  cancel(result, req.recursive);
  detail::release(result);
}

} // namespace actors::runtime
