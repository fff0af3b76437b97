#include "runtime/actor_host/actor_host.hpp"

#include "runtime/common/coroutine_scope.hpp"
#include "runtime/common/log.hpp"
#include "runtime/scheduler/dependencies.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <utility>
#include <vector>

namespace actors::detail {

namespace {
thread_local handle_counter* counting_handles = nullptr;
} // namespace

handle_counter::handle_counter() noexcept : outer_(counting_handles) {
  counting_handles = this;
}

handle_counter::~handle_counter() {
  counting_handles = outer_;
}

void handle_counter::note() noexcept {
  if (counting_handles)
    ++counting_handles->count_;
}

} // namespace actors::detail

namespace actors::runtime {

namespace {

// A named or detached actor lives until killed: its host holds it.
bool held_by_host(const actor_cell* a) {
  return !a->opts.name.empty() || a->opts.detached;
}

std::string actor_label(const actor_cell* a) {
  std::string s = "actor " + a->id.to_string();
  if (!a->opts.name.empty())
    s += " ('" + a->opts.name + "')";
  return s;
}

detail::failure died(const actor_cell* a) {
  return {errc::actor_died, actor_label(a) + " is dead: " + a->death, {}, {}};
}

// The calls a pool thread drains from one mailbox before it lets other work in.
constexpr int drain_budget = 64;

} // namespace

/// Builds (or rebuilds) one actor's instance on a worker thread. It carries the
/// number of the creation it is (actor_cell::generation). If it is still the
/// wanted one when it gets its demand, that demand becomes the actor's
/// reservation, which it keeps after returning; if the actor was killed or a
/// newer creation was queued meanwhile, it gives the demand straight back to the
/// scheduler without running the factory.
class actor_creation final : public work_item {
 public:
  actor_creation(actor_host& host, actor_cell* actor, std::uint64_t generation, resource_set demand)
    : work_item(std::move(demand)), host_(host), actor_(actor), generation_(generation) {
    detail::retain(actor_);
  }

  ~actor_creation() override {
    detail::release(actor_);
  }

  void run() override {
    if (!host_.begin_creation(actor_, generation_)) {
      stale_ = true;
      return;
    }
    std::shared_ptr<void> instance;
    try {
      working_dir_scope in_job{actor_->working_dir};
      namespace_scope in_ns{&actor_->opts.ns};
      instance = actor_->factory->construct(actor_->factory->fn, *actor_->ctor_args);
    } catch (const std::exception& e) {
      host_.on_creation_failed(actor_, generation_,
                               "its factory '" + actor_->factory->name + "' threw: " + e.what());
      return;
    } catch (...) {
      host_.on_creation_failed(actor_, generation_, "its factory '" + actor_->factory->name
                                                      + "' threw an exception that is not a std::exception");
      return;
    }
    host_.on_created(actor_, generation_, std::move(instance));
  }

  void abandon(const std::string& reason) override {
    host_.on_creation_failed(actor_, generation_, reason);
  }

  /// A stale creation gives its demand back; a wanted one keeps it as the
  /// actor's reservation, which goes back when the actor dies.
  bool releases_on_return() const override {
    return stale_;
  }

  std::string describe() const override {
    return "the creation of " + actor_label(actor_);
  }

