#include "runtime/scheduler/scheduler.hpp"

#include "runtime/common/log.hpp"

namespace actors::runtime {

namespace {
thread_local execution_context context;
} // namespace

execution_context& current_context() noexcept {
  return context;
}

scheduler::scheduler(resource_set total, worker_pool& pool)
  : pool_(pool), total_(total), available_(std::move(total)) {
  gate_->sched_ = this;
}

scheduler::~scheduler() {
  std::lock_guard<std::mutex> guard{gate_->mu_};
  gate_->sched_ = nullptr;
}

bool resume_gate::post(double held_cpu, std::function<void()> job) {
  std::lock_guard<std::mutex> guard{mu_};
  if (!sched_)
    return false;
  sched_->post_held(held_cpu, std::move(job));
  return true;
}

void scheduler::post_held(double held_cpu, std::function<void()> job) {
  pool_.post([this, held_cpu, job = std::move(job)] {
    auto& ctx = current_context();
    ctx.sched = this;
    ctx.pool = &pool_;
    ctx.held_cpu = held_cpu;
    job();
    ctx.held_cpu = 0;
  });
}

void scheduler::submit(std::unique_ptr<work_item> item) {
  std::unique_lock<std::mutex> lock{mu_};
  if (stopped_) {
    lock.unlock();
    item->abandon("the node stopped before " + item->describe() + " could run");
    return;
  }
  auto& queue = pending_[item->demand];
  if (queue.empty() && available_.fits(item->demand)) {
    start_locked(item.release());
    return;
  }
  if (!total_.fits(item->demand) && !cut_off_.empty()) {
    lock.unlock();
    item->abandon(item->describe() + " needs " + item->demand.to_string() + ", which this node lacks, and "
                  + cut_off_);
    return;
  }
  if (!total_.fits(item->demand) && warned_infeasible_.insert(item->demand).second)
    log(log_level::warning, "scheduler", item->describe(), " needs ", item->demand.to_string(),
        " but this node has only ", total_.to_string(),
        ": it stays pending until a node that has the resources joins");
  queue.push_back(std::move(item));
  ++pending_count_;
}

void scheduler::start_locked(work_item* item) {
  available_.subtract(item->demand);
  ++running_;
  pool_.post([this, item] {
    auto& ctx = current_context();
    ctx.sched = this;
    ctx.pool = &pool_;
    ctx.held_cpu = item->demand.cpu;
    item->run();
    ctx.held_cpu = 0;
    bool give_back = item->releases_on_return();
    resource_set demand = item->demand;
    delete item;
    std::lock_guard<std::mutex> guard{mu_};
    --running_;
    if (give_back)
      available_.add(demand);
    dispatch_locked();
  });
}

void scheduler::dispatch_locked() {
  if (pending_count_ == 0)
    return;
  for (auto& [shape, queue] : pending_) {
    while (!queue.empty() && available_.fits(shape)) {
      auto item = std::move(queue.front());
      queue.pop_front();
      --pending_count_;
      start_locked(item.release());
    }
  }
}

void scheduler::release(const resource_set& demand) {
  std::lock_guard<std::mutex> guard{mu_};
  available_.add(demand);
  dispatch_locked();
}

void scheduler::lend_cpu(double cpu) {
  std::lock_guard<std::mutex> guard{mu_};
  available_.cpu += cpu;
  dispatch_locked();
}

void scheduler::reacquire_cpu(double cpu) {
  std::lock_guard<std::mutex> guard{mu_};
  available_.cpu -= cpu;
}

void scheduler::add_total(const resource_set& extra) {
  std::lock_guard<std::mutex> guard{mu_};
  total_.add(extra);
  available_.add(extra);
  dispatch_locked();
}

void scheduler::remove_total(const resource_set& extra) {
  std::lock_guard<std::mutex> guard{mu_};
  total_.subtract(extra);
  available_.subtract(extra);
  auto drop_zero = [](resource_set& r) {
    std::erase_if(r.custom, [](const auto& x) { return x.second <= 1e-9 && x.second >= -1e-9; });
  };
  drop_zero(total_);
  drop_zero(available_);
}

void scheduler::stop() {
  std::map<resource_set, std::deque<std::unique_ptr<work_item>>> dropped;
  {
    std::lock_guard<std::mutex> guard{mu_};
    stopped_ = true;
    dropped.swap(pending_);
    pending_count_ = 0;
  }
  for (auto& [shape, queue] : dropped)
    for (auto& item : queue)
      item->abandon("the node stopped before " + item->describe() + " could run");
}

void scheduler::no_more_nodes(const std::string& why) {
  std::vector<std::unique_ptr<work_item>> dropped;
  {
    std::lock_guard<std::mutex> guard{mu_};
    cut_off_ = why;
    for (auto i = pending_.begin(); i != pending_.end();) {
      if (total_.fits(i->first)) {
        ++i;
        continue;
      }
      for (auto& item : i->second)
        dropped.push_back(std::move(item));
      pending_count_ -= i->second.size();
      i = pending_.erase(i);
    }
  }
  for (auto& item : dropped)
    item->abandon(item->describe() + " needs " + item->demand.to_string() + ", which this node lacks, and "
                  + why);
}

std::vector<std::string> scheduler::pending_names(std::size_t limit) const {
  std::vector<std::string> out;
  std::lock_guard<std::mutex> guard{mu_};
  for (const auto& [shape, queue] : pending_)
    for (const auto& item : queue)
      if (out.size() < limit)
        out.push_back(item->describe());
  return out;
}

std::size_t scheduler::give_back(const resource_set& shape, std::size_t count) {
  std::vector<std::unique_ptr<work_item>> back;
  {
    std::lock_guard<std::mutex> guard{mu_};
    auto it = pending_.find(shape);
    if (it == pending_.end())
      return 0;
    auto& queue = it->second;
    for (auto i = queue.size(); i-- > 0 && back.size() < count;)
      if (queue[i]->can_give_back()) {
        back.push_back(std::move(queue[i]));
        queue.erase(queue.begin() + static_cast<std::ptrdiff_t>(i));
      }
    pending_count_ -= back.size();
  }
  for (auto& item : back)
    item->give_back();
  return back.size();
}

void scheduler::count_pending(std::map<std::map<std::string, double>, std::uint64_t>& shapes) const {
  std::lock_guard<std::mutex> guard{mu_};
  for (const auto& [shape, queue] : pending_)
    if (!queue.empty())
      shapes[shape.to_map()] += queue.size();
}

scheduler_stats scheduler::stats() const {
  std::lock_guard<std::mutex> guard{mu_};
  scheduler_stats s;
  s.pending = pending_count_;
  for (const auto& [shape, queue] : pending_)
    if (!total_.fits(shape))
      s.infeasible += queue.size();
  s.running = running_;
  s.total = total_;
  s.available = available_;
  return s;
}

blocking_scope::blocking_scope() {
  if (!worker_pool::on_pool_thread())
    return;
  ctx_ = &current_context();
  if (!ctx_->pool) {
    ctx_ = nullptr;
    return;
  }
  cpu_ = ctx_->held_cpu;
  ctx_->pool->on_block();
  if (cpu_ > 0 && ctx_->sched)
    ctx_->sched->lend_cpu(cpu_);
}

blocking_scope::~blocking_scope() {
  if (!ctx_)
    return;
  if (cpu_ > 0 && ctx_->sched)
    ctx_->sched->reacquire_cpu(cpu_);
  ctx_->pool->on_unblock();
}

} // namespace actors::runtime
