#include "runtime/autoscaler/autoscaler.hpp"

#include "runtime/autoscaler/scaling_plan.hpp"
#include "runtime/common/durable_file.hpp"
#include "runtime/common/log.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>

namespace actors::runtime {

namespace {

// A node marked draining is stopped this long later if it is still idle: the
// mark reaches every node with the next table, so nothing new is on its way.
constexpr auto drain_settle = std::chrono::seconds(1);
// The events `actors status` shows.
constexpr std::size_t events_kept = 20;

// The launches file: this line, the format version on the next, then the launches.
constexpr const char* launches_magic = "actors autoscaler launches";
constexpr int launches_format = 1;

/// One launch as the launches file keeps it.
struct saved_launch {
  std::string id;
  std::string type;
  std::string host;
  int pid = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & id & type & host & pid;
  }
};

/// The node type whose resources a node offers, for a node that joined with a
/// launch id this head did not make; empty if none matches.
std::string type_offered_by(const std::vector<node_type_config>& types, const wire::node_record& rec) {
  for (const auto& t : types) {
    bool same = true;
    for (const auto& [name, amount] : t.resources) {
      auto have = rec.total.find(name);
      same = same && have != rec.total.end() && std::abs(have->second - amount) < 1e-9;
    }
    if (same)
      return t.name;
  }
  return {};
}

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

autoscaler::autoscaler(autoscale_config config, node_provider& provider, std::string head_address, std::string token,
                       std::filesystem::path launches_file)
  : config_(std::move(config)), provider_(provider), head_address_(std::move(head_address)), token_(std::move(token)),
    launches_file_(std::move(launches_file)) {
  std::random_device rd;
  std::ostringstream prefix;
  prefix << std::hex << (rd() & 0xffffff);
  launch_prefix_ = prefix.str();
  for (const auto& t : config_.node_types)
    status_.node_types.push_back({t.name, t.resources, t.min_nodes, t.max_nodes, 0, 0});
  take_over_saved_launches();
}

void autoscaler::take_over_saved_launches() {
  if (launches_file_.empty())
    return;
  std::ifstream in(launches_file_, std::ios::binary);
  if (!in)
    return;
  std::string magic;
  std::string version;
  std::getline(in, magic);
  std::getline(in, version);
  std::vector<saved_launch> saved;
  try {
    if (magic != launches_magic || version != std::to_string(launches_format))
      throw std::runtime_error("not a launches file of format " + std::to_string(launches_format));
    std::ostringstream body;
    body << in.rdbuf();
    saved = wire::unpack<std::vector<saved_launch>>(body.str(), "saved launches");
  } catch (const std::exception& e) {
    log(log_level::error, "autoscaler", "cannot read ", launches_file_.string(), ": ", e.what(),
        "; the nodes a previous head launched are not taken over: stop them by hand if they still run");
    return;
  }
  int taken = 0;
  int gone = 0;
  const auto now = clock_type::now();
  for (const auto& r : saved) {
    const auto* t = type_named(r.type);
    launch_place place{r.host, r.pid};
    if (!provider_.adopt(r.id, t ? *t : node_type_config{r.type, {}, 0, 0}, place)) {
      gone_.insert(r.id);
      ++gone;
      continue;
    }
    launch l;
    l.id = r.id;
    l.type = r.type;
    l.place = place;
    l.started = now;
    l.adopted = true;
    launches_[r.id] = std::move(l);
    ++taken;
  }
  if (taken + gone > 0)
    event("took over the previous head process's launches: " + std::to_string(taken) + " still there, "
          + std::to_string(gone) + " ended");
}

void autoscaler::save_launches() {
  if (launches_file_.empty())
    return;
  std::vector<saved_launch> saved;
  for (const auto& [id, l] : launches_)
    saved.push_back({id, l.type, l.place.host, l.place.pid});
  auto bytes = std::string(launches_magic) + "\n" + std::to_string(launches_format) + "\n" + wire::pack(saved);
  if (bytes == saved_)
    return;
  try {
    write_durably(launches_file_, bytes);
    saved_ = std::move(bytes);
  } catch (const std::exception& e) {
    log(log_level::error, "autoscaler", e.what(),
        "; a restarted head would not know the nodes launched since: free space or fix the permissions of "
        "--state-dir");
  }
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
  gone_.insert(launch_id);
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
      // The table may list it alive until the head notices.
      gone_.insert(id);
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
        event("node " + l.node->to_string() + " (" + l.type + ") "
              + (l.adopted ? "is back, launched by the previous head process"
                           : "joined, " + seconds(std::chrono::duration<double>(now - l.started).count())
                               + " after its launch"));
      }
      ++it;
      continue;
    }
    if (l.node) {
      event("node " + l.node->to_string() + " (" + l.type + ") left the cluster");
      ++counters_.terminations[l.type]["died"];
      provider_.terminate(l.id);
      gone_.insert(l.id);
      it = launches_.erase(it);
      continue;
    }
    if (now - l.started > launch_timeout && l.adopted) {
      event("launch " + l.id + " (" + l.type + ") of the previous head process did not come back within "
            + seconds(config_.launch_timeout_s) + " (launch_timeout_s); stopping it");
      provider_.terminate(l.id);
      gone_.insert(l.id);
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

  // Nodes that joined with a launch id this head does not know and did not give
  // up on (launched by a previous head process whose saved launches missed them):
  // taken over by the resources they offer, so that they go when idle.
  for (const auto& [id, rec] : joined) {
    if (launches_.count(id) || gone_.count(id) || rec->draining)
      continue;
    launch l;
    l.id = id;
    l.type = type_offered_by(config_.node_types, *rec);
    l.started = now;
    l.node = rec->id;
    l.adopted = true;
    event("took over node " + rec->id.to_string() + " (" + (l.type.empty() ? "no node type" : l.type)
          + "), launched as " + id + " by a previous head process");
    launches_[id] = std::move(l);
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
      if (l.draining_since && rec != joined.end()) {
        // Work reached it before the mark did: it is not idle, so it takes work
        // again rather than stay draining for good.
        event("node " + l.node->to_string() + " (" + l.type + ") got work while draining; it stays");
        l.draining_since.reset();
        actions.undrain.push_back(*l.node);
      }
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
        gone_.insert(l.id);
        it = launches_.erase(it);
        continue;
      }
    } else if (now - *l.idle_since >= idle_timeout) {
      const auto* type = type_named(l.type);
      if (!type || running[l.type] > type->min_nodes) {
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
      launches_[spec.launch_id] = launch{spec.launch_id, type, {}, now, std::nullopt, std::nullopt, std::nullopt};
      try {
        launches_[spec.launch_id].place = provider_.launch(spec);
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
  save_launches();
  return actions;
}

wire::autoscaler_status autoscaler::status() const {
  return status_;
}

autoscaler_figures autoscaler::figures() const {
  autoscaler_figures f = counters_;
  for (const auto& t : config_.node_types) {
    f.nodes[t.name] = {{"running", 0}, {"launching", 0}, {"draining", 0}};
    f.launches[t.name] += 0;
    f.launch_failures[t.name] += 0;
    f.terminations[t.name]["idle"] += 0;
    f.terminations[t.name]["died"] += 0;
  }
  for (const auto& [id, l] : launches_)
    ++f.nodes[l.type][!l.node ? "launching" : l.draining_since ? "draining" : "running"];
  for (const auto& d : status_.pending)
    for (const auto& [name, amount] : d.shape)
      f.pending[name] += amount * static_cast<double>(d.count);
  return f;
}

} // namespace actors::runtime