 private:
  actor_host& host_;
  actor_cell* actor_;
  const std::uint64_t generation_;
  bool stale_ = false;
};

actor_host::actor_host(node_id node, object_store& store, scheduler& sched, worker_pool& pool,
                       task_log& log, name_freed on_named_death)
  : node_(node), store_(store), sched_(sched), pool_(pool), log_(log), on_named_death_(std::move(on_named_death)) {}

std::vector<std::vector<std::string>> actor_host::describe() const {
  std::vector<std::vector<std::string>> rows;
  std::lock_guard<std::mutex> guard{mu_};
  for (const auto& [id, a] : actors_) {
    std::lock_guard<std::mutex> g{a->mu};
    const char* st = a->st == actor_cell::state::alive      ? "ALIVE"
                     : a->st == actor_cell::state::creating ? (a->restarts_used ? "RESTARTING" : "PENDING")
                                                            : "DEAD";
    rows.push_back({id.to_string(), a->class_name ? detail::demangle(a->class_name) : "?", a->opts.name, st,
                    std::to_string(a->restarts_used)});
  }
  return rows;
}

std::vector<actor_host::named_actor> actor_host::named_actors() const {
  std::vector<named_actor> out;
  std::lock_guard<std::mutex> guard{mu_};
  for (const auto& [id, a] : actors_) {
    std::lock_guard<std::mutex> g{a->mu};
    if (!a->opts.name.empty() && a->st != actor_cell::state::dead)
      out.push_back({a->opts.name, id, a->class_name ? a->class_name : ""});
  }
  return out;
}

actor_host::~actor_host() {
  stop();
}

actor_id actor_host::next_id() {
  return actor_id{node_.value, next_seq_.fetch_add(1)};
}

actor_cell* actor_host::make_dead(const actor_id& id, std::string why) {
  auto* a = new actor_cell(nullptr, id);
  a->st = actor_cell::state::dead;
  a->death = std::move(why);
  return a;
}

actor_cell* actor_host::make_remote(const actor_id& id, node_id location, const char* class_name,
                                   std::weak_ptr<detail::remote_actor_creator> creator) {
  auto* a = new actor_cell(nullptr, id);
  a->location = location;
  a->remote = true;
  a->class_name = class_name;
  a->creator = std::move(creator);
  a->st = actor_cell::state::alive;
  return a;
}

actor_cell* actor_host::create(const actor_id& id, const detail::function_entry& factory,
                               detail::args_ptr args, detail::actor_options opts, int restarts,
                               std::shared_ptr<const std::string> working_dir) {
  auto* a = new actor_cell(this, id);
  a->restarts_used = restarts;
  a->working_dir = std::move(working_dir);
  a->location = node_;
  a->factory = &factory;
  a->ctor_args = std::move(args);
  a->class_name = factory.actor_class;
  a->reservation = resource_set::from(opts.num_cpus, opts.resources);
  a->opts = std::move(opts);
  a->async_actor = detail::is_async_class(factory.actor_class);
  if (a->opts.max_concurrency > 1 && !a->async_actor)
    a->threads = std::make_shared<worker_pool>(static_cast<std::size_t>(a->opts.max_concurrency), false);
  if (held_by_host(a))
    detail::retain(a);
  {
    std::lock_guard<std::mutex> guard{mu_};
    actors_.emplace(a->id, a);
  }
  live_.fetch_add(1, std::memory_order_relaxed);
  auto ticket = [&] {
    std::lock_guard<std::mutex> guard{a->mu};
    return queue_creation_locked(a);
  }();
  submit_creation(a, std::move(ticket));
  return a;
}

actor_host::creation_ticket actor_host::queue_creation_locked(actor_cell* a) {
  a->creation_waiting = true;
  // A restart reuses the reservation the actor still holds.
  return {++a->generation, a->reserved ? resource_set{} : a->reservation};
}

void actor_host::submit_creation(actor_cell* a, creation_ticket ticket) {
  auto* c = new actor_creation(*this, a, ticket.generation, std::move(ticket.demand));
  when_ready(*a->ctor_args, [this, c] { sched_.submit(std::unique_ptr<work_item>(c)); });
}

bool actor_host::begin_creation(actor_cell* a, std::uint64_t generation) {
  std::lock_guard<std::mutex> guard{a->mu};
  if (a->generation != generation)
    return false; // the actor died, or a newer creation replaced this one
  a->creation_waiting = false;
  a->reserved = true;
  return true;
}

void actor_host::on_created(actor_cell* a, std::uint64_t generation, std::shared_ptr<void> instance) {
  std::unique_lock<std::mutex> lock{a->mu};
  if (a->generation != generation) {
    // Killed or restarted while being built: the user's destructor runs outside
    // the lock, and the reservation stays with the actor (a newer creation uses
    // it, or the death gave it back).
    lock.unlock();
    instance.reset();
    return;
  }
  a->instance = std::move(instance);
  a->st = actor_cell::state::alive;
  if (!a->mailbox.empty())
    schedule_drain_locked(a);
}

void actor_host::on_creation_failed(actor_cell* a, std::uint64_t generation, const std::string& why) {
  std::unique_lock<std::mutex> lock{a->mu};
  if (a->generation != generation)
    return; // dead already, or a newer creation is coming
  log(log_level::warning, "actor_host", actor_label(a), " could not be created: ", why);
  die_locked(a, lock, "it could not be created: " + why);
}

void actor_host::end_as_asked(actor_cell* a) {
  current_context().exit_requested = false;
  log(log_level::info, "actor_host", actor_label(a), " ends: a method called actors::exit_actor()");
  end(a, "it ended itself with actors::exit_actor()");
}

void actor_host::end(actor_cell* a, const std::string& why) {
  std::unique_lock<std::mutex> lock{a->mu};
  if (a->st == actor_cell::state::dead)
    return;
  die_locked(a, lock, why);
}

void actor_host::die_locked(actor_cell* a, std::unique_lock<std::mutex>& lock, std::string why) {
  if (a->st != actor_cell::state::dead)
    live_.fetch_sub(1, std::memory_order_relaxed);
  a->st = actor_cell::state::dead;
  a->death = std::move(why);
  // Every creation still queued or running is stale from now on.
  ++a->generation;
  a->creation_waiting = false;
  auto instance = std::move(a->instance);
  auto calls = std::move(a->mailbox);
  a->mailbox.clear();
  bool reserved = std::exchange(a->reserved, false);
  auto failure = died(a);
  bool named = !a->opts.name.empty();
  bool held = held_by_host(a);
  lock.unlock();
  instance.reset(); // the user's destructor runs outside the lock
  if (reserved)
    sched_.release(a->reservation);
  for (auto& c : calls) {
    store_.settle(c.result, failure);
    detail::release(c.result);
    detail::release(a);
  }
  if (named && on_named_death_)
    on_named_death_(a->id, a->opts.name);
  if (held)
    detail::release(a); // the host's hold
}

detail::object_cell* actor_host::call(actor_cell* a, const detail::method_entry& method,
                                      detail::args_ptr args, std::shared_ptr<item_sink> items,
                                      std::uint64_t max_buffered) {
  std::unique_lock<std::mutex> lock{a->mu};
  if (a->st == actor_cell::state::dead)
    return store_.create_failed(died(a));
  auto* result = store_.create_pending();
  detail::retain(result); // one for the caller, one for the call
  detail::retain(a);      // the queued call keeps the actor alive
  a->mailbox.push_back({&method, std::move(args), result, std::move(items), max_buffered});
  if (a->st == actor_cell::state::alive)
    schedule_drain_locked(a);
  return result;
}

worker_pool& actor_host::pool_of(actor_cell* a) {
  return a->threads ? *a->threads : pool_;
}

void actor_host::schedule_drain_locked(actor_cell* a) {
  // One drain job per call that may run at once (one that finds no call left
  // ends at once): a threaded actor's max_concurrency, else one.
  if (a->drains >= (a->threads ? a->opts.max_concurrency : 1))
    return;
  ++a->drains;
  detail::retain(a);
  pool_of(a).post([this, a] { drain(a); });
}

void actor_host::drain(actor_cell* a) {
  auto& pool = pool_of(a);
  auto& ctx = current_context();
  ctx.sched = &sched_;
  ctx.pool = &pool;
  ctx.held_cpu = 0;
  for (int n = 0; n < drain_budget; ++n) {
    std::unique_lock<std::mutex> lock{a->mu};
    if (!a->ready.empty()) {
      auto h = a->ready.front();
      a->ready.pop_front();
      ctx.actor_restarted = a->restarts_used > 0;
      lock.unlock();
      ctx.in_actor_method = true;
      run_coroutine(a, h);
      ctx.in_actor_method = false;
      ctx.actor_restarted = false;
      if (ctx.exit_requested)
        end_as_asked(a);
      continue;
    }
    if (a->st != actor_cell::state::alive || a->mailbox.empty()
        || (a->async_actor && a->in_flight >= async_limit(a))) {
      // An async actor at its limit goes on when a call ends (coroutine_ended).
      --a->drains;
      lock.unlock();
      detail::release(a);
      return;
    }
    if (auto* dep = first_unsettled(*a->mailbox.front().args)) {
      // Calls start in order: the mailbox waits for the head call's arguments.
      lock.unlock();
      dep->on_settled([this, a, &pool] { pool.post([this, a] { drain(a); }); });
      return;
    }
    auto call = std::move(a->mailbox.front());
    a->mailbox.pop_front();
    // Room for another call at once (a threaded actor).
    if (!a->mailbox.empty())
      schedule_drain_locked(a);
    auto instance = a->instance;
    ctx.actor_restarted = a->restarts_used > 0;
    if (call.method->start && call.result->current() == detail::object_cell::state::pending) {
      ++a->in_flight;
      lock.unlock();
      ctx.in_actor_method = true;
      start_coroutine(a, std::move(call), std::move(instance));
      ctx.in_actor_method = false;
      ctx.actor_restarted = false;
      if (ctx.exit_requested)
        end_as_asked(a);
      continue;
    }
    lock.unlock();
    if (call.result->current() == detail::object_cell::state::pending) {
      auto slot = log_.started(call.method->name);
      ctx.in_actor_method = true;
      try {
        working_dir_scope in_job{a->working_dir};
        namespace_scope in_ns{&a->opts.ns};
        store_.settle(call.result, call.method->invoke(call.method->method_bytes.data(), instance.get(), *call.args));
        log_.finished(slot, true);
      } catch (const std::exception& e) {
        log_.finished(slot, false);
        store_.settle(call.result, detail::failure{errc::task_failed, e.what(), call.method->name, node_.to_string()});
      } catch (...) {
        log_.finished(slot, false);
        store_.settle(call.result, detail::failure{errc::task_failed, "an exception that is not a std::exception",
                                                   call.method->name, node_.to_string()});
      }
    }
    ctx.in_actor_method = false;
    ctx.actor_restarted = false;
    if (ctx.exit_requested)
      end_as_asked(a);
    instance.reset();
    call.args.reset();
    detail::release(call.result);
    detail::release(a); // the call's hold
  }
  pool.post([this, a] { drain(a); });
}

/// One coroutine call of an async actor, from its start to its end: what it
/// needs while suspended (its arguments, which its parameters may refer to, and
/// the instance), and where its result goes.
class coroutine_call final : public detail::async_completion {
 public:
  coroutine_call(actor_host& host, actor_cell* a, detail::actor_call_request call, std::shared_ptr<void> instance,
                 std::uint64_t slot)
    : host_(host), a_(a), call_(std::move(call)), instance_(std::move(instance)), slot_(slot) {
    if (call_.method->yields) {
      // The end of the call (a cancel) wakes a generator that waits for room.
      pause_ = std::make_shared<producer_pause>();
      call_.result->on_settled([p = pause_] { p->fire(); });
    }
  }

