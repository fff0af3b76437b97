#pragma once

#include "runtime/object_store/object_store.hpp"
#include "runtime/scheduler/object_stream.hpp"
#include "runtime/scheduler/scheduler.hpp"
#include "runtime/scheduler/task_log.hpp"

#include <functional>

#include "actors/detail/runtime.hpp"
#include "actors/ids.hpp"

namespace actors::runtime {

/// Runs one call of a registered function on this node: waits until its argument
/// objects have settled, queues it with the scheduler, runs it on the worker pool
/// and settles `result` (whose reference the task takes over) with its value or
/// failure. Retries on exceptions when the options ask for it.
/// `working_dir`: the working directory of the job the task is of (null: none).
/// `on_give_back`: set for a task another node's owner sent, which the scheduler
/// may hand back while it waits (scheduler::give_back); called then instead of
/// running it, just before `result` settles as cancelled.
/// `items`: where a generator's items go (null: they are dropped, as its caller
/// dropped the stream); its result settles with the number of items it made.
void submit_local_task(object_store& store, scheduler& sched, task_log& log, node_id node,
                       const detail::function_entry& fn, detail::args_ptr args,
                       detail::task_options opts, detail::object_cell* result,
                       std::shared_ptr<const std::string> working_dir = nullptr,
                       std::function<void()> on_give_back = {}, std::shared_ptr<item_sink> items = nullptr);

} // namespace actors::runtime
