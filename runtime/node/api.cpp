// The seam between the public API templates (actors/detail/runtime.hpp) and this
// process's node: each function checks that the runtime runs and hands the call to
// the service that owns it.

#include "runtime/common/head_process.hpp"
#include "runtime/common/log.hpp"
#include "runtime/node/node.hpp"
#include "runtime/node/local_nodes.hpp"
#include "runtime/node/options.hpp"
#include "runtime/node/session.hpp"
#include "runtime/scheduler/local_tasks.hpp"
#include "runtime/scheduler/short_wait.hpp"
#include "runtime/scheduler/worker_pool.hpp"

#include "actors/actors.hpp"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace actors::runtime {

namespace {

std::atomic<node*> the_node{nullptr};
// init_options::progress, for a program that is not a serving node.
std::atomic<bool> progress_wanted{false};
// The node processes an embedded head started (--actors-local-nodes).
std::unique_ptr<local_nodes> spawned_nodes;

node& require_node() {
  auto* n = the_node.load(std::memory_order_acquire);
  if (!n)
    throw error(errc::not_initialized,
                "the actors runtime is not running: call actors::init(argc, argv) at the start "
                "of main, before any other actors call");
  return *n;
}

/// Lets one thread sleep until `target` cell callbacks have fired. Shared with the
/// callbacks, which may fire after the waiter gave up. Only the callback that
/// reaches the target wakes the thread: a wait for many objects sleeps once.
struct parker {
  explicit parker(std::size_t target) : target(target) {}

  std::mutex mu;
  std::condition_variable cv;
  const std::size_t target;
  std::size_t settled = 0;

  void wake() {
    std::lock_guard<std::mutex> guard{mu};
    if (++settled == target)
      cv.notify_one();
  }

  /// Waits until the target is reached or the timeout; true if reached.
  bool wait(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock{mu};
    auto done = [&] { return settled >= target; };
    if (timeout < std::chrono::milliseconds{0}) {
      cv.wait(lock, done);
      return true;
    }
    return cv.wait_for(lock, timeout, done);
  }
};

// True if the cell belongs to this node's store (not to one shut down earlier).
bool ours(node& n, const detail::object_cell* c) {
  return c->store == &n.store && c->epoch == n.store.epoch();
}

/// Work inside a placement group's bundle asks for the bundle's renamed resources
/// instead of the node's.
template <class Options>
void target_bundle(Options& opts) {
  auto& p = opts.placement;
  if (p.group.empty())
    return;
  detail::resource_list renamed;
  renamed.emplace_back(bundle_resource("bundle", p.group, p.bundle), 0.001);
  if (opts.num_cpus > 0)
    renamed.emplace_back(bundle_resource("CPU", p.group, p.bundle), opts.num_cpus);
  for (const auto& [name, amount] : opts.resources)
    renamed.emplace_back(bundle_resource(name, p.group, p.bundle), amount);
  opts.num_cpus = 0;
  opts.resources = std::move(renamed);
  p.group.clear();
}

bool is_pending(detail::object_cell* c) {
  return c->current() == detail::object_cell::state::pending;
}

} // namespace

node* current_node() noexcept {
  return the_node.load(std::memory_order_acquire);
}

node& start_node(node_config cfg) {
  if (current_node())
    throw error(errc::invalid_argument, "a node runs in this process already");
  auto* n = new node(std::move(cfg));
  the_node.store(n, std::memory_order_release);
  try {
    n->start();
  } catch (...) {
    the_node.store(nullptr, std::memory_order_release);
    delete n;
    throw;
  }
  return *n;
}

namespace {

/// Why a serving node stops, for its log.
const char* describe(stop_cause cause) {
  switch (cause) {
    case stop_cause::requested:
      return "asked to stop (actors stop, a signal, or its head shutting down)";
    case stop_cause::head_gone:
      return "the head went away and did not come back in time";
    case stop_cause::service_failed:
      return "a service of this node died and could not be restarted";
    default:
      return "the head declared it dead";
  }
}

// Orders a stop asked for by a signal against a node being replaced.
std::mutex serving_mu;
bool serving_stop_requested = false;
} // namespace

