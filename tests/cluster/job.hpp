#pragma once

// The functions and actor class of the cluster tests' job library: the nodes load
// it with `actorsd --load`, the test drivers link it.

#include <cstdint>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <actors/actor.hpp>
#include <actors/async.hpp>
#include <actors/generator.hpp>
#include <actors/object_ref.hpp>

namespace job {

std::int64_t square(std::int64_t x);
std::int64_t inc(std::int64_t x);
/// Counts its calls in the user metric job_calls_total{fn="counted"}; returns x.
std::int64_t counted(std::int64_t x);
/// The id of the node running the call.
std::string where_am_i(int tag);
/// Prints `text` on a line of the node's stdout; returns the node's id.
std::string say(const std::string& text);
/// The first line of the file `name` in the job's working directory here, and
/// after a tab the node's id.
std::string read_job_file(const std::string& name);
std::vector<std::int64_t> make_vec(std::int64_t n);
std::int64_t sum_vec(const std::vector<std::int64_t>& v);
std::int64_t slow_square(std::int64_t x, int ms);
/// The sum of both vectors, after `ms` milliseconds.
std::int64_t slow_sum_both(std::vector<std::int64_t> a, const std::vector<std::int64_t>& b, int ms);
/// Runs until cancelled or for `max_ms`; 1 if it stopped because it was cancelled.
int spin_until_cancelled(int max_ms);
/// Submits spin_until_cancelled(max_ms) to run on `child_node` only, then spins
/// itself the same way.
int spin_with_child_on(actors::node_id child_node, int max_ms);
/// The node running the call; takes a vector only to be placed near it.
std::string where_holding(const std::vector<std::int64_t>& v, int tag);

/// Allocates `mib` MiB in 1 MiB steps, touches every page, and returns the bytes
/// held at the end.
std::int64_t allocate_mib(int mib);
/// Puts `n` int64s into the object store from inside the task; returns n.
std::int64_t put_vec(std::int64_t n);

class Counter {
 public:
  explicit Counter(std::int64_t start) : n_(start) {}
  std::int64_t add(std::int64_t d) {
    return n_ += d;
  }
  std::int64_t value() const {
    return n_;
  }
  /// Adds every element of `v`; returns the sum so far.
  std::int64_t add_all(const std::vector<std::int64_t>& v);
  std::string where() const;
  /// Ends the actor (actors::exit_actor) once it returns its value.
  std::int64_t quit();

 private:
  std::int64_t n_;
};

Counter make_counter(std::int64_t start);

/// Creates a detached counter at 0 named `name` (in the namespace the task works
/// in); true once it answers.
bool make_named_counter(const std::string& name);
/// Adds `d` to the counter named `name` (found with get_actor); -1 if none.
std::int64_t add_to_named(const std::string& name, std::int64_t d);

/// Adds `d` to the counter through a handle this task was given; returns the sum.
std::int64_t add_via(actors::actor_handle<Counter> counter, std::int64_t d);
/// Kills the actor through the handle it was given (no restart); true once done.
bool kill_via(actors::actor_handle<Counter> counter);

/// Counts the calls inside it at once (a threaded actor's test).
class Overlap {
 public:
  /// Stays `ms` inside; returns how many calls were inside when it came in.
  std::int64_t stay(int ms);
  /// The most calls inside at once so far.
  std::int64_t most() const;
  std::string where() const;

 private:
  std::atomic<std::int64_t> inside_{0};
  std::atomic<std::int64_t> most_{0};
};

std::unique_ptr<Overlap> make_overlap();
/// Calls o.stay(ms) through the handle it was given; returns its answer.
std::int64_t stay_via(actors::actor_handle<Overlap> o, int ms);

/// An async actor (coroutine methods): sums objects made on other nodes as they
/// come, holding no thread while it waits.
class Summer {
 public:
  actors::async<std::int64_t> add_all(std::vector<actors::object_ref<std::int64_t>> refs);
  actors::async<std::int64_t> add_one(actors::object_ref<std::int64_t> ref);
  std::int64_t total() const;
  std::string where() const;

 private:
  std::int64_t total_ = 0;
};

Summer make_summer();

/// A coroutine task: waits for objects made on other nodes without a thread,
/// then says where it ran and what they add up to ("<node hex> <sum>").
actors::async<std::string> sum_where_awaited(std::vector<actors::object_ref<std::int64_t>> refs);

/// Keeps references to objects and reads them later.
class Keeper {
 public:
  void keep(const std::vector<actors::object_ref<std::int64_t>>& refs);
  std::int64_t sum() const;
  /// Sums the kept objects in a task on node `node_hex`, which must fetch them.
  std::int64_t sum_on(const std::string& node_hex) const;

 private:
  std::vector<actors::object_ref<std::int64_t>> kept_;
};

Keeper make_keeper(int);
std::int64_t sum_refs(const std::vector<actors::object_ref<std::int64_t>>& refs);

/// Yields 0 .. n-1, waiting `pause_ms` before each item after the first.
actors::generator<std::int64_t> numbers(std::int64_t n, int pause_ms);
/// As numbers, each item "i node" with the id of the node that made it.
actors::generator<std::string> numbers_where(std::int64_t n, int pause_ms);
/// Yields `n` vectors of `len` int64s, each filled with its index.
actors::generator<std::vector<std::int64_t>> chunks(int n, std::int64_t len);
/// Yields `n` times the time it was made at (microseconds of the system clock).
actors::generator<std::int64_t> stamps(int n);
/// Yields 0, 1, ... until cancelled.
actors::generator<std::int64_t> forever();
/// An actor with generator methods (an async actor).
class Ticker {
 public:
  /// Yields first, first+1, ... n items.
  actors::generator<std::int64_t> ticks(std::int64_t first, std::int64_t n);
  /// Yields 0 .. n-1, `pause_ms` apart.
  actors::generator<std::int64_t> slow_ticks(std::int64_t n, int pause_ms);
  /// Yields until its stream is dropped, 1 ms apart.
  actors::generator<std::int64_t> endless();
  /// Items made so far, by all its generators.
  std::int64_t made() const;
  std::string where() const;

 private:
  std::int64_t made_ = 0;
};

Ticker make_ticker();

/// Reads numbers(n, 0), made on `producer`, and returns their sum.
std::int64_t sum_stream_from(actors::node_id producer, std::int64_t n);

/// Puts `n` (an object this task's node owns) and returns a reference to it,
/// dropping its own.
std::vector<actors::object_ref<std::int64_t>> put_here(std::int64_t n);
/// Puts make_vec(n) on this task's node and returns a reference to it, dropping
/// its own: who reads it knows neither its size nor where it is until it asks.
std::vector<actors::object_ref<std::vector<std::int64_t>>> put_vec_here(std::int64_t n);
/// Creates an unnamed counter at `start` on node `host` (this task's node is its
/// creator) and returns its handle, dropping its own.
actors::actor_handle<Counter> counter_on(actors::node_id host, std::int64_t start);
/// Returns the handle it was given.
actors::actor_handle<Counter> echo_handle(actors::actor_handle<Counter> counter);

/// Keeps a handle to a counter and calls it later.
class HandleKeeper {
 public:
  void keep(actors::actor_handle<Counter> counter);
  /// Adds `d` to the kept counter; returns the sum.
  std::int64_t add(std::int64_t d);
  /// Drops the kept handle.
  void drop();

 private:
  actors::actor_handle<Counter> kept_;
};

HandleKeeper make_handle_keeper(int);

} // namespace job
