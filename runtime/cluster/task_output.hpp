#pragma once

#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/transport.hpp"
#include "runtime/wire/protocol.hpp"

#include "actors/ids.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace actors::runtime {

/// What tasks print, seen from both ends. On a node that forwards its output
/// (actorsd, and the node processes of --actors-local-nodes), each line its
/// stdout or stderr gets goes, within about 100 ms, to every driver that sent
/// this node work in the last 10 seconds (a node cannot tell which of its
/// threads printed a line). On a driver, lines from a node are printed with
/// that node and its pid in front, `(node 4b11c0a8 pid 4567) ...`, to stdout or
/// stderr as they were printed there, unless --actors-log-to-driver=false.
/// Safe for concurrent use.
class task_output {
 public:
  /// `print_here`: print what other nodes send (a driver that wants it).
  task_output(node_id self, transport& links, membership& members, bool print_here);
  ~task_output();

  task_output(const task_output&) = delete;
  task_output& operator=(const task_output&) = delete;

  /// From now on this node's lines (given to `line`) are sent to drivers.
  void start_forwarding();

  /// Work from `owner` arrived: if it is a driver, it gets this node's output for
  /// the next 10 s.
  void work_from(const node_id& owner);

  /// A line this process printed on `stream` (1 stdout, 2 stderr).
  void line(int stream, std::string text);

  /// Lines another node sent.
  void print(const wire::output_lines& lines);

  /// Sends what is pending and stops forwarding.
  void stop();

 private:
  void flush_loop();
  void flush();

  const node_id self_;
  transport& links_;
  membership& members_;
  const bool print_here_;
  std::atomic<bool> forwarding_{false};

  std::mutex mu_;
  std::condition_variable wake_;
  std::map<node_id, std::chrono::steady_clock::time_point> recent_owners_;
  std::vector<std::pair<std::uint8_t, std::string>> pending_;
  bool stopped_ = false;
  std::thread flusher_;
  std::mutex print_mu_;
};

} // namespace actors::runtime
