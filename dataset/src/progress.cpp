#include "dataset/src/progress.hpp"

#include <actors/actors.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <sys/ioctl.h>
#include <unistd.h>

namespace actors::data::detail {

namespace {

using clock = std::chrono::steady_clock;

/// 1234567 as "1.23M", for rows and rates.
std::string short_count(double n) {
  char out[32];
  if (n >= 1e9)
    std::snprintf(out, sizeof out, "%.2fG", n / 1e9);
  else if (n >= 1e6)
    std::snprintf(out, sizeof out, "%.2fM", n / 1e6);
  else if (n >= 1e4)
    std::snprintf(out, sizeof out, "%.1fk", n / 1e3);
  else
    std::snprintf(out, sizeof out, "%.0f", n);
  return out;
}

std::string short_duration(double seconds) {
  char out[32];
  auto s = static_cast<long long>(std::llround(seconds));
  if (s >= 3600)
    std::snprintf(out, sizeof out, "%lldh%02lldm", s / 3600, s % 3600 / 60);
  else if (s >= 60)
    std::snprintf(out, sizeof out, "%lldm%02llds", s / 60, s % 60);
  else
    std::snprintf(out, sizeof out, "%llds", s);
  return out;
}

/// The lines on the terminal: every live stage's, redrawn in place at most
/// every 200 ms (and when a stage starts or ends).
class board {
 public:
  static board& get() {
    static board b;
    return b;
  }

  std::size_t add(std::string what, std::size_t total) {
    std::lock_guard<std::mutex> guard{mu_};
    auto id = ++next_;
    lines_.emplace(id, line{std::move(what), total, 0, 0, clock::now()});
    draw(true);
    return id;
  }

  void advance(std::size_t id, std::uint64_t rows) {
    std::lock_guard<std::mutex> guard{mu_};
    auto it = lines_.find(id);
    if (it == lines_.end())
      return;
    ++it->second.done;
    it->second.rows += rows;
    draw(false);
  }

  void remove(std::size_t id) {
    std::lock_guard<std::mutex> guard{mu_};
    lines_.erase(id);
    draw(true);
  }

 private:
  struct line {
    std::string what;
    std::size_t total;
    std::size_t done;
    std::uint64_t rows;
    clock::time_point start;
  };

  static std::size_t width() {
    winsize ws{};
    if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
      return ws.ws_col - 1;
    return 79;
  }

  /// Moves up over the lines drawn last time, writes the live ones, and clears
  /// what is left below. Called under mu_.
  void draw(bool now) {
    auto t = clock::now();
    if (!now && t - drawn_at_ < std::chrono::milliseconds(200))
      return;
    drawn_at_ = t;
    std::string out;
    if (drawn_ > 0)
      out += "\x1b[" + std::to_string(drawn_) + "F";
    auto cols = width();
    for (const auto& [id, l] : lines_)
      out += "\x1b[2K" + progress_text(l.what, l.done, l.total, l.rows, t - l.start, cols) + "\n";
    out += "\x1b[J";
    drawn_ = lines_.size();
    std::fwrite(out.data(), 1, out.size(), stderr);
    std::fflush(stderr);
  }

  std::mutex mu_;
  std::map<std::size_t, line> lines_;
  std::size_t next_ = 0;
  std::size_t drawn_ = 0;
  clock::time_point drawn_at_{};
};

} // namespace

std::string progress_text(const std::string& what, std::size_t done, std::size_t total, std::uint64_t rows,
                          std::chrono::duration<double> elapsed, std::size_t width) {
  std::string tail = ": " + std::to_string(done) + "/" + std::to_string(total) + " blocks, "
                     + short_count(static_cast<double>(rows)) + " rows";
  const double s = elapsed.count();
  if (done > 0 && s > 0) {
    tail += ", " + short_count(static_cast<double>(rows) / s) + " rows/s";
    if (done < total)
      tail += ", " + short_duration(s / static_cast<double>(done) * static_cast<double>(total - done)) + " left";
  }
  std::string head = "dataset " + what;
  // The operator's name gives way first: the figures are what the line is for.
  if (head.size() + tail.size() > width) {
    auto room = width > tail.size() + 4 ? width - tail.size() - 3 : 0;
    head = head.substr(0, room) + "...";
  }
  auto text = head + tail;
  if (text.size() > width)
    text.resize(width);
  return text;
}

progress_line::progress_line(std::string what, std::size_t blocks) {
  if (blocks > 0 && actors::show_progress())
    id_ = board::get().add(std::move(what), blocks);
}

progress_line::~progress_line() {
  if (id_)
    board::get().remove(id_);
}

void progress_line::block_done(std::uint64_t rows) {
  if (id_)
    board::get().advance(id_, rows);
}

} // namespace actors::data::detail
