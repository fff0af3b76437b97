#include "runtime/cluster/task_submitter.hpp"

#include "runtime/common/log.hpp"
#include "runtime/scheduler/dependencies.hpp"
#include "runtime/scheduler/local_tasks.hpp"

#include "actors/errors.hpp"

#include <condition_variable>

namespace actors::runtime {

namespace {

/// The task that made a large result held on another node, with its arguments
/// (and through them the objects, and their lineage, they name).
struct task_lineage final : detail::lineage {
  task_lineage(const detail::function_entry* fn, std::shared_ptr<detail::args_holder> args,
               detail::task_options opts)
    : fn(fn), args(std::move(args)), opts(std::move(opts)) {}
  const detail::function_entry* fn;
  std::shared_ptr<detail::args_holder> args;
  detail::task_options opts;
  /// Runs made to rebuild the value; guarded by the submitter's mutex.
  int attempts = 0;
};

} // namespace

/// A task sent to another node, waiting for its result.
class task_submitter::task_op final : public operation {
 public:
  task_op(task_submitter& s, node_id target, remote_task t, std::vector<object_id> held)
    : s_(s), target_(target), t_(std::move(t)), held_(std::move(held)) {}

  ~task_op() override {
    for (const auto& id : held_)
      s_.held_.drop(id);
  }

  void answered(wire::result r) override {
    s_.slot_freed(target_);
    if (r.given_back && !s_.stopping()) {
      // Its node had no room and others have: placed again, not a retry.
      s_.place_or_park(std::move(t_));
      return;
    }
    if (!r.ok && r.why.code == errc::object_lost && t_.attempt < t_.opts.max_retries && !s_.stopping()) {
      // An argument was lost with its node: run again, rebuilding it first.
      s_.retry(std::move(t_));
      return;
    }
    // Lineage: what it takes to make a value held there again if its node dies.
    std::shared_ptr<detail::lineage> made_by;
    if (r.ok && r.location.value && t_.fn && t_.args)
      made_by = std::make_shared<task_lineage>(t_.fn, std::shared_ptr<detail::args_holder>(std::move(t_.args)),
                                               t_.opts);
    settle_answered(s_.local_.store, t_.result, std::move(r), std::move(made_by));
    detail::release(t_.result);
  }

  const detail::object_cell* makes() const noexcept override {
    return t_.result;
  }

  void lost(const node_id& node, const std::string&) override {
    s_.slot_freed(target_);
    if (t_.attempt < t_.opts.max_retries && !s_.stopping()) {
      s_.retry(std::move(t_));
      return;
    }
    s_.fail(t_, errc::object_lost,
            "node " + node.to_string() + " died while running task '" + t_.label
              + "' and it has no retries left (max_retries=" + std::to_string(t_.opts.max_retries) + ")");
  }

