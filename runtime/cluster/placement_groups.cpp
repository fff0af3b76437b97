#include "runtime/cluster/placement_groups.hpp"

#include "runtime/common/log.hpp"

#include "actors/errors.hpp"

#include <algorithm>
#include <random>
#include <thread>

namespace actors::runtime {

namespace {

// Every bundle offers this much of a marker resource, and everything that runs in
// it takes a thousandth: so work with no other demand still lands on the bundle's
// node.
constexpr double bundle_marker_total = 1000;

resource_set renamed(const std::map<std::string, double>& resources, const std::string& group,
                     std::uint32_t index) {
  resource_set r;
  for (const auto& [name, amount] : resources)
    r.custom.emplace_back(bundle_resource(name, group, index), amount);
  r.custom.emplace_back(bundle_resource("bundle", group, index), bundle_marker_total);
  std::sort(r.custom.begin(), r.custom.end());
  return r;
}

std::string new_group_id() {
  std::random_device rd;
  static const char hex[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 12; ++i)
    id += hex[rd() % 16];
  return id;
}

} // namespace

std::string bundle_resource(const std::string& resource, const std::string& group, std::size_t index) {
  return resource + "_pg_" + group + "_" + std::to_string(index);
}

/// A work item that takes a bundle's resources and keeps them until removal.
class placement_groups::reservation final : public work_item {
 public:
  reservation(placement_groups& g, wire::bundle_request req, return_address reply_to)
    : work_item(resource_set::from(0, req.resources)), g_(g), req_(std::move(req)), reply_to_(std::move(reply_to)) {}

  void run() override {
    bool removed = false;
    {
      std::lock_guard<std::mutex> guard{g_.mu_};
      auto& h = g_.bundles_[{req_.group, req_.index}];
      // A bundle still queued when its creator went is not reserved, unless its
      // group is detached.
      removed = h.removed || (!req_.detached && g_.gone_creators_.count(req_.creator) > 0);
      if (!removed) {
        h.taken = demand;
        h.offered = renamed(req_.resources, req_.group, req_.index);
        h.creator = req_.creator;
        h.detached = req_.detached;
        h.active = true;
      }
    }
    if (removed) {
      g_.local_.sched.release(demand);
    } else {
      g_.local_.sched.add_total(renamed(req_.resources, req_.group, req_.index));
      g_.members_.report();
    }
    reply(!removed, removed ? "the group was removed before the bundle was reserved" : "");
  }

  void abandon(const std::string& reason) override {
    reply(false, reason);
  }

  bool releases_on_return() const override {
    return false;
  }

  std::string describe() const override {
    return "bundle " + std::to_string(req_.index) + " of placement group " + req_.group;
  }

 private:
  void reply(bool ok, const std::string& why) {
    if (!reply_to_) {
      g_.answered(req_.group, req_.index, ok, why);
      return;
    }
    wire::result r;
    r.key = req_.key;
    r.ok = ok;
    r.why.code = errc::invalid_argument;
    r.why.message = why;
    g_.links_.reply(reply_to_, message_kind::result, wire::pack(r));
  }

  placement_groups& g_;
  wire::bundle_request req_;
  return_address reply_to_;
};

/// A bundle reservation asked of another node.
class placement_groups::bundle_op final : public operation {
 public:
  bundle_op(placement_groups& g, std::string group, std::uint32_t index)
    : g_(g), group_(std::move(group)), index_(index) {}

  void answered(wire::result r) override {
    g_.answered(group_, index_, r.ok, r.why.message);
  }

  void lost(const node_id& node, const std::string& why) override {
    g_.answered(group_, index_, false, "node " + node.to_string() + " is gone (" + why + ")");
  }

 private:
  placement_groups& g_;
  std::string group_;
  std::uint32_t index_;
};

placement_groups::placement_groups(local_parts local, transport& links, operations& ops, membership& members,
                                   placer& place, group_records& records)
  : local_(local), links_(links), ops_(ops), members_(members), place_(place), records_(records) {}

void placement_groups::answered(const std::string& group, std::uint32_t index, bool ok, const std::string& why) {
  {
    std::lock_guard<std::mutex> guard{mu_};
    auto g = groups_.find(group);
    if (g == groups_.end() || index >= g->second.reserved.size())
      return;
    if (ok)
      g->second.reserved[index] = true;
    else
      g->second.failure = why;
  }
  changed_.notify_all();
  report(group);
}

wire::group_record placement_groups::record_of(const std::string& id, const group_state& g) const {
  wire::group_record r;
  r.id = id;
  r.name = g.opts.name;
  r.ns = g.opts.ns;
  r.creator = local_.id;
  r.detached = g.opts.detached;
  r.bundles = g.bundles;
  r.strategy = static_cast<std::uint8_t>(g.opts.strategy);
  r.nodes = g.nodes;
  bool ready = std::all_of(g.reserved.begin(), g.reserved.end(), [](bool b) { return b; });
  r.state = !g.failure.empty() ? "FAILED: " + g.failure : ready ? "CREATED" : "PENDING";
  return r;
}

void placement_groups::report(const std::string& id) {
  std::optional<wire::group_record> r;
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (auto g = groups_.find(id); g != groups_.end())
      r = record_of(id, g->second);
  }
  if (r)
    records_.update_group(*r);
}

