#include "runtime/cluster/actor_calls.hpp"

#include "runtime/common/log.hpp"

#include "actors/errors.hpp"

#include <chrono>
#include <thread>

namespace actors::runtime {

namespace {

// Requests that block a user thread (actor creation and kill) give up after this.
constexpr auto blocking_timeout = std::chrono::seconds(10);
// How long a call through a handle waits for the actor's creator to rebuild it
// after its node died.
constexpr auto relocate_timeout = std::chrono::seconds(30);

} // namespace

/// A call sent to the node hosting an actor, waiting for its result.
class actor_calls::call_op final : public operation {
 public:
  call_op(actor_calls& a, pending_call pc) : a_(a), pc_(std::move(pc)) {}

  void answered(wire::result r) override {
    auto& store = a_.local_.store;
    if (!r.ok)
      store.settle(pc_.result, std::move(r.why));
    else if (r.location.value)
      store.settle_remote(pc_.result, {r.location, r.remote_id, std::move(r.type_name), r.size, nullptr});
    else
      store.settle_encoded(pc_.result, std::move(r.type_name), std::move(r.bytes));
    detail::release(pc_.result);
  }

  void lost(const node_id& node, const std::string& why) override {
    a_.requeue(std::move(pc_), node, why);
  }

  void not_sent(const node_id& node) override {
    a_.redirect_unsent(std::move(pc_), node);
  }

 private:
  actor_calls& a_;
  pending_call pc_;
};

actor_calls::actor_calls(local_parts local, transport& links, operations& ops, membership& members, placer& place,
                         object_directory& objects, held_arguments& held, actor_names& names, runtime_env& env,
                         task_streams& streams)
  : local_(local),
    links_(links),
    ops_(ops),
    members_(members),
    place_(place),
    objects_(objects),
    held_(held),
    names_(names),
    env_(env),
    streams_(streams) {}

actor_calls::~actor_calls() {
  stop();
}

// -- the creator's side --------------------------------------------------------------------

detail::actor_cell* actor_calls::create(node_id where, const detail::function_entry& factory,
                                        const detail::args_holder& args, const detail::actor_options& opts,
                                        const actor_id& id) {
  wire::actor_create_request req;
  req.id = id;
  req.factory = factory.name;
  req.signature = factory.signature;
  req.args = args.encode();
  req.options = opts;
  if (!links_.reaches(where))
    throw error(errc::actor_died, "node " + where.to_string() + " is gone: cannot create the actor there");
  std::string why;
  auto answer = links_.request(where, request_kind::create_actor, wire::pack(req), blocking_timeout, why);
  if (!answer)
    throw error(errc::actor_died, "node " + where.to_string() + " did not answer: " + why);
  auto done = wire::unpack<wire::request_answer>(*answer, "actor creation answer");
  if (!done.ok)
    throw error(errc::actor_died, done.reason);
  auto* cell = actor_host::make_remote(id, where, factory.actor_class, weak_from_this());
  std::lock_guard<std::mutex> guard{mu_};
  auto& c = created_[id];
  c.factory = &factory;
  c.args = std::move(req.args);
  c.opts = opts;
  c.location = where;
  c.cell = cell;
  return cell;
}

detail::actor_cell* actor_calls::create_when_placed(const detail::function_entry& factory,
                                                    const detail::args_holder& args,
                                                    const detail::actor_options& opts, const actor_id& id) {
  auto* cell = actor_host::make_remote(id, node_id{}, factory.actor_class, weak_from_this());
  {
    std::lock_guard<std::mutex> guard{mu_};
    auto& c = created_[id];
    c.factory = &factory;
    c.args = args.encode();
    c.opts = opts;
    c.restarting = true; // calls wait for it
    c.unplaced = true;
    c.cell = cell;
  }
  log(log_level::warning, "cluster", "actor ", id.to_string(), " needs ",
      resource_set::from(opts.num_cpus, opts.resources).to_string(),
      ", which no live node has free: it is created when a node that can host it joins, and its calls wait");
  view_changed();
  return cell;
}

void actor_calls::view_changed() {
  std::vector<actor_id> todo;
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (stopping_)
      return;
    for (auto& [aid, a] : created_)
      if (a.unplaced && !a.placing && a.death.empty()) {
        a.placing = true;
        todo.push_back(aid);
      }
    // Creating blocks: each on a thread of its own.
    for (const auto& aid : todo)
      restarters_.start([this, aid] { place_unplaced(aid); });
  }
}