  void finished(detail::value_box value) override {
    host_.log_.finished(slot_, true);
    // A generator's result is the number of items it made.
    host_.store_.settle(call_.result, call_.method->yields ? detail::box(std::uint64_t{made_}) : std::move(value));
    end();
  }

  /// A generator method's item: to the call's sink; it goes on at once unless the
  /// sink has no room, then the actor resumes it when room comes. One whose
  /// call was cancelled, or whose items nobody wants, ends here.
  bool yielded(detail::value_box item, std::coroutine_handle<> h) override {
    if (call_.result->current() != detail::object_cell::state::pending || (call_.items && !call_.items->wanted())) {
      h.destroy();
      host_.log_.finished(slot_, false);
      host_.store_.settle(call_.result,
                          detail::failure{errc::cancelled,
                                          "call of '" + call_.method->name
                                            + "' stopped: its caller dropped the stream of its items",
                                          {}, {}});
      end();
      return false;
    }
    return hand_over(call_.items.get(), pause_, made_++, std::move(item), [a = a_, h] { a->resume(h); });
  }

  void failed(std::exception_ptr error) override {
    host_.log_.finished(slot_, false);
    std::string why = "an exception that is not a std::exception";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      why = e.what();
    } catch (...) {
    }
    host_.store_.settle(call_.result, detail::failure{errc::task_failed, why, call_.method->name,
                                                      host_.node_.to_string()});
    end();
  }

