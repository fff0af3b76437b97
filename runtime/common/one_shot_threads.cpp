#include "runtime/common/one_shot_threads.hpp"

#include "runtime/common/log.hpp"

#include <exception>
#include <thread>
#include <utility>

namespace actors::runtime {

one_shot_threads::one_shot_threads() : st_(std::make_shared<state>()) {}

one_shot_threads::~one_shot_threads() {
  wait_all();
}

bool one_shot_threads::start(std::function<void()> job) {
  std::lock_guard<std::mutex> guard{st_->mu};
  if (st_->closed)
    return false;
  std::thread t([st = st_, job = std::move(job)]() mutable {
    try {
      job();
    } catch (const std::exception& e) {
      log(log_level::error, "runtime", "a background job failed: ", e.what());
    }
    job = nullptr; // what it captured goes before the owner may
    std::lock_guard<std::mutex> guard{st->mu};
    if (--st->running == 0)
      st->idle.notify_all();
  });
  ++st_->running; // under the lock: the thread cannot count down before this
  t.detach();
  return true;
}

void one_shot_threads::wait_all() {
  std::unique_lock<std::mutex> lock{st_->mu};
  st_->closed = true;
  st_->idle.wait(lock, [&] { return st_->running == 0; });
}

std::size_t one_shot_threads::running() const {
  std::lock_guard<std::mutex> guard{st_->mu};
  return st_->running;
}

} // namespace actors::runtime