void actor_calls::count_waiting(std::map<std::map<std::string, double>, std::uint64_t>& shapes) const {
  std::lock_guard<std::mutex> guard{mu_};
  for (const auto& [aid, a] : created_)
    if (a.unplaced && a.death.empty())
      shapes[resource_set::from(a.opts.num_cpus, a.opts.resources).to_map()] += 1;
}

bool actor_calls::create_there(const node_id& where, const actor_id& aid, const created_actor& a, int restarts,
                               std::string& why) {
  wire::actor_create_request req;
  req.id = aid;
  req.factory = a.factory->name;
  req.signature = a.factory->signature;
  req.args = a.args;
  req.options = a.opts;
  req.restarts = restarts;
  auto answer = links_.request(where, request_kind::create_actor, wire::pack(req), blocking_timeout, why);
  if (!answer)
    return false;
  auto done = decode_payload<wire::request_answer>(*answer, "actor creation answer");
  why = done ? done->reason : "its answer was malformed";
  return done && done->ok;
}

actor_calls::created_actor actor_calls::recipe_of(const actor_id& aid) {
  std::lock_guard<std::mutex> guard{mu_};
  const auto& c = created_.at(aid);
  created_actor a;
  a.factory = c.factory;
  a.args = c.args;
  a.opts = c.opts;
  a.restarts = c.restarts;
  return a;
}

void actor_calls::place_unplaced(const actor_id& aid) {
  auto a = recipe_of(aid);
  std::optional<node_id> where;
  try {
    bool nowhere = false;
    where = place_.place(resource_set::from(a.opts.num_cpus, a.opts.resources), a.opts.placement, true, nullptr,
                         &nowhere);
  } catch (const std::exception&) {
  }
  std::string why;
  const bool ok = where && *where != local_.id && create_there(*where, aid, a, 0, why);
  std::vector<pending_call> calls;
  bool undo = false;
  {
    std::lock_guard<std::mutex> guard{mu_};
    auto it = created_.find(aid);
    if (it == created_.end())
      return;
    auto& c = it->second;
    c.placing = false;
    if (!ok)
      return; // waits for the next node table
    // Killed or dropped while it was being created: undone below.
    undo = !c.death.empty();
    if (undo) {
      created_.erase(it);
    } else {
      c.unplaced = false;
      c.restarting = false;
      c.location = *where;
      calls.swap(c.waiting);
    }
  }
  if (undo) {
    links_.send(*where, message_kind::drop_actor, wire::pack(wire::actor_ref{aid}));
    return;
  }
  log(log_level::info, "cluster", "actor ", aid.to_string(), " was created on node ", where->to_string());
  if (!a.opts.name.empty()) {
    try {
      names_.register_name(a.opts.name, named_actor_entry{aid, a.factory->actor_class, *where});
    } catch (const std::exception& e) {
      log(log_level::warning, "cluster", "actor '", a.opts.name, "' was created but its name could not be moved: ",
          e.what());
    }
  }
  for (auto& pc : calls)
    send_call(*where, std::move(pc));
}

void actor_calls::fail_call(pending_call& pc, const std::string& why) {
  local_.store.settle(pc.result, detail::failure{errc::actor_died, why, {}, {}});
  detail::release(pc.result);
}

void actor_calls::send_call(const node_id& target, pending_call pc) {
  // The call is kept so that it can go again to a restarted instance.
  pc.call.key = ops_.next_key();
  auto blob = wire::pack(pc.call);
  auto key = pc.call.key;
  ops_.add(key, target, std::make_unique<call_op>(*this, std::move(pc)));
  if (!links_.send(target, message_kind::actor_call, std::move(blob)))
    members_.node_down(target, "it cannot be reached (dead, or this node is stopping)");
}

