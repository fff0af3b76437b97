#include "job.hpp"

#include <actors/actors.hpp>

#include <algorithm>
#include <cctype>

namespace job {

word_counts count_words(const std::string& text) {
  word_counts counts;
  std::string word;
  for (char c : text + ' ') {
    auto u = static_cast<unsigned char>(c);
    if (std::isalpha(u)) {
      word += static_cast<char>(std::tolower(u));
    } else if (!word.empty()) {
      ++counts.words[word];
      word.clear();
    }
  }
  counts.node = actors::current_node_id().to_string();
  return counts;
}

std::vector<std::pair<std::string, std::int64_t>> top_words(const word_counts& counts, int n) {
  std::vector<std::pair<std::string, std::int64_t>> ranked(counts.words.begin(), counts.words.end());
  // stable_sort keeps the map's alphabetical order among equal counts.
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  ranked.resize(std::min(ranked.size(), static_cast<std::size_t>(std::max(n, 0))));
  return ranked;
}

std::int64_t word_tally::add(const word_counts& counts) {
  for (const auto& [word, n] : counts.words)
    totals_.words[word] += n;
  return ++texts_;
}

word_counts word_tally::totals() const {
  auto totals = totals_;
  totals.node = actors::current_node_id().to_string();
  return totals;
}

word_tally make_word_tally() {
  return {};
}

// The names the nodes and the driver know these by. Each node loads this
// library and the driver links it, so this line runs in every one of them.
ACTORS_REMOTE(count_words, top_words, make_word_tally, &word_tally::add, &word_tally::totals);

} // namespace job
