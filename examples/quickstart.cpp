// The first program a user writes: remote tasks, an actor, and an object passed
// between tasks, on the embedded cluster that actors::init starts in this process.
//
//   ./dev run                      # builds, then runs this program
//   build/examples/quickstart --actors-num-cpus=2

#include <actors/actors.hpp>

#include <iostream>
#include <numeric>
#include <set>
#include <string>
#include <vector>

int square(int x) {
  return x * x;
}

class Counter {
 public:
  explicit Counter(int start) : n_(start) {}
  int add(int d) {
    return n_ += d;
  }
  int value() const {
    return n_;
  }

 private:
  int n_;
};

Counter make_counter(int start) {
  return Counter(start);
}

std::vector<int> make_range(int n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), 1);
  return v;
}

long sum(const std::vector<int>& v) {
  return std::accumulate(v.begin(), v.end(), 0L);
}

std::string node_of(int) {
  return actors::current_node_id().to_string();
}

ACTORS_REMOTE(square, make_counter, &Counter::add, &Counter::value, make_range, sum, node_of);

template <class T>
std::string show(const std::vector<T>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i)
    s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

int main(int argc, char** argv) {
  actors::init(argc, argv); // embedded cluster, or --actors-address=host:port

  // Remote tasks: each call returns a future at once; get waits for the values.
  std::vector<actors::object_ref<int>> futures;
  for (int x : {1, 2, 3, 4, 5})
    futures.push_back(actors::task(square).remote(x));
  std::cout << "squares of 1..5 as remote tasks: " << show(actors::get(futures)) << "\n";

  // A stateful actor: calls from one caller run in order on one instance.
  auto counter = actors::actor(make_counter).name("hits").max_restarts(3).remote(10);
  counter.task(&Counter::add).remote(5);
  int v = actors::get(counter.task(&Counter::add).remote(5));
  std::cout << "counter started at 10, added 5 twice: " << v << "\n";

  // An object passed between tasks: the second task waits for the first one's
  // result and receives its value (dataflow), without the driver touching it.
  auto numbers = actors::task(make_range).remote(100);
  auto total = actors::task(sum).remote(numbers);
  std::cout << "sum of 1..100, computed by a task from another task's object: "
            << actors::get(total) << "\n";

  // A value put into the object store once and shared by tasks.
  auto shared = actors::put(make_range(10));
  std::cout << "sum of a put object 1..10: " << actors::get(actors::task(sum).remote(shared)) << "\n";

  // Named actors are found by name.
  auto again = actors::get_actor<Counter>("hits");
  std::cout << "the actor named 'hits' holds: " << actors::get(again->task(&Counter::value).remote())
            << "\n";

  // The cluster: one process here, or more with --actors-local-nodes=3.
  std::set<std::string> where;
  for (int i = 0; i < 12; ++i)
    where.insert(actors::get(actors::task(node_of).strategy(actors::spread).remote(i)));
  std::cout << "cluster of " << actors::nodes().size() << " node(s); 12 tasks spread over them ran on "
            << where.size() << " node(s)\n";

  actors::shutdown();
}
