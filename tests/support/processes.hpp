#pragma once

// Real processes for cluster tests: start them with their output in a log file,
// read the log, stop or kill them.

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <optional>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace actors::test {

/// A child process whose stdout and stderr go to `log`.
class process {
 public:
  process(std::vector<std::string> args, std::string log) : log_(std::move(log)) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
      throw std::runtime_error("cannot start " + args[0]);
  }

  process(const process&) = delete;
  process& operator=(const process&) = delete;

  ~process() {
    kill(SIGKILL);
    wait_exit(std::chrono::seconds(5));
  }

  pid_t pid() const {
    return pid_;
  }

  /// Everything the process printed so far.
  std::string output() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  void kill(int sig) {
    if (pid_ > 0 && !exited_)
      ::kill(pid_, sig);
  }

  /// Waits for the exit; returns its exit code (or 128+signal), nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    if (exited_)
      return code_;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return code_;
      }
      if (std::chrono::steady_clock::now() >= deadline)
        return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

 private:
  pid_t pid_ = 0;
  std::string log_;
  bool exited_ = false;
  int code_ = 0;
};

/// Runs a command to completion; returns its exit code and output.
inline std::pair<int, std::string> run(std::vector<std::string> args, const std::string& log,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  process p(std::move(args), log);
  auto code = p.wait_exit(timeout);
  if (!code) {
    p.kill(SIGKILL);
    return {-1, p.output()};
  }
  return {*code, p.output()};
}

/// The value of `key=` in a key=value file, or empty.
inline std::string read_key(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + "=", 0) == 0)
      return line.substr(key.size() + 1);
  return {};
}

/// A required environment variable (set by the test's meson definition).
inline std::string env(const char* name) {
  const char* v = std::getenv(name);
  if (!v)
    throw std::runtime_error(std::string("environment variable ") + name + " is not set");
  return v;
}

/// The heartbeat timeout of a cluster test that chooses its own (`usual`, short
/// so that failures are seen soon), unless ACTORS_HEARTBEAT_TIMEOUT is set: the
/// ThreadSanitizer run sets 15 s, as its processes run 5 to 15 times slower.
/// Tests that time failure detection measure against it.
inline std::chrono::milliseconds heartbeat_timeout(std::chrono::milliseconds usual) {
  const char* ms = std::getenv("ACTORS_HEARTBEAT_TIMEOUT");
  return ms && std::atoi(ms) > 0 ? std::chrono::milliseconds(std::atoi(ms)) : usual;
}

} // namespace actors::test
