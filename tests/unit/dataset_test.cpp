// Datasets in the embedded cluster: every operator against a plain C++ reference
// computed on the same generated data. Links only the public libraries.

#include <actors/actors.hpp>
#include <actors/dataset.hpp>

#include "dataset/src/progress.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <sstream>

namespace data = actors::data;

namespace {

std::int64_t twice(const std::int64_t& x) {
  return 2 * x;
}
bool is_even(const std::int64_t& x) {
  return x % 2 == 0;
}
std::int64_t mod7(const std::int64_t& x) {
  return x % 7;
}
std::vector<std::string> split_words(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  for (std::string w; in >> w;)
    out.push_back(w);
  return out;
}
std::string identity(const std::string& s) {
  return s;
}

ACTORS_REMOTE(twice, is_even, mod7, split_words, identity);

class DatasetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    actors::init_options opts;
    opts.num_cpus = 2;
    actors::init(opts);
  }
  static void TearDownTestSuite() {
    actors::shutdown();
  }

  /// Skewed keys: most rows share a few keys.
  static std::vector<std::int64_t> skewed(std::size_t n, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::int64_t> v(n);
    for (auto& x : v)
      x = rng() % 10 < 8 ? static_cast<std::int64_t>(rng() % 3) : static_cast<std::int64_t>(rng() % 100000);
    return v;
  }

  std::filesystem::path temp_dir(const std::string& name) {
    auto d = std::filesystem::temp_directory_path() / ("actors-dataset-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    return d;
  }
};