detail::object_cell* actor_calls::call(detail::actor_cell* a, const detail::method_entry& m, detail::args_ptr args,
                                       object_id stream, std::uint64_t max_buffered) {
  pending_call pc;
  pc.call.id = a->id;
  pc.call.method = m.name;
  pc.call.signature = m.signature;
  // Large arguments stay here, as a task's do: the actor's node fetches each
  // over the data channel before the call runs.
  std::shared_ptr<kept_arguments> kept; // made for the first kept argument only
  pc.call.args = args->encode_keeping_back(held_arguments::keep_back_from, [&](detail::value_box value, std::uint64_t) {
    if (!kept)
      kept = std::make_shared<kept_arguments>(held_);
    kept->ids.push_back(held_.hold_value(local_.id, std::move(value)));
    return kept->ids.back();
  });
  pc.kept = std::move(kept);
  pc.call.caller = local_.id;
  pc.call.stream = stream;
  pc.call.max_buffered = max_buffered;
  pc.args = std::move(args);
  pc.result = local_.store.create_pending();
  detail::retain(pc.result);
  auto* result = pc.result;
  node_id target;
  bool created_here = false;
  {
    std::lock_guard<std::mutex> guard{mu_};
    auto c = created_.find(a->id);
    target = last_known_location(*a);
    if (c != created_.end()) {
      created_here = true;
      if (!c->second.death.empty()) {
        auto why = "actor " + a->id.to_string() + " is dead: " + c->second.death;
        fail_call(pc, why);
        return result;
      }
      target = c->second.location;
      if (c->second.restarting) {
        // Sent when the new instance exists, in the order made.
        c->second.waiting.push_back(std::move(pc));
        return result;
      }
    }
  }
  if (!created_here && members_.is_dead(target)) {
    // A handle this node was given: its creator knows where a restart put it.
    std::string why;
    auto now = locate(a->id, why);
    if (!now) {
      fail_call(pc, "actor " + a->id.to_string() + " cannot be reached: its node " + target.to_string()
                      + " is gone, and " + why);
      return result;
    }
    target = *now;
  }
  send_call(target, std::move(pc));
  return result;
}

node_id actor_calls::last_known_location(const detail::actor_cell& a) const {
  auto r = relocated_.find(a.id);
  return r != relocated_.end() ? r->second : a.location;
}

