// Revenue per region from CSV files: rows read on the nodes, typed access to their
// columns, a group-by across the cluster, the result written back as CSV.
//
//   build/examples/csv_groupby [DIR_OR_GLOB]
//   build/examples/csv_groupby --actors-local-nodes=3
//
// Without an argument it writes generated sales files to a temporary directory.

#include <actors/actors.hpp>
#include <actors/dataset.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>

namespace data = actors::data;

std::string region(const data::row& r) {
  return r.get<std::string>("region");
}

double revenue(const data::row& r) {
  return r.get<double>("price") * r.get<std::int64_t>("qty");
}

ACTORS_REMOTE(region, revenue);

std::filesystem::path generated_sales() {
  auto dir = std::filesystem::temp_directory_path() / ("actors-sales-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "in");
  const char* regions[] = {"north", "south", "east", "west"};
  std::mt19937 rng(7);
  for (int f = 0; f < 4; ++f) {
    std::ofstream out(dir / "in" / ("sales-" + std::to_string(f) + ".csv"));
    out << "region,price,qty\n";
    for (int i = 0; i < 5000; ++i)
      out << regions[(i + f) % 4] << "," << (i % 100) / 4.0 << "," << 1 + rng() % 5 << "\n";
  }
  return dir;
}

int main(int argc, char** argv) {
  actors::init(argc, argv);
  std::filesystem::path dir;
  std::string input;
  if (argc > 1 && argv[argc - 1][0] != '-') {
    input = argv[argc - 1];
  } else {
    dir = generated_sales();
    input = (dir / "in" / "*.csv").string();
  }

  auto sales = data::read_csv(input);
  auto totals = sales.group_by(region).sum(revenue);
  std::cout << "revenue by region in " << input << ":\n";
  for (const auto& [r, total] : totals.collect())
    std::cout << "  " << r << " " << total << "\n";
  std::cout << "rows: " << sales.count() << "\n";

  if (!dir.empty()) {
    totals.write_csv((dir / "out").string());
    std::cout << "written to " << (dir / "out").string() << ", read back: " << data::read_csv((dir / "out").string()).count()
              << " rows\n";
    std::filesystem::remove_all(dir);
  }
  actors::shutdown();
}