 private:
  task_submitter& s_;
  const node_id target_;
  remote_task t_;
  // Arguments too large for the request, kept until the task answers.
  const std::vector<object_id> held_;
};

task_submitter::task_submitter(local_parts local, transport& links, operations& ops, membership& members,
                               placer& place, held_arguments& held)
  : local_(local), links_(links), ops_(ops), members_(members), place_(place), held_(held) {}

task_submitter::~task_submitter() {
  stop();
}

bool task_submitter::stopping() const {
  // Set before the requests in flight are failed at shutdown: they must not run
  // again then.
  return members_.stopping();
}

void task_submitter::fail(remote_task& t, errc code, const std::string& why) {
  local_.store.settle(t.result, detail::failure{code, why, {}, {}});
  detail::release(t.result);
}

detail::object_cell* task_submitter::submit(node_id where, const detail::function_entry& fn, detail::args_ptr args,
                                            detail::task_options opts) {
  auto* result = local_.store.create_pending();
  detail::retain(result); // one for the caller, one for the task
  remote_task t;
  t.result = result;
  t.fn = &fn;
  t.args = std::move(args);
  t.label = opts.name.empty() ? fn.name : opts.name;
  t.opts = std::move(opts);
  // Like Ray, the owner resolves dependencies before it sends the task: small ones
  // then travel with it, and the node runs it at once.
  auto shared = std::make_shared<remote_task>(std::move(t));
  const auto& args_ref = *shared->args;
  when_ready(args_ref, [this, where, shared] { send(where, std::move(*shared)); });
  return result;
}

detail::object_cell* task_submitter::park(const detail::function_entry& fn, detail::args_ptr args,
                                          detail::task_options opts) {
  auto* result = local_.store.create_pending();
  detail::retain(result);
  remote_task t;
  t.result = result;
  t.fn = &fn;
  t.args = std::move(args);
  t.label = opts.name.empty() ? fn.name : opts.name;
  t.opts = std::move(opts);
  hold(std::move(t));
  return result;
}

void task_submitter::hold(remote_task t) {
  std::unique_lock<std::mutex> lock{mu_};
  if (!cut_off_.empty() || stopping_) {
    auto why = stopping_ ? std::string("the node stopped") : cut_off_;
    lock.unlock();
    fail(t, errc::object_lost, "task '" + t.label + "' cannot run: " + why);
    return;
  }
  auto demand = resource_set::from(t.opts.num_cpus, t.opts.resources);
  if (warned_parked_.insert(demand).second)
    log(log_level::warning, "cluster", "task '", t.label, "' needs ", demand.to_string(),
        " which no node has: it waits until a node that has it joins (said once per demand)");
  parked_.push_back(std::move(t));
}

void task_submitter::cut_off(const std::string& why) {
  std::vector<remote_task> waiting;
  {
    std::lock_guard<std::mutex> guard{mu_};
    cut_off_ = why;
    waiting.swap(parked_);
  }
  for (auto& t : waiting)
    fail(t, errc::object_lost, "task '" + t.label + "' cannot run: " + why);
}

void task_submitter::view_changed() {
  // New nodes may have room for the waiting tasks.
  if (waiting() > 0)
    drain();
  std::vector<remote_task> todo;
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (parked_.empty())
      return;
    todo.swap(parked_);
  }
  for (auto& t : todo)
    place_or_park(std::move(t));
}

void task_submitter::place_or_park(remote_task t) {
  bool nowhere = false;
  std::optional<node_id> where;
  const auto demand = resource_set::from(t.opts.num_cpus, t.opts.resources);
  try {
    where = place_.place(demand, t.opts.placement, false, t.args.get(), &nowhere);
  } catch (const std::exception& e) {
    fail(t, errc::invalid_argument, e.what());
    return;
  }
  // "Here" for work this node can never hold means no other node is there yet.
  if (nowhere || (!where && !local_.sched.stats().total.fits(demand))) {
    std::lock_guard<std::mutex> guard{mu_};
    parked_.push_back(std::move(t));
  } else if (!where) {
    run(std::nullopt, std::move(t));
  } else {
    auto shared = std::make_shared<remote_task>(std::move(t));
    const auto& args_ref = *shared->args;
    auto target = *where;
    when_ready(args_ref, [this, target, shared] { send(target, std::move(*shared)); });
  }
}

void task_submitter::run(std::optional<node_id> where, remote_task t) {
  if (where) {
    send(*where, std::move(t));
    return;
  }
  std::shared_ptr<item_sink> items;
  if (t.fn->yields)
    items = local_.streams.find(t.opts.stream);
  submit_local_task(local_.store, local_.sched, local_.tasks, local_.id, *t.fn, std::move(t.args), t.opts,
                    t.result, nullptr, {}, std::move(items));
}

void task_submitter::retry(remote_task t) {
  ++t.attempt;
  auto demand = resource_set::from(t.opts.num_cpus, t.opts.resources);
  std::optional<node_id> where;
  try {
    auto placement = t.opts.placement;
    placement.affinity = {}; // the node it was bound to is gone
    where = place_.place(demand, placement, false);
  } catch (const std::exception&) {
  }
  log(log_level::info, "cluster", "running task '", t.label, "' again (attempt ", t.attempt + 1, ") on node ",
      where ? where->to_string() : local_.id.to_string());
  run(where, std::move(t));
}

