#include "tests/cluster/job.hpp"

#include <actors/actors.hpp>

#include <chrono>
#include <fstream>
#include <iostream>
#include <numeric>
#include <thread>

namespace job {

std::int64_t square(std::int64_t x) {
  return x * x;
}

std::int64_t inc(std::int64_t x) {
  return x + 1;
}

std::int64_t counted(std::int64_t x) {
  static actors::metrics::counter calls("job_calls_total", "Calls of job functions", {{"fn", "counted"}});
  calls.inc();
  return x;
}

std::string where_am_i(int) {
  return actors::current_node_id().to_string();
}

std::string say(const std::string& text) {
  std::cout << text << std::endl;
  return actors::current_node_id().to_string();
}

std::string read_job_file(const std::string& name) {
  std::ifstream in(actors::working_dir() + "/" + name);
  std::string line;
  std::getline(in, line);
  return line + "\t" + actors::current_node_id().to_string();
}

std::vector<std::int64_t> make_vec(std::int64_t n) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 1);
  return v;
}

std::int64_t sum_vec(const std::vector<std::int64_t>& v) {
  return std::accumulate(v.begin(), v.end(), std::int64_t{0});
}

std::int64_t slow_square(std::int64_t x, int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return x * x;
}

std::int64_t slow_sum_both(std::vector<std::int64_t> a, const std::vector<std::int64_t>& b, int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return sum_vec(a) + sum_vec(b);
}

std::string where_holding(const std::vector<std::int64_t>&, int) {
  return actors::current_node_id().to_string();
}

std::int64_t add_via(actors::actor_handle<Counter> counter, std::int64_t d) {
  return actors::get(counter.task(&Counter::add).remote(d), std::chrono::seconds(20));
}

int spin_until_cancelled(int max_ms) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_ms);
  while (!actors::is_cancelled() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return actors::is_cancelled() ? 1 : 0;
}

int spin_with_child_on(actors::node_id child_node, int max_ms) {
  auto child = actors::task(spin_until_cancelled).node(child_node, false).remote(max_ms);
  return spin_until_cancelled(max_ms);
}

bool make_named_counter(const std::string& name) {
  auto c = actors::actor(make_counter).name(name).lifetime(actors::detached).remote(std::int64_t{0});
  return actors::get(c.task(&Counter::value).remote(), std::chrono::seconds(20)) == 0;
}

std::int64_t add_to_named(const std::string& name, std::int64_t d) {
  auto c = actors::get_actor<Counter>(name);
  if (!c)
    return -1;
  return actors::get(c->task(&Counter::add).remote(d), std::chrono::seconds(20));
}

bool kill_via(actors::actor_handle<Counter> counter) {
  actors::kill(counter);
  return true;
}

std::int64_t Counter::quit() {
  actors::exit_actor();
  return n_;
}

std::string Counter::where() const {
  return actors::current_node_id().to_string();
}

std::int64_t Counter::add_all(const std::vector<std::int64_t>& v) {
  for (auto x : v)
    n_ += x;
  return n_;
}

Counter make_counter(std::int64_t start) {
  return Counter(start);
}

void Keeper::keep(const std::vector<actors::object_ref<std::int64_t>>& refs) {
  kept_.insert(kept_.end(), refs.begin(), refs.end());
}

std::int64_t Keeper::sum() const {
  std::int64_t total = 0;
  for (const auto& r : kept_)
    total += actors::get(r);
  return total;
}

std::int64_t sum_refs(const std::vector<actors::object_ref<std::int64_t>>& refs) {
  std::int64_t total = 0;
  for (const auto& r : refs)
    total += actors::get(r);
  return total;
}

std::int64_t Keeper::sum_on(const std::string& node_hex) const {
  actors::node_id where{std::stoull(node_hex, nullptr, 16)};
  return actors::get(actors::task(sum_refs).node(where, false).remote(kept_));
}

Keeper make_keeper(int) {
  return Keeper{};
}

std::int64_t allocate_mib(int mib) {
  std::vector<std::vector<char>> held;
  for (int i = 0; i < mib; ++i)
    held.emplace_back(std::size_t{1} << 20, static_cast<char>(i));
  std::int64_t total = 0;
  for (const auto& h : held)
    total += static_cast<std::int64_t>(h.size());
  return total;
}

std::int64_t put_vec(std::int64_t n) {
  auto ref = actors::put(make_vec(n));
  return static_cast<std::int64_t>(actors::get(ref).size());
}