std::optional<node_id> actor_calls::locate(const actor_id& aid, std::string& why, int* max_task_retries) {
  const node_id creator{aid.owner};
  const auto deadline = std::chrono::steady_clock::now() + relocate_timeout;
  for (;;) {
    if (members_.is_dead(creator) || !links_.reaches(creator)) {
      why = "its creator, node " + creator.to_string() + ", is gone too";
      return std::nullopt;
    }
    std::string lost;
    auto answer = links_.request(creator, request_kind::locate_actor, wire::pack(wire::actor_ref{aid}),
                                 blocking_timeout, lost);
    if (!answer) {
      why = "its creator, node " + creator.to_string() + ", did not say where it is (" + lost + ")";
      return std::nullopt;
    }
    wire::actor_location at;
    try {
      at = wire::unpack<wire::actor_location>(*answer, "actor location");
    } catch (const std::exception& e) {
      why = e.what();
      return std::nullopt;
    }
    if (!at.death.empty()) {
      why = "it is dead: " + at.death;
      return std::nullopt;
    }
    if (max_task_retries)
      *max_task_retries = at.max_task_retries;
    if (!at.restarting && at.node.value && !members_.is_dead(at.node)) {
      std::lock_guard<std::mutex> guard{mu_};
      relocated_[aid] = at.node;
      return at.node;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      why = "its creator, node " + creator.to_string() + ", was still rebuilding it after "
            + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(relocate_timeout).count()) + " s";
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

wire::actor_location actor_calls::serve_locate(const wire::actor_ref& ref) {
  wire::actor_location at;
  std::lock_guard<std::mutex> guard{mu_};
  auto c = created_.find(ref.id);
  if (c == created_.end())
    at.death = "node " + local_.id.to_string() + " did not create actor " + ref.id.to_string()
               + " (or it ended and was forgotten)";
  else if (!c->second.death.empty())
    at.death = c->second.death;
  else if (c->second.restarting)
    at.restarting = true;
  else
    at.node = c->second.location;
  if (c != created_.end())
    at.max_task_retries = c->second.opts.max_task_retries;
  return at;
}

void actor_calls::requeue(pending_call pc, const node_id& lost, const std::string& why) {
  node_id target;
  {
    std::lock_guard<std::mutex> guard{mu_};
    auto i = created_.find(pc.call.id);
    if (i == created_.end() && !stopping_ && !members_.stopping()) {
      // Through a handle this node was given: the creator says where the actor
      // is rebuilt and how often a call may go again. Asking blocks (it waits
      // out the rebuild): on a thread of its own.
      auto shared = std::make_shared<pending_call>(std::move(pc));
      restarters_.start([this, shared, lost, why] { resend_elsewhere(std::move(*shared), lost, why, true); });
      return;
    }
    bool again = i != created_.end() && i->second.death.empty() && i->second.call_retries_left > 0
                 && (i->second.restarting || i->second.location != lost);
    if (!again) {
      // Settled after the lock.
      target = node_id{};
    } else {
      auto& c = i->second;
      --c.call_retries_left;
      if (c.restarting) {
        c.waiting.push_back(std::move(pc));
        return;
      }
      target = c.location;
    }
  }
  if (!target.value) {
    fail_call(pc, "the actor's node " + lost.to_string() + " is gone (" + why + ")");
    return;
  }
  send_call(target, std::move(pc));
}

void actor_calls::redirect_unsent(pending_call pc, const node_id& dead) {
  const std::string why = "it was declared dead before the call went out";
  node_id target;
  std::string death;
  {
    std::lock_guard<std::mutex> guard{mu_};
    auto i = created_.find(pc.call.id);
    if (i == created_.end()) {
      if (!stopping_ && !members_.stopping()) {
        // Through a handle this node was given: its creator says where the
        // actor is rebuilt. Asking blocks: on a thread of its own.
        auto shared = std::make_shared<pending_call>(std::move(pc));
        restarters_.start(
            [this, shared, dead, why] { resend_elsewhere(std::move(*shared), dead, why, false); });
        return;
      }
    } else {
      auto& c = i->second;
      if (!c.restarting && c.death.empty() && c.location == dead)
        lose_instance(i->first, c, dead, why); // before membership's word reaches this part
      if (c.death.empty() && c.restarting) {
        c.waiting.push_back(std::move(pc));
        return;
      }
      if (!c.death.empty())
        death = "actor " + i->first.to_string() + " is dead: " + c.death;
      else if (c.location != dead)
        target = c.location;
    }
  }
  if (!target.value) {
    fail_call(pc, death.empty() ? "the actor's node " + dead.to_string() + " is gone (" + why + ")" : death);
    return;
  }
  send_call(target, std::move(pc));
}

void actor_calls::resend_elsewhere(pending_call pc, const node_id& lost, const std::string& why,
                                   bool spends_retry) {
  const auto aid = pc.call.id;
  std::string not_found;
  int retries = 0;
  auto now = locate(aid, not_found, &retries);
  if (!now) {
    fail_call(pc, "the actor's node " + lost.to_string() + " is gone (" + why + "), and " + not_found);
    return;
  }
  if (spends_retry && pc.retries_used >= retries) {
    fail_call(pc, "the actor's node " + lost.to_string() + " is gone (" + why
                    + ") while the call ran, and it has no retries left (max_task_retries="
                    + std::to_string(retries) + ")");
    return;
  }
  if (spends_retry)
    ++pc.retries_used;
  log(log_level::info, "cluster", "a call to actor ", aid.to_string(), " goes again to node ", now->to_string(),
      ": its node ", lost.to_string(), " is gone");
  send_call(*now, std::move(pc));
}

void actor_calls::kill(detail::actor_cell* a, bool no_restart) {
  node_id location;
  std::vector<pending_call> waiting;
  bool created_here = false;
  {
    std::lock_guard<std::mutex> guard{mu_};
    auto c = created_.find(a->id);
    created_here = c != created_.end();
    location = created_here ? c->second.location : last_known_location(*a);
    if (c != created_.end() && (no_restart || c->second.unplaced))
      c->second.death = "it was killed";
    if (c != created_.end() && c->second.unplaced)
      waiting.swap(c->second.waiting); // never created: nothing to tell a node
  }
  for (auto& pc : waiting)
    fail_call(pc, "actor " + a->id.to_string() + " is dead: it was killed before a node could host it");
  if (!location.value)
    return;
  if (!created_here && members_.is_dead(location)) {
    // A handle this node was given: the actor may live on elsewhere.
    std::string why;
    auto now = locate(a->id, why);
    if (!now)
      return; // dead already, or gone with its creator
    location = *now;
  }
  if (members_.is_dead(location) || !links_.reaches(location))
    return; // its node is gone, and the actor with it
  std::string why;
  if (!links_.request(location, request_kind::kill_actor, wire::pack(wire::kill_request{a->id, no_restart}),
                      blocking_timeout, why))
    throw error(errc::actor_died, "node " + location.to_string() + " did not confirm the kill: " + why);
}

void actor_calls::handles_released(const detail::actor_cell& cell) noexcept {
  if (cell.borrowed) {
    borrow_ended(cell.id);
    return;
  }
  node_id location;
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (stopping_)
      return;
    auto i = created_.find(cell.id);
    if (i != created_.end() && i->second.cell == &cell)
      i->second.cell = nullptr;
    location = i != created_.end() ? i->second.location : last_known_location(cell);
    if (i != created_.end() && i->second.unplaced) {
      // Never created: it need not be, and no node is to be told.
      i->second.death = "every handle to it was dropped";
      if (!i->second.placing)
        created_.erase(i);
      return;
    }
    if (i != created_.end() && !i->second.restarting)
      created_.erase(i);
  }
  try {
    links_.send(location, message_kind::drop_actor, wire::pack(wire::actor_ref{cell.id}));
  } catch (const std::exception& e) {
    log(log_level::warning, "cluster", "could not tell node ", location.to_string(), " to drop actor ",
        cell.id.to_string(), ": ", e.what());
  }
}

detail::actor_cell* actor_calls::adopt_handle(const actor_id& id, const node_id& location) {
  if (id.owner == local_.id.value) {
    // Back at its creator: every handle here shares the creator's cell.
    std::lock_guard<std::mutex> guard{mu_};
    auto c = created_.find(id);
    if (c != created_.end() && c->second.cell && retain_if_alive(c->second.cell))
      return c->second.cell;
    // Its handles here went already, so the actor was dropped: its calls fail.
    return actor_host::make_remote(id, location, nullptr);
  }
  auto* a = actor_host::make_remote(id, location, nullptr, weak_from_this());
  a->borrowed = true;
  std::lock_guard<std::mutex> guard{borrow_mu_};
  if (++borrowing_[id] == 1)
    tell_creator(id, true);
  return a;
}

void actor_calls::borrow_ended(const actor_id& id) noexcept {
  std::lock_guard<std::mutex> guard{borrow_mu_};
  auto i = borrowing_.find(id);
  if (i == borrowing_.end() || --i->second > 0)
    return;
  borrowing_.erase(i);
  tell_creator(id, false);
}

void actor_calls::tell_creator(const actor_id& id, bool borrow) noexcept {
  const node_id creator{id.owner};
  try {
    links_.send(creator, message_kind::actor_borrow, wire::pack(wire::actor_borrow{id, local_.id, borrow}));
  } catch (const std::exception& e) {
    // A creator that is gone took its actors with it.
    log(log_level::debug, "cluster", "could not tell node ", creator.to_string(), " about handles to actor ",
        id.to_string(), ": ", e.what());
  }
}

void actor_calls::serve_borrow(const wire::actor_borrow& notice) {
  const std::pair<actor_id, node_id> key{notice.id, notice.borrower};
  detail::actor_cell* extra = nullptr; // released after the lock
  if (notice.borrow) {
    // Hosted here, or created here and hosted elsewhere: the cell that keeps it.
    auto* hold = local_.host.find(notice.id);
    std::lock_guard<std::mutex> guard{mu_};
    if (!hold) {
      auto c = created_.find(notice.id);
      if (c != created_.end() && c->second.cell && retain_if_alive(c->second.cell))
        hold = c->second.cell;
    }
    if (!hold)
      return; // dropped already: the borrower's calls fail as any others would
    if (stopping_ || !lent_.emplace(key, hold).second)
      extra = hold;
  } else {
    std::lock_guard<std::mutex> guard{mu_};
    auto i = lent_.find(key);
    if (i == lent_.end())
      return;
    extra = i->second;
    lent_.erase(i);
  }
  if (extra)
    detail::release(extra);
}

void actor_calls::node_lost(const node_id& id, const std::string& why) {
  std::lock_guard<std::mutex> guard{mu_};
  for (auto& [aid, a] : created_)
    if (a.location == id && !a.restarting && a.death.empty())
      lose_instance(aid, a, id, why);
}

void actor_calls::lose_instance(const actor_id& aid, created_actor& a, const node_id& id, const std::string& why) {
  if (a.restarts < a.opts.max_restarts && !members_.stopping()) {
    a.restarting = true;
    a.call_retries_left = a.opts.max_task_retries;
    restarters_.start([this, aid] { restart(aid); });
  } else {
    a.death = "its node " + id.to_string() + " is gone (" + why + ") and it has no restarts left (max_restarts="
              + std::to_string(a.opts.max_restarts) + ")";
  }
}

void actor_calls::restart(const actor_id& aid) {
  auto a = recipe_of(aid);
  auto placement = a.opts.placement;
  placement.affinity = {};
  std::string why;
  std::optional<node_id> where;
  bool ok = false;
  // Each attempt is a restart: one that fails (the chosen node is cut off too,
  // say, and the request times out) leaves the others, on whatever node is
  // chosen then.
  int attempts = 0;
  while (!ok && a.restarts + attempts < a.opts.max_restarts && !members_.stopping()) {
    ++attempts;
    why.clear();
    where.reset();
    bool nowhere = false;
    try {
      where = place_.place(resource_set::from(a.opts.num_cpus, a.opts.resources), placement, true, nullptr,
                           &nowhere);
      // This node is the best place: the instance is made here like on any
      // other node, through this node's own endpoint, so that the handles,
      // which name a remote instance, reach it as they are.
      if (!where && !nowhere)
        where = local_.id;
    } catch (const std::exception& e) {
      why = e.what();
    }
    if (where) {
      ok = create_there(*where, aid, a, a.restarts + attempts, why);
    } else if (why.empty()) {
      why = "no live node can host it";
    }
    if (!ok && a.restarts + attempts < a.opts.max_restarts)
      log(log_level::warning, "cluster", "actor ", aid.to_string(), " could not be rebuilt",
          where ? " on node " + where->to_string() : std::string(), ": ", why, "; trying again (restart ",
          a.restarts + attempts, " of ", a.opts.max_restarts, ")");
  }
  if (ok && !a.opts.name.empty()) {
    // The name now points at the new node.
    try {
      names_.register_name(a.opts.name, named_actor_entry{aid, a.factory->actor_class, *where});
    } catch (const std::exception& e) {
      log(log_level::warning, "cluster", "actor '", a.opts.name, "' was rebuilt but its name could not be moved: ",
          e.what());
    }
  }
  std::vector<pending_call> calls;
  {
    std::lock_guard<std::mutex> guard{mu_};
    auto& c = created_.at(aid);
    c.restarting = false;
    if (ok) {
      c.restarts += attempts;
      c.location = *where;
      log(log_level::warning, "cluster", "actor ", aid.to_string(), " restarted on node ", where->to_string(),
          " (restart ", c.restarts, " of ", c.opts.max_restarts, ")");
    } else {
      c.death = "its node died and it could not be rebuilt: " + why;
    }
    calls.swap(c.waiting);
  }
  for (auto& pc : calls) {
    if (ok)
      send_call(*where, std::move(pc));
    else
      fail_call(pc, "actor " + aid.to_string() + " is dead: " + why);
  }
}

void actor_calls::rejoined() {
  for (const auto& a : local_.host.named_actors()) {
    try {
      if (!names_.register_name(a.name, named_actor_entry{a.id, a.class_name, local_.id}))
        log(log_level::warning, "cluster", "actor ", a.id.to_string(), " is named '", a.name,
            "' but the restarted head gives that name to another actor");
    } catch (const std::exception& e) {
      log(log_level::warning, "cluster", "could not announce actor '", a.name, "' to the head: ", e.what());
    }
  }
}

// -- the host's side -------------------------------------------------------------------------

wire::request_answer actor_calls::serve_create(wire::actor_create_request req) {
  try {
    const auto* fn = detail::function_named(req.factory);
    // The creator may be a job's driver whose libraries are loading here; this
    // waits on the request server's thread (caf_transport), once per job at most.
    if (!fn && env_.prepare_for(node_id{req.id.owner}, std::chrono::seconds(60)))
      fn = detail::function_named(req.factory);
    if (!fn || !fn->construct)
      return {false, "actor factory '" + req.factory + "' is not registered on node " + local_.id.to_string()
                       + ": every node must run a program or load a library whose ACTORS_REMOTE lists it"};
    if (req.signature != fn->signature)
      return {false, signature_mismatch("actor factory", req.factory, local_.id, fn->signature, req.signature)};
    auto args = fn->decode_args(req.args);
    auto* a = local_.host.create(req.id, *fn, std::move(args), std::move(req.options), req.restarts,
                                 env_.working_dir_for(node_id{req.id.owner}, std::chrono::seconds(60)));
    std::lock_guard<std::mutex> guard{mu_};
    creator_holds_.emplace(req.id, a);
    return {true, {}};
  } catch (const std::exception& e) {
    return {false, "node " + local_.id.to_string() + " cannot create the actor: " + e.what()};
  }
}

void actor_calls::serve_call(wire::actor_call req, const return_address& from) {
  auto* a = local_.host.find(req.id);
  if (!a) {
    objects_.reply_failure(req.key, from,
                           detail::failure{errc::actor_died,
                                           "actor " + req.id.to_string() + " is not alive on node "
                                             + local_.id.to_string(),
                                           {}, {}});
    return;
  }
  const detail::method_entry* m = nullptr;
  detail::args_ptr args;
  try {
    m = detail::method_named(req.method);
    if (!m)
      throw not_registered_error("method '" + req.method + "' is not registered on node " + local_.id.to_string()
                                 + ": list it in ACTORS_REMOTE on every node");
    if (req.signature != m->signature)
      throw error(errc::task_failed, signature_mismatch("method", req.method, local_.id, m->signature, req.signature));
    args = m->decode_args(req.args);
  } catch (const std::exception& e) {
    detail::release(a);
    objects_.reply_failure(req.key, from,
                           detail::failure{errc::task_failed, e.what(), req.method, local_.id.to_string()});
    return;
  }
  std::vector<detail::withheld_argument> withheld;
  args->withheld(withheld);
  const arrival_key key{req.id, req.caller};
  std::shared_ptr<arriving_call> call; // only for a call that must fetch or wait
  {
    std::lock_guard<std::mutex> guard{arriving_mu_};
    auto queue = arriving_.find(key);
    if (queue != arriving_.end() || !withheld.empty()) {
      call = std::make_shared<arriving_call>();
      call->actor = a;
      call->method = m;
      call->args = std::move(args);
      call->withheld = std::move(withheld);
      call->from = from;
      call->req = std::move(req);
      if (queue != arriving_.end()) {
        // An earlier call of this caller fetches its arguments: this one goes
        // after it, as it was made.
        queue->second.push_back(std::move(call));
        return;
      }
      arriving_[key]; // later calls of this caller queue behind this one
    }
  }
  if (call)
    fetch_then_deliver(key, std::move(call));
  else
    deliver(a, *m, std::move(args), req, from);
}

void actor_calls::fetch_then_deliver(const arrival_key& key, std::shared_ptr<arriving_call> call) {
  struct fetching {
    std::mutex mu;
    std::size_t left = 0;
    bool failed = false;
    detail::failure why;
  };
  auto f = std::make_shared<fetching>();
  f->left = call->withheld.size();
  const std::size_t count = call->withheld.size();
  for (std::size_t i = 0; i < count; ++i) {
    auto& arg = call->withheld[i];
    wire::located_object where{arg.id, call->req.caller, arg.id, arg.ops->name, arg.size};
    objects_.fetch_argument(where, arg, [this, key, call, f](bool ok, detail::failure why) {
      bool last = false;
      {
        std::lock_guard<std::mutex> guard{f->mu};
        if (!ok && !f->failed) {
          f->failed = true;
          f->why = std::move(why);
        }
        last = --f->left == 0;
      }
      if (!last)
        return;
      if (f->failed) {
        detail::release(std::exchange(call->actor, nullptr));
        objects_.reply_failure(call->req.key, call->from,
                               detail::failure{f->why.code,
                                               "an argument of the call of '" + call->req.method + "' on actor "
                                                 + call->req.id.to_string() + " could not be fetched from node "
                                                 + call->req.caller.to_string() + ": " + f->why.message,
                                               {}, {}});
      } else {
        deliver(*call);
      }
      deliver_queued(key);
    });
  }
}

void actor_calls::deliver_queued(const arrival_key& key) {
  for (;;) {
    std::shared_ptr<arriving_call> next;
    {
      std::lock_guard<std::mutex> guard{arriving_mu_};
      auto i = arriving_.find(key);
      if (i == arriving_.end())
        return;
      if (i->second.empty()) {
        arriving_.erase(i);
        return;
      }
      next = std::move(i->second.front());
      i->second.pop_front();
    }
    if (!next->withheld.empty()) {
      fetch_then_deliver(key, std::move(next)); // the queue stays open behind it
      return;
    }
    deliver(*next);
  }
}

void actor_calls::deliver(detail::actor_cell* a, const detail::method_entry& m, detail::args_ptr args,
                          const wire::actor_call& req, const return_address& from) {
  // A generator method's items go to the stream's owner as they come, before
  // the call's answer.
  std::shared_ptr<item_sink> items;
  if (m.yields && req.stream.seq)
    items = streams_.sink_for(req.stream, req.max_buffered, from);
  auto* result = local_.host.call(a, m, std::move(args), std::move(items), req.max_buffered);
  detail::release(a);
  // The value goes inline whatever its size: an actor's result has no lineage
  // to be made again from, so it lives with its caller, not with this node.
  objects_.reply_when_settled(result, req.key, from, node_id{});
}

wire::request_answer actor_calls::serve_kill(const wire::kill_request& req) {
  auto* a = local_.host.find(req.id);
  if (!a)
    return {false, "actor " + req.id.to_string() + " is not alive on node " + local_.id.to_string()};
  local_.host.kill(a, req.no_restart);
  detail::release(a);
  return {true, {}};
}

void actor_calls::node_gone_for_good(const node_id& id) {
  // Named or not, and whether or not the creator still held a handle.
  auto ended = local_.host.end_created_by(
    id, "its creator, node " + id.to_string() + ", is gone (an actor lives as long as the process that created it, "
          "unless it was made with .lifetime(actors::detached))");
  if (ended > 0)
    log(log_level::info, "cluster", ended, " actors end with their creator, node ", id.to_string());
  std::vector<detail::actor_cell*> holds;
  {
    std::lock_guard<std::mutex> guard{mu_};
    for (auto i = creator_holds_.begin(); i != creator_holds_.end();) {
      if (i->first.owner == id.value && !i->second->opts.detached) {
        holds.push_back(i->second);
        i = creator_holds_.erase(i);
      } else {
        ++i;
      }
    }
  }
  {
    // Nor will a borrower that is gone.
    std::lock_guard<std::mutex> guard{mu_};
    for (auto i = lent_.begin(); i != lent_.end();) {
      if (i->first.second == id) {
        holds.push_back(i->second);
        i = lent_.erase(i);
      } else {
        ++i;
      }
    }
  }
  // The creator will never drop its holds itself. A detached actor keeps its
  // hold: it lives until killed.
  for (auto* a : holds)
    detail::release(a);
}

void actor_calls::serve_drop(const wire::actor_ref& ref) {
  detail::actor_cell* a = nullptr;
  {
    std::lock_guard<std::mutex> guard{mu_};
    auto i = creator_holds_.find(ref.id);
    if (i == creator_holds_.end())
      return;
    a = i->second;
    creator_holds_.erase(i);
  }
  detail::release(a);
}

void actor_calls::stop() {
  std::vector<detail::actor_cell*> holds;
  std::vector<pending_call> waiting;
  {
    std::lock_guard<std::mutex> guard{mu_};
    stopping_ = true;
    for (auto& [id, a] : creator_holds_)
      holds.push_back(a);
    creator_holds_.clear();
    for (auto& [key, a] : lent_)
      holds.push_back(a);
    lent_.clear();
  }
  for (auto* a : holds)
    detail::release(a);
  restarters_.wait_all();
  {
    std::lock_guard<std::mutex> guard{mu_};
    for (auto& [id, c] : created_)
      for (auto& pc : c.waiting)
        waiting.push_back(std::move(pc));
    for (auto& [id, c] : created_)
      c.waiting.clear();
  }
  for (auto& pc : waiting)
    fail_call(pc, "actor " + pc.call.id.to_string() + " cannot be reached: this node is shutting down");
}

} // namespace actors::runtime
