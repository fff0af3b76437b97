#pragma once

/// The parts of a dataset plan that cross nodes: row steps, what a block task is
/// asked to do, and what it reports back. Typed code (the templates in
/// actors/dataset.hpp) registers one `step_impl` per operator and type; the executor
/// and the node-side tasks (dataset/src) only move names and blocks.

#include "actors/data/block.hpp"

#include <actors/object_ref.hpp>

#include <boost/serialization/vector.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace actors::data::detail {

enum class step_kind : std::uint8_t { map, filter, flat_map, map_batches };

/// A user function an operator applies: by its ACTORS_REMOTE name (runs on any
/// node), or by its number in this process's table of local callables (lambdas and
/// unregistered functions: this process only).
struct callable_ref {
  std::string function;
  std::uint64_t closure = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & function & closure;
  }
};

/// One row operator of a fused stage.
struct step {
  step_kind kind = step_kind::map;
  /// Key of the step_impl that runs it: operator, callable type, input type.
  std::string impl;
  callable_ref fn;
  std::size_t batch_size = 0;
  /// What stats() calls it: "map(square)".
  std::string label;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & kind & impl & fn & batch_size & label;
  }
};

/// The typed code behind a step.
struct step_impl {
  std::string key;
  /// Mangled type of the callable, checked against a registered function's.
  std::string signature;
  std::shared_ptr<const void> (*apply)(const void* callable, const void* block, std::size_t batch_size);
  const block_ops* out;
};

const step_impl* find_step_impl(const std::string& key);
const step_impl* add_step_impl(const step_impl* impl);

/// The local callables table: lambdas and unregistered functions, by number. A
/// closure stays in the table while a dataset that uses it lives.
class closure {
 public:
  explicit closure(std::shared_ptr<const void> callable);
  ~closure();
  closure(const closure&) = delete;
  closure& operator=(const closure&) = delete;
  std::uint64_t id() const noexcept {
    return id_;
  }

 private:
  std::uint64_t id_;
};

/// The callable a step names, ready for its impl's `apply` (held while it runs).
/// Throws not_registered_error saying what to do when this node cannot run it.
std::shared_ptr<const void> resolve_callable(const step& s, const step_impl& impl);

/// True when the cluster has nodes besides this process, where only registered
/// functions can run.
bool cluster_has_other_nodes();

/// Aggregations of group_by: partial per block, then combined per key.
struct agg_impl {
  std::string key;
  /// A block's partial aggregation: `start` makes its state, `add` takes keys
  /// and values (a block each, of one slice of rows; values null for count),
  /// and `finish` gives `parts` partial blocks of (key, accumulator), cut by
  /// the key's hash.
  std::shared_ptr<void> (*start)();
  void (*add)(void* state, const void* keys, const void* values);
  std::vector<std::shared_ptr<const void>> (*finish)(void* state, std::size_t parts);
  const block_ops* partial_ops;
  /// Partial blocks -> one block of (key, result), sorted by key.
  std::shared_ptr<const void> (*combine)(const std::vector<const void*>& partials);
  const block_ops* out_ops;
};

const agg_impl* find_agg_impl(const std::string& key);
const agg_impl* add_agg_impl(const agg_impl* impl);

/// Where a source block's rows come from; they are made inside the task.
struct source_spec {
  enum kind_t : std::uint8_t { none, range, text_file, csv_file } kind = none;
  std::int64_t lo = 0;
  std::int64_t hi = 0;
  std::string path;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & kind & lo & hi & path;
  }
};

/// What a block task does with its block after the steps.
enum class finish_kind : std::uint8_t {
  store,        // keep the block on this node
  count,        // report the number of rows
  sum,          // report the sum of the rows
  write,        // write the rows to `path` as text or CSV
  sample,       // report `sample_size` keys picked at random
  split_range,  // cut by key into ranges at `boundaries`
  split_random, // cut into `parts` at random
  split_even,   // cut at the row offsets `cuts`
  group,        // aggregate by key and cut by the key's hash
};

struct stage_request {
  std::vector<step> steps;
  finish_kind finish = finish_kind::store;
  /// The operator this stage ends in, for stats().
  std::string label;
  /// sort / sample / group: the step that computes each row's key.
  std::vector<step> key;
  /// group: the step that computes each row's value (empty for count).
  std::vector<step> value;
  std::string agg;
  any_block boundaries;
  bool descending = false;
  std::size_t parts = 0;
  std::uint64_t seed = 0;
  std::size_t sample_size = 0;
  std::vector<std::uint64_t> cuts;
  std::string path;
  bool csv = false;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & steps & finish & label & key & value & agg & boundaries & descending & parts & seed
      & sample_size & cuts & path & csv;
  }
};

/// How the pieces of one output block of an all-to-all operator are joined.
enum class merge_kind : std::uint8_t { concat, shuffle, sort, combine };

struct merge_request {
  merge_kind kind = merge_kind::concat;
  std::string label;
  /// Element type of the pieces (concat, shuffle, sort).
  std::string type;
  std::vector<step> key;
  bool descending = false;
  std::uint64_t seed = 0;
  std::string agg;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & kind & label & type & key & descending & seed & agg;
  }
};

/// What one step or operator did in one task.
struct op_stat {
  std::string op;
  std::uint64_t rows = 0;
  std::uint64_t nanos = 0;
  std::string node;
  /// Bytes of the block(s) it stored, if any.
  std::uint64_t bytes = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & op & rows & nanos & node & bytes;
  }
};

/// A stored block as the driver knows it: where it is and its size.
struct block_ref {
  object_ref<any_block> ref;
  std::uint64_t rows = 0;
  std::uint64_t bytes = 0;
  /// The node whose task stored it, which holds it; empty for a block the
  /// program put itself.
  node_id node;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & ref & rows & bytes & node;
  }
};

/// What a block task reports: the stored block(s) or a small result, and stats.
struct task_report {
  std::vector<block_ref> blocks;
  any_block value;
  std::uint64_t rows = 0;
  std::vector<op_stat> stats;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & blocks & value & rows & stats;
  }
};

} // namespace actors::data::detail
