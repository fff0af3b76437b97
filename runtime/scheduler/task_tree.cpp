#include "runtime/scheduler/task_tree.hpp"

#include "runtime/object_store/object_cell.hpp"

#include "actors/detail/runtime.hpp"

namespace actors::runtime {

namespace {

void release_all(std::vector<detail::object_cell*>& cells) {
  for (auto* c : cells)
    detail::release(c);
  cells.clear();
}

} // namespace

task_tree::task_tree() : table_(std::make_shared<table>()) {}

task_tree::~task_tree() {
  std::lock_guard<std::mutex> guard{table_->mu};
  for (auto& [parent, children] : table_->children)
    release_all(children);
  table_->children.clear();
}

void task_tree::add(detail::object_cell* parent, detail::object_cell* child) {
  detail::retain(child);
  bool first = false;
  {
    std::lock_guard<std::mutex> guard{table_->mu};
    auto& children = table_->children[parent];
    first = children.empty();
    children.push_back(child);
  }
  if (!first)
    return;
  // The entry goes when the parent ends (or at once, if it has already).
  parent->on_settled([weak = std::weak_ptr<table>(table_), parent] {
    auto t = weak.lock();
    if (!t)
      return;
    std::vector<detail::object_cell*> gone;
    {
      std::lock_guard<std::mutex> guard{t->mu};
      auto i = t->children.find(parent);
      if (i == t->children.end())
        return;
      gone.swap(i->second);
      t->children.erase(i);
    }
    release_all(gone);
  });
}

std::vector<detail::object_cell*> task_tree::take(detail::object_cell* parent) {
  std::lock_guard<std::mutex> guard{table_->mu};
  auto i = table_->children.find(parent);
  if (i == table_->children.end())
    return {};
  auto out = std::move(i->second);
  table_->children.erase(i);
  return out;
}

} // namespace actors::runtime