 private:
  void end() {
    auto& host = host_;
    auto* a = a_;
    auto* result = call_.result;
    delete this; // the arguments and the instance go
    detail::release(result);
    host.coroutine_ended(a);
    detail::release(a); // the call's hold
  }

  actor_host& host_;
  actor_cell* a_;
  detail::actor_call_request call_;
  std::shared_ptr<void> instance_;
  std::uint64_t slot_;
  // A generator method's: items made, and where it waits for room.
  std::uint64_t made_ = 0;
  std::shared_ptr<producer_pause> pause_;
};

std::size_t actor_host::async_limit(const actor_cell* a) {
  // Interleaved calls of an async actor: max_concurrency, 1000 unless set.
  return a->opts.max_concurrency > 0 ? static_cast<std::size_t>(a->opts.max_concurrency) : 1000;
}

void actor_host::start_coroutine(actor_cell* a, detail::actor_call_request call, std::shared_ptr<void> instance) {
  auto slot = log_.started(call.method->name);
  const auto* method = call.method;
  auto* self = instance.get();
  auto& args = *call.args;
  auto* record = new coroutine_call(*this, a, std::move(call), std::move(instance), slot);
  std::coroutine_handle<> h;
  try {
    working_dir_scope in_job{a->working_dir};
    namespace_scope in_ns{&a->opts.ns};
    h = method->start(method->method_bytes.data(), self, args, record);
  } catch (...) {
    record->failed(std::current_exception());
    return;
  }
  run_coroutine(a, h);
}