// -- lineage: making lost values again ---------------------------------------------------

bool task_submitter::rebuild(detail::object_cell* c) {
  std::shared_ptr<task_lineage> e;
  detail::object_cell::remote_copy old;
  {
    std::lock_guard<std::mutex> guard{c->mu};
    if (!c->remote)
      return false;
    old = *c->remote;
    e = std::dynamic_pointer_cast<task_lineage>(old.made_by);
  }
  int attempts = 0;
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (!e || e->attempts >= e->opts.max_retries)
      return false;
    attempts = ++e->attempts;
  }
  log(log_level::warning, "cluster", "object ", c->id.to_string(), " was lost with node ", old.node.to_string(),
      "; running '", e->fn->name, "' again to make it (attempt ", attempts, ")");
  detail::args_ptr args;
  try {
    args = e->fn->decode_args(e->args->encode());
  } catch (const std::exception&) {
    return false;
  }
  auto* tmp = local_.store.create_pending();
  detail::retain(tmp);
  remote_task t;
  t.result = tmp;
  t.fn = e->fn;
  t.args = std::move(args);
  t.opts = e->opts;
  t.opts.placement.affinity = {};
  t.label = e->fn->name;
  std::optional<node_id> where;
  try {
    where = place_.place(resource_set::from(t.opts.num_cpus, t.opts.resources), t.opts.placement, false,
                         t.args.get());
  } catch (const std::exception&) {
  }
  run(where, std::move(t));
  auto p = std::make_shared<std::pair<std::mutex, std::condition_variable>>();
  auto done = std::make_shared<bool>(false);
  tmp->on_settled([p, done] {
    std::lock_guard<std::mutex> guard{p->first};
    *done = true;
    p->second.notify_all();
  });
  {
    blocking_scope blocked;
    std::unique_lock<std::mutex> lock{p->first};
    p->second.wait(lock, [&] { return *done; });
  }
  bool ok = tmp->current() == detail::object_cell::state::ready;
  std::unique_ptr<detail::object_cell::remote_copy> replaced; // freed after the locks
  if (ok) {
    std::lock_guard<std::mutex> guard{c->mu};
    std::lock_guard<std::mutex> tmp_guard{tmp->mu};
    if (tmp->remote) {
      // `c` takes over the new copy: `tmp` must not drop it when it goes. The new
      // copy's lineage carries the attempts made so far.
      if (auto fresh = std::dynamic_pointer_cast<task_lineage>(tmp->remote->made_by)) {
        std::lock_guard<std::mutex> g{mu_};
        fresh->attempts = attempts;
      }
      replaced = std::move(c->remote);
      c->remote = std::move(tmp->remote);
    } else if (tmp->encoded) {
      c->encoded = std::make_unique<detail::object_cell::encoded_value>(*tmp->encoded);
    } else if (tmp->value.value) {
      c->value = tmp->value;
    } else {
      ok = false;
    }
  }
  replaced.reset();
  detail::release(tmp);
  return ok;
}

std::vector<detail::object_cell*> task_submitter::lost_dependencies(const detail::args_holder& args) {
  std::vector<detail::object_cell*> deps;
  args.dependencies(deps);
  std::vector<detail::object_cell*> out;
  for (auto* c : deps) {
    node_id holder;
    {
      std::lock_guard<std::mutex> guard{c->mu};
      if (!c->remote || c->value.value || c->encoded)
        continue;
      holder = c->remote->node;
    }
    if (members_.is_dead(holder))
      out.push_back(c);
  }
  return out;
}

// -- sending a task ------------------------------------------------------------------------

std::vector<wire::located_object> task_submitter::located_dependencies(const detail::args_holder& args) {
  std::vector<detail::object_cell*> deps;
  args.dependencies(deps);
  std::vector<wire::located_object> out;
  for (auto* c : deps) {
    std::lock_guard<std::mutex> guard{c->mu};
    if (c->current() == detail::object_cell::state::ready && c->remote && !c->value.value && !c->encoded)
      out.push_back({c->id, c->remote->node, c->remote->id, c->remote->type_name, c->remote->size});
  }
  return out;
}

