// The tables behind a dataset's typed code: block types, row steps, aggregations and
// the local callables of this process.

#include "actors/dataset.hpp"

#include <actors/nodes.hpp>
#include <actors/init.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string_view>

namespace actors::data::detail {

namespace {

template <class T>
class table {
 public:
  const T* add(const T* entry, const std::string& key) {
    std::unique_lock<std::shared_mutex> guard{mu_};
    auto [it, fresh] = entries_.emplace(key, entry);
    if (!fresh)
      delete entry; // another library of this process registered the same type first
    return it->second;
  }
  const T* find(const std::string& key) const {
    std::shared_lock<std::shared_mutex> guard{mu_};
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : it->second;
  }

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, const T*, std::less<>> entries_;
};

table<block_ops>& blocks() {
  static table<block_ops> t;
  return t;
}
table<step_impl>& steps() {
  static table<step_impl> t;
  return t;
}
table<agg_impl>& aggs() {
  static table<agg_impl> t;
  return t;
}

struct closure_table {
  std::mutex mu;
  std::map<std::uint64_t, std::shared_ptr<const void>> callables;
  std::atomic<std::uint64_t> next{1};
};

closure_table& closures() {
  static closure_table t;
  return t;
}

} // namespace

const block_ops* find_block_ops(const std::string& type) {
  return blocks().find(type);
}
const block_ops* add_block_ops(const block_ops* ops) {
  return blocks().add(ops, ops->type);
}
const step_impl* find_step_impl(const std::string& key) {
  return steps().find(key);
}
const step_impl* add_step_impl(const step_impl* impl) {
  return steps().add(impl, impl->key);
}
const agg_impl* find_agg_impl(const std::string& key) {
  return aggs().find(key);
}
const agg_impl* add_agg_impl(const agg_impl* impl) {
  return aggs().add(impl, impl->key);
}

const char* step_kind_name(step_kind k) {
  switch (k) {
    case step_kind::map:
      return "map";
    case step_kind::filter:
      return "filter";
    case step_kind::flat_map:
      return "flat_map";
    case step_kind::map_batches:
      return "map_batches";
  }
  return "step";
}

closure::closure(std::shared_ptr<const void> callable) {
  auto& t = closures();
  id_ = t.next++;
  std::lock_guard<std::mutex> guard{t.mu};
  t.callables.emplace(id_, std::move(callable));
}

closure::~closure() {
  auto& t = closures();
  std::lock_guard<std::mutex> guard{t.mu};
  t.callables.erase(id_);
}

std::shared_ptr<const void> resolve_callable(const step& s, const step_impl& impl) {
  if (!s.fn.function.empty()) {
    const auto* e = actors::detail::function_named(s.fn.function);
    if (!e)
      throw not_registered_error("dataset operator " + s.label + ": function '" + s.fn.function
                                 + "' is not registered on node " + current_node_id().to_string()
                                 + "; load the library with its ACTORS_REMOTE line on every node");
    if (impl.signature != e->signature)
      throw not_registered_error("dataset operator " + s.label + ": function '" + s.fn.function
                                 + "' on node " + current_node_id().to_string() + " has type "
                                 + actors::detail::demangle(e->signature) + " but the dataset was built for "
                                 + actors::detail::demangle(impl.signature.c_str())
                                 + "; run the same build of the code on every node");
    return std::shared_ptr<const void>(std::shared_ptr<const void>(), e->fn);
  }
  auto& t = closures();
  std::lock_guard<std::mutex> guard{t.mu};
  auto it = t.callables.find(s.fn.closure);
  if (it == t.callables.end())
    throw not_registered_error("dataset operator " + s.label
                               + ": a lambda or unregistered function can run only in the process "
                                 "that built the dataset, and this block is on node "
                               + current_node_id().to_string()
                               + "; define it as a free function listed in ACTORS_REMOTE");
  return it->second;
}

bool cluster_has_other_nodes() {
  auto self = current_node_id();
  for (const auto& n : nodes())
    if (n.alive && n.id != self)
      return true;
  return false;
}

} // namespace actors::data::detail