bool placement_groups::visible(const std::string& id, const std::vector<node_id>& nodes) const {
  if (members_.alive_count() <= 1)
    return true;
  for (std::size_t i = 0; i < nodes.size(); ++i)
    if (!nodes[i].value || !members_.offers(nodes[i], bundle_resource("bundle", id, i)))
      return false;
  return true;
}

void placement_groups::view_changed() {
  // Take the lock so that a waiter between its check and its sleep does not miss it.
  bool waiting = false;
  {
    std::lock_guard<std::mutex> guard{mu_};
    waiting = unplaced_ > 0;
  }
  changed_.notify_all();
  if (waiting)
    place_waiting();
}

void placement_groups::node_gone_for_good(const node_id& id) {
  std::vector<std::pair<std::string, std::uint32_t>> orphans;
  {
    std::lock_guard<std::mutex> guard{mu_};
    gone_creators_.insert(id);
    for (const auto& [key, h] : bundles_)
      if (h.creator == id && !h.detached)
        orphans.push_back(key);
  }
  for (const auto& [group, index] : orphans) {
    log(log_level::info, "cluster", "bundle ", index, " of placement group ", group, " is given back: its creator, node ",
        id.to_string(), ", is gone");
    release_bundle(group, index);
  }
}

void placement_groups::count_waiting(std::map<std::map<std::string, double>, std::uint64_t>& shapes) const {
  std::lock_guard<std::mutex> guard{mu_};
  if (unplaced_ == 0)
    return;
  for (const auto& [id, g] : groups_)
    for (std::size_t i = 0; i < g.bundles.size(); ++i)
      if (!g.nodes[i].value && g.failure.empty())
        ++shapes[g.bundles[i]];
}

void placement_groups::send_reservation(const std::string& group, std::uint32_t index,
                                        const std::map<std::string, double>& bundle, const node_id& node,
                                        bool detached) {
  wire::bundle_request req;
  req.group = group;
  req.index = index;
  req.resources = bundle;
  req.creator = local_.id;
  req.detached = detached;
  if (node == local_.id) {
    reserve(std::move(req), return_address{});
    return;
  }
  req.key = ops_.next_key();
  ops_.add(req.key, node, std::make_unique<bundle_op>(*this, group, index));
  links_.send(node, message_kind::bundle_reserve, wire::pack(req));
}

void placement_groups::place_waiting() {
  struct waiting_group {
    std::string id;
    scheduling_strategy strategy;
    bool detached;
    std::vector<std::uint32_t> indices;
    std::vector<std::map<std::string, double>> bundles;
  };
  std::vector<waiting_group> todo;
  // The bundles already sent, by group: nodes' reports may not show them yet.
  std::map<std::string, std::vector<bundle_claim>> sent;
  {
    std::lock_guard<std::mutex> guard{mu_};
    for (const auto& [id, g] : groups_) {
      waiting_group w{id, g.opts.strategy, g.opts.detached, {}, {}};
      for (std::uint32_t i = 0; i < g.bundles.size(); ++i) {
        if (g.nodes[i].value) {
          sent[id].push_back({g.nodes[i], resource_set::from(0, g.bundles[i]),
                              members_.offers(g.nodes[i], bundle_resource("bundle", id, i)), false});
        } else if (g.failure.empty()) {
          w.indices.push_back(i);
          w.bundles.push_back(g.bundles[i]);
        }
      }
      if (!w.indices.empty())
        todo.push_back(std::move(w));
    }
  }
  for (auto& w : todo) {
    std::vector<bundle_claim> claims;
    for (const auto& [id, group_claims] : sent)
      for (auto c : group_claims) {
        c.same_group = id == w.id;
        claims.push_back(c);
      }
    // Only where there is room now: a bundle queued on a full node would hold the
    // group back while new nodes stand idle.
    auto where = place_.place_bundles(w.bundles, w.strategy, true, claims);
    for (std::size_t k = 0; k < w.indices.size(); ++k) {
      if (!where[k].value)
        continue;
      {
        std::lock_guard<std::mutex> guard{mu_};
        auto g = groups_.find(w.id);
        if (g == groups_.end() || g->second.nodes[w.indices[k]].value)
          continue;
        g->second.nodes[w.indices[k]] = where[k];
        --unplaced_;
      }
      sent[w.id].push_back({where[k], resource_set::from(0, w.bundles[k]), false, false});
      log(log_level::info, "cluster", "bundle ", w.indices[k], " of placement group ", w.id, " goes to node ",
          where[k].to_string(), ", which joined since the group was made");
      send_reservation(w.id, w.indices[k], w.bundles[k], where[k], w.detached);
    }
    report(w.id);
  }
}