stop_cause serve_until_stopped(const std::function<node_config()>& fresh_config,
                               const std::function<void(const node_id&, stop_cause, node&)>& on_restart) {
  for (;;) {
    auto cause = require_node().net->members().wait_until_stopped();
    std::lock_guard<std::mutex> guard{serving_mu};
    // Only a member starts again: a head's id and port are what the others know it by.
    if ((cause != stop_cause::declared_dead && cause != stop_cause::service_failed) || serving_stop_requested
        || require_node().config.role != node_role::member) {
      log(log_level::info, "node", require_node().role_name(), " ", require_node().id.to_string(), " stops: ",
          serving_stop_requested ? "asked to stop (actors stop or a signal)" : describe(cause));
      return cause;
    }
    auto was = require_node().id;
    actors::shutdown();
    node* now = nullptr;
    try {
      now = &start_node(fresh_config());
    } catch (const std::exception& e) {
      log(log_level::error, "node", "node ", was.to_string(), " cannot join again as a new node: ", e.what());
      return stop_cause::head_gone;
    }
    log(log_level::warning, "node", "node ", was.to_string(), " started again as node ", now->id.to_string(),
        " and joined ", now->config.head_address);
    if (on_restart)
      on_restart(was, cause, *now);
  }
}

void stop_serving() {
  std::lock_guard<std::mutex> guard{serving_mu};
  serving_stop_requested = true;
  if (auto* n = current_node())
    n->net->members().end_serving();
}

} // namespace actors::runtime

