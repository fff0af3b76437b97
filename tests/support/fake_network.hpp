#pragma once

// An in-process network of node endpoints for unit tests of the remote layer
// (runtime/cluster): messages are delivered one at a time, in the order sent, on
// one thread of the network's own, as a CAF node endpoint delivers them; a node
// can be cut off (what is sent to it or by it is lost), and every delivery is
// counted by kind.

#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/transport.hpp"
#include "runtime/jobs/job_service.hpp"
#include "runtime/control_store/control_store.hpp"

#include <condition_variable>
#include <functional>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

namespace actors::test {

class fake_network {
 public:
  /// One node's endpoint on the network.
  class endpoint final : public runtime::transport, public runtime::job_service_client {
   public:
    endpoint(fake_network& net, node_id id) : net_(net), id_(id) {}

    /// Messages for this node go to `handler` from now on.
    void attach(runtime::message_handler& handler) {
      net_.attach(id_, &handler);
    }
    /// No more deliveries to this node; waits for one in progress.
    void detach() {
      net_.attach(id_, nullptr);
    }

    bool send(const node_id& to, runtime::message_kind kind, std::string payload) override {
      if (!reaches(to))
        return false;
      net_.post(id_, to, kind, std::move(payload));
      return true;
    }

    void reply(const runtime::return_address& to, runtime::message_kind kind, std::string payload) override {
      if (const auto* from = static_cast<const node_id*>(to.handle()))
        net_.post(id_, *from, kind, std::move(payload));
    }

    std::optional<std::string> request(const node_id& to, runtime::request_kind kind, std::string payload,
                                       std::chrono::milliseconds, std::string& why) override {
      if (!reaches(to)) {
        why = "node " + to.to_string() + " is not in the node table";
        return std::nullopt;
      }
      return net_.ask(id_, to, kind, payload, why);
    }

    bool reaches(const node_id& id) const override {
      std::lock_guard<std::mutex> guard{mu_};
      return net_.known(id) && !forgotten_.count(id);
    }

    void forget(const node_id& id) override {
      std::lock_guard<std::mutex> guard{mu_};
      forgotten_.insert(id);
    }

    std::optional<std::string> ask_jobs(const std::string&, std::string, std::chrono::milliseconds,
                                        std::string& why) override {
      why = "a fake network has no job service";
      return std::nullopt;
    }

   private:
    fake_network& net_;
    const node_id id_;
    mutable std::mutex mu_;
    std::set<node_id> forgotten_;
  };

  fake_network() : delivery_([this] { deliver(); }) {}

  ~fake_network() {
    {
      std::lock_guard<std::mutex> guard{mu_};
      stopped_ = true;
    }
    cv_.notify_all();
    delivery_.join();
  }

  fake_network(const fake_network&) = delete;
  fake_network& operator=(const fake_network&) = delete;

  endpoint& add(node_id id) {
    std::lock_guard<std::mutex> guard{mu_};
    auto& e = endpoints_[id];
    e = std::make_unique<endpoint>(*this, id);
    return *e;
  }

  /// What is sent to or by `id` from now on is lost (its link went down).
  void cut(node_id id) {
    std::lock_guard<std::mutex> guard{mu_};
    cut_.insert(id);
  }

  /// Messages of `kind` delivered to `to` so far.
  int delivered(node_id to, runtime::message_kind kind) const {
    std::lock_guard<std::mutex> guard{mu_};
    auto i = delivered_.find({to, kind});
    return i == delivered_.end() ? 0 : i->second;
  }

  /// From now on `watch` sees each message of `kind` as it is delivered, with
  /// its addressee (on the delivery thread, before the addressee does).
  void tap(runtime::message_kind kind, std::function<void(const node_id& to, const std::string& payload)> watch) {
    std::lock_guard<std::mutex> guard{mu_};
    taps_[kind] = std::move(watch);
  }

  /// Waits until every message sent so far was delivered (or lost).
  bool settle(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock{mu_};
    return cv_.wait_for(lock, limit, [&] { return queue_.empty() && !delivering_.value; });
  }

 private:
  struct message {
    node_id from;
    node_id to;
    runtime::message_kind kind;
    std::string payload;
  };

  bool known(const node_id& id) const {
    std::lock_guard<std::mutex> guard{mu_};
    return endpoints_.count(id) > 0;
  }

  void attach(const node_id& id, runtime::message_handler* handler) {
    std::unique_lock<std::mutex> lock{mu_};
    handlers_[id] = handler;
    cv_.wait(lock, [&] { return delivering_ != id; });
  }

  void post(const node_id& from, const node_id& to, runtime::message_kind kind, std::string payload) {
    {
      std::lock_guard<std::mutex> guard{mu_};
      queue_.push_back({from, to, kind, std::move(payload)});
    }
    cv_.notify_all();
  }

  std::optional<std::string> ask(const node_id& from, const node_id& to, runtime::request_kind kind,
                                 const std::string& payload, std::string& why) {
    runtime::message_handler* handler = nullptr;
    {
      std::lock_guard<std::mutex> guard{mu_};
      if (cut_.count(from) || cut_.count(to)) {
        why = "timeout (the link is cut)";
        return std::nullopt;
      }
      handler = handlers_[to];
    }
    if (!handler) {
      why = "node " + to.to_string() + " does not serve";
      return std::nullopt;
    }
    return handler->on_request(kind, payload);
  }

