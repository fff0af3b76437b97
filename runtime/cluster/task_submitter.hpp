#pragma once

#include "runtime/cluster/held_arguments.hpp"
#include "runtime/cluster/local_parts.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/object_directory.hpp"
#include "runtime/cluster/operations.hpp"
#include "runtime/cluster/placement.hpp"
#include "runtime/cluster/transport.hpp"
#include "runtime/common/one_shot_threads.hpp"
#include "runtime/wire/protocol.hpp"

#include "actors/detail/runtime.hpp"
#include "actors/ids.hpp"

#include <deque>
#include <set>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace actors::runtime {

/// Tasks this node keeps sent to one node and not answered yet; the rest wait
/// here (see task_submitter).
inline constexpr std::size_t tasks_in_flight_per_node = 1024;
/// Waiting tasks go out when a node's window has at least this much room, in one
/// message.
inline constexpr std::size_t refill_chunk = 256;

/// The owner's side of tasks that run on other nodes: it resolves a task's
/// arguments, sends it with its small dependencies inline and the locations of
/// its large ones, runs it again elsewhere when its node dies (up to
/// max_retries), keeps the lineage of large results held elsewhere so that a
/// lost one can be made again, and holds tasks no node can take yet until one
/// can. It keeps at most tasks_in_flight_per_node tasks in flight to each node;
/// the others wait here, first in, first out, and go out in batches as answers
/// make room, each placed again then. Safe for concurrent use.
class task_submitter final : public membership_listener, public object_rebuilder, public demand_source {
 public:
  task_submitter(local_parts local, transport& links, operations& ops, membership& members, placer& place,
                 held_arguments& held);
  ~task_submitter() override;

  task_submitter(const task_submitter&) = delete;
  task_submitter& operator=(const task_submitter&) = delete;

  /// Sends a task to node `where` once its arguments are ready; returns the
  /// retained cell of its result.
  detail::object_cell* submit(node_id where, const detail::function_entry& fn, detail::args_ptr args,
                              detail::task_options opts);

  /// Holds a task that no node can take yet; it is placed as soon as a node that
  /// can joins (or gains the resources). Returns the retained cell of its result.
  detail::object_cell* park(const detail::function_entry& fn, detail::args_ptr args, detail::task_options opts);

  bool rebuild(detail::object_cell* c) override;

  /// Places the held tasks again.
  void view_changed() override;
  /// Fails the held tasks, and those held from now on.
  void cut_off(const std::string& why) override;

  /// Fails the held tasks and waits for the threads rebuilding lost arguments.
  void stop();

  /// Tasks waiting for room in a node's window.
  std::size_t waiting() const;

  /// The held tasks, by demand shape.
  void count_waiting(std::map<std::map<std::string, double>, std::uint64_t>& shapes) const override;

 private:
  struct remote_task {
    detail::object_cell* result = nullptr; // retained until settled
    const detail::function_entry* fn = nullptr;
    detail::args_ptr args;
    detail::task_options opts;
    int attempt = 0;
    std::string label;
  };
  class task_op;

  void hold(remote_task t);
  void fail(remote_task& t, errc code, const std::string& why);
  /// Sends `t` once its lost arguments are made again.
  void send(const node_id& where, remote_task t);
  /// Sends `t` if `where`'s window has room, else keeps it waiting.
  void admit(const node_id& where, remote_task t);
  /// Encodes and sends tasks to `where`, in one message when there are several.
  void transmit(const node_id& where, std::vector<remote_task> tasks);
  /// An answer from `node` (or its loss) made room in its window.
  void slot_freed(const node_id& node);
  /// Sends waiting tasks to the nodes with room, in order.
  void drain();
  void retry(remote_task t);
  /// Places `t` again (it was held, or given back by its node), or holds it if
  /// no node can take it.
  void place_or_park(remote_task t);
  /// Runs `t` on node `where`, or here if that is nullopt.
  void run(std::optional<node_id> where, remote_task t);
  std::vector<detail::object_cell*> lost_dependencies(const detail::args_holder& args);
  std::vector<wire::inline_object> inline_dependencies(const detail::args_holder& args);
  std::vector<wire::located_object> located_dependencies(const detail::args_holder& args);
  bool stopping() const;

  const local_parts local_;
  transport& links_;
  operations& ops_;
  membership& members_;
  placer& place_;
  held_arguments& held_;

  // Guards everything below.
  mutable std::mutex mu_;
  bool stopping_ = false;
  // Tasks no node can take yet: placed again whenever the node table changes.
  std::vector<remote_task> parked_;
  // Demands already logged as waiting for a node (once each).
  std::set<resource_set> warned_parked_;
  // Tasks sent to each node and not answered yet.
  std::unordered_map<node_id, std::size_t> sent_;
  // Tasks waiting for room in a window, oldest first.
  std::deque<remote_task> waiting_;
  // Why work this process cannot run itself will never run (empty while it can):
  // a driver the head declared dead is cut off from its cluster.
  std::string cut_off_;
  // Threads rebuilding a task's lost arguments before sending it (rebuilding
  // blocks); stop waits for them.
  one_shot_threads rebuilders_;
};

} // namespace actors::runtime
