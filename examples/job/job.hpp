#pragma once

// The example job library: words of texts counted by tasks and summed by an
// actor. The nodes of a standing cluster load it (`actorsd --load
// build/examples/job/libjob.so`), and the driver (job_driver.cpp) links it, so
// both have the ACTORS_REMOTE registrations in job.cpp.

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace job {

/// Words with their numbers of occurrences, and the node that counted them.
struct word_counts {
  std::map<std::string, std::int64_t> words;
  /// actors::node_id::to_string() of the node that ran count_words.
  std::string node;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & words & node;
  }
};

/// Counts the words of `text`: runs of ASCII letters, lower-cased.
word_counts count_words(const std::string& text);

/// The `n` most frequent words of `counts`, most frequent first, ties in
/// alphabetical order.
std::vector<std::pair<std::string, std::int64_t>> top_words(const word_counts& counts, int n);

/// An actor summing the word counts of many texts. Its calls run one at a time.
class word_tally {
 public:
  /// Adds one text's counts; returns the number of texts added so far.
  std::int64_t add(const word_counts& counts);
  /// Every word added so far with its total, counted on the tally's node.
  word_counts totals() const;

 private:
  word_counts totals_;
  std::int64_t texts_ = 0;
};

/// The factory `actors::actor(make_word_tally)` runs on the node that hosts the tally.
word_tally make_word_tally();

} // namespace job
