#include "runtime/autoscaler/autoscaler.hpp"

#include "runtime/autoscaler/scaling_plan.hpp"
#include "runtime/common/log.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <random>
#include <sstream>

namespace actors::runtime {

namespace {

// A node marked draining is stopped this long later if it is still idle: the
// mark reaches every node with the next table, so nothing new is on its way.
constexpr auto drain_settle = std::chrono::seconds(1);
// The events `actors status` shows.
constexpr std::size_t events_kept = 20;

std::string seconds(double s) {
  std::ostringstream out;
  out << std::round(s * 10) / 10 << " s";
  return out.str();
}

std::string clock_text() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

bool all_free(const wire::node_record& rec) {
  for (const auto& [name, total] : rec.total) {
    auto a = rec.available.find(name);
    if (a == rec.available.end() || std::abs(a->second - total) > 1e-9)
      return false;
  }
  return true;
}

/// Nothing runs, waits, lives or is kept there.
bool idle(const wire::node_record& rec) {
  return rec.load == 0 && rec.actors == 0 && rec.objects == 0 && rec.pending.empty() && all_free(rec);
}

/// The launched nodes the standing request_resources bundles need: each bundle
/// goes, first fit, to the nodes started by hand first, then to launched ones.
/// Those are kept even when idle.
std::set<node_id> held_by_request(const wire::cluster_view& view) {
  std::vector<std::pair<const wire::node_record*, resource_map>> room;
  for (int launched = 0; launched < 2; ++launched)
    for (const auto& rec : view.nodes)
      if (rec.alive && !rec.driver && !rec.draining && rec.launch_id.empty() == (launched == 0))
        room.emplace_back(&rec, rec.total);
  std::set<node_id> held;
  for (const auto& bundle : view.requested)
    for (auto& [rec, left] : room) {
      bool fits = true;
      for (const auto& [name, amount] : bundle)
        fits = fits && amount <= (left.count(name) ? left.at(name) : 0.0) + 1e-9;
      if (!fits)
        continue;
      for (const auto& [name, amount] : bundle)
        left[name] -= amount;
      if (!rec->launch_id.empty())
        held.insert(rec->id);
      break;
    }
  return held;
}

} // namespace

autoscaler::autoscaler(autoscale_config config, node_provider& provider, std::string head_address, std::string token)
  : config_(std::move(config)), provider_(provider), head_address_(std::move(head_address)), token_(std::move(token)) {
  std::random_device rd;
  std::ostringstream prefix;
  prefix << std::hex << (rd() & 0xffffff);
  launch_prefix_ = prefix.str();
  for (const auto& t : config_.node_types)
    status_.node_types.push_back({t.name, t.resources, t.min_nodes, t.max_nodes, 0, 0});
}

const node_type_config* autoscaler::type_named(const std::string& name) const {
  for (const auto& t : config_.node_types)
    if (t.name == name)
      return &t;
  return nullptr;
}

void autoscaler::event(std::string text) {
  log(log_level::info, "autoscaler", text);
  events_.push_back(clock_text() + " " + std::move(text));
  while (events_.size() > events_kept)
    events_.pop_front();
}

void autoscaler::failed(const std::string& launch_id, const std::string& why, clock_type::time_point now) {
  auto it = launches_.find(launch_id);
  if (it == launches_.end())
    return;
  const auto type = it->second.type;
  launches_.erase(it);
  ++counters_.launch_failures[type];
  auto& [until, in_a_row] = backoff_[type];
  ++in_a_row;
  auto wait = std::chrono::seconds(std::min(60, 5 << std::min(in_a_row - 1, 4)));
  until = now + wait;
  log(log_level::error, "autoscaler", "launch ", launch_id, " of a ", type, " node failed: ", why,
      "; the next launch of that type in ", wait.count(), " s");
  event("launch " + launch_id + " (" + type + ") failed: " + why.substr(0, 300));
}

round_actions autoscaler::step(const wire::cluster_view& view, clock_type::time_point now) {
  round_actions actions;
  // Launches whose process or command failed.
  for (auto& [id, why] : provider_.failures()) {
    auto it = launches_.find(id);
    if (it == launches_.end())
      continue;
    if (it->second.node) {
      event("node " + it->second.node->to_string() + " (" + it->second.type + ") stopped: " + why.substr(0, 300));
      ++counters_.terminations[it->second.type]["died"];
      launches_.erase(it);
    } else {
      failed(id, why, now);
    }
  }

  // Launches against the table: joined, gone, or too slow to join.
  std::map<std::string, const wire::node_record*> joined;
  for (const auto& rec : view.nodes)
    if (rec.alive && !rec.launch_id.empty())
      joined[rec.launch_id] = &rec;
  const auto launch_timeout = std::chrono::duration<double>(config_.launch_timeout_s);
  for (auto it = launches_.begin(); it != launches_.end();) {
    auto& l = it->second;
    auto rec = joined.find(l.id);
    if (rec != joined.end()) {
      if (!l.node) {
        l.node = rec->second->id;
        backoff_.erase(l.type);
        event("node " + l.node->to_string() + " (" + l.type + ") joined, "
              + seconds(std::chrono::duration<double>(now - l.started).count()) + " after its launch");
      }
      ++it;
      continue;
    }
    if (l.node) {
      event("node " + l.node->to_string() + " (" + l.type + ") left the cluster");
      ++counters_.terminations[l.type]["died"];
      provider_.terminate(l.id);
      it = launches_.erase(it);
      continue;
    }
    if (now - l.started > launch_timeout) {
      auto id = l.id;
      ++it;
      provider_.terminate(id);
      failed(id, "its node did not join within " + seconds(config_.launch_timeout_s) + " (launch_timeout_s)", now);
      continue;
    }
    ++it;
  }

  // Idle launched nodes: drained after idle_timeout_s, then stopped.
  std::map<std::string, int> running, launching;
  for (const auto& [id, l] : launches_) {
    if (!l.node)
      ++launching[l.type];
    else if (!l.draining_since)
      ++running[l.type];
  }
  const auto idle_timeout = std::chrono::duration<double>(config_.idle_timeout_s);
  const auto requested = held_by_request(view);
  for (auto it = launches_.begin(); it != launches_.end();) {
    auto& l = it->second;
    auto rec = joined.find(l.id);
    if (!l.node || rec == joined.end() || !idle(*rec->second) || (!l.draining_since && requested.count(*l.node))) {
      l.idle_since.reset();
      ++it;
      continue;
    }
    if (!l.idle_since)
      l.idle_since = now;
    if (l.draining_since) {
      if (now - *l.draining_since >= drain_settle) {
        event("removed node " + l.node->to_string() + " (" + l.type + "), idle "
              + seconds(std::chrono::duration<double>(now - *l.idle_since).count()));
        ++counters_.terminations[l.type]["idle"];
        actions.stop.push_back(*l.node);
        provider_.terminate(l.id);
        it = launches_.erase(it);
        continue;
      }
    } else if (now - *l.idle_since >= idle_timeout) {
      const auto* type = type_named(l.type);
      if (type && running[l.type] > type->min_nodes) {
        l.draining_since = now;
        --running[l.type];
        actions.drain.push_back(*l.node);
      }
    }
    ++it;
  }

  // Demand: what no live node can take now, and the standing request.
  plan_input in;
  in.types = config_.node_types;
  in.upscaling_speed = config_.upscaling_speed;
  in.requested = view.requested;
  in.running = running;
  in.launching = launching;
  std::map<resource_map, std::uint64_t> pending;
  for (const auto& rec : view.nodes) {
    if (!rec.alive)
      continue;
    for (const auto& d : rec.pending)
      pending[d.shape] += d.count;
    if (rec.driver || rec.draining)
      continue;
    in.node_free.push_back(rec.available);
    in.node_total.push_back(rec.total);
  }
  for (const auto& [shape, count] : pending)
    in.pending.push_back({shape, count});
  auto plan = plan_scaling(in);

  std::string demand_text;
  for (const auto& [shape, count] : pending)
    demand_text += (demand_text.empty() ? "" : ", ") + std::to_string(count) + " x " + describe(shape);
  for (const auto& [type, n] : plan.launch) {
    auto b = backoff_.find(type);
    if (b != backoff_.end() && now < b->second.first)
      continue;
    const auto* t = type_named(type);
    if (!t)
      continue;
    int started = 0;
    for (int i = 0; i < n; ++i) {
      launch_spec spec{launch_prefix_ + "-" + std::to_string(++next_launch_), *t, head_address_, token_};
      launches_[spec.launch_id] = launch{spec.launch_id, type, now, std::nullopt, std::nullopt, std::nullopt};
      try {
        provider_.launch(spec);
        ++counters_.launches[type];
        ++started;
      } catch (const std::exception& e) {
        failed(spec.launch_id, e.what(), now);
        break;
      }
    }
    if (started > 0)
      event("launched " + std::to_string(started) + " x " + type
            + (demand_text.empty() ? std::string(" (min_nodes or requested resources)") : " for " + demand_text));
  }
  for (const auto& shape : plan.infeasible) {
    auto text = describe(shape);
    if (infeasible_logged_.insert(text).second) {
      log(log_level::warning, "autoscaler", "work needing ", text,
          " waits, and no node type of the autoscaler's config can hold it: add a node type that offers it, "
          "or ask the work for less");
      event("infeasible: " + text + " fits no node type");
    }
  }

  // What `actors status` shows.
  status_.pending.clear();
  for (const auto& [shape, count] : pending)
    status_.pending.push_back({shape, count});
  status_.infeasible = plan.infeasible;
  for (auto& row : status_.node_types) {
    row.running = running[row.name];
    row.launching = 0;
  }
  for (const auto& [id, l] : launches_)
    for (auto& row : status_.node_types)
      if (row.name == l.type && !l.node)
        ++row.launching;
  status_.events.assign(events_.begin(), events_.end());
  return actions;
}

wire::autoscaler_status autoscaler::status() const {
  return status_;
}

std::map<std::string, std::map<std::string, int>> autoscaler::node_counts() const {
  std::map<std::string, std::map<std::string, int>> counts;
  for (const auto& t : config_.node_types)
    counts[t.name] = {{"running", 0}, {"launching", 0}, {"draining", 0}};
  for (const auto& [id, l] : launches_)
    ++counts[l.type][!l.node ? "launching" : l.draining_since ? "draining" : "running"];
  return counts;
}

std::map<std::string, double> autoscaler::pending_by_resource() const {
  std::map<std::string, double> sums;
  for (const auto& d : status_.pending)
    for (const auto& [name, amount] : d.shape)
      sums[name] += amount * static_cast<double>(d.count);
  return sums;
}

} // namespace actors::runtime
