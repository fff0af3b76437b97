#pragma once

#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace actors::detail {
class object_cell;
} // namespace actors::detail

namespace actors::runtime {

/// Which tasks each task running here submitted, by their results, so that a
/// recursive cancel reaches them too. A task's entry goes when its result
/// settles. Safe for concurrent use.
class task_tree {
 public:
  task_tree();
  ~task_tree();

  task_tree(const task_tree&) = delete;
  task_tree& operator=(const task_tree&) = delete;

  /// The task making `parent` (running here) submitted the one making `child`.
  void add(detail::object_cell* parent, detail::object_cell* child);

  /// The children of `parent`, taken out; each is retained for the caller, who
  /// releases it.
  std::vector<detail::object_cell*> take(detail::object_cell* parent);

 private:
  struct table {
    std::mutex mu;
    std::unordered_map<detail::object_cell*, std::vector<detail::object_cell*>> children;
  };
  // Shared with the callbacks on the parents' results, which may outlive this.
  std::shared_ptr<table> table_;
};

} // namespace actors::runtime
