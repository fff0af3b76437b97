#pragma once

// Dataset pipelines for the cluster tests. They are built here, in the library every
// node loads, so the nodes have the typed code of each operator.

#include <actors/dataset.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dsjob {

namespace data = actors::data;

std::int64_t twice(const std::int64_t& x);
bool is_even(const std::int64_t& x);
std::int64_t mod97(const std::int64_t& x);
std::int64_t itself(const std::int64_t& x);
std::string node_of(const std::int64_t& x);

data::dataset<std::int64_t> doubled_evens(std::int64_t n, std::size_t blocks);
data::dataset<std::int64_t> items(const std::vector<std::int64_t>& v, std::size_t blocks);
data::dataset<std::int64_t> sorted(const data::dataset<std::int64_t>& d, bool descending);
data::dataset<std::int64_t> shuffled(const data::dataset<std::int64_t>& d, std::uint64_t seed);
data::dataset<std::pair<std::int64_t, std::int64_t>> count_by_mod97(const data::dataset<std::int64_t>& d);
data::dataset<std::pair<std::int64_t, std::int64_t>> sum_by_mod97(const data::dataset<std::int64_t>& d);
data::dataset<std::string> nodes_of_rows(std::int64_t n, std::size_t blocks);
/// Each row of `d` with the node that read it.
data::dataset<std::pair<std::string, std::string>> with_reader(const data::dataset<std::string>& d);
data::dataset<std::pair<std::string, std::int64_t>> word_count(const std::string& pattern);
data::dataset<std::pair<std::string, double>> revenue_by_region(const std::string& pattern);
std::vector<std::size_t> block_sizes(const data::dataset<std::int64_t>& d);

} // namespace dsjob
