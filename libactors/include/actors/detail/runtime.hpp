#pragma once

/// The seam between the header-only API templates and the runtime library. Every
/// function here is implemented in the shared library; the templates in the public
/// headers only build typed arguments and call these. None of them may be called
/// before actors::init (they throw actors::error with errc::not_initialized).

#include "actors/detail/failure.hpp"
#include "actors/ids.hpp"
#include "actors/scheduling.hpp"
#include "actors/serialization.hpp"

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace actors::detail {

class object_cell; // an object's slot in its node's object store (runtime)
class actor_cell;  // a hosted actor's record in its node's actor host (runtime)

// -- reference counting ---------------------------------------------------------------
// Thread-safe. Every object_ref / actor_handle holds one count on its cell.

void retain(object_cell* cell) noexcept;
void release(object_cell* cell) noexcept;
object_id id_of(const object_cell* cell) noexcept;

void retain(actor_cell* cell) noexcept;
void release(actor_cell* cell) noexcept;
actor_id id_of(const actor_cell* cell) noexcept;
/// The node hosting the actor.
node_id location_of(const actor_cell* cell) noexcept;

/// Finds the cell of an object named in bytes that were decoded (a serialized
/// object_ref). Returns a retained cell; if the object is unknown here, a cell that
/// fails `get` with object_lost_error.
object_cell* resolve_object(const object_id& id);

/// Called while an object_ref is serialized: makes the object findable by id and
/// lets the encoder that is running pin it for as long as the bytes live.
void note_serialized(object_cell* cell) noexcept;

/// Finds the actor named by a decoded actor_handle, hosted on node `location`.
/// Returns a retained cell, or a dead one whose calls fail with actor_died_error
/// when the actor is unknown.
actor_cell* resolve_actor(const actor_id& id, const node_id& location);
void note_serialized(actor_cell* cell) noexcept;

// -- arguments ----------------------------------------------------------------------

/// A large argument value that its caller kept back (a cluster sends the id it
/// holds it under instead of its bytes): the node that runs the call fetches it
/// and gives it to the argument before the call.
struct withheld_argument {
  /// Its id at the caller, which holds it until the call answers.
  object_id id;
  /// About what its encoding weighs (exact for a vector of numbers).
  std::uint64_t size = 0;
  /// The parameter's type.
  const type_ops* ops = nullptr;
  /// Gives the argument its value decoded from its encoding; throws if the
  /// bytes do not decode.
  std::function<void(const char* data, std::size_t size)> decode;
  /// Gives the argument a value of its type received straight into memory,
  /// which nothing else holds (it is moved from); false, leaving it, if the
  /// value is of another type.
  std::function<bool(const value_box& value)> adopt;
};

/// What the caller does with a large argument value it keeps back: holds it
/// (with the rough size of its encoding) and says the id it goes by.
using keep_argument = std::function<object_id(value_box value, std::uint64_t size)>;

/// The arguments of one call, typed by the callee's signature (see args.hpp).
class args_holder {
 public:
  virtual ~args_holder();
  /// Appends the cells of object_ref arguments that must be ready before the call.
  virtual void dependencies(std::vector<object_cell*>& out) const = 0;
  /// Wire form of the arguments (the cluster sends it to the node that runs them).
  virtual std::string encode() const = 0;

  /// The wire form with each argument value whose encoding weighs at least
  /// `threshold` bytes kept back: it goes to `keep`, and the wire form names it
  /// by the id `keep` gives it. The arguments go on reading their values here
  /// (a local run, a retry), shared with what `keep` holds; encode still writes
  /// them whole.
  virtual std::string encode_keeping_back(std::size_t threshold, const keep_argument& keep) = 0;
  /// On the node that runs the call, after decoding: the values their caller
  /// kept back, to fetch and give to the arguments before the call. Each entry
  /// points into these arguments and lives as long as they do.
  virtual void withheld(std::vector<withheld_argument>& out) = 0;

  /// Says that the call about to run is the last one with these arguments: no
  /// retry and nothing else reads them afterwards. Parameters taken by value (or
  /// by rvalue reference) then take the argument values over instead of copying
  /// them, so a large vector passed to `f(std::vector<T> v)` is not copied.
  void last_use() noexcept {
    last_use_ = true;
  }

 protected:
  bool last_use_ = false;
};

using args_ptr = std::unique_ptr<args_holder>;

// -- registry -------------------------------------------------------------------------

class async_completion;

/// A registered free function: a task body, and an actor factory if it returns a
/// class (by value or unique_ptr).
struct function_entry {
  std::string name;
  /// Runs the function on decoded arguments; throws what the function throws.
  value_box (*invoke)(const void* fn, args_holder& args);
  /// A coroutine task (returns actors::async<T>): makes the coroutine, which
  /// reports to `done` when it ends, and returns it unstarted; null otherwise.
  std::coroutine_handle<> (*start)(const void* fn, args_holder& args, async_completion* done) = nullptr;
  /// A generator (returns actors::generator<T>): `start` makes it, and it reports
  /// each item to `done` (async_completion::yielded).
  bool yields = false;
  /// Builds the actor instance when the function is a factory, else null.
  std::shared_ptr<void> (*construct)(const void* fn, args_holder& args);
  /// Decodes arguments sent over the wire.
  args_ptr (*decode_args)(const std::string& bytes);
  const void* fn;
  /// The class a factory builds (mangled), or null.
  const char* actor_class;
  /// The function's type (mangled): nodes check that caller and callee agree.
  const char* signature;
};

/// What a coroutine task or method call reports to when it ends (runtime side).
class async_completion {
 public:
  virtual void finished(value_box value) = 0;
  virtual void failed(std::exception_ptr error) = 0;
  /// A generator yielded `item` at `h`: true if it goes on at once; false if it
  /// stays suspended, and the runtime resumes it (or destroys it) later.
  virtual bool yielded(value_box item, std::coroutine_handle<> h) = 0;

 protected:
  ~async_completion() = default;
};

/// Resumes a suspended coroutine: an async actor's calls one at a time on its
/// thread, a coroutine task on its node's worker pool.
class coroutine_executor {
 public:
  /// Queues `h` to be resumed; callable from any thread.
  virtual void resume(std::coroutine_handle<> h) = 0;

 protected:
  ~coroutine_executor() = default;
};

/// The executor of the coroutine running on this thread (null outside one).
coroutine_executor* current_executor() noexcept;
/// Calls `then` once the object is settled (at once if it is), on any thread.
void when_settled(object_cell* cell, std::function<void()> then);
/// True once the object holds its value or its failure.
bool is_settled(const object_cell* cell) noexcept;
/// Calls `then` on a timer thread once `delay` has passed.
void after(std::chrono::nanoseconds delay, std::function<void()> then);

/// A registered member function of an actor class.
struct method_entry {
  std::string name;
  value_box (*invoke)(const void* method, void* self, args_holder& args);
  /// A coroutine method (returns actors::async<T>): makes the coroutine, which
  /// reports to `done` when it ends, and returns it unstarted; null otherwise.
  std::coroutine_handle<> (*start)(const void* method, void* self, args_holder& args,
                                   async_completion* done) = nullptr;
  /// A generator method (returns actors::generator<T>): it reports each item to
  /// `done` (async_completion::yielded).
  bool yields = false;
  args_ptr (*decode_args)(const std::string& bytes);
  const char* actor_class;
  /// Bytes of the member pointer, kept alive for `invoke`.
  std::string method_bytes;
  /// The member function's type (mangled).
  const char* signature;
};

void register_function(function_entry entry);
void register_method(method_entry entry, const std::string& key);
/// True if class `class_name` (mangled) has a registered coroutine method: its
/// actors are async actors.
bool is_async_class(const char* class_name);

/// The entry for a function pointer; throws not_registered_error naming it.
const function_entry& function_of(const void* fn, const char* signature);
/// The entry for a member pointer (key = its bytes + type); throws
/// not_registered_error naming the class.
const method_entry& method_of(const std::string& key, const char* class_name);
/// The entry for a function pointer, or null if it is not registered.
const function_entry* function_at(const void* fn);
/// Lookup by registered name (for calls that arrive by name); null if unknown.
const function_entry* function_named(const std::string& name);
const method_entry* method_named(const std::string& name);

// -- tasks and objects ----------------------------------------------------------------

/// A resource demand: name and amount, e.g. {"GPU", 1}.
using resource_list = std::vector<std::pair<std::string, double>>;

/// Where a task or actor may go, on top of its resource demand.
struct placement_options {
  scheduling_strategy strategy = scheduling_strategy::default_policy;
  /// Run on this node (zero: no affinity).
  node_id affinity;
  /// With an affinity: fall back to other nodes if that one cannot take it.
  bool soft = true;
  /// Run inside bundle `bundle` of placement group `group` (empty: none).
  std::string group;
  std::size_t bundle = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & strategy & affinity & soft & group & bundle;
  }
};

