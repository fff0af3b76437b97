// The driver of the example job: it joins a standing cluster of `actorsd`
// daemons that loaded libjob.so, counts the words of a few texts there as
// tasks, sums them in an actor, and prints the most common words and on how
// many nodes the counting ran.
//
//   actorsd --head --port 6380 --num-cpus 0 --load build/examples/job/libjob.so
//   actorsd --address 127.0.0.1:6380 --load build/examples/job/libjob.so   # two nodes: run it twice
//   build/examples/job/job_driver --actors-address=127.0.0.1:6380
//   # 6 texts counted on 2 node(s), 0 on this driver: 36 words; most common: the 10, driver 2, job 2
//
// It links libjob.so, so it registers the same functions the nodes loaded. A
// driver offers no CPUs, so the tasks and the actor run on the nodes. With no
// cluster running, the program runs everything in its own process.

#include "job.hpp"

#include <actors/actors.hpp>

#include <cstdint>
#include <iostream>
#include <set>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  actors::init(argc, argv); // --actors-address=HOST:PORT joins that cluster

  const std::vector<std::string> texts = {
    "The cluster runs the tasks.",
    "The nodes load the job library.",
    "The driver links the job library.",
    "Tasks count the words of a text.",
    "An actor adds the counts.",
    "The driver prints the most common words.",
  };

  // One task per text, round-robin over the nodes.
  std::vector<actors::object_ref<job::word_counts>> counted;
  for (const auto& text : texts)
    counted.push_back(actors::task(job::count_words).strategy(actors::spread).remote(text));

  // The tally adds each text's counts once its task has finished; calls from
  // this driver run in the order they were made, so totals() sees them all.
  auto tally = actors::actor(job::make_word_tally).remote();
  for (const auto& counts : counted)
    tally.task(&job::word_tally::add).remote(counts);
  auto totals = tally.task(&job::word_tally::totals).remote();

  // Another task ranks the totals, taking them straight from the actor's result.
  auto top = actors::get(actors::task(job::top_words).remote(totals, 3));

  std::int64_t words = 0;
  std::set<std::string> nodes;
  int on_driver = 0;
  const auto driver = actors::current_node_id().to_string();
  for (const auto& counts : actors::get(counted)) {
    for (const auto& [word, n] : counts.words)
      words += n;
    nodes.insert(counts.node);
    on_driver += counts.node == driver;
  }

  std::cout << texts.size() << " texts counted on " << nodes.size() << " node(s), " << on_driver
            << " on this driver: " << words << " words; most common: ";
  for (std::size_t i = 0; i < top.size(); ++i)
    std::cout << (i ? ", " : "") << top[i].first << " " << top[i].second;
  std::cout << "\n";

  actors::shutdown();
}
