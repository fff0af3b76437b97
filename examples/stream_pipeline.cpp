// A streaming pipeline: a generator task reads a text file line by line, a pool
// of actors splits the lines into words, and an async actor keeps the top words
// of each window of lines, printed as each window closes, while the file is
// still being read.
//
//   build/examples/stream_pipeline [FILE] [LINES_PER_WINDOW]     # embedded cluster
//   build/examples/stream_pipeline --actors-local-nodes=3        # three processes
//
// Without a file it writes a generated text of 2,000 lines to a temporary file.

#include <actors/actors.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

// The source: a line at a time, as it reads them. Deterministic, so that a run
// again after its node died yields the same lines (those already read are skipped).
actors::generator<std::string> read_lines(std::string path) {
  std::ifstream in(path);
  if (!in)
    throw std::runtime_error("cannot open " + path);
  for (std::string line; std::getline(in, line);)
    co_yield line;
}

class Tokenizer {
 public:
  std::vector<std::string> tokenize(const std::string& line) {
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
};

Tokenizer make_tokenizer() {
  return {};
}

// An async actor: its calls interleave at co_await, one at a time, so the
// windows need no lock. Calls may finish out of order; each line says its number.
class TopWords {
 public:
  explicit TopWords(std::int64_t lines_per_window) : per_window_(lines_per_window) {}

  // Counts the words of line `line_no` once they are ready; returns the report of
  // its window if this line closed it, else an empty string.
  actors::async<std::string> add(std::int64_t line_no, actors::object_ref<std::vector<std::string>> words) {
    auto ws = co_await words;
    auto& w = windows_[line_no / per_window_];
    for (auto& word : ws)
      ++w.counts[word];
    if (++w.lines < per_window_)
      co_return std::string();
    co_return close(line_no / per_window_);
  }

  // The reports of the windows still open (the last one, shorter than the others).
  std::vector<std::string> flush() {
    std::vector<std::string> out;
    while (!windows_.empty())
      out.push_back(close(windows_.begin()->first));
    return out;
  }

 private:
  struct window {
    std::int64_t lines = 0;
    std::map<std::string, std::int64_t> counts;
  };

  std::string close(std::int64_t index) {
    auto node = windows_.extract(index);
    std::vector<std::pair<std::string, std::int64_t>> top(node.mapped().counts.begin(), node.mapped().counts.end());
    std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    top.resize(std::min<std::size_t>(top.size(), 10));
    std::ostringstream out;
    out << "window " << index << " (lines " << index * per_window_ << "-"
        << index * per_window_ + node.mapped().lines - 1 << "):";
    for (const auto& [word, n] : top)
      out << ' ' << word << '=' << n;
    return out.str();
  }

  std::int64_t per_window_;
  std::map<std::int64_t, window> windows_;
};

TopWords make_top_words(std::int64_t lines_per_window) {
  return TopWords(lines_per_window);
}

ACTORS_REMOTE(read_lines, make_tokenizer, &Tokenizer::tokenize, make_top_words, &TopWords::add, &TopWords::flush);

std::string generated_text() {
  auto path = std::filesystem::temp_directory_path() / ("actors-stream-" + std::to_string(::getpid()) + ".txt");
  const char* vocabulary[] = {"actor", "task",   "object", "node",   "cluster", "stream",
                              "future", "window", "item",   "message", "value",   "worker"};
  std::mt19937 rng(7);
  std::ofstream out(path);
  for (int line = 0; line < 2000; ++line)
    for (int w = 0; w < 10; ++w)
      out << vocabulary[std::min(rng() % 12, rng() % 12)] << (w == 9 ? ".\n" : " ");
  return path.string();
}

int main(int argc, char** argv) {
  actors::init(argc, argv);
  std::vector<std::string> args(argv + 1, argv + argc);
  args.erase(std::remove_if(args.begin(), args.end(), [](const std::string& a) { return a.rfind("--", 0) == 0; }),
             args.end());
  const bool generated = args.empty();
  const std::string path = generated ? generated_text() : args[0];
  const std::int64_t per_window = args.size() > 1 ? std::stoll(args[1]) : 100;

  std::vector<actors::actor_handle<Tokenizer>> tokenizers;
  for (int i = 0; i < 4; ++i)
    tokenizers.push_back(actors::actor(make_tokenizer).remote());
  auto top = actors::actor(make_top_words).remote(per_window);

  // The source runs ahead of the pipeline by at most 256 lines.
  auto lines = actors::task(read_lines).max_buffered(256).remote(path);
  std::deque<actors::object_ref<std::string>> reports;
  std::int64_t line_no = 0;
  int windows = 0;
  auto print_ready = [&](bool all) {
    while (!reports.empty() && (all || !actors::wait(std::vector{reports.front()}, 1, std::chrono::milliseconds(0)).ready.empty())) {
      auto report = actors::get(reports.front());
      reports.pop_front();
      if (!report.empty()) {
        std::cout << report << '\n';
        ++windows;
      }
    }
  };
  for (auto line : lines) {
    auto words = tokenizers[static_cast<std::size_t>(line_no % 4)].task(&Tokenizer::tokenize).remote(line);
    reports.push_back(top.task(&TopWords::add).remote(line_no, words));
    ++line_no;
    print_ready(false);
  }
  print_ready(true);
  for (const auto& report : actors::get(top.task(&TopWords::flush).remote())) {
    std::cout << report << '\n';
    ++windows;
  }
  std::cout << "read " << line_no << " lines in " << windows << " windows" << std::endl;
  if (generated)
    std::filesystem::remove(path);
  actors::shutdown();
  return 0;
}
