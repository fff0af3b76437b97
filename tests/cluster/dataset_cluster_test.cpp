// Datasets on three node processes (a head and two nodes, real actorsd processes on
// loopback) with this program as the driver: every operator against a plain C++
// reference, blocks on several nodes, and data four times the object store.

#include "tests/cluster/dataset_job.hpp"
#include "tests/support/dashboard.hpp"
#include "tests/support/http.hpp"
#include "tests/support/local_cluster.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/runtime_fixture.hpp"

#include <actors/actors.hpp>
#include <actors/dataset.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

using namespace std::chrono_literals;
using actors::test::process;
namespace data = actors::data;

namespace {

constexpr std::size_t store_bytes = 16u << 20;

class DatasetCluster : public ::testing::Test {
 protected:
  static inline std::unique_ptr<actors::test::local_cluster> cluster;
  static inline std::string dir;
  static inline std::string address;
  static inline std::string token;
  /// The head and the nodes.
  static inline std::vector<process*> daemons;
  static inline std::string driver_id;

  static std::vector<std::string> daemon(std::vector<std::string> extra) {
    std::vector<std::string> args{actors::test::env("ACTORSD"), "--num-cpus", "1", "--object-store-bytes",
                                  std::to_string(store_bytes), "--spill-dir", dir + "/spill",
                                  "--load", actors::test::env("DATASET_JOB_LIBRARY")};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  static void SetUpTestSuite() {
    cluster = std::make_unique<actors::test::local_cluster>("dataset-test");
    dir = cluster->dir;
    cluster->start_head(daemon({"--head", "--port", "0"}));
    address = cluster->address;
    token = cluster->token;
    daemons.push_back(cluster->head.get());
    for (int i = 0; i < 2; ++i)
      daemons.push_back(&cluster->start_node(daemon({})));
    cluster->join({}, 3);
    driver_id = actors::current_node_id().to_string();
  }

  static void TearDownTestSuite() {
    daemons.clear();
    actors::test::tear_down(cluster);
  }

  static std::vector<std::int64_t> skewed(std::size_t n, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::int64_t> v(n);
    for (auto& x : v)
      x = rng() % 10 < 7 ? static_cast<std::int64_t>(rng() % 5) : static_cast<std::int64_t>(rng() % 1000000);
    return v;
  }

  static std::size_t status_bytes(pid_t pid, const std::string& key) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
      if (line.rfind(key, 0) == 0)
        return std::stoull(line.substr(key.size())) * 1024;
    return 0;
  }
  /// Peak resident memory of a process, in bytes.
  static std::size_t peak_rss(pid_t pid) {
    return status_bytes(pid, "VmHWM:");
  }
  static std::size_t resident(pid_t pid) {
    return status_bytes(pid, "VmRSS:");
  }
};

TEST_F(DatasetCluster, MapFilterSumRunsOnTheNodes) {
  const std::int64_t n = 2'000'000;
  auto ds = dsjob::doubled_evens(n, 16);
  EXPECT_EQ(ds.sum(), n * (n - 1));
  EXPECT_EQ(ds.count(), static_cast<std::uint64_t>(n));
  for (const auto& op : ds.stats().operators)
    EXPECT_EQ(op.nodes.count(driver_id), 0u) << op.name << " ran in the driver, which offers no CPUs";
}

TEST_F(DatasetCluster, BlocksAreMadeAndTransformedOnSeveralNodes) {
  auto ds = dsjob::nodes_of_rows(1200, 12).materialize();
  auto names = ds.collect();
  std::set<std::string> nodes(names.begin(), names.end());
  EXPECT_GE(nodes.size(), 2u) << "all blocks ran on one node";
  EXPECT_EQ(nodes.count(driver_id), 0u);
  bool saw = false;
  for (const auto& op : ds.stats().operators)
    if (op.name == "map(node_of)") {
      saw = true;
      EXPECT_EQ(op.nodes, nodes);
      EXPECT_EQ(op.rows, 1200u);
    }
  EXPECT_TRUE(saw) << ds.stats().to_string();
  // Each node that ran them counts the operators' rows for Prometheus, under
  // every dataset metric the dashboard's Datasets row plots.
  std::set<std::string> plotted;
  for (const auto& name : actors::test::dashboard_metrics(actors::test::dashboard_text()))
    if (name.rfind("actors_dataset_", 0) == 0)
      plotted.insert(name);
  EXPECT_TRUE(plotted.count("actors_dataset_rows_total")) << "the dashboard has no dataset rows panel";
  int counted = 0;
  for (const auto& n : actors::nodes())
    if (n.alive && nodes.count(n.id.to_string()) && n.metrics_port > 0) {
      auto text = actors::test::http_get(n.metrics_port, "/metrics");
      counted += text.find("actors_dataset_rows_total{") != std::string::npos
                 && text.find("operator=\"map\"") != std::string::npos;
      for (const auto& name : plotted)
        EXPECT_NE(text.find("# TYPE " + name + " "), std::string::npos)
          << "node " << n.id.to_string() << " ran dataset work but does not export " << name;
    }
  EXPECT_EQ(counted, static_cast<int>(nodes.size()));
}

TEST_F(DatasetCluster, EachKeptBlockIsReadOnTheNodeThatHoldsIt) {
  // Each row names the node that made its block, kept there; a map over the
  // kept blocks adds the node that read it: the same one, for every block.
  auto kept = dsjob::nodes_of_rows(1200, 12).materialize();
  auto rows = dsjob::with_reader(kept).collect();
  ASSERT_EQ(rows.size(), 1200u);
  std::set<std::string> makers;
  for (const auto& [maker, reader] : rows) {
    makers.insert(maker);
    EXPECT_EQ(reader, maker) << "a block made on node " << maker << " was read on node " << reader;
  }
  EXPECT_GE(makers.size(), 2u) << "all blocks were made on one node";
}

TEST_F(DatasetCluster, SortMatchesStdSortAcrossNodes) {
  for (std::size_t blocks : {1u, 7u}) {
    auto input = skewed(50000, static_cast<unsigned>(blocks));
    auto want = input;
    std::sort(want.begin(), want.end());
    auto ds = dsjob::sorted(dsjob::items(input, blocks), false).materialize();
    EXPECT_EQ(ds.collect(), want);
    EXPECT_EQ(ds.num_blocks(), blocks);
    std::reverse(want.begin(), want.end());
    EXPECT_EQ(dsjob::sorted(dsjob::items(input, blocks), true).collect(), want);
    std::set<std::string> merged_on;
    for (const auto& op : ds.stats().operators)
      if (op.name == "sort")
        merged_on = op.nodes;
    EXPECT_EQ(merged_on.count(driver_id), 0u);
    if (blocks > 1) {
      EXPECT_GE(merged_on.size(), 2u) << "merges all on one node";
    }
  }
  EXPECT_TRUE(dsjob::sorted(dsjob::items({}, 4), false).collect().empty());
  // More blocks than rows.
  EXPECT_EQ(dsjob::sorted(dsjob::items({3, 1, 2}, 16), false).collect(), (std::vector<std::int64_t>{1, 2, 3}));
}

TEST_F(DatasetCluster, GroupByMatchesStdMapAcrossNodes) {
  auto input = skewed(60000, 11);
  std::map<std::int64_t, std::int64_t> count, sum;
  for (auto x : input) {
    ++count[x % 97];
    sum[x % 97] += x;
  }
  auto ds = dsjob::items(input, 9);
  auto got_count = dsjob::count_by_mod97(ds).collect();
  auto got_sum = dsjob::sum_by_mod97(ds).collect();
  EXPECT_EQ(std::map(got_count.begin(), got_count.end()), count);
  EXPECT_EQ(std::map(got_sum.begin(), got_sum.end()), sum);
}

TEST_F(DatasetCluster, ShuffleRepartitionLimitUnionTake) {
  auto ds = dsjob::items(skewed(20000, 3), 5);
  auto all = ds.collect();
  auto shuffled = dsjob::shuffled(ds, 7).collect();
  EXPECT_NE(shuffled, all);
  EXPECT_EQ(std::multiset(shuffled.begin(), shuffled.end()), std::multiset(all.begin(), all.end()));
  auto re = ds.repartition(8);
  EXPECT_EQ(re.collect(), all);
  auto sizes = dsjob::block_sizes(re);
  ASSERT_EQ(sizes.size(), 8u);
  for (auto n : sizes)
    EXPECT_EQ(n, 2500u);
  EXPECT_EQ(ds.limit(123).collect(), std::vector<std::int64_t>(all.begin(), all.begin() + 123));
  EXPECT_EQ(ds.take(5), std::vector<std::int64_t>(all.begin(), all.begin() + 5));
  auto u = ds.union_with(dsjob::doubled_evens(10, 2));
  EXPECT_EQ(u.count(), 20010u);
}

TEST_F(DatasetCluster, WordCountCsvAndRoundTrip) {
  auto text = dir + "/corpus";
  std::filesystem::create_directories(text);
  std::map<std::string, std::int64_t> want;
  std::mt19937 rng(5);
  for (int f = 0; f < 5; ++f) {
    std::ofstream out(text + "/f" + std::to_string(f) + ".txt");
    for (int line = 0; line < 300; ++line) {
      for (int w = 0; w < 6; ++w) {
        // Appended, not `"w" + ...`: GCC 12 warns falsely (-Wrestrict) on that.
        std::string word = "w";
        word += std::to_string(rng() % (f + 3));
        ++want[word];
        out << word << ' ';
      }
      out << '\n';
    }
  }
  auto counts = dsjob::word_count(text + "/*.txt").collect();
  EXPECT_EQ(std::map(counts.begin(), counts.end()), want);

  auto csv = dir + "/csv";
  std::filesystem::create_directories(csv);
  {
    std::ofstream a(csv + "/a.csv");
    a << "region,price,qty\nnorth,2,3\nsouth,1.5,2\n";
    std::ofstream b(csv + "/b.csv");
    b << "region,price,qty\nnorth,1,1\n";
  }
  auto revenue = dsjob::revenue_by_region(csv + "/*.csv").collect();
  EXPECT_EQ(std::map(revenue.begin(), revenue.end()), (std::map<std::string, double>{{"north", 7}, {"south", 3}}));

  auto out = dir + "/written";
  EXPECT_EQ(data::read_csv(csv + "/*.csv").write_csv(out), 3u);
  auto back = data::read_csv(out).collect();
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0].get<std::string>("region"), "north");
  EXPECT_EQ(back[2].get<double>("price"), 1);

  {
    std::ofstream c(csv + "/c.csv");
    c << "region,price,qty\nwest,1,1\nwest,2\n";
  }
  try {
    dsjob::revenue_by_region(csv + "/*.csv").collect();
    ADD_FAILURE() << "no error for a malformed CSV record";
  } catch (const actors::task_error& e) {
    EXPECT_NE(std::string(e.what()).find("c.csv line 3: 2 fields where the header (region,price,qty) has 3"),
              std::string::npos)
      << e.what();
  }
  // The cluster still works after the failed job.
  EXPECT_EQ(dsjob::doubled_evens(100, 4).count(), 100u);
}