std::vector<wire::inline_object> task_submitter::inline_dependencies(const detail::args_holder& args) {
  std::vector<detail::object_cell*> deps;
  args.dependencies(deps);
  std::vector<wire::inline_object> out;
  for (auto* c : deps) {
    if (c->current() != detail::object_cell::state::ready)
      continue;
    {
      std::lock_guard<std::mutex> guard{c->mu};
      bool small = c->value.value ? c->value.ops->encode && c->bytes <= wire::inline_limit
                                  : c->encoded && c->encoded->view().size() <= wire::inline_limit;
      if (!small)
        continue;
    }
    try {
      auto [type, bytes] = encoded_value(local_.store, c);
      if (bytes.size() <= wire::inline_limit)
        out.push_back({c->id, std::move(type), std::move(bytes)});
    } catch (const std::exception&) {
      // Not encodable: the node will ask for it and get the reason.
    }
  }
  return out;
}

void task_submitter::send(const node_id& where, remote_task t) {
  if (!lost_dependencies(*t.args).empty()) {
    // Rebuilding blocks: do it on a thread of its own, then send.
    auto shared = std::make_shared<remote_task>(std::move(t));
    std::unique_lock<std::mutex> lock{mu_};
    if (stopping_) {
      lock.unlock();
      fail(*shared, errc::object_lost, "task '" + shared->label + "' cannot run: the node stopped");
      return;
    }
    rebuilders_.start([this, shared] {
      for (auto* c : lost_dependencies(*shared->args))
        if (!rebuild(c)) {
          fail(*shared, errc::object_lost,
               "an argument of task '" + shared->label + "' was lost with its node and cannot be made again");
          return;
        }
      std::optional<node_id> target;
      try {
        target = place_.place(resource_set::from(shared->opts.num_cpus, shared->opts.resources),
                              shared->opts.placement, false, shared->args.get());
      } catch (const std::exception&) {
      }
      run(target, std::move(*shared));
    });
    return;
  }
  admit(where, std::move(t));
}

void task_submitter::admit(const node_id& where, remote_task t) {
  {
    std::lock_guard<std::mutex> guard{mu_};
    auto& sent = sent_[where];
    if (!waiting_.empty() || sent >= tasks_in_flight_per_node) {
      // The node has its window's worth: wait here, as a queue entry, until an
      // answer makes room (a flood must not bury the node and its heartbeats).
      waiting_.push_back(std::move(t));
      return;
    }
    ++sent;
  }
  std::vector<remote_task> one;
  one.push_back(std::move(t));
  transmit(where, std::move(one));
}

void task_submitter::slot_freed(const node_id& node) {
  bool refill = false;
  {
    std::lock_guard<std::mutex> guard{mu_};
    auto i = sent_.find(node);
    if (i != sent_.end() && i->second > 0)
      --i->second;
    // Refill in chunks, so that the waiting tasks go in batches.
    refill = !waiting_.empty() && (i == sent_.end() || i->second + refill_chunk <= tasks_in_flight_per_node);
  }
  if (refill)
    drain();
}

void task_submitter::drain() {
  std::unordered_map<node_id, std::vector<remote_task>> batches;
  std::vector<remote_task> here;
  std::vector<remote_task> unplaceable;
  std::vector<std::string> why_unplaceable;
  {
    std::lock_guard<std::mutex> guard{mu_};
    while (!waiting_.empty()) {
      auto& t = waiting_.front();
      bool nowhere = false;
      std::optional<node_id> where;
      try {
        where = place_.place(resource_set::from(t.opts.num_cpus, t.opts.resources), t.opts.placement, false,
                             t.args.get(), &nowhere);
      } catch (const std::exception& e) {
        why_unplaceable.push_back(e.what());
        unplaceable.push_back(std::move(t));
        waiting_.pop_front();
        continue;
      }
      if (nowhere) {
        parked_.push_back(std::move(t));
      } else if (!where) {
        here.push_back(std::move(t));
      } else {
        auto& sent = sent_[*where];
        if (sent >= tasks_in_flight_per_node)
          break; // first in, first out: the head waits for room on its node
        ++sent;
        batches[*where].push_back(std::move(t));
      }
      waiting_.pop_front();
    }
  }
  for (std::size_t i = 0; i < unplaceable.size(); ++i)
    fail(unplaceable[i], errc::invalid_argument, why_unplaceable[i]);
  for (auto& t : here)
    run(std::nullopt, std::move(t));
  for (auto& [node, batch] : batches)
    transmit(node, std::move(batch));
}