namespace actors {

using runtime::require_node;

void init(const init_options& given) {
  if (runtime::current_node())
    throw error(errc::invalid_argument, "actors::init was called twice: call actors::shutdown first");
  runtime::check_log_level_environment();
  init_options opts = given;
  if (opts.address == "auto" || (!opts.address.empty() && opts.token.empty())) {
    auto s = runtime::read_session();
    if (opts.address == "auto") {
      if (!s)
        throw error(errc::invalid_argument,
                    "--actors-address=auto found no running cluster on this machine (no live head in "
                      + runtime::session_dir().string() + "): start one with `actorsd --head`");
      opts.address = s->address;
    }
    if (s && s->address == opts.address && opts.token.empty())
      opts.token = s->token;
  }
  runtime::progress_wanted.store(opts.progress && !opts.node, std::memory_order_relaxed);
  auto* n = &runtime::start_node(runtime::resolve(opts));
  if (n->config.role == runtime::node_role::head && opts.local_nodes > 1) {
    try {
      runtime::spawned_nodes = std::make_unique<runtime::local_nodes>(
        opts.local_nodes - 1, runtime::program_args(), n->cluster_address, n->config.token, opts.num_cpus,
        opts.heartbeat_timeout_ms, n->config.tls);
    } catch (...) {
      shutdown();
      throw;
    }
    if (!n->net->members().wait_for_nodes(opts.local_nodes, std::chrono::seconds(30))) {
      shutdown();
      throw error(errc::invalid_argument,
                  "the local node processes did not join within 30 s: run with "
                  "ACTORS_LOG_LEVEL=info to see what they print");
    }
  }
  // A program that returns from main without shutdown() stops its runtime at
  // exit, before the static objects the runtime's threads use are destroyed.
  // Registered after the first start, so that the statics that start touched
  // are destroyed after this runs. A forked child that exits has a copy of the
  // node without its threads, and a task that calls exit would wait for itself:
  // both leave the node alone.
  //
  // The stop runs on a thread of its own: by the time exit handlers run, the
  // exiting thread's thread_local objects are gone, CAF's reference to its
  // logger among them, and CAF drops that reference once more when its actor
  // system goes on the thread that made it, freeing the logger it still uses.
  static std::once_flag stop_at_exit;
  static pid_t started_by = 0;
  std::call_once(stop_at_exit, [] {
    started_by = ::getpid();
    std::atexit([] {
      if (::getpid() == started_by && runtime::current_context().pool == nullptr)
        std::thread([] { actors::shutdown(); }).join();
    });
  });
  if (opts.node) {
    // A node serves until the cluster stops it; the program's main never goes on.
    // One that a head of this host started also stops when the head's process
    // ends (it may never hear the head say so).
    runtime::stop_cause cause;
    {
      runtime::head_process_watch head_process([](pid_t head) {
        runtime::log(runtime::log_level::info, "node", "the process that started this node (pid ", head,
                     ") has ended: this node stops");
        runtime::stop_serving();
      });
      cause = runtime::serve_until_stopped([opts] { return runtime::resolve(opts); });
    }
    shutdown();
    std::exit(cause == runtime::stop_cause::requested ? 0 : 1);
  }
}

void init(int argc, char** argv) {
  runtime::program_args() = runtime::other_arguments(argc, argv);
  init_options opts;
  runtime::parse_options(argc, argv, opts);
  // Like Ray: a driver started without an address joins the cluster whose head
  // runs on this machine, if any; else it starts an embedded one.
  if (opts.address.empty() && opts.local_nodes <= 1 && !opts.node)
    if (auto s = runtime::read_session())
      opts.address = s->address;
  init(opts);
}

void shutdown() {
  auto* n = runtime::the_node.exchange(nullptr, std::memory_order_acq_rel);
  if (!n)
    return;
  // The nodes this program's head started (--actors-local-nodes, or its
  // autoscaler's) stop with it, in order.
  if (runtime::spawned_nodes || n->autoscaler) {
    try {
      n->control->stop_cluster(n->config.token);
    } catch (const std::exception& e) {
      runtime::log(runtime::log_level::warning, "node", "could not ask the local nodes to stop: ", e.what());
    }
  }
  delete n;
  if (runtime::spawned_nodes) {
    runtime::spawned_nodes->reap(std::chrono::seconds(5));
    runtime::spawned_nodes.reset();
  }
}

std::vector<node_info> nodes() {
  return require_node().net->members().nodes();
}

void request_resources(const std::vector<std::map<std::string, double>>& bundles) {
  for (const auto& bundle : bundles)
    for (const auto& [name, amount] : bundle)
      if (name.empty() || !std::isfinite(amount) || amount < 0)
        throw error(errc::invalid_argument, "request_resources: resource '" + name + "' with amount "
                                              + std::to_string(amount)
                                              + " in a bundle: give each resource a name and an amount of 0 or more");
  require_node().control->request_resources(runtime::wire::pack(bundles));
}

bool is_initialized() {
  return runtime::current_node() != nullptr;
}

node_id current_node_id() {
  return require_node().id;
}

bool show_progress() {
  return runtime::current_node() && runtime::progress_wanted.load(std::memory_order_relaxed)
         && ::isatty(STDERR_FILENO) == 1;
}

std::string working_dir() {
  if (const auto& dir = runtime::current_context().working_dir)
    return *dir;
  std::error_code ec;
  return std::filesystem::current_path(ec).string();
}

} // namespace actors

