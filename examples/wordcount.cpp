// Word count with a dataset: text files read on the nodes, lines split into words,
// words counted per word across the cluster, the most frequent printed.
//
//   build/examples/wordcount [DIR_OR_GLOB]                         # embedded cluster
//   build/examples/wordcount --actors-local-nodes=3                # three processes
//
// Without an argument it writes a small generated corpus to a temporary directory.

#include <actors/actors.hpp>
#include <actors/dataset.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace data = actors::data;

std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::string w;
  for (char c : line + " ") {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!w.empty()) {
      out.push_back(std::move(w));
      w.clear();
    }
  }
  return out;
}

std::string word(const std::string& w) {
  return w;
}

std::int64_t by_count(const std::pair<std::string, std::int64_t>& wc) {
  return wc.second;
}

ACTORS_REMOTE(words, word, by_count);

std::string generated_corpus() {
  auto dir = std::filesystem::temp_directory_path() / ("actors-wordcount-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const char* vocabulary[] = {"actor", "task", "object", "node", "cluster", "block", "future", "message"};
  std::mt19937 rng(42);
  for (int f = 0; f < 8; ++f) {
    std::ofstream out(dir / ("part-" + std::to_string(f) + ".txt"));
    for (int line = 0; line < 2000; ++line) {
      for (int w = 0; w < 8; ++w)
        out << vocabulary[std::min(rng() % 8, rng() % 8)] << (w == 7 ? ".\n" : " ");
    }
  }
  return (dir / "*.txt").string();
}

int main(int argc, char** argv) {
  actors::init(argc, argv);
  std::string input = argc > 1 && argv[argc - 1][0] != '-' ? argv[argc - 1] : generated_corpus();

  auto counts = data::read_text(input).flat_map(words).group_by(word).count();
  auto top = counts.sort(by_count, /*descending=*/true).take(5);

  std::cout << "top words of " << input << ":\n";
  for (const auto& [w, n] : top)
    std::cout << "  " << w << " " << n << "\n";
  std::cout << "distinct words: " << counts.count() << "\n";
  std::cout << counts.stats().to_string();
  if (input.find("actors-wordcount-") != std::string::npos)
    std::filesystem::remove_all(std::filesystem::path(input).parent_path());
  actors::shutdown();
}