TEST(DatasetProgress, ALineShowsBlocksRowsRateAndTimeLeftWithinTheWidth) {
  using actors::data::detail::progress_text;
  using std::chrono::duration;
  // Nothing done yet: no rate and no time left to guess from.
  EXPECT_EQ(progress_text("map(parse)->count", 0, 8, 0, duration<double>(0.5), 100),
            "dataset map(parse)->count: 0/8 blocks, 0 rows");
  // 2 of 8 blocks in 4 s: 6 more take 12 s.
  EXPECT_EQ(progress_text("map(parse)->count", 2, 8, 2'500'000, duration<double>(4), 100),
            "dataset map(parse)->count: 2/8 blocks, 2.50M rows, 625.0k rows/s, 12s left");
  EXPECT_EQ(progress_text("sort.sample", 8, 8, 12'000, duration<double>(2), 100),
            "dataset sort.sample: 8/8 blocks, 12.0k rows, 6000 rows/s");
  EXPECT_EQ(progress_text("x", 1, 61, 10, duration<double>(1), 100), "dataset x: 1/61 blocks, 10 rows, 10 rows/s, 1m00s left");
  // A long stage name gives way to the figures.
  auto line = progress_text(std::string(200, 'm'), 2, 8, 100, duration<double>(1), 60);
  EXPECT_EQ(line.size(), 60u);
  EXPECT_NE(line.find("...: 2/8 blocks, 100 rows"), std::string::npos) << line;
}

TEST_F(DatasetTest, RangeCountCollectAndBlocks) {
  auto ds = data::range(1000, 7);
  EXPECT_EQ(ds.num_blocks(), 7u);
  EXPECT_EQ(ds.count(), 1000u);
  std::vector<std::int64_t> want(1000);
  std::iota(want.begin(), want.end(), 0);
  EXPECT_EQ(ds.collect(), want);
  // More blocks than rows, one block, and no rows at all.
  EXPECT_EQ(data::range(3, 16).collect(), (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(data::range(3, 16).num_blocks(), 3u);
  EXPECT_EQ(data::range(5, 1).collect(), (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(data::range(0, 4).count(), 0u);
  EXPECT_TRUE(data::range(0, 4).collect().empty());
}

TEST_F(DatasetTest, RowOperatorsMatchReference) {
  auto input = skewed(5000, 1);
  std::vector<std::int64_t> want;
  for (auto x : input)
    if (is_even(twice(x) + 1) == false && (x % 3) != 0)
      want.push_back(twice(x) + 1);
  auto got = data::from_items(input, 9)
               .map(twice)
               .map([](const std::int64_t& x) { return x + 1; })
               .filter([](const std::int64_t& x) { return !is_even(x); })
               .filter([](const std::int64_t& x) { return ((x - 1) / 2) % 3 != 0; })
               .collect();
  EXPECT_EQ(got, want);

  auto words = data::from_items(std::vector<std::string>{"a b", "", "c d e"}, 2).flat_map(split_words).collect();
  EXPECT_EQ(words, (std::vector<std::string>{"a", "b", "c", "d", "e"}));

  auto batches = data::range(100, 3)
                   .map_batches(
                     [](std::vector<std::int64_t> b) {
                       return std::vector<std::int64_t>{static_cast<std::int64_t>(b.size())};
                     },
                     10)
                   .collect();
  EXPECT_EQ(std::accumulate(batches.begin(), batches.end(), std::int64_t{0}), 100);
  EXPECT_TRUE(std::all_of(batches.begin(), batches.end(), [](auto n) { return n <= 10; }));
}

TEST_F(DatasetTest, MapReduceSumIsExact) {
  const std::int64_t n = 1'000'000;
  EXPECT_EQ(data::range(n, 16).map(twice).filter(is_even).sum(), n * (n - 1));
  EXPECT_EQ(data::range(0, 4).sum(), 0);
}

TEST_F(DatasetTest, SortMatchesStdSortAndIsRangePartitioned) {
  for (auto input : {skewed(20000, 2), std::vector<std::int64_t>{}, std::vector<std::int64_t>{5}}) {
    auto ds = data::from_items(input, 8).sort(mod7);
    auto got = ds.collect();
    auto want = input;
    std::stable_sort(want.begin(), want.end(), [](auto a, auto b) { return mod7(a) < mod7(b); });
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i)
      ASSERT_EQ(mod7(got[i]), mod7(want[i])) << "row " << i;
    std::multiset<std::int64_t> a(got.begin(), got.end()), b(input.begin(), input.end());
    EXPECT_EQ(a, b);
  }
  auto input = skewed(30000, 3);
  auto sorted = data::from_items(input, 6).sort([](const std::int64_t& x) { return x; }, true);
  auto got = sorted.collect();
  auto want = input;
  std::sort(want.begin(), want.end(), std::greater<>());
  EXPECT_EQ(got, want);
}

/// The number of rows in each block, in order.
template <class T>
std::vector<std::size_t> block_sizes(const data::dataset<T>& ds) {
  return ds.map_batches([](std::vector<T> b) { return std::vector<std::size_t>{b.size()}; }).collect();
}

TEST_F(DatasetTest, SortBlocksAreOrderedAndBalanced) {
  auto ds = data::range(60000, 6).random_shuffle(9).sort([](const std::int64_t& x) { return x; }).materialize();
  auto all = ds.collect();
  ASSERT_EQ(all.size(), 60000u);
  for (std::size_t i = 0; i < all.size(); ++i)
    ASSERT_EQ(all[i], static_cast<std::int64_t>(i));
  auto sizes = block_sizes(ds);
  ASSERT_EQ(sizes.size(), 6u);
  for (auto n : sizes)
    EXPECT_LT(n, 2 * 10000u) << "a range holds more than twice its share";
  bool saw_sort = false;
  for (const auto& op : ds.stats().operators)
    if (op.name == "sort") {
      saw_sort = true;
      EXPECT_EQ(op.tasks, 6u);
      EXPECT_EQ(op.rows, 60000u);
    }
  EXPECT_TRUE(saw_sort) << ds.stats().to_string();
}

TEST_F(DatasetTest, GroupByMatchesStdMap) {
  auto input = skewed(40000, 5);
  std::map<std::int64_t, std::int64_t> count, sum, mn, mx;
  std::map<std::int64_t, double> mean;
  for (auto x : input) {
    auto k = mod7(x);
    ++count[k];
    sum[k] += x;
    mn[k] = mn.count(k) ? std::min(mn[k], x) : x;
    mx[k] = mx.count(k) ? std::max(mx[k], x) : x;
  }
  for (auto& [k, s] : sum)
    mean[k] = static_cast<double>(s) / static_cast<double>(count[k]);
  auto ds = data::from_items(input, 10);
  auto as_map = [](auto rows) { return std::map(rows.begin(), rows.end()); };
  EXPECT_EQ(as_map(ds.group_by(mod7).count().collect()), count);
  auto value = [](const std::int64_t& x) { return x; };
  EXPECT_EQ(as_map(ds.group_by(mod7).sum(value).collect()), sum);
  EXPECT_EQ(as_map(ds.group_by(mod7).min(value).collect()), mn);
  EXPECT_EQ(as_map(ds.group_by(mod7).max(value).collect()), mx);
  auto got_mean = as_map(ds.group_by(mod7).mean(value).collect());
  ASSERT_EQ(got_mean.size(), mean.size());
  for (auto& [k, m] : mean)
    EXPECT_NEAR(got_mean[k], m, 1e-6 * std::abs(m) + 1e-9);
  // Skewed: every key of the reference, once.
  std::map<std::int64_t, std::int64_t> by_value;
  for (auto x : input)
    ++by_value[x];
  EXPECT_EQ(as_map(ds.group_by(value).count().collect()), by_value);
  EXPECT_TRUE(data::range(0, 3).group_by(mod7).count().collect().empty());
}

TEST_F(DatasetTest, GroupByOfBlocksLargerThanASliceMatchesStdMap) {
  // 3 blocks of 50,000 rows: each block's partial aggregation takes them a
  // slice at a time; the keys outgrow its first table many times over.
  std::vector<std::int64_t> input(150000);
  std::iota(input.begin(), input.end(), -7000);
  std::mt19937_64 rng(11);
  std::shuffle(input.begin(), input.end(), rng);
  auto key = [](const std::int64_t& x) { return x / 3; };
  auto value = [](const std::int64_t& x) { return x * x; };
  std::map<std::int64_t, std::int64_t> sum, count;
  for (auto x : input) {
    sum[key(x)] += value(x);
    ++count[key(x)];
  }
  auto ds = data::from_items(input, 3);
  auto got = ds.group_by(key).sum(value).collect();
  EXPECT_EQ(got.size(), sum.size());
  EXPECT_EQ(std::map(got.begin(), got.end()), sum);
  auto counted = ds.group_by(key).count().collect();
  EXPECT_EQ(std::map(counted.begin(), counted.end()), count);
}

TEST_F(DatasetTest, GroupByAKeyWithoutAHashUsesItsOrder) {
  // std::pair has operator< but no std::hash.
  auto ds = data::range(10000, 4);
  auto key = [](const std::int64_t& x) { return std::make_pair(x % 3, x % 5); };
  std::map<std::pair<std::int64_t, std::int64_t>, std::int64_t> count;
  for (std::int64_t x = 0; x < 10000; ++x)
    ++count[key(x)];
  auto got = ds.group_by(key).count().collect();
  EXPECT_EQ(std::map(got.begin(), got.end()), count);
}

TEST(FlatAccumulators, KeepsOneEntryPerKeyInTheOrderKeysCameThroughEveryGrowth) {
  data::detail::flat_accumulators<std::int64_t, std::int64_t> acc;
  std::vector<std::int64_t> order;
  for (std::int64_t round = 0; round < 3; ++round)
    for (std::int64_t k = 0; k < 5000; ++k) {
      // Keys that share their low bits, and negative ones.
      const std::int64_t key = (k % 2 ? -k : k) << 12;
      bool made = false;
      acc.upsert(
        key, [&] { made = true; return std::int64_t{1}; }, [](std::int64_t& n) { ++n; });
      if (made)
        order.push_back(key);
      EXPECT_EQ(made, round == 0) << "key " << key << " in round " << round;
    }
  const auto& entries = acc.entries();
  ASSERT_EQ(entries.size(), 5000u);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].first, order[i]);
    EXPECT_EQ(entries[i].second, 3);
  }
}

TEST_F(DatasetTest, RepartitionKeepsRowOrderWhateverTheBlocksAndOutputs) {
  // Outputs made of whole input blocks and of pieces cut from others alike.
  for (std::int64_t n : {20, 37})
    for (std::size_t blocks = 1; blocks <= 7; ++blocks)
      for (std::size_t k = 1; k <= 9; ++k) {
        auto ds = data::range(n, blocks);
        auto re = ds.repartition(k);
        EXPECT_EQ(re.collect(), ds.collect()) << n << " rows in " << blocks << " blocks into " << k;
        EXPECT_EQ(re.num_blocks(), k);
      }
}

TEST_F(DatasetTest, RepartitionShuffleLimitUnion) {
  auto ds = data::range(1001, 3);
  auto re = ds.repartition(10);
  EXPECT_EQ(re.num_blocks(), 10u);
  EXPECT_EQ(re.collect(), ds.collect());
  for (auto& b : re.iter_batches(1000)) {
    EXPECT_LE(b.size(), 1000u);
  }
  EXPECT_EQ(ds.repartition(1).num_blocks(), 1u);

  auto shuffled = ds.random_shuffle(42).collect();
  EXPECT_NE(shuffled, ds.collect());
  EXPECT_EQ(std::multiset<std::int64_t>(shuffled.begin(), shuffled.end()).size(), 1001u);
  auto sorted = shuffled;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, ds.collect());
  EXPECT_EQ(ds.random_shuffle(42).collect(), shuffled) << "the same seed gives the same order";

  EXPECT_EQ(ds.limit(5).collect(), (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(ds.limit(0).count(), 0u);
  EXPECT_EQ(ds.limit(5000).count(), 1001u);
  EXPECT_EQ(ds.take(3), (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(ds.map(twice).limit(400).count(), 400u);

  auto u = data::range(3, 2).union_with(data::range(2, 1).map(twice));
  EXPECT_EQ(u.collect(), (std::vector<std::int64_t>{0, 1, 2, 0, 2}));
  EXPECT_EQ(u.num_blocks(), 3u);
}

TEST_F(DatasetTest, IterBatchesStreamsInOrder) {
  std::int64_t next = 0;
  std::size_t batches = 0;
  for (auto& batch : data::range(10007, 13).iter_batches(1000)) {
    ++batches;
    EXPECT_LE(batch.size(), 1000u);
    for (auto x : batch)
      ASSERT_EQ(x, next++);
  }
  EXPECT_EQ(next, 10007);
  EXPECT_EQ(batches, 11u);
  for (auto& b : data::range(0, 2).iter_batches(10))
    ADD_FAILURE() << "no batch expected, got " << b.size() << " rows";
}

TEST_F(DatasetTest, WordCountOverFiles) {
  auto dir = temp_dir("words");
  std::map<std::string, std::int64_t> want;
  std::mt19937 rng(7);
  const char* vocabulary[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"};
  for (int f = 0; f < 4; ++f) {
    std::ofstream out(dir / ("part" + std::to_string(f) + ".txt"));
    for (int line = 0; line < 200; ++line) {
      for (int w = 0; w < 5; ++w) {
        std::string word = vocabulary[rng() % (f == 0 ? 2 : 6)];
        ++want[word];
        out << word << ' ';
      }
      out << '\n';
    }
  }
  auto counts = data::read_text((dir / "*.txt").string()).flat_map(split_words).group_by(identity).count();
  auto got = counts.collect();
  EXPECT_EQ(std::map(got.begin(), got.end()), want);
  EXPECT_EQ(data::read_text(dir.string()).count(), 800u);
  try {
    data::read_text((dir / "*.nothing").string());
    ADD_FAILURE() << "no error for a pattern without files";
  } catch (const actors::error& e) {
    EXPECT_NE(std::string(e.what()).find("no file matches"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

TEST_F(DatasetTest, CsvGroupByAndRoundTrip) {
  auto dir = temp_dir("csv");
  {
    std::ofstream out(dir / "sales.csv");
    out << "region,price,qty\n"
        << "north,1.5,2\n"
        << "south,2.25,1\n"
        << "\"north, east\",3,4\n"
        << "north,4,1\n";
  }
  auto table = data::read_csv((dir / "sales.csv").string());
  auto region = [](const data::row& r) { return r.get<std::string>("region"); };
  auto revenue = [](const data::row& r) { return r.get<double>("price") * r.get<int>("qty"); };
  auto got = table.group_by(region).sum(revenue).collect();
  std::map<std::string, double> m(got.begin(), got.end());
  EXPECT_EQ(m.size(), 3u);
  EXPECT_DOUBLE_EQ(m["north"], 1.5 * 2 + 4);
  EXPECT_DOUBLE_EQ(m["south"], 2.25);
  EXPECT_DOUBLE_EQ(m["north, east"], 12);

  // write_csv then read_csv gives the same rows back.
  EXPECT_EQ(table.write_csv((dir / "copy").string()), 4u);
  auto back = data::read_csv((dir / "copy").string()).collect();
  auto orig = table.collect();
  ASSERT_EQ(back.size(), orig.size());
  for (std::size_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back[i].values(), orig[i].values());
    EXPECT_EQ(back[i].columns(), orig[i].columns());
  }
  data::from_items(got, 2).write_csv((dir / "totals").string());
  auto totals = data::read_csv((dir / "totals").string()).collect();
  ASSERT_EQ(totals.size(), 3u);
  EXPECT_EQ(totals[0].columns(), (std::vector<std::string>{"key", "value"}));

  // A value that does not parse names the file, line and column.
  {
    std::ofstream out(dir / "bad.csv");
    out << "region,price,qty\nnorth,1,1\nsouth,abc,2\n";
  }
  try {
    data::read_csv((dir / "bad.csv").string()).group_by(region).sum(revenue).collect();
    ADD_FAILURE() << "no error for a price that is not a number";
  } catch (const actors::task_error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv line 3, column 'price': 'abc' is not a valid number"),
              std::string::npos)
      << e.what();
  }
  // A record with the wrong number of fields names the file and line.
  {
    std::ofstream out(dir / "short.csv");
    out << "a,b\n1,2\n3\n4,5\n";
  }
  try {
    data::read_csv((dir / "short.csv").string()).count();
    ADD_FAILURE() << "no error for a short record";
  } catch (const actors::task_error& e) {
    EXPECT_NE(std::string(e.what()).find("short.csv line 3: 1 fields where the header (a,b) has 2"),
              std::string::npos)
      << e.what();
  }
  std::filesystem::remove_all(dir);
}

TEST_F(DatasetTest, WriteTextWritesOneFilePerBlock) {
  auto dir = temp_dir("text");
  EXPECT_EQ(data::range(10, 3).map(twice).write_text(dir.string()), 10u);
  std::vector<std::string> files;
  for (auto& e : std::filesystem::directory_iterator(dir))
    files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"part-00000.txt", "part-00001.txt", "part-00002.txt"}));
  auto lines = data::read_text(dir.string()).collect();
  EXPECT_EQ(lines, (std::vector<std::string>{"0", "2", "4", "6", "8", "10", "12", "14", "16", "18"}));
  std::filesystem::remove_all(dir);
}

TEST_F(DatasetTest, StatsOfADerivedDatasetShowOnlyItsOwnWork) {
  auto names = [](const data::dataset_stats& st) {
    std::set<std::string> out;
    for (const auto& op : st.operators)
      out.insert(op.name);
    return out;
  };
  // Two datasets read one input: neither shows the other's operators.
  auto base = data::range(100, 2);
  auto doubled = base.map(twice);
  auto even = base.filter(is_even);
  EXPECT_EQ(doubled.count(), 100u);
  EXPECT_EQ(even.count(), 50u);
  EXPECT_TRUE(names(doubled.stats()).count("map(twice)")) << doubled.stats().to_string();
  EXPECT_FALSE(names(doubled.stats()).count("filter(is_even)")) << doubled.stats().to_string();
  EXPECT_TRUE(names(even.stats()).count("filter(is_even)")) << even.stats().to_string();
  EXPECT_FALSE(names(even.stats()).count("map(twice)")) << even.stats().to_string();
  // A kept input's work is part of both, once.
  auto kept = base.random_shuffle(3).materialize();
  auto a = kept.map(twice);
  auto b = kept.filter(is_even);
  EXPECT_EQ(a.count(), 100u);
  EXPECT_EQ(b.count(), 50u);
  auto sa = names(a.stats());
  EXPECT_TRUE(sa.count("random_shuffle")) << a.stats().to_string();
  EXPECT_TRUE(sa.count("map(twice)")) << a.stats().to_string();
  EXPECT_FALSE(sa.count("filter(is_even)")) << a.stats().to_string();
  for (const auto& op : b.stats().operators) {
    if (op.name == "random_shuffle") {
      EXPECT_EQ(op.rows, 100u) << "counted once, though two datasets read it";
    }
  }
}

TEST_F(DatasetTest, StatsNameOperatorsAndTheirRows) {
  auto ds = data::range(1000, 4).map(twice).filter([](const std::int64_t& x) { return x < 1000; });
  EXPECT_EQ(ds.count(), 500u);
  auto stats = ds.stats();
  struct seen_op {
    std::size_t tasks = 0;
    std::uint64_t rows = 0;
    std::size_t nodes = 0;
  };
  std::map<std::string, seen_op> seen;
  for (const auto& op : stats.operators)
    seen[op.name] = {op.tasks, op.rows, op.nodes.size()};
  ASSERT_TRUE(seen.count("range")) << stats.to_string();
  EXPECT_EQ(seen["range"].rows, 1000u);
  EXPECT_EQ(seen["range"].tasks, 4u);
  EXPECT_EQ(seen["map(twice)"].rows, 1000u);
  EXPECT_EQ(seen["filter(<local function>)"].rows, 500u);
  EXPECT_EQ(seen["count"].rows, 500u);
  EXPECT_EQ(seen["count"].nodes, 1u);
  EXPECT_NE(stats.to_string().find("map(twice)"), std::string::npos);
}

TEST_F(DatasetTest, UserErrorsAreClear) {
  EXPECT_THROW(data::range(-1), actors::error);
  EXPECT_THROW(data::range(10, 2).repartition(0), actors::error);
  try {
    data::range(10, 2).map([](const std::int64_t& x) -> std::int64_t { throw std::runtime_error("bad row " + std::to_string(x)); }).collect();
    ADD_FAILURE() << "no error from a throwing map";
  } catch (const actors::task_error& e) {
    EXPECT_NE(std::string(e.what()).find("bad row 0"), std::string::npos) << e.what();
    // The operator that threw, not only the consumer whose task ran it.
    EXPECT_NE(std::string(e.what()).find("dataset operator map(<local function>): bad row 0"), std::string::npos)
      << e.what();
  }
  struct opaque {
    int x;
  };
  try {
    data::range(3, 1).map([](const std::int64_t& x) { return opaque{static_cast<int>(x)}; }).write_text("/tmp/never");
    ADD_FAILURE() << "no error writing rows without a text form";
  } catch (const actors::error& e) {
    EXPECT_NE(std::string(e.what()).find("no text form"), std::string::npos) << e.what();
  }
}

} // namespace
