#pragma once

#include "runtime/cluster/local_parts.hpp"
#include "runtime/cluster/operations.hpp"
#include "runtime/cluster/task_server.hpp"
#include "runtime/cluster/transport.hpp"
#include "runtime/wire/protocol.hpp"

namespace actors::runtime {

/// Cancels tasks: settles a task's result as cancelled (its `get` throws
/// task_cancelled_error, and a task that has not started never does), tells the
/// node running it, where `is_cancelled` then turns true, and with `recursive`
/// does the same for the tasks it submitted, here or on the node that runs it.
/// Safe for concurrent use.
class task_cancels {
 public:
  task_cancels(local_parts local, transport& links, const operations& ops, task_server& served)
    : local_(local), links_(links), ops_(ops), served_(served) {}

  /// Cancels the task making `result` (owned here).
  void cancel(detail::object_cell* result, bool recursive);

  /// The owner of a task running or waiting here cancelled it.
  void serve(const wire::cancel_request& req);

 private:
  const local_parts local_;
  transport& links_;
  const operations& ops_;
  task_server& served_;
};

} // namespace actors::runtime