std::int64_t Overlap::stay(int ms) {
  auto now = ++inside_;
  auto seen = most_.load();
  while (now > seen && !most_.compare_exchange_weak(seen, now)) {
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  --inside_;
  return now;
}

std::int64_t Overlap::most() const {
  return most_.load();
}

std::string Overlap::where() const {
  return where_am_i(0);
}

std::unique_ptr<Overlap> make_overlap() {
  return std::make_unique<Overlap>();
}

std::int64_t stay_via(actors::actor_handle<Overlap> o, int ms) {
  return actors::get(o.task(&Overlap::stay).remote(ms), std::chrono::seconds(60));
}

actors::async<std::int64_t> Summer::add_all(std::vector<actors::object_ref<std::int64_t>> refs) {
  for (auto v : co_await actors::when_all(std::move(refs)))
    total_ += v;
  co_return total_;
}

actors::async<std::int64_t> Summer::add_one(actors::object_ref<std::int64_t> ref) {
  total_ += co_await ref;
  co_return total_;
}

std::int64_t Summer::total() const {
  return total_;
}

std::string Summer::where() const {
  return where_am_i(0);
}

Summer make_summer() {
  return {};
}

actors::async<std::string> sum_where_awaited(std::vector<actors::object_ref<std::int64_t>> refs) {
  std::int64_t sum = 0;
  for (auto v : co_await actors::when_all(std::move(refs)))
    sum += v;
  co_await actors::sleep_for(std::chrono::milliseconds(1));
  co_return where_am_i(0) + " " + std::to_string(sum);
}

actors::generator<std::int64_t> numbers(std::int64_t n, int pause_ms) {
  for (std::int64_t i = 0; i < n; ++i) {
    if (i > 0 && pause_ms > 0)
      co_await actors::sleep_for(std::chrono::milliseconds(pause_ms));
    co_yield i;
  }
}

actors::generator<std::string> numbers_where(std::int64_t n, int pause_ms) {
  for (std::int64_t i = 0; i < n; ++i) {
    if (i > 0 && pause_ms > 0)
      co_await actors::sleep_for(std::chrono::milliseconds(pause_ms));
    co_yield std::to_string(i) + " " + where_am_i(0);
  }
}

actors::generator<std::vector<std::int64_t>> chunks(int n, std::int64_t len) {
  for (int i = 0; i < n; ++i)
    co_yield std::vector<std::int64_t>(static_cast<std::size_t>(len), i);
}

actors::generator<std::int64_t> stamps(int n) {
  for (int i = 0; i < n; ++i)
    co_yield std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now().time_since_epoch())
      .count();
}

actors::generator<std::int64_t> forever() {
  for (std::int64_t i = 0;; ++i) {
    co_yield i;
    co_await actors::sleep_for(std::chrono::milliseconds(1));
  }
}

actors::generator<std::int64_t> Ticker::ticks(std::int64_t first, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    ++made_;
    co_yield first + i;
  }
}

actors::generator<std::int64_t> Ticker::slow_ticks(std::int64_t n, int pause_ms) {
  for (std::int64_t i = 0; i < n; ++i) {
    if (i > 0)
      co_await actors::sleep_for(std::chrono::milliseconds(pause_ms));
    ++made_;
    co_yield i;
  }
}

actors::generator<std::int64_t> Ticker::endless() {
  for (;;) {
    ++made_;
    co_yield made_;
    co_await actors::sleep_for(std::chrono::milliseconds(1));
  }
}

std::int64_t Ticker::made() const {
  return made_;
}

std::string Ticker::where() const {
  return where_am_i(0);
}

Ticker make_ticker() {
  return {};
}

std::int64_t sum_stream_from(actors::node_id producer, std::int64_t n) {
  std::int64_t sum = 0;
  for (auto r : actors::task(numbers).node(producer, false).remote(n, 0))
    sum += actors::get(r, std::chrono::seconds(20));
  return sum;
}

std::vector<actors::object_ref<std::int64_t>> put_here(std::int64_t n) {
  return {actors::put(n)};
}

std::vector<actors::object_ref<std::vector<std::int64_t>>> put_vec_here(std::int64_t n) {
  return {actors::put(make_vec(n))};
}

actors::actor_handle<Counter> counter_on(actors::node_id host, std::int64_t start) {
  return actors::actor(make_counter).node(host, false).remote(start);
}

actors::actor_handle<Counter> echo_handle(actors::actor_handle<Counter> counter) {
  return counter;
}

void HandleKeeper::keep(actors::actor_handle<Counter> counter) {
  kept_ = std::move(counter);
}

std::int64_t HandleKeeper::add(std::int64_t d) {
  return actors::get(kept_.task(&Counter::add).remote(d), std::chrono::seconds(20));
}

void HandleKeeper::drop() {
  kept_ = {};
}

HandleKeeper make_handle_keeper(int) {
  return {};
}

} // namespace job

using namespace job;
ACTORS_REMOTE(square, inc, counted, where_am_i, say, read_job_file, make_vec, sum_vec, slow_square, slow_sum_both, where_holding, make_counter, &Counter::add,
              &Counter::value, &Counter::add_all, &Counter::where, &Counter::quit, add_via, kill_via, spin_until_cancelled, spin_with_child_on, make_keeper, &Keeper::keep, &Keeper::sum, &Keeper::sum_on, sum_refs,
              allocate_mib, put_vec, make_overlap, &Overlap::stay, &Overlap::most, &Overlap::where, make_summer,
              &Summer::add_all, &Summer::add_one, &Summer::total, &Summer::where, sum_where_awaited, numbers, numbers_where, chunks,
              stamps, forever, sum_stream_from, make_named_counter, add_to_named, make_ticker, &Ticker::ticks,
              &Ticker::slow_ticks, &Ticker::endless, &Ticker::made,
              &Ticker::where, put_here, put_vec_here, counter_on, echo_handle, stay_via, make_handle_keeper, &HandleKeeper::keep, &HandleKeeper::add,
              &HandleKeeper::drop);