std::size_t task_submitter::waiting() const {
  std::lock_guard<std::mutex> guard{mu_};
  return waiting_.size();
}

void task_submitter::count_waiting(std::map<std::map<std::string, double>, std::uint64_t>& shapes) const {
  std::lock_guard<std::mutex> guard{mu_};
  for (const auto& t : parked_)
    shapes[resource_set::from(t.opts.num_cpus, t.opts.resources).to_map()] += 1;
}

void task_submitter::transmit(const node_id& where, std::vector<remote_task> tasks) {
  wire::task_batch batch;
  batch.tasks.reserve(tasks.size());
  bool sent = true;
  for (auto& t : tasks) {
    if (t.result->current() != detail::object_cell::state::pending) {
      // Cancelled while it waited for room there.
      slot_freed(where);
      detail::release(t.result);
      continue;
    }
    wire::task_request req;
    req.function = t.fn->name;
    req.signature = t.fn->signature;
    req.options = t.opts;
    req.owner = local_.id;
    req.inlined = inline_dependencies(*t.args);
    req.located = located_dependencies(*t.args);
    // Large arguments stay here (one huge message is slow and costs several
    // times its size in memory): the node fetches them like large values. Each
    // large value stays as it is, and goes from its own memory over the data
    // channel; the request names it.
    std::vector<object_id> held;
    try {
      req.args = t.args->encode_keeping_back(held_arguments::keep_back_from, [&](detail::value_box value, std::uint64_t) {
        held.push_back(held_.hold_value(local_.id, std::move(value)));
        return held.back();
      });
    } catch (const std::exception& e) {
      for (const auto& id : held)
        held_.drop(id);
      slot_freed(where);
      fail(t, errc::serialization_failed,
           "task '" + t.label + "' cannot run on node " + where.to_string()
             + ": its arguments cannot be serialized: " + e.what());
      continue;
    }
    req.key = ops_.next_key();
    if (req.args.size() >= held_arguments::keep_back_from) {
      // Many arguments, none of them large: their encoding stays here.
      auto size = req.args.size();
      auto id = held_.hold(local_.id, std::make_shared<const std::string>(std::move(req.args)));
      held.push_back(id);
      req.args.clear();
      req.args_held = true;
      req.held_args = {id, local_.id, id, held_arguments::type_name, size};
    }
    ops_.add(req.key, where, std::make_unique<task_op>(*this, where, std::move(t), std::move(held)));
    batch.tasks.push_back(std::move(req));
  }
  if (sent && batch.tasks.size() == 1)
    sent = links_.send(where, message_kind::task, wire::pack(batch.tasks.front()));
  else if (sent && !batch.tasks.empty())
    sent = links_.send(where, message_kind::task_batch, wire::pack(batch));
  if (!sent)
    members_.node_down(where, "it cannot be reached (dead, or this node is stopping)");
}

void task_submitter::stop() {
  std::vector<remote_task> parked;
  std::deque<remote_task> waiting;
  {
    std::lock_guard<std::mutex> guard{mu_};
    stopping_ = true;
    parked.swap(parked_);
    waiting.swap(waiting_);
  }
  for (auto& t : waiting)
    fail(t, errc::object_lost, "the node stopped while task '" + t.label + "' waited to be sent");
  for (auto& t : parked)
    fail(t, errc::object_lost,
         "the node stopped while task '" + t.label + "' waited for a node with the resources it needs");
  rebuilders_.wait_all();
}

} // namespace actors::runtime
