#include "runtime/common/head_process.hpp"

#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

extern char** environ;

namespace actors::runtime {

namespace {

constexpr const char* head_pid_variable = "ACTORS_HEAD_PID";

} // namespace

head_process_environment::head_process_environment() {
  const std::string prefix = std::string(head_pid_variable) + "=";
  for (char** e = environ; e && *e; ++e)
    if (std::strncmp(*e, prefix.c_str(), prefix.size()) != 0)
      strings_.emplace_back(*e);
  strings_.push_back(prefix + std::to_string(::getpid()));
  for (auto& v : strings_)
    pointers_.push_back(v.data());
  pointers_.push_back(nullptr);
}

head_process_watch::head_process_watch(std::function<void(pid_t)> on_gone) {
  const char* given = std::getenv(head_pid_variable);
  const pid_t parent = ::getppid();
  // Only the process the head started: a program that a task of this node
  // starts inherits the variable with another parent.
  if (!given || std::to_string(parent) != given)
    return;
  thread_ = std::thread([this, parent, on_gone = std::move(on_gone)] {
    std::unique_lock<std::mutex> lock{mu_};
    while (!cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_; }))
      if (::getppid() != parent) {
        lock.unlock();
        on_gone(parent);
        return;
      }
  });
}

head_process_watch::~head_process_watch() {
  {
    std::lock_guard<std::mutex> guard{mu_};
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

} // namespace actors::runtime