TEST_F(DatasetCluster, BlocksLostWithTheirNodeAreRecomputedFromThePlan) {
  std::set<std::string> before;
  for (const auto& n : actors::nodes())
    before.insert(n.id.to_string());
  auto extra = std::make_unique<process>(daemon({"--address", address, "--token", token}), dir + "/extra.log");
  std::string extra_id;
  ASSERT_TRUE(actors::test::eventually([&] {
    for (const auto& n : actors::nodes())
      if (n.alive && !n.is_driver && !before.count(n.id.to_string()))
        extra_id = n.id.to_string();
    return !extra_id.empty();
  }));
  auto input = skewed(40000, 21);
  auto want = input;
  std::sort(want.begin(), want.end());
  // Sorted blocks are merged on every node, the extra one included, and kept there.
  auto ds = dsjob::sorted(dsjob::items(input, 8), false).materialize();
  std::set<std::string> merged_on;
  for (const auto& op : ds.stats().operators)
    if (op.name == "sort")
      merged_on = op.nodes;
  ASSERT_TRUE(merged_on.count(extra_id)) << "no sorted block on the node to kill";
  extra->kill(SIGKILL);
  extra->wait_exit(10s);
  ASSERT_TRUE(actors::test::eventually([&] {
    for (const auto& n : actors::nodes())
      if (n.id.to_string() == extra_id)
        return !n.alive;
    return false;
  }));
  // Its blocks are gone: reading them recomputes the sort from the items.
  EXPECT_EQ(ds.collect(), want);
  // And the datasets built on it read it whole.
  std::map<std::int64_t, std::int64_t> count;
  for (auto x : input)
    ++count[x % 97];
  auto got = dsjob::count_by_mod97(ds).collect();
  EXPECT_EQ(std::map(got.begin(), got.end()), count);
}

