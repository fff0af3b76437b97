#pragma once

/// The untyped executor behind dataset<T>: plans, and the operations that run them
/// over the cluster. Implemented in dataset/src on libactors' public API.

#include "actors/data/plan.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace actors::data {

/// What one operator of a dataset did, summed over its tasks.
struct operator_stats {
  std::string name;
  std::size_t tasks = 0;
  std::uint64_t rows = 0;
  /// Bytes of the blocks it stored (0 for operators fused into a later one).
  std::uint64_t bytes = 0;
  /// Time spent in its tasks, summed over them.
  double seconds = 0;
  /// The nodes its tasks ran on.
  std::set<std::string> nodes;
};

/// What running a dataset did: one entry per operator, in the order they first
/// ran. `to_string` gives a table.
struct dataset_stats {
  std::vector<operator_stats> operators;
  std::string to_string() const;
};

namespace detail {

/// One block of a plan whose steps have not run yet: its rows (made by a source in
/// the task, or a stored block) and the row steps to apply.
struct pending_block {
  source_spec source;
  block_ref stored;
  std::vector<step> steps;
  /// The report of the task that stored the block. The node holds a report that
  /// names objects until this process drops it, which keeps the block there even
  /// before this process's borrow of it has reached that node.
  object_ref<task_report> origin;
};

class stats_log;

/// What an all-to-all operator made, kept for the consumers of its plan; dropped
/// when a block of it was lost, so that the next run recomputes it.
class memo {
 public:
  virtual ~memo() = default;
  virtual void reset() = 0;
};

/// A lazy plan: where its blocks come from and the row steps still to fuse onto
/// them. Immutable once built; shared by the datasets derived from it.
struct plan {
  /// The blocks before `tail`; may run upstream all-to-all operators (once).
  std::function<std::vector<pending_block>()> produce;
  std::vector<step> tail;
  const block_ops* ops = nullptr;
  /// Callables of this plan and its inputs, kept alive with it.
  std::vector<std::shared_ptr<const closure>> closures;
  /// What this plan's own runs reported: the tasks that run its steps.
  std::shared_ptr<stats_log> stats;
  /// The logs of the plans made once (materialized, shuffled, sorted, grouped …)
  /// that this plan reads: their work is part of this plan's, and stats() shows it.
  /// Plans that only read the same input as this one are not here.
  std::vector<std::shared_ptr<stats_log>> lineage_stats;
  /// Made once (produce_once) and kept: plans derived from it read its log too.
  bool produced_once = false;
  /// The memos of this plan and of the plans it reads: its lineage, reset to
  /// recompute lost blocks.
  std::vector<std::shared_ptr<memo>> memos;
};

using plan_ptr = std::shared_ptr<const plan>;

plan_ptr source_plan(std::vector<pending_block> blocks, const block_ops* ops);
plan_ptr add_step(const plan_ptr& in, step s, const block_ops* out, std::shared_ptr<const closure> c);
plan_ptr union_plans(const plan_ptr& a, const plan_ptr& b);
plan_ptr limit_plan(const plan_ptr& in, std::uint64_t n);
plan_ptr repartition_plan(const plan_ptr& in, std::size_t blocks);
plan_ptr shuffle_plan(const plan_ptr& in, std::uint64_t seed);
plan_ptr sort_plan(const plan_ptr& in, step key, std::shared_ptr<const closure> c, bool descending);
/// `label` names the operator in stats(), e.g. "group_by(word).count".
plan_ptr group_plan(const plan_ptr& in, step key, std::vector<step> value, std::string agg,
                    const block_ops* out, std::vector<std::shared_ptr<const closure>> cs, std::string label);

std::vector<pending_block> pending_blocks(const plan& p);
std::uint64_t count_rows(const plan& p);
/// The sum of all rows, as a block of one row (empty for no rows).
any_block sum_rows(const plan& p);
std::uint64_t write_rows(const plan& p, const std::string& dir, bool csv);
/// A plan that runs `in` once and keeps its blocks on the nodes (and runs it again
/// if one is lost).
plan_ptr materialize_plan(const plan_ptr& in);
dataset_stats stats_of(const plan& p);

/// Yields the plan's blocks in order, running at most a window of block tasks ahead
/// of the consumer, so memory stays bounded whatever the dataset's size.
class block_stream {
 public:
  explicit block_stream(plan_ptr p);
  ~block_stream();
  block_stream(block_stream&&) noexcept;
  block_stream& operator=(block_stream&&) noexcept;
  /// The next block, or nothing at the end.
  std::optional<any_block> next();

 private:
  std::optional<any_block> next_block();
  struct state;
  std::unique_ptr<state> s_;
};

/// How many block tasks streaming consumers keep in flight: 2 per CPU of the
/// cluster (2 to 256), so that few blocks wait in memory to be read.
std::size_t stream_window();

/// How many block tasks the phases of an exchange (its cuts and merges) and a
/// sort's sampling keep in flight: 8 per CPU of the cluster (16 to 1,024). What
/// each reports is small, a cut runs where its block is and a merge reads its
/// pieces when it runs, so tasks beyond the CPUs only queue on their nodes;
/// they keep the nodes busy while the driver, which may share their
/// processors, is slow to send the next. Those phases also keep the bytes their
/// tasks read within flight_bytes().
std::size_t stage_window();

/// What the tasks of an exchange phase in flight may read together: half the
/// object stores of the live nodes that offer CPUs (0 when none says). A task
/// that blocks to fetch lets its node start the next one, so the tasks queued on
/// a node may all be running, each holding what it read and what it makes.
std::uint64_t flight_bytes();

} // namespace detail
} // namespace actors::data
