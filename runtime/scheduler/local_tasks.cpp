#include "runtime/scheduler/local_tasks.hpp"

#include "runtime/common/log.hpp"
#include "runtime/common/task_memory.hpp"
#include "runtime/scheduler/dependencies.hpp"

#include "actors/errors.hpp"

#include <memory>
#include <string>
#include <utility>

namespace actors::runtime {

namespace {

/// One call of a registered function, placed by the scheduler.
class task_item final : public work_item {
 public:
  task_item(object_store& store, scheduler& sched, task_log& tlog, node_id node, const detail::function_entry& fn, detail::args_ptr args,
            detail::task_options opts, detail::object_cell* result, int attempt,
            std::shared_ptr<const std::string> working_dir, std::function<void()> on_give_back = {})
    : work_item(resource_set::from(opts.num_cpus, opts.resources)),
      store_(store),
      sched_(sched),
      log_(tlog),
      node_(node),
      fn_(fn),
      args_(std::move(args)),
      opts_(std::move(opts)),
      result_(result),
      attempt_(attempt),
      working_dir_(std::move(working_dir)),
      on_give_back_(std::move(on_give_back)),
      queued_us_(task_log::clock_us()) {}

  ~task_item() override {
    if (result_)
      detail::release(result_);
  }

  const detail::args_holder& args() const {
    return *args_;
  }

  void run() override {
    if (result_->current() != detail::object_cell::state::pending)
      return; // cancelled before it started
    auto slot = log_.started(label());
    const auto memory_limit = task_memory_limit_for(opts_.memory_bytes);
    try {
      detail::value_box result;
      {
        task_memory_budget budget{memory_limit};
        working_dir_scope in_job{working_dir_};
        result = fn_.invoke(fn_.fn, *args_);
      }
      store_.settle(result_, std::move(result));
      // A result the full store refused leaves the cell failed (object_store_full).
      const bool refused = result_->current() == detail::object_cell::state::failed
                           && result_->why->code == errc::object_store_full;
      log_.finished(slot, !refused, queued_us_);
      return;
    } catch (const task_memory_exceeded& e) {
      log_.finished(slot, false, queued_us_);
      auto what = "task '" + label() + "' on node " + node_.to_string() + " asked for " + std::to_string(e.requested)
                  + " more bytes while holding " + std::to_string(e.in_use) + ", past its memory limit of "
                  + std::to_string(e.limit) + " bytes: raise the node's --task-memory-limit"
                  + " (or the task's .memory(bytes)), or make the task use less memory";
      log(log_level::warning, "tasks", what);
      fail_or_retry(what);
    } catch (const object_store_full_error& e) {
      // A put inside the task met a full store: the same error reaches the caller.
      log_.finished(slot, false, queued_us_);
      store_.settle(result_, detail::failure{errc::object_store_full,
                                             "task '" + label() + "' on node " + node_.to_string()
                                               + " could not store a value: " + e.what(),
                                             {}, {}});
    } catch (const object_lost_error& e) {
      // A system failure, not the function's: an object it needed (usually an
      // argument held by a node that died) is gone. The owner may make it again
      // and re-run the task (max_retries).
      log_.finished(slot, false, queued_us_);
      store_.settle(result_, detail::failure{errc::object_lost,
                                             "task '" + label() + "' on node " + node_.to_string()
                                               + " lost an object it needed: " + e.what(),
                                             {}, {}});
    } catch (const std::exception& e) {
      log_.finished(slot, false, queued_us_);
      fail_or_retry(e.what());
    } catch (...) {
      log_.finished(slot, false, queued_us_);
      fail_or_retry("an exception that is not a std::exception");
    }
  }

  void abandon(const std::string& reason) override {
    store_.settle(result_, detail::failure{errc::object_lost, reason, {}, {}});
  }

  std::string describe() const override {
    return "task '" + label() + "'";
  }

  // Only a first run may go back: a retry after an exception stays here.
  bool can_give_back() const override {
    return on_give_back_ && attempt_ == 0 && result_->current() == detail::object_cell::state::pending;
  }

  void give_back() override {
    on_give_back_();
    store_.settle(result_, detail::failure{errc::cancelled, "given back to its owner", {}, {}});
  }

 private:
  std::string label() const {
    return opts_.name.empty() ? fn_.name : opts_.name;
  }

  void fail_or_retry(const std::string& what) {
    if (opts_.retry_exceptions && attempt_ < opts_.max_retries) {
      log_.note_retried();
      log(log_level::info, "tasks", describe(), " threw (", what, "); retry ", attempt_ + 1, " of ",
          opts_.max_retries);
      auto retry = std::make_unique<task_item>(store_, sched_, log_, node_, fn_, std::move(args_), opts_,
                                               std::exchange(result_, nullptr), attempt_ + 1, working_dir_);
      sched_.submit(std::move(retry));
      return;
    }
    store_.settle(result_, detail::failure{errc::task_failed, what, label(), node_.to_string()});
  }

  object_store& store_;
  scheduler& sched_;
  task_log& log_;
  const node_id node_;
  const detail::function_entry& fn_;
  detail::args_ptr args_;
  detail::task_options opts_;
  detail::object_cell* result_;
  int attempt_;
  std::shared_ptr<const std::string> working_dir_;
  std::function<void()> on_give_back_;
  std::int64_t queued_us_;
};

} // namespace

void submit_local_task(object_store& store, scheduler& sched, task_log& tlog, node_id node,
                       const detail::function_entry& fn, detail::args_ptr args,
                       detail::task_options opts, detail::object_cell* result,
                       std::shared_ptr<const std::string> working_dir, std::function<void()> on_give_back) {
  tlog.note_submitted();
  auto* item = new task_item(store, sched, tlog, node, fn, std::move(args), std::move(opts), result, 0,
                             std::move(working_dir), std::move(on_give_back));
  when_ready(item->args(), [&sched, item] { sched.submit(std::unique_ptr<work_item>(item)); });
}

} // namespace actors::runtime