void actor_host::run_coroutine(actor_cell* a, std::coroutine_handle<> h) {
  working_dir_scope in_job{a->working_dir};
  namespace_scope in_ns{&a->opts.ns};
  coroutine_scope on_actor{a};
  h.resume();
}

void actor_host::coroutine_ended(actor_cell* a) {
  std::lock_guard<std::mutex> guard{a->mu};
  --a->in_flight;
  if (a->st == actor_cell::state::alive && !a->mailbox.empty())
    schedule_drain_locked(a);
}

void actor_host::kill(actor_cell* a, bool no_restart) {
  std::unique_lock<std::mutex> lock{a->mu};
  if (a->st == actor_cell::state::dead)
    return;
  if (!no_restart && a->restarts_used < a->opts.max_restarts) {
    ++a->restarts_used;
    restarts_total_.fetch_add(1, std::memory_order_relaxed);
    a->st = actor_cell::state::creating;
    auto instance = std::move(a->instance);
    // A creation that has not started yet builds the new instance; otherwise a
    // new one does (and one that is running goes stale).
    std::optional<creation_ticket> ticket;
    if (!a->creation_waiting)
      ticket = queue_creation_locked(a);
    lock.unlock();
    instance.reset();
    log(log_level::info, "actor_host", actor_label(a), " restarts (", a->restarts_used, " of ",
        a->opts.max_restarts, ")");
    if (ticket)
      submit_creation(a, std::move(*ticket));
    return;
  }
  die_locked(a, lock,
             no_restart ? "it was killed" : "it was killed and has no restarts left (max_restarts="
                                              + std::to_string(a->opts.max_restarts) + ")");
}

bool retain_if_alive(actor_cell* a) noexcept {
  auto n = a->refs.load(std::memory_order_relaxed);
  while (n > 0)
    if (a->refs.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel))
      return true;
  return false;
}