TEST_F(DatasetCluster, LambdasAreRefusedAtTheCall) {
  try {
    data::range(10, 2).map([](const std::int64_t& x) { return x + 1; });
    ADD_FAILURE() << "a lambda was accepted in a multi-node cluster";
  } catch (const actors::not_registered_error& e) {
    EXPECT_NE(std::string(e.what()).find("ACTORS_REMOTE"), std::string::npos) << e.what();
  }
}

TEST_F(DatasetCluster, DataBiggerThanTheObjectStoreStreamsThroughCountAndSort) {
  // 16M rows of 8 bytes: 128 MiB, eight times each node's 16 MiB store.
  const std::int64_t n = 16 << 20;
  auto ds = data::range(n, 64);
  // Each node says how big its store is: the all-to-all phases size their
  // windows of tasks in flight by it.
  for (const auto& node : actors::nodes()) {
    if (node.alive && !node.is_driver) {
      EXPECT_EQ(node.object_store_bytes, store_bytes) << node.id.to_string();
    }
  }
  std::vector<std::size_t> before;
  for (auto& p : daemons)
    before.push_back(resident(p->pid()));
  EXPECT_EQ(ds.count(), static_cast<std::uint64_t>(n));
  // Counting stores nothing: a node holds only the blocks of the tasks it runs.
  for (std::size_t i = 0; i < daemons.size(); ++i) {
    auto peak = peak_rss(daemons[i]->pid());
    std::cout << "count, node " << i << ": resident " << (before[i] >> 20) << " MiB before, peak " << (peak >> 20)
              << " MiB\n";
    // A sanitizer build's resident memory holds its shadow and quarantine.
    if (!actors::test::sanitized) {
      EXPECT_LT(peak, before[i] + store_bytes + (32u << 20)) << "node " << i;
    }
  }
  auto sorted = dsjob::sorted(ds, true).materialize();
  std::int64_t expect = n - 1;
  std::uint64_t seen = 0;
  for (auto& batch : sorted.iter_batches(1 << 16))
    for (auto x : batch) {
      ASSERT_EQ(x, expect--);
      ++seen;
    }
  EXPECT_EQ(seen, static_cast<std::uint64_t>(n));
  // Sorting completes by spilling what does not fit in the stores, a window of
  // tasks at a time that reads at most half the stores: no node grows by more
  // than its store and the working set of the tasks it runs.
  for (std::size_t i = 0; i < daemons.size(); ++i) {
    auto peak = peak_rss(daemons[i]->pid());
    std::cout << "sort, node " << i << ": peak " << (peak >> 20) << " MiB\n";
    if (!actors::test::sanitized) {
      EXPECT_LT(peak, before[i] + store_bytes + (32u << 20)) << "node " << i;
    }
  }
}

} // namespace
