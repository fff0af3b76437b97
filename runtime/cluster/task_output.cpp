#include "runtime/cluster/task_output.hpp"

#include <cstdio>
#include <unistd.h>

namespace actors::runtime {

namespace {

constexpr auto flush_interval = std::chrono::milliseconds(100);
// A driver gets a node's output while it has sent work there this recently.
constexpr auto owner_window = std::chrono::seconds(10);
// Lines kept for the next flush at most; past it the oldest are dropped (and
// counted in a line that says so).
constexpr std::size_t max_pending_lines = 10000;

} // namespace

task_output::task_output(node_id self, transport& links, membership& members, bool print_here)
  : self_(self), links_(links), members_(members), print_here_(print_here) {}

task_output::~task_output() {
  stop();
}

void task_output::start_forwarding() {
  std::lock_guard<std::mutex> guard{mu_};
  if (stopped_ || forwarding_.exchange(true))
    return;
  flusher_ = std::thread([this] { flush_loop(); });
}

void task_output::work_from(const node_id& owner) {
  if (!forwarding_.load(std::memory_order_relaxed) || owner == self_)
    return;
  std::lock_guard<std::mutex> guard{mu_};
  recent_owners_[owner] = std::chrono::steady_clock::now();
}

void task_output::line(int stream, std::string text) {
  std::lock_guard<std::mutex> guard{mu_};
  if (pending_.size() >= max_pending_lines)
    return;
  pending_.emplace_back(static_cast<std::uint8_t>(stream), std::move(text));
  if (pending_.size() == max_pending_lines)
    pending_.emplace_back(2, "(more lines were printed here than could be sent to the driver; they are in the "
                             "node's own log)");
}

void task_output::flush_loop() {
  std::unique_lock<std::mutex> lock{mu_};
  while (!stopped_) {
    wake_.wait_for(lock, flush_interval);
    lock.unlock();
    flush();
    lock.lock();
  }
}

void task_output::flush() {
  wire::output_lines out;
  std::vector<node_id> to;
  {
    std::lock_guard<std::mutex> guard{mu_};
    auto now = std::chrono::steady_clock::now();
    for (auto i = recent_owners_.begin(); i != recent_owners_.end();)
      i = now - i->second > owner_window ? recent_owners_.erase(i) : std::next(i);
    if (pending_.empty())
      return;
    out.lines.swap(pending_);
    for (const auto& [owner, when] : recent_owners_)
      to.push_back(owner);
  }
  out.node = self_;
  out.pid = ::getpid();
  std::string payload;
  for (const auto& owner : to) {
    auto rec = members_.record(owner);
    if (!rec || !rec->alive || !rec->driver)
      continue;
    if (payload.empty())
      payload = wire::pack(out);
    links_.send(owner, message_kind::task_output, payload);
  }
}

void task_output::print(const wire::output_lines& lines) {
  if (!print_here_)
    return;
  auto prefix = "(node " + lines.node.to_string().substr(0, 8) + " pid " + std::to_string(lines.pid) + ") ";
  std::lock_guard<std::mutex> guard{print_mu_};
  for (const auto& [stream, text] : lines.lines) {
    auto* f = stream == 2 ? stderr : stdout;
    std::fwrite(prefix.data(), 1, prefix.size(), f);
    std::fwrite(text.data(), 1, text.size(), f);
    std::fputc('\n', f);
  }
  std::fflush(stdout);
  std::fflush(stderr);
}

void task_output::stop() {
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (stopped_)
      return;
    stopped_ = true;
  }
  wake_.notify_all();
  if (flusher_.joinable())
    flusher_.join();
  flush();
}

} // namespace actors::runtime