namespace actors::detail {

using runtime::node;

namespace {

/// The namespace the calling thread works in: the running task's or actor's,
/// else this process's.
const std::string& namespace_here(const node& n) {
  const auto* ns = runtime::current_context().ns;
  return ns ? *ns : n.config.ns;
}

/// The key a name has in the control store: names are unique per namespace, and
/// a namespace has no '/'.
std::string qualified_name(const std::string& ns, const std::string& name) {
  return ns + "/" + name;
}

/// The live actor under control-store key `key`, of class `class_name`, or null.
actor_cell* find_by_key(node& n, const std::string& key, const std::string& shown, const char* class_name) {
  auto entry = n.control->lookup_name(key);
  if (!entry)
    return nullptr;
  if (entry->class_name != class_name)
    throw error(errc::type_mismatch, "actor '" + shown + "' is a " + demangle(entry->class_name.c_str())
                                       + ", not a " + demangle(class_name)
                                       + ": call get_actor with its class");
  if (entry->location != n.id)
    return runtime::actor_host::make_remote(entry->id, entry->location, class_name);
  return n.host.find(entry->id);
}

/// Places a task and hands it to this node or to the one chosen.
object_cell* place_and_submit(node& n, const function_entry& fn, args_ptr args, task_options opts) {
  runtime::target_bundle(opts);
  auto demand = runtime::resource_set::from(opts.num_cpus, opts.resources);
  bool nowhere = false;
  auto where = n.net->place(demand, opts.placement, false, args.get(), &nowhere);
  if (where && opts.ns.empty())
    opts.ns = n.config.ns;
  if (where)
    return n.net->tasks().submit(*where, fn, std::move(args), std::move(opts));
  // Work this node can never run waits for a node that can (a head alone so far,
  // say, whose autoscaler launches one).
  const bool clustered = nowhere || n.config.role == runtime::node_role::head;
  if (clustered && !n.sched.stats().total.fits(demand)) {
    if (opts.ns.empty())
      opts.ns = n.config.ns;
    return n.net->tasks().park(fn, std::move(args), std::move(opts));
  }
  auto* result = n.store.create_pending();
  retain(result); // one for the caller, one for the task
  std::shared_ptr<runtime::item_sink> items;
  if (fn.yields)
    items = n.streams.find(opts.stream);
  runtime::submit_local_task(n.store, n.sched, n.tasks, n.id, fn, std::move(args), std::move(opts), result, nullptr,
                             {}, std::move(items));
  return result;
}

} // namespace

object_cell* submit_task(const function_entry& fn, args_ptr args, task_options opts) {
  node& n = require_node();
  // It works in its caller's namespace, on whichever node it runs. One that
  // stays on this node in the node's own namespace names none (empty: the
  // node's), which spares a copy of the name per task: place_and_submit names
  // it for any other node.
  if (opts.ns.empty())
    if (const std::string& ns = namespace_here(n); &ns != &n.config.ns)
      opts.ns = ns;
  auto* result = place_and_submit(n, fn, std::move(args), std::move(opts));
  // A task submitted by a running task is its child (a recursive cancel reaches it).
  if (auto* parent = runtime::current_context().running_task)
    n.children.add(parent, result);
  return result;
}

std::shared_ptr<object_stream> submit_stream(const function_entry& fn, args_ptr args, task_options opts) {
  if (!fn.yields)
    throw error(errc::invalid_argument, "'" + fn.name + "' is not a generator: it must return actors::generator<T>");
  node& n = require_node();
  // Open before the task goes out: its first items may come back at once.
  auto stream = n.streams.open(opts.max_buffered);
  opts.stream = stream->id();
  auto* result = submit_task(fn, std::move(args), std::move(opts));
  stream->watch(result, [result] { cancel_task(result, false); });
  return stream;
}

object_cell* next_item(object_stream& stream, std::chrono::milliseconds timeout) {
  return stream.next(timeout);
}

void cancel_stream(object_stream& stream) {
  stream.close();
}

object_cell* put_object(value_box value) {
  auto* cell = require_node().store.create_ready(std::move(value));
  if (cell->current() == object_cell::state::failed) {
    // The store could not take it (object_store_full): the put throws.
    failure why = *cell->why;
    release(cell);
    raise(why);
  }
  return cell;
}

namespace {

/// What every read of an object does before it reads the store: checks the
/// reference, waits until the object settles or `timeout` passes, throws its
/// failure, and brings here a value that another node holds (or has it made
/// again if that node died), held in `hold` until the caller has read it.
/// `what` names the call in errors.
node& prepare_read(object_cell* cell, const type_ops* want, std::chrono::milliseconds timeout, const char* what,
                   std::shared_ptr<const void>& hold) {
  if (!cell)
    throw error(errc::invalid_argument, std::string(what) + " of an empty object_ref: it names no object");
  node& n = require_node();
  if (!runtime::ours(n, cell))
    throw object_lost_error("object " + cell->id.to_string()
                            + " belongs to a runtime that was shut down: its value is gone");
  if (runtime::is_pending(cell) && timeout.count() != 0) {
    runtime::short_wait spin{n.config.role != runtime::node_role::embedded};
    spin.spin([cell] { return !runtime::is_pending(cell); });
    if (runtime::is_pending(cell)) {
      auto p = std::make_shared<runtime::parker>(1);
      cell->on_settled([p] { p->wake(); });
      runtime::blocking_scope blocked;
      if (!p->wait(timeout))
        throw timeout_error("object " + cell->id.to_string() + " was not ready within "
                            + std::to_string(timeout.count())
                            + " ms: wait longer, or check that the task producing it can run "
                              "(resources, a dependency that never finishes)");
    }
  }
  if (runtime::is_pending(cell))
    throw timeout_error("object " + cell->id.to_string() + " is not ready");
  if (cell->current() == object_cell::state::failed)
    raise(*cell->why);
  // A large value another node holds comes here first (or is made again if that
  // node died).
  while (runtime::object_store::held_elsewhere(cell, want))
    hold = n.net->objects().fetch_into(cell);
  return n;
}

/// prepare_read, then `read(node)`. A copy of another node's value that was
/// here already (no fetch holds it) can be dropped to make room between the
/// two; then it is fetched again, and held this time.
template <class Read>
auto read_here(object_cell* cell, const type_ops* want, std::chrono::milliseconds timeout, const char* what,
               Read read) {
  for (int attempt = 0;; ++attempt) {
    std::shared_ptr<const void> hold;
    node& n = prepare_read(cell, want, timeout, what, hold);
    try {
      return read(n);
    } catch (const object_lost_error&) {
      if (attempt == 2 || !runtime::object_store::held_elsewhere(cell, want))
        throw;
    }
  }
}

} // namespace

std::shared_ptr<const void> get_value(object_cell* cell, const type_ops* want,
                                      std::chrono::milliseconds timeout) {
  return read_here(cell, want, timeout, "get", [&](node& n) { return n.store.value(cell, want); });
}

element_run span_of(object_cell* cell, const type_ops* want, const vector_layout& layout,
                    std::chrono::milliseconds timeout) {
  return read_here(cell, want, timeout, "get_span", [&](node& n) { return n.store.elements(cell, want, layout); });
}

std::vector<bool> wait_objects(const std::vector<object_cell*>& cells, std::size_t num_returns,
                               std::chrono::milliseconds timeout) {
  for (auto* c : cells)
    if (!c)
      throw error(errc::invalid_argument, "wait on an empty object_ref: it names no object");
  num_returns = std::min(num_returns, cells.size());
  std::size_t ready = 0;
  std::vector<object_cell*> pending;
  for (auto* c : cells)
    (runtime::is_pending(c) ? pending.push_back(c) : void(++ready));
  if (ready < num_returns && timeout.count() != 0) {
    runtime::short_wait spin{require_node().config.role != runtime::node_role::embedded};
    // Each round of the spin reads every pending cell: only for a few.
    const bool done = pending.size() <= 16 && spin.spin([&] {
      std::size_t now_ready = ready;
      for (auto* c : pending)
        now_ready += runtime::is_pending(c) ? 0 : 1;
      return now_ready >= num_returns;
    });
    if (!done) {
      auto p = std::make_shared<runtime::parker>(num_returns - ready);
      for (auto* c : pending)
        c->on_settled([p] { p->wake(); });
      runtime::blocking_scope blocked;
      p->wait(timeout);
    }
  }
  std::vector<bool> flags(cells.size());
  for (std::size_t i = 0; i < cells.size(); ++i)
    flags[i] = !runtime::is_pending(cells[i]);
  return flags;
}

void cancel_task(object_cell* cell, bool recursive) {
  if (!cell)
    return;
  node& n = require_node();
  if (!runtime::ours(n, cell))
    return;
  n.net->cancels().cancel(cell, recursive);
}

bool running_task_cancelled() noexcept {
  auto* running = runtime::current_context().running_task;
  return running && running->current() != object_cell::state::pending;
}

actor_cell* create_actor(const function_entry& factory, args_ptr args, actor_options opts, bool get_if_exists) {
  node& n = require_node();
  if (!factory.construct)
    throw error(errc::invalid_argument, "'" + factory.name
                                          + "' is not an actor factory: it must return a class "
                                            "by value or as std::unique_ptr");
  runtime::target_bundle(opts);
  if (opts.ns.empty())
    opts.ns = namespace_here(n);
  else if (opts.ns.find('/') != std::string::npos)
    throw error(errc::invalid_argument, "namespace '" + opts.ns + "' has a '/': a namespace is one name, such as "
                                                                   "'billing' or 'team-a.prod'");
  // From here on the name is its control-store key, which its host and a rebuild
  // register and free.
  const std::string shown = opts.name;
  if (!opts.name.empty())
    opts.name = qualified_name(opts.ns, opts.name);
  auto id = n.host.next_id();
  auto demand = runtime::resource_set::from(opts.num_cpus, opts.resources);
  bool nowhere = false;
  auto where = n.net->place(demand, opts.placement, true, nullptr, &nowhere);
  // No live node can host it and neither can this one: it is made where and when
  // a node that can joins.
  const bool later = !where && (nowhere || n.config.role == runtime::node_role::head)
                     && !n.sched.stats().total.fits(demand);
  auto location = where ? *where : n.id;
  for (int attempt = 1; !opts.name.empty()
                        && !n.control->register_name(opts.name,
                                                     runtime::named_actor_entry{id, factory.actor_class, location});
       ++attempt) {
    if (!get_if_exists)
      throw error(errc::invalid_argument, "an actor named '" + shown + "' exists already in namespace '" + opts.ns
                                            + "': choose another name, reach it with get_actor, or ask for it with "
                                              "get_if_exists()");
    if (auto* live = find_by_key(n, opts.name, shown, factory.actor_class))
      return live;
    // Its holder ended between the registration and the lookup.
    if (attempt == 3)
      throw error(errc::invalid_argument, "actor name '" + shown
                                            + "' was taken and freed again three times while getting it: try again");
  }
  if (later)
    return n.net->actors().create_when_placed(factory, *args, opts, id);
  if (!where)
    return n.host.create(id, factory, std::move(args), std::move(opts));
  try {
    return n.net->actors().create(*where, factory, *args, opts, id);
  } catch (...) {
    if (!opts.name.empty())
      n.control->remove_name(opts.name, id);
    throw;
  }
}

object_cell* submit_actor_call(actor_cell* actor, const method_entry& method, args_ptr args) {
  node& n = require_node();
  if (!actor)
    throw error(errc::invalid_argument, "call on an empty actor_handle: it names no actor");
  if (actor->remote)
    return n.net->actors().call(actor, method, std::move(args));
  if (actor->host.load(std::memory_order_acquire) != &n.host) {
    // A cell no host serves is dead for good, so its reason no longer changes.
    auto why = actor->death.empty() ? "it belongs to a runtime that was shut down" : actor->death;
    return n.store.create_failed(
      failure{errc::actor_died, "actor " + actor->id.to_string() + " is dead: " + why, {}, {}});
  }
  return n.host.call(actor, method, std::move(args));
}

std::shared_ptr<object_stream> submit_actor_stream(actor_cell* actor, const method_entry& method, args_ptr args,
                                                   std::uint64_t max_buffered) {
  node& n = require_node();
  if (!actor)
    throw error(errc::invalid_argument, "call on an empty actor_handle: it names no actor");
  if (!method.yields)
    throw error(errc::invalid_argument,
                "'" + method.name + "' is not a generator method: it must return actors::generator<T>");
  // Open before the call goes out: its first items may come back at once.
  auto stream = n.streams.open(max_buffered);
  object_cell* result = nullptr;
  if (actor->remote)
    result = n.net->actors().call(actor, method, std::move(args), stream->id(), max_buffered);
  else if (actor->host.load(std::memory_order_acquire) == &n.host)
    result = n.host.call(actor, method, std::move(args), n.streams.find(stream->id()), max_buffered);
  else
    result = submit_actor_call(actor, method, std::move(args)); // dead: fails at once
  stream->watch(result, [result] { cancel_task(result, false); });
  return stream;
}

actor_cell* find_named_actor(const std::string& name, const std::string& ns, const char* class_name) {
  node& n = require_node();
  return find_by_key(n, qualified_name(ns.empty() ? namespace_here(n) : ns, name), name, class_name);
}

std::string current_namespace() {
  return namespace_here(require_node());
}

void kill_actor(actor_cell* actor, bool no_restart) {
  node& n = require_node();
  if (!actor)
    throw error(errc::invalid_argument, "kill of an empty actor_handle: it names no actor");
  if (actor->remote)
    n.net->actors().kill(actor, no_restart);
  else if (actor->host.load(std::memory_order_acquire) == &n.host)
    n.host.kill(actor, no_restart);
}

std::string create_placement_group(const std::vector<std::map<std::string, double>>& bundles,
                                   scheduling_strategy strategy, const std::string& name, const std::string& ns,
                                   bool detached) {
  node& n = require_node();
  if (bundles.empty())
    throw error(errc::invalid_argument, "a placement group needs at least one bundle");
  for (const auto& b : bundles)
    for (const auto& [resource, amount] : b)
      if (amount < 0 || resource.empty())
        throw error(errc::invalid_argument, "bundle resource '" + resource + "' has a bad amount");
  runtime::placement_groups::group_options opts;
  opts.strategy = strategy;
  opts.name = name;
  opts.ns = ns.empty() ? namespace_here(n) : ns;
  opts.detached = detached;
  if (opts.ns.find('/') != std::string::npos)
    throw error(errc::invalid_argument, "namespace '" + opts.ns + "' has a '/': a namespace is one name, such as "
                                                                   "'billing' or 'team-a.prod'");
  return n.net->groups().create(bundles, opts);
}

std::pair<std::string, std::size_t> find_placement_group(const std::string& name, const std::string& ns) {
  node& n = require_node();
  auto r = n.net->groups().find(ns.empty() ? namespace_here(n) : ns, name);
  if (!r)
    return {};
  return {r->id, r->bundles.size()};
}

bool wait_placement_group(const std::string& id, std::chrono::milliseconds timeout) {
  runtime::blocking_scope blocked;
  return require_node().net->groups().wait(id, timeout);
}

void remove_placement_group(const std::string& id) {
  require_node().net->groups().remove(id);
}

void exit_current_actor() {
  auto& ctx = runtime::current_context();
  if (!ctx.in_actor_method)
    throw error(errc::invalid_argument, "actors::exit_actor() works only inside a method of an actor: it ends that "
                                        "actor once the method returns");
  ctx.exit_requested = true;
}

bool current_actor_was_restarted() {
  return runtime::current_context().actor_restarted;
}

object_cell* resolve_object(const object_id& id) {
  node& n = require_node();
  if (id.owner != n.id.value)
    return n.net->objects().resolve_foreign(id);
  if (auto* c = n.store.find(id))
    return c;
  return n.store.create_failed(
    id, failure{errc::object_lost,
            "object " + id.to_string() + " is not known on node " + n.id.to_string()
              + ": no reference to it was left, so it was freed, or it comes from another cluster",
            {}, {}});
}

actor_cell* resolve_actor(const actor_id& id, const node_id& location) {
  node& n = require_node();
  if (location.value && location != n.id)
    return n.net->actors().adopt_handle(id, location);
  if (auto* a = n.host.find(id))
    return a;
  return n.host.make_dead(id, "it is not known on node " + n.id.to_string()
                                + ": it stopped, or it comes from another cluster");
}

void note_serialized(actor_cell*) noexcept {
  // Nothing to pin: a value naming actors is held for its reader while it reads.
  handle_counter::note();
}

} // namespace actors::detail