std::string placement_groups::create(const std::vector<std::map<std::string, double>>& bundles,
                                     const group_options& opts) {
  auto id = new_group_id();
  auto where = place_.place_bundles(bundles, opts.strategy);
  group_state g;
  g.bundles = bundles;
  g.opts = opts;
  g.nodes = where;
  g.reserved.assign(bundles.size(), false);
  // Recorded at the head before it is known here or reserved: a name taken
  // refuses it.
  std::string why;
  if (!records_.add_group(record_of(id, g), why))
    throw error(errc::invalid_argument, why);
  {
    std::lock_guard<std::mutex> guard{mu_};
    groups_.emplace(id, std::move(g));
    for (const auto& n : where)
      unplaced_ += n.value ? 0 : 1;
  }
  for (std::uint32_t i = 0; i < bundles.size(); ++i) {
    if (!where[i].value) {
      log(log_level::warning, "cluster", "bundle ", i, " of placement group ", id,
          " fits no live node; it waits for a node that can hold it (the autoscaler launches one if it has a "
          "node type for it)");
      continue;
    }
    send_reservation(id, i, bundles[i], where[i], opts.detached);
  }
  return id;
}

bool placement_groups::wait(const std::string& id, std::chrono::milliseconds timeout) {
  {
    std::lock_guard<std::mutex> guard{mu_};
    if (!groups_.count(id))
      return wait_elsewhere(id, timeout);
  }
  std::unique_lock<std::mutex> lock{mu_};
  auto ready = [&] {
    auto g = groups_.find(id);
    if (g == groups_.end())
      throw error(errc::invalid_argument, "placement group " + id + " is not known here (removed?)");
    if (!g->second.failure.empty())
      throw error(errc::invalid_argument, "placement group " + id + " cannot be reserved: " + g->second.failure);
    if (!std::all_of(g->second.reserved.begin(), g->second.reserved.end(), [](bool b) { return b; }))
      return false;
    // Ready once placement here can see every bundle's resources.
    return visible(id, g->second.nodes);
  };
  if (timeout.count() < 0) {
    changed_.wait(lock, ready);
    return true;
  }
  return changed_.wait_for(lock, timeout, ready);
}

bool placement_groups::wait_elsewhere(const std::string& id, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto r = records_.find_group(id, {}, {});
    if (!r)
      throw error(errc::invalid_argument, "placement group " + id + " is not known to the cluster (removed?)");
    if (r->state.rfind("FAILED", 0) == 0)
      throw error(errc::invalid_argument, "placement group " + id + " cannot be reserved: " + r->state.substr(8));
    if (r->state == "CREATED" && visible(id, r->nodes))
      return true;
    if (timeout.count() >= 0 && std::chrono::steady_clock::now() >= until)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::optional<wire::group_record> placement_groups::find(const std::string& ns, const std::string& name) {
  return records_.find_group({}, ns, name);
}

void placement_groups::remove(const std::string& id) {
  std::vector<node_id> nodes;
  bool here = false;
  {
    std::lock_guard<std::mutex> guard{mu_};
    auto g = groups_.find(id);
    if (g != groups_.end()) {
      here = true;
      nodes = g->second.nodes;
      for (const auto& n : nodes)
        unplaced_ -= n.value ? 0 : 1;
      groups_.erase(g);
    }
  }
  if (!here) {
    // Made by another process (a detached group, or one found by name): the
    // head's record says where its bundles went.
    auto r = records_.find_group(id, {}, {});
    if (!r)
      return;
    nodes = r->nodes;
  }
  records_.remove_group(id);
  for (std::uint32_t i = 0; i < nodes.size(); ++i) {
    if (!nodes[i].value)
      continue;
    if (nodes[i] == local_.id)
      release_bundle(id, i);
    else
      links_.send(nodes[i], message_kind::bundle_remove, wire::pack(wire::bundle_ref{id, i}));
  }
}

void placement_groups::reserve(wire::bundle_request req, return_address reply_to) {
  local_.sched.submit(std::make_unique<reservation>(*this, std::move(req), std::move(reply_to)));
}

void placement_groups::serve_reserve(wire::bundle_request req, const return_address& from) {
  reserve(std::move(req), from);
}

void placement_groups::serve_remove(const wire::bundle_ref& ref) {
  release_bundle(ref.group, ref.index);
}

void placement_groups::release_bundle(const std::string& group, std::uint32_t index) {
  bundle_hold h;
  {
    std::lock_guard<std::mutex> guard{mu_};
    auto& slot = bundles_[{group, index}];
    if (!slot.active) {
      slot.removed = true; // not reserved yet: the reservation gives it back
      return;
    }
    h = slot;
    bundles_.erase({group, index});
  }
  local_.sched.remove_total(h.offered);
  local_.sched.release(h.taken);
  members_.report();
}

} // namespace actors::runtime