struct task_options {
  double num_cpus = 1;
  resource_list resources;
  int max_retries = 3;
  bool retry_exceptions = false;
  std::string name;
  placement_options placement;
  /// Bytes the task may allocate while it runs; 0: the node's limit.
  std::uint64_t memory_bytes = 0;
  /// A generator's stream, where its items go (its owner's id for it); zero for
  /// other tasks.
  object_id stream;
  /// A generator pauses while this many of its items are unread (0: never).
  std::uint64_t max_buffered = 0;
  /// The namespace the task works in (its named actors); empty: the caller's.
  std::string ns;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & num_cpus & resources & max_retries & retry_exceptions & name & placement & memory_bytes & stream
      & max_buffered & ns;
  }
};

/// Submits one call of `fn`; returns the retained cell of its result.
object_cell* submit_task(const function_entry& fn, args_ptr args, task_options opts);

/// Stores a value owned by the caller; returns its retained cell.
object_cell* put_object(value_box value);

/// A timeout of -1 ms waits forever.
inline constexpr std::chrono::milliseconds forever{-1};

/// Blocks until the object is ready and returns its value checked against `want`.
/// Throws the object's failure, timeout_error, or actors::error on a type mismatch.
std::shared_ptr<const void> get_value(object_cell* cell, const type_ops* want,
                                      std::chrono::milliseconds timeout);

