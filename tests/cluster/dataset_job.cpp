#include "tests/cluster/dataset_job.hpp"

#include <actors/actors.hpp>

#include <sstream>

namespace dsjob {

std::int64_t twice(const std::int64_t& x) {
  return 2 * x;
}
bool is_even(const std::int64_t& x) {
  return x % 2 == 0;
}
std::int64_t mod97(const std::int64_t& x) {
  return x % 97;
}
std::int64_t itself(const std::int64_t& x) {
  return x;
}
std::string node_of(const std::int64_t&) {
  return actors::current_node_id().to_string();
}
std::pair<std::string, std::string> and_reader(const std::string& row) {
  return {row, actors::current_node_id().to_string()};
}
std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  for (std::string w; in >> w;)
    out.push_back(w);
  return out;
}
std::string word(const std::string& w) {
  return w;
}
std::string region(const data::row& r) {
  return r.get<std::string>("region");
}
double revenue(const data::row& r) {
  return r.get<double>("price") * r.get<double>("qty");
}
std::vector<std::size_t> sizes(std::vector<std::int64_t> block) {
  return {block.size()};
}

ACTORS_REMOTE(twice, is_even, mod97, itself, node_of, and_reader, words, word, region, revenue, sizes);

data::dataset<std::int64_t> doubled_evens(std::int64_t n, std::size_t blocks) {
  return data::range(n, blocks).map(twice).filter(is_even);
}
data::dataset<std::int64_t> items(const std::vector<std::int64_t>& v, std::size_t blocks) {
  return data::from_items(v, blocks);
}
data::dataset<std::int64_t> sorted(const data::dataset<std::int64_t>& d, bool descending) {
  return d.sort(itself, descending);
}
data::dataset<std::int64_t> shuffled(const data::dataset<std::int64_t>& d, std::uint64_t seed) {
  return d.random_shuffle(seed);
}
data::dataset<std::pair<std::int64_t, std::int64_t>> count_by_mod97(const data::dataset<std::int64_t>& d) {
  return d.group_by(mod97).count();
}
data::dataset<std::pair<std::int64_t, std::int64_t>> sum_by_mod97(const data::dataset<std::int64_t>& d) {
  return d.group_by(mod97).sum(itself);
}
data::dataset<std::string> nodes_of_rows(std::int64_t n, std::size_t blocks) {
  return data::range(n, blocks).map(node_of);
}
data::dataset<std::pair<std::string, std::string>> with_reader(const data::dataset<std::string>& d) {
  return d.map(and_reader);
}
data::dataset<std::pair<std::string, std::int64_t>> word_count(const std::string& pattern) {
  return data::read_text(pattern).flat_map(words).group_by(word).count();
}
data::dataset<std::pair<std::string, double>> revenue_by_region(const std::string& pattern) {
  return data::read_csv(pattern).group_by(region).sum(revenue);
}
std::vector<std::size_t> block_sizes(const data::dataset<std::int64_t>& d) {
  return d.map_batches(sizes).collect();
}

} // namespace dsjob
