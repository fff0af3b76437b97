#pragma once

// Node processes that a head starts on its own host (--actors-local-nodes, the
// autoscaler's local provider) belong to the head's process: they stop when it
// ends, however it ends. A lost connection alone they treat like any node does
// (they reconnect, and rejoin as a new node if the head declared them dead).

#include <sys/types.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace actors::runtime {

/// The environment of a node process this process starts: its own, with
/// ACTORS_HEAD_PID set to this process's pid. Pass envp() to posix_spawn while
/// this object lives.
class head_process_environment {
 public:
  head_process_environment();
  char** envp() noexcept {
    return pointers_.data();
  }

 private:
  std::vector<std::string> strings_;
  std::vector<char*> pointers_;
};

/// In a node process started by a head of the same host with
/// head_process_environment() (ACTORS_HEAD_PID names its parent), a thread that
/// checks every 100 ms that the parent lives and calls `on_gone` once if it
/// ended. Otherwise it does nothing. Stops and joins its thread when it goes.
class head_process_watch {
 public:
  explicit head_process_watch(std::function<void(pid_t)> on_gone);
  ~head_process_watch();
  head_process_watch(const head_process_watch&) = delete;
  head_process_watch& operator=(const head_process_watch&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace actors::runtime
