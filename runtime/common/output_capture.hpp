#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace actors::runtime {

/// Captures what this process writes to its stdout and stderr (file
/// descriptors 1 and 2, so printf, std::cout and child processes alike): each
/// line still goes where it went before, and also to a sink (a node sends its
/// tasks' output to their drivers this way). The runtime's own log lines go
/// straight to the original stderr and are not captured. One at a time per
/// process.
class output_capture {
 public:
  /// Called on the capture's threads with the stream (1 or 2) and a line without
  /// its newline (lines longer than 64 KiB come in pieces).
  using sink = std::function<void(int stream, std::string line)>;

  /// Throws actors::error if the descriptors cannot be redirected.
  explicit output_capture(sink to);
  /// Puts stdout and stderr back, passes on what was still buffered, and waits
  /// for the threads.
  ~output_capture();

  output_capture(const output_capture&) = delete;
  output_capture& operator=(const output_capture&) = delete;

 private:
  struct stream {
    int fd = -1;       // 1 or 2
    int original = -1; // where it went before
    int read_end = -1;
    std::thread reader;
  };
  void pump(stream& s);

  sink sink_;
  // Set once stdout and stderr are back: a reader ends at its pipe's end, or
  // when nothing came for 100 ms (a child process a task started may still hold
  // the pipe open).
  std::atomic<bool> stopping_{false};
  stream out_;
  stream err_;
};

} // namespace actors::runtime