/// Elements read in place, and what keeps them there: the value or the bytes
/// they lie in, and a count on the object's cell.
struct element_run {
  const void* data = nullptr;
  std::size_t count = 0;
  std::shared_ptr<const void> keep;
};

/// Blocks like get_value, then gives the elements of the std::vector (of type
/// `want`, laid out as `layout`) stored in the cell, without copying them: in the
/// value in memory, or straight in its encoded bytes (a shared-memory mapping or
/// a string) when `layout` allows it there and they are aligned; otherwise the
/// bytes are decoded once into the value. Throws what get_value throws.
element_run span_of(object_cell* cell, const type_ops* want, const vector_layout& layout,
                    std::chrono::milliseconds timeout);

/// Blocks until `num_returns` of the cells are ready (or failed) or the timeout
/// passes; returns one flag per cell.
std::vector<bool> wait_objects(const std::vector<object_cell*>& cells, std::size_t num_returns,
                               std::chrono::milliseconds timeout);

/// The items of a generator task as its caller receives them (runtime).
class object_stream;

/// Submits one call of generator `fn`; returns its stream, whose last handle
/// cancels the producer when it goes.
std::shared_ptr<object_stream> submit_stream(const function_entry& fn, args_ptr args, task_options opts);

/// The next item of the stream, retained, waiting at most `timeout`; null after
/// the last one. Throws the producer's failure once the items before it are
/// read, and timeout_error.
object_cell* next_item(object_stream& stream, std::chrono::milliseconds timeout);

/// Stops the stream's generator and drops its items; next_item throws
/// task_cancelled_error from then on.
void cancel_stream(object_stream& stream);

/// Cancels the task that makes the object, if it has not finished.
void cancel_task(object_cell* cell, bool recursive);
/// Whether the task running on this thread was cancelled (false outside a task).
bool running_task_cancelled() noexcept;

// -- actors ---------------------------------------------------------------------------

struct actor_options {
  std::string name;
  int max_restarts = 0;
  int max_task_retries = 0;
  double num_cpus = 0;
  resource_list resources;
  placement_options placement;
  /// Calls that may run at once (0: unset). A threaded actor (more than 1) runs
  /// them on threads of its own; an async actor interleaves that many (1000
  /// unset) on one thread at a time.
  int max_concurrency = 0;
  /// Lives on after its creator ends (actors::detached), until killed.
  bool detached = false;
  /// The namespace its name is in and its methods work in; empty: the caller's.
  /// Once created, `name` is qualified with it ("ns/name").
  std::string ns;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & name & max_restarts & max_task_retries & num_cpus & resources & placement & max_concurrency & detached
      & ns;
  }
};

/// Creates an actor from a registered factory; returns its retained cell at once
/// (the instance is built in the background; calls queue until it exists).
/// With `get_if_exists`, a live actor already under the name (of the factory's
/// class, else type_mismatch) is returned instead of refusing the name.
actor_cell* create_actor(const function_entry& factory, args_ptr args, actor_options opts,
                         bool get_if_exists = false);

/// Queues one method call; returns the retained cell of its result.
object_cell* submit_actor_call(actor_cell* actor, const method_entry& method, args_ptr args);

/// Queues one call of generator method `method`; returns its stream, whose last
/// handle stops the call's items when it goes.
std::shared_ptr<object_stream> submit_actor_stream(actor_cell* actor, const method_entry& method, args_ptr args,
                                                   std::uint64_t max_buffered);

/// The retained cell of a live actor named `name` in namespace `ns` (empty: the
/// caller's), of class `class_name`, or null.
actor_cell* find_named_actor(const std::string& name, const std::string& ns, const char* class_name);

/// The namespace the caller works in: the running task's or actor's, else this
/// process's.
std::string current_namespace();

void kill_actor(actor_cell* actor, bool no_restart);

/// True inside an actor method whose instance was built by a restart.
bool current_actor_was_restarted();
/// actors::exit_actor(): throws invalid_argument outside an actor method.
void exit_current_actor();

// -- placement groups ------------------------------------------------------------------

/// Starts reserving bundles; returns the group's id. `ns` empty: the caller's
/// namespace.
std::string create_placement_group(const std::vector<std::map<std::string, double>>& bundles,
                                   scheduling_strategy strategy, const std::string& name, const std::string& ns,
                                   bool detached);
/// The id and bundle count of the group named `name` in namespace `ns` (empty:
/// the caller's); an empty id if there is none.
std::pair<std::string, std::size_t> find_placement_group(const std::string& name, const std::string& ns);
bool wait_placement_group(const std::string& id, std::chrono::milliseconds timeout);
void remove_placement_group(const std::string& id);


} // namespace actors::detail