  void deliver() {
    std::unique_lock<std::mutex> lock{mu_};
    for (;;) {
      cv_.wait(lock, [&] { return stopped_ || !queue_.empty(); });
      if (queue_.empty())
        return;
      auto m = std::move(queue_.front());
      queue_.pop_front();
      auto* handler = handlers_[m.to];
      if (!handler || cut_.count(m.from) || cut_.count(m.to)) {
        cv_.notify_all();
        continue;
      }
      ++delivered_[{m.to, m.kind}];
      delivering_ = m.to;
      auto tap = taps_.find(m.kind);
      auto watch = tap == taps_.end() ? nullptr : tap->second;
      lock.unlock();
      if (watch)
        watch(m.to, m.payload);
      handler->on_message(m.kind, m.payload, runtime::return_address{std::make_shared<const node_id>(m.from)});
      lock.lock();
      delivering_ = node_id{};
      cv_.notify_all();
    }
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<node_id, std::unique_ptr<endpoint>> endpoints_;
  std::unordered_map<node_id, runtime::message_handler*> handlers_;
  std::set<node_id> cut_;
  std::deque<message> queue_;
  std::map<std::pair<node_id, runtime::message_kind>, int> delivered_;
  std::map<runtime::message_kind, std::function<void(const node_id&, const std::string&)>> taps_;
  node_id delivering_;
  bool stopped_ = false;
  std::thread delivery_;
};

/// A head link whose answers a test sets: it accepts every join unless told
/// otherwise, and answers reconnects from a script.
class fake_head final : public runtime::head_link {
 public:
  runtime::join_answer join(const runtime::wire::node_record& rec) override {
    std::lock_guard<std::mutex> guard{mu};
    joins.push_back(rec);
    return join_answer;
  }

  std::optional<runtime::join_answer> reconnect(const runtime::wire::node_record& rec, std::string& why) override {
    std::lock_guard<std::mutex> guard{mu};
    reconnects.push_back(rec);
    if (reconnect_answers.empty()) {
      why = "connection refused";
      return std::nullopt;
    }
    auto a = reconnect_answers.front();
    if (reconnect_answers.size() > 1)
      reconnect_answers.pop_front();
    if (!a)
      why = "connection refused";
    return a;
  }

  void report(const runtime::wire::node_report& rep) override {
    std::lock_guard<std::mutex> guard{mu};
    reports.push_back(rep);
  }

  void lost() override {
    std::lock_guard<std::mutex> guard{mu};
    ++lost_count;
  }

  /// Records how long the probe would wait; `silent_probes` makes it call back
  /// as a head that never answers, `held_probes` keeps the call for the test to
  /// make when it chooses (a probe still waiting).
  void probe(const node_id&, std::chrono::milliseconds timeout, std::function<void()> on_silence,
             std::function<void()>) override {
    {
      std::lock_guard<std::mutex> guard{mu};
      probe_timeouts.push_back(timeout);
      if (held_probes) {
        silences.push_back(std::move(on_silence));
        return;
      }
      if (!silent_probes)
        return;
    }
    on_silence();
  }

  std::mutex mu;
  std::vector<std::chrono::milliseconds> probe_timeouts;
  bool silent_probes = false;
  bool held_probes = false;
  std::vector<std::function<void()>> silences;
  runtime::join_answer join_answer{true, true, runtime::wire::join_refusal::none, {}};
  /// What each reconnect attempt gets, in order (the last one repeats); empty or
  /// nullopt: no head answers.
  std::deque<std::optional<runtime::join_answer>> reconnect_answers;
  std::vector<runtime::wire::node_record> joins;
  std::vector<runtime::wire::node_record> reconnects;
  std::vector<runtime::wire::node_report> reports;
  int lost_count = 0;
};

/// Named actors kept in a map.
/// The head's tables of names and placement groups, in memory.
class fake_names final : public runtime::actor_names, public runtime::group_records {
 public:
  bool register_name(const std::string& name, const runtime::named_actor_entry& entry) override {
    std::lock_guard<std::mutex> guard{mu_};
    auto [i, added] = names_.emplace(name, entry);
    if (!added && i->second.id != entry.id)
      return false;
    i->second = entry;
    return true;
  }

  std::optional<runtime::named_actor_entry> lookup_name(const std::string& name) override {
    std::lock_guard<std::mutex> guard{mu_};
    auto i = names_.find(name);
    return i == names_.end() ? std::nullopt : std::optional<runtime::named_actor_entry>{i->second};
  }

  void remove_name(const std::string& name, const actor_id& id) override {
    std::lock_guard<std::mutex> guard{mu_};
    auto i = names_.find(name);
    if (i != names_.end() && i->second.id == id)
      names_.erase(i);
  }

  bool add_group(const runtime::wire::group_record& g, std::string& why) override {
    std::lock_guard<std::mutex> guard{mu_};
    for (const auto& [id, other] : groups_)
      if (!g.name.empty() && other.name == g.name && other.ns == g.ns) {
        why = "name taken";
        return false;
      }
    groups_[g.id] = g;
    return true;
  }

  void update_group(const runtime::wire::group_record& g) override {
    std::lock_guard<std::mutex> guard{mu_};
    if (auto i = groups_.find(g.id); i != groups_.end())
      i->second = g;
  }

  std::optional<runtime::wire::group_record> find_group(const std::string& id, const std::string& ns,
                                                        const std::string& name) override {
    std::lock_guard<std::mutex> guard{mu_};
    for (const auto& [key, g] : groups_)
      if (id.empty() ? (g.name == name && g.ns == ns) : key == id)
        return g;
    return std::nullopt;
  }

  void remove_group(const std::string& id) override {
    std::lock_guard<std::mutex> guard{mu_};
    groups_.erase(id);
  }

 private:
  std::mutex mu_;
  std::map<std::string, runtime::named_actor_entry> names_;
  std::map<std::string, runtime::wire::group_record> groups_;
};

} // namespace actors::test