actor_cell* actor_host::find(const actor_id& id) {
  std::lock_guard<std::mutex> guard{mu_};
  auto i = actors_.find(id);
  return i != actors_.end() && retain_if_alive(i->second) ? i->second : nullptr;
}

std::size_t actor_host::end_created_by(const node_id& creator, const std::string& why) {
  std::vector<actor_cell*> made;
  {
    std::lock_guard<std::mutex> guard{mu_};
    for (auto& [id, a] : actors_) {
      if (id.owner != creator.value || a->opts.detached)
        continue;
      auto n = a->refs.load(std::memory_order_relaxed);
      while (n > 0)
        if (a->refs.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel)) {
          made.push_back(a);
          break;
        }
    }
  }
  for (auto* a : made) {
    end(a, why);
    detail::release(a);
  }
  return made.size();
}

void actor_host::forget(actor_cell* a) noexcept {
  {
    std::lock_guard<std::mutex> guard{mu_};
    actors_.erase(a->id);
  }
  // Its own threads are joined off themselves: this may run on one of them.
  if (auto threads = std::move(a->threads))
    pool_.post([threads] { threads->stop(); });
  std::unique_lock<std::mutex> lock{a->mu};
  if (a->st != actor_cell::state::dead) {
    // No handle, no queued call and no creation is left: nobody can reach the
    // actor again.
    live_.fetch_sub(1, std::memory_order_relaxed);
    a->st = actor_cell::state::dead;
    ++a->generation;
    a->creation_waiting = false;
    auto instance = std::move(a->instance);
    bool reserved = std::exchange(a->reserved, false);
    lock.unlock();
    instance.reset();
    if (reserved)
      sched_.release(a->reservation);
  }
}

void actor_host::stop() {
  std::vector<actor_cell*> all;
  {
    std::lock_guard<std::mutex> guard{mu_};
    for (auto& [id, a] : actors_)
      if (retain_if_alive(a))
        all.push_back(a);
  }
  for (auto* a : all)
    kill(a, true);
  for (auto* a : all)
    if (a->threads)
      a->threads->stop();
  // Handles may outlive the runtime: from here on they must not reach this host.
  {
    std::lock_guard<std::mutex> guard{mu_};
    for (auto& [id, a] : actors_)
      a->host.store(nullptr, std::memory_order_release);
    actors_.clear();
  }
  for (auto* a : all)
    detail::release(a);
}

actor_host_stats actor_host::stats() const {
  actor_host_stats s;
  std::lock_guard<std::mutex> guard{mu_};
  for (auto& [id, a] : actors_) {
    std::lock_guard<std::mutex> g{a->mu};
    switch (a->st) {
      case actor_cell::state::creating:
        ++s.creating;
        break;
      case actor_cell::state::alive:
        ++s.alive;
        break;
      case actor_cell::state::dead:
        ++s.dead;
        break;
    }
  }
  s.restarts_total = restarts_total_.load();
  return s;
}

} // namespace actors::runtime

namespace actors::detail {

void actor_cell::resume(std::coroutine_handle<> h) {
  auto* h_host = host.load(std::memory_order_acquire);
  if (!h_host)
    return; // the node stopped: the coroutine never goes on
  std::lock_guard<std::mutex> guard{mu};
  ready.push_back(h);
  h_host->schedule_drain_locked(this);
}

void retain(actor_cell* a) noexcept {
  a->refs.fetch_add(1, std::memory_order_relaxed);
}

void release(actor_cell* a) noexcept {
  if (a->refs.fetch_sub(1, std::memory_order_acq_rel) != 1)
    return;
  if (auto* host = a->host.load(std::memory_order_acquire))
    host->forget(a);
  else if (a->remote)
    if (auto creator = a->creator.lock())
      creator->handles_released(*a);
  delete a;
}

actor_id id_of(const actor_cell* a) noexcept {
  return a->id;
}

node_id location_of(const actor_cell* a) noexcept {
  return a->location;
}

} // namespace actors::detail
