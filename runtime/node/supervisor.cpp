#include "runtime/node/supervisor.hpp"

#include "runtime/common/log.hpp"
#include "runtime/wire/atoms.hpp"

#include <caf/all.hpp>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace actors::runtime {

namespace {

struct watcher_state {
  supervisor::impl* owner = nullptr;
  static inline const char* name = "actors.supervisor";
};

using watcher_actor = caf::stateful_actor<watcher_state>;

} // namespace

struct supervisor::impl {
  struct child {
    std::string name;
    std::function<caf::actor()> restart;
    std::deque<std::chrono::steady_clock::time_point> restarts;
  };
  struct death {
    caf::actor_addr who;
    std::string reason;
  };

  caf::actor_system& sys;
  std::function<void(const std::string&)> escalate;
  caf::actor watcher;
  std::mutex mu;
  std::condition_variable wake;
  std::map<caf::actor_addr, child> children;
  std::vector<death> deaths;
  bool stopping = false;
  std::thread restarter;

  impl(caf::actor_system& sys, std::function<void(const std::string&)> escalate)
    : sys(sys), escalate(std::move(escalate)) {}

  void died(const caf::actor_addr& who, const caf::error& reason) {
    {
      std::lock_guard<std::mutex> guard{mu};
      if (stopping)
        return;
      deaths.push_back({who, sys.render(reason)});
    }
    wake.notify_all();
  }

  void handle(const death& d) {
    child c;
    {
      std::lock_guard<std::mutex> guard{mu};
      auto i = children.find(d.who);
      if (i == children.end())
        return;
      c = std::move(i->second);
      children.erase(i);
    }
    auto now = std::chrono::steady_clock::now();
    while (!c.restarts.empty() && now - c.restarts.front() > window)
      c.restarts.pop_front();
    if (!c.restart) {
      escalate("its " + c.name + " died (" + d.reason + ") and cannot be restarted in place");
      return;
    }
    if (static_cast<int>(c.restarts.size()) >= max_restarts) {
      escalate("its " + c.name + " died (" + d.reason + ") after " + std::to_string(max_restarts)
               + " restarts within " + std::to_string(window.count()) + " s");
      return;
    }
    auto fresh = c.restart();
    if (!fresh) {
      escalate("its " + c.name + " died (" + d.reason + ") and could not be restarted");
      return;
    }
    c.restarts.push_back(now);
    log(log_level::warning, "supervisor", "restarted the ", c.name, " after it died (", d.reason, "); restart ",
        c.restarts.size(), " of at most ", max_restarts, " within ", window.count(), " s");
    add(fresh, std::move(c));
  }

  void add(const caf::actor& a, child c) {
    {
      std::lock_guard<std::mutex> guard{mu};
      children[a.address()] = std::move(c);
    }
    caf::anon_send(watcher, msg::watch_atom::value, a);
  }

  void run() {
    std::unique_lock<std::mutex> lock{mu};
    for (;;) {
      wake.wait(lock, [&] { return stopping || !deaths.empty(); });
      if (stopping)
        return;
      auto batch = std::move(deaths);
      deaths.clear();
      lock.unlock();
      for (const auto& d : batch)
        handle(d);
      lock.lock();
    }
  }
};

namespace {

caf::behavior supervisor_watcher(watcher_actor* self, supervisor::impl* owner) {
  self->state.owner = owner;
  self->set_down_handler([=](const caf::down_msg& dm) { self->state.owner->died(dm.source, dm.reason); });
  return {
    [=](msg::watch_atom, const caf::actor& child) { self->monitor(child); },
  };
}

} // namespace

supervisor::supervisor(caf::actor_system& sys, std::function<void(const std::string&)> escalate)
  : impl_(new impl(sys, std::move(escalate))) {
  impl_->watcher = sys.spawn(supervisor_watcher, impl_.get());
  impl_->restarter = std::thread([d = impl_.get()] { d->run(); });
}

supervisor::~supervisor() {
  stop();
}

void supervisor::watch(const std::string& name, const caf::actor& child, std::function<caf::actor()> restart) {
  impl_->add(child, impl::child{name, std::move(restart), {}});
}

void supervisor::stop() {
  {
    std::lock_guard<std::mutex> guard{impl_->mu};
    if (impl_->stopping)
      return;
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->restarter.joinable())
    impl_->restarter.join();
  caf::anon_send_exit(impl_->watcher, caf::exit_reason::user_shutdown);
}

} // namespace actors::runtime
