// Runs dataset plans: submits one task per block (a window of them at a time for
// consumers that stream), and for all-to-all operators a split task per input block
// and a merge task per output block, the pieces travelling between the nodes.

#include "dataset/src/progress.hpp"
#include "dataset/src/tasks.hpp"

#include <actors/actors.hpp>

#include <cstdio>
#include <deque>
#include <filesystem>
#include <glob.h>
#include <map>
#include <mutex>
#include <sstream>
#include <sys/stat.h>

namespace actors::data {

std::string dataset_stats::to_string() const {
  std::ostringstream os;
  char line[256];
  std::snprintf(line, sizeof line, "%-32s %7s %12s %12s %10s %6s\n", "operator", "tasks", "rows", "bytes",
                "task_s", "nodes");
  os << line;
  for (const auto& o : operators) {
    std::snprintf(line, sizeof line, "%-32s %7zu %12llu %12llu %10.3f %6zu\n", o.name.c_str(), o.tasks,
                  static_cast<unsigned long long>(o.rows), static_cast<unsigned long long>(o.bytes), o.seconds,
                  o.nodes.size());
    os << line;
  }
  return os.str();
}

namespace detail {

/// What the tasks of one plan's runs reported.
class stats_log {
 public:
  void add(const std::vector<op_stat>& stats) {
    std::lock_guard<std::mutex> guard{mu_};
    for (const auto& s : stats) {
      auto it = index_.find(s.op);
      if (it == index_.end()) {
        it = index_.emplace(s.op, ops_.size()).first;
        ops_.push_back(operator_stats{s.op, 0, 0, 0, 0, {}});
      }
      auto& o = ops_[it->second];
      ++o.tasks;
      o.rows += s.rows;
      o.bytes += s.bytes;
      o.seconds += static_cast<double>(s.nanos) / 1e9;
      o.nodes.insert(s.node);
    }
  }

  void collect(dataset_stats& out, std::set<const stats_log*>& seen) const {
    if (!seen.insert(this).second)
      return;
    std::lock_guard<std::mutex> guard{mu_};
    for (const auto& o : ops_) {
      auto it = std::find_if(out.operators.begin(), out.operators.end(),
                             [&](const operator_stats& x) { return x.name == o.name; });
      if (it == out.operators.end()) {
        out.operators.push_back(o);
      } else {
        it->tasks += o.tasks;
        it->rows += o.rows;
        it->bytes += o.bytes;
        it->seconds += o.seconds;
        it->nodes.insert(o.nodes.begin(), o.nodes.end());
      }
    }
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::size_t> index_;
  std::vector<operator_stats> ops_;
};

namespace {

/// Runs `produce` once and keeps what it made for the plans derived from `p`. A
/// failed run is not kept: the next consumer runs it again.
void produce_once(plan& p, std::function<std::vector<pending_block>()> produce) {
  struct kept : memo {
    std::mutex mu;
    std::optional<std::vector<pending_block>> blocks;
    std::function<std::vector<pending_block>()> produce;
    void reset() override {
      std::lock_guard<std::mutex> guard{mu};
      blocks.reset();
    }
  };
  auto m = std::make_shared<kept>();
  m->produce = std::move(produce);
  p.memos.push_back(m);
  p.produce = [m] {
    std::lock_guard<std::mutex> guard{m->mu};
    if (!m->blocks)
      m->blocks = m->produce();
    return *m->blocks;
  };
}

/// Whether a failure means a stored block is gone: read here, or in a dataset
/// task on a node (which marks it, see tasks.cpp).
bool lost_block(const std::exception& e) {
  if (dynamic_cast<const object_lost_error*>(&e))
    return true;
  if (auto* t = dynamic_cast<const task_error*>(&e))
    return t->original_message().rfind(lost_marker, 0) == 0;
  return false;
}

/// Runs `f`; when a block it needs was lost with its node, drops what the plan's
/// lineage kept and runs it again, which recomputes the block from its sources.
template <class F>
auto recovering(const plan& p, const char* what, F f) {
  for (int attempt = 1;; ++attempt) {
    try {
      return f();
    } catch (const std::exception& e) {
      if (attempt > max_recomputes || !lost_block(e))
        throw;
      std::fprintf(stderr, "actors [dataset] %s: a block was lost (%s); recomputing it from the plan\n", what,
                   e.what());
      for (const auto& m : p.memos)
        m->reset();
    }
  }
}

/// The logs a plan derived from `in` shows in its stats(): those `in` shows
/// from plans made once, and `in`'s own if `in` is made once too. The runs of a
/// plan that is not kept are not the derived plan's work: it runs `in`'s steps
/// again in its own tasks, which report to its own log.
std::vector<std::shared_ptr<stats_log>> passed_on(const plan& in) {
  auto logs = in.lineage_stats;
  if (in.produced_once)
    logs.push_back(in.stats);
  return logs;
}

/// A plan made once from `in` (an all-to-all operator): its own log, the lineage
/// of `in`'s.
std::shared_ptr<plan> derive(const plan_ptr& in) {
  auto p = std::make_shared<plan>();
  p->ops = in->ops;
  p->closures = in->closures;
  p->memos = in->memos;
  p->stats = std::make_shared<stats_log>();
  p->lineage_stats = passed_on(*in);
  p->produced_once = true;
  return p;
}

bool runs_nothing(const pending_block& b, finish_kind f) {
  return b.stored.ref && b.steps.empty() && f == finish_kind::store;
}

/// Submits the task for one block; sources spread over the nodes, stored blocks run
/// where they are.
object_ref<task_report> submit(const pending_block& b, stage_request req) {
  req.steps = b.steps;
  if (b.stored.ref) {
    auto t = task(&run_on_block).name("dataset " + req.label);
    // It reads the block where it lies. (The runtime places a task near the
    // large values it takes where it knows their holder: not for an object a
    // task put on another node, which a block is.)
    if (b.stored.node.value)
      t.node(b.stored.node, true);
    return t.remote(b.stored.ref, req);
  }
  return task(&run_on_source).strategy(spread).name("dataset " + req.label).remote(b.source, req);
}

using report_handler = std::function<void(std::size_t, task_report&, const object_ref<task_report>&)>;

/// What a progress line calls a stage: the steps its blocks run, then what it
/// finishes with ("map(parse)->filter(valid)->count").
std::string stage_name(const std::vector<pending_block>& blocks, const std::string& finish) {
  std::string name;
  if (!blocks.empty())
    for (const auto& s : blocks.front().steps)
      name += s.label + "->";
  return name + finish;
}

/// The rows a stage's task made: its last operator's.
std::uint64_t rows_made(const task_report& rep) {
  return rep.stats.empty() ? rep.rows : rep.stats.back().rows;
}

/// The bytes of the blocks a task reports.
std::uint64_t bytes_made(const task_report& rep) {
  std::uint64_t bytes = 0;
  for (const auto& b : rep.blocks)
    bytes += b.bytes;
  return bytes;
}

/// Runs `n` tasks made by `start(i)` with at most `window` in flight, handing each
/// report to `done` in order, and shows the stage `what` as a progress line. The
/// window bounds what the nodes hold at once: a queued task already holds its
/// input block. With `reads(i)`, the bytes task `i` reads (0: not known, then
/// the average its predecessors made stands in), the tasks in flight also read
/// no more than flight_bytes() together, beyond the first.
void run_window(std::size_t n, std::size_t window, const std::string& what,
                const std::function<object_ref<task_report>(std::size_t)>& start, stats_log& log,
                const report_handler& done, const std::function<std::uint64_t(std::size_t)>& reads = {}) {
  progress_line progress(what, n);
  struct in_flight {
    std::size_t i;
    object_ref<task_report> ref;
    std::uint64_t bytes;
  };
  std::deque<in_flight> flight;
  const std::uint64_t budget = reads ? flight_bytes() : 0;
  std::uint64_t held = 0;
  std::uint64_t made = 0;
  std::size_t reported = 0;
  std::size_t next = 0;
  while (next < n || !flight.empty()) {
    while (next < n && flight.size() < std::max<std::size_t>(window, 1)) {
      std::uint64_t bytes = 0;
      if (budget > 0) {
        bytes = reads(next);
        if (bytes == 0 && reported > 0)
          bytes = made / reported;
        if (!flight.empty() && held + bytes > budget)
          break;
      }
      flight.push_back({next, start(next), bytes});
      held += bytes;
      ++next;
    }
    auto f = std::move(flight.front());
    flight.pop_front();
    held -= f.bytes;
    auto rep = get(f.ref);
    made += bytes_made(rep);
    ++reported;
    log.add(rep.stats);
    progress.block_done(rows_made(rep));
    done(f.i, rep, f.ref);
  }
}

/// Runs every block's task, a window at a time, handing each report to `done` in
/// block order.
void run_blocks(const std::vector<pending_block>& blocks, const stage_request& req, stats_log& log,
                std::size_t window, const report_handler& done) {
  run_window(
    blocks.size(), window, stage_name(blocks, req.label), [&](std::size_t i) { return submit(blocks[i], req); }, log,
    done);
}

/// Every block stored, in order, with its row count.
std::vector<pending_block> store_all(const std::vector<pending_block>& blocks, stats_log& log,
                                     const std::string& label) {
  std::vector<pending_block> out(blocks.size());
  std::vector<pending_block> todo;
  std::vector<std::size_t> where;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (runs_nothing(blocks[i], finish_kind::store)) {
      out[i] = blocks[i];
    } else {
      todo.push_back(blocks[i]);
      where.push_back(i);
    }
  }
  stage_request req;
  req.label = label;
  run_blocks(todo, req, log, stream_window(), [&](std::size_t i, task_report& rep, const object_ref<task_report>& ref) {
    out[where[i]] = pending_block{{}, std::move(rep.blocks.front()), {}, ref};
  });
  return out;
}

/// Joins the pieces of each output block in a merge task per output, spread over
/// the nodes; pieces[j] are the pieces of output j.
std::vector<pending_block> merge_all(const std::vector<std::vector<block_ref>>& pieces, merge_request req,
                                     stats_log& log) {
  std::vector<pending_block> out(pieces.size());
  run_window(
    pieces.size(), stage_window(), req.label + ".merge",
    [&](std::size_t j) {
      std::vector<object_ref<any_block>> refs;
      for (const auto& p : pieces[j])
        if (p.ref)
          refs.push_back(p.ref);
      auto r = req;
      r.seed = req.seed * 0x9e3779b97f4a7c15ULL + j;
      return task(&merge_pieces).strategy(spread).name("dataset " + req.label).remote(refs, r);
    },
    log,
    [&](std::size_t j, task_report& rep, const object_ref<task_report>& ref) {
      out[j] = pending_block{{}, std::move(rep.blocks.front()), {}, ref};
    },
    [&](std::size_t j) {
      std::uint64_t bytes = 0;
      for (const auto& p : pieces[j])
        bytes += p.bytes;
      return bytes;
    });
  return out;
}

/// An all-to-all exchange: each input block is cut into `k` pieces by the request
/// `split(i)` (on its node), then each output block is joined from its pieces by
/// `merge` (on a node of its own). The inputs are let go once they are cut.
std::vector<pending_block> exchange(std::vector<pending_block> blocks, std::size_t k,
                                    const std::function<stage_request(std::size_t)>& split,
                                    const merge_request& merge, stats_log& log) {
  std::vector<std::vector<block_ref>> pieces(k);
  std::vector<object_ref<task_report>> keep; // the reports naming the pieces
  run_window(
    blocks.size(), stage_window(), stage_name(blocks, blocks.empty() ? std::string() : split(0).label),
    [&](std::size_t i) { return submit(blocks[i], split(i)); }, log,
    [&](std::size_t, task_report& rep, const object_ref<task_report>& ref) {
      for (std::size_t j = 0; j < rep.blocks.size() && j < k; ++j)
        pieces[j].push_back(std::move(rep.blocks[j]));
      keep.push_back(ref);
    },
    [&](std::size_t i) { return blocks[i].stored.bytes; });
  blocks.clear();
  return merge_all(pieces, merge, log);
}

std::string file_name(const std::string& dir, std::size_t i, bool csv) {
  char name[32];
  std::snprintf(name, sizeof name, "part-%05zu.%s", i, csv ? "csv" : "txt");
  return dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
}

} // namespace

namespace {

/// The CPUs of the live nodes.
double cluster_cpus() {
  double cpus = 0;
  for (const auto& n : nodes())
    if (n.alive) {
      auto it = n.resources_total.find("CPU");
      if (it != n.resources_total.end())
        cpus += it->second;
    }
  return cpus;
}

} // namespace

std::size_t stream_window() {
  auto w = static_cast<std::size_t>(2 * cluster_cpus());
  return std::clamp<std::size_t>(w, 2, 256);
}

std::size_t stage_window() {
  auto w = static_cast<std::size_t>(8 * cluster_cpus());
  return std::clamp<std::size_t>(w, 16, 1024);
}

std::uint64_t flight_bytes() {
  std::uint64_t stores = 0;
  for (const auto& n : nodes()) {
    auto cpu = n.resources_total.find("CPU");
    if (n.alive && cpu != n.resources_total.end() && cpu->second > 0)
      stores += n.object_store_bytes;
  }
  return stores / 2;
}

plan_ptr source_plan(std::vector<pending_block> blocks, const block_ops* ops) {
  auto p = std::make_shared<plan>();
  p->produce = [blocks = std::move(blocks)] { return blocks; };
  p->ops = ops;
  p->stats = std::make_shared<stats_log>();
  return p;
}

plan_ptr add_step(const plan_ptr& in, step s, const block_ops* out, std::shared_ptr<const closure> c) {
  auto p = std::make_shared<plan>(*in);
  p->stats = std::make_shared<stats_log>();
  p->lineage_stats = passed_on(*in);
  p->produced_once = false;
  p->tail.push_back(std::move(s));
  p->ops = out;
  if (c)
    p->closures.push_back(std::move(c));
  return p;
}

std::vector<pending_block> pending_blocks(const plan& p) {
  auto blocks = p.produce();
  if (!p.tail.empty())
    for (auto& b : blocks)
      b.steps.insert(b.steps.end(), p.tail.begin(), p.tail.end());
  return blocks;
}

plan_ptr union_plans(const plan_ptr& a, const plan_ptr& b) {
  if (a->ops != b->ops)
    throw error(errc::type_mismatch, "union_with: the datasets hold different row types");
  auto p = std::make_shared<plan>();
  p->ops = a->ops;
  p->closures = a->closures;
  p->closures.insert(p->closures.end(), b->closures.begin(), b->closures.end());
  p->memos = a->memos;
  p->memos.insert(p->memos.end(), b->memos.begin(), b->memos.end());
  p->stats = std::make_shared<stats_log>();
  p->lineage_stats = passed_on(*a);
  for (auto& log : passed_on(*b))
    p->lineage_stats.push_back(std::move(log));
  p->produce = [a, b] {
    auto out = pending_blocks(*a);
    auto more = pending_blocks(*b);
    out.insert(out.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    return out;
  };
  return p;
}

plan_ptr limit_plan(const plan_ptr& in, std::uint64_t n) {
  auto p = derive(in);
  auto* log = p->stats.get();
  produce_once(*p, [in, n, log] {
    auto blocks = pending_blocks(*in);
    std::vector<pending_block> out;
    std::uint64_t have = 0;
    std::size_t window = stream_window();
    std::deque<std::pair<std::size_t, object_ref<task_report>>> flight;
    std::size_t next = 0;
    stage_request req;
    req.label = "limit";
    while (have < n && (next < blocks.size() || !flight.empty())) {
      while (next < blocks.size() && flight.size() < window) {
        if (runs_nothing(blocks[next], finish_kind::store))
          flight.emplace_back(next, object_ref<task_report>{});
        else
          flight.emplace_back(next, submit(blocks[next], req));
        ++next;
      }
      auto [i, ref] = std::move(flight.front());
      flight.pop_front();
      block_ref b;
      object_ref<task_report> origin = blocks[i].origin;
      if (ref) {
        auto rep = get(ref);
        log->add(rep.stats);
        b = std::move(rep.blocks.front());
        origin = ref;
      } else {
        b = blocks[i].stored;
      }
      if (have + b.rows > n) {
        stage_request cut;
        cut.finish = finish_kind::split_even;
        cut.label = "limit";
        cut.cuts = {0, n - have};
        origin = task(&run_on_block).name("dataset limit").remote(b.ref, cut);
        auto rep = get(origin);
        log->add(rep.stats);
        b = std::move(rep.blocks.front());
      }
      have += b.rows;
      if (b.rows)
        out.push_back(pending_block{{}, std::move(b), {}, std::move(origin)});
    }
    return out;
  });
  return p;
}

plan_ptr repartition_plan(const plan_ptr& in, std::size_t k) {
  if (k == 0)
    throw error(errc::invalid_argument, "repartition: the number of blocks must be at least 1");
  auto p = derive(in);
  auto* log = p->stats.get();
  auto type = in->ops->type;
  produce_once(*p, [in, k, log, type] {
    auto stored = store_all(pending_blocks(*in), *log, "repartition.read");
    std::uint64_t total = 0;
    for (const auto& b : stored)
      total += b.stored.rows;
    std::vector<std::vector<block_ref>> pieces(k);
    std::vector<object_ref<task_report>> origin(k); // of an output that is one piece
    std::vector<object_ref<task_report>> splits;
    // Where each split's pieces go: (output, place in that output's pieces),
    // held for them now so that each output's pieces stay in input order.
    std::vector<std::vector<std::pair<std::size_t, std::size_t>>> split_slots;
    std::uint64_t start = 0;
    for (const auto& sb : stored) {
      const block_ref& b = sb.stored;
      std::uint64_t end = start + b.rows;
      // Outputs j cover [total*j/k, total*(j+1)/k); find those this block meets.
      std::vector<std::uint64_t> cuts{0};
      std::vector<std::size_t> outputs;
      for (std::size_t j = 0; j < k && b.rows; ++j) {
        std::uint64_t lo = total * j / k, hi = total * (j + 1) / k;
        if (hi <= start || lo >= end || lo == hi)
          continue;
        outputs.push_back(j);
        cuts.push_back(std::min(hi, end) - start);
      }
      if (outputs.size() == 1) {
        pieces[outputs.front()].push_back(b);
        origin[outputs.front()] = sb.origin;
      } else if (outputs.size() > 1) {
        stage_request cut;
        cut.finish = finish_kind::split_even;
        cut.label = "repartition.split";
        cut.cuts = std::move(cuts);
        splits.push_back(task(&run_on_block).name("dataset repartition").remote(b.ref, cut));
        auto& slots = split_slots.emplace_back();
        for (std::size_t j : outputs) {
          slots.emplace_back(j, pieces[j].size());
          pieces[j].emplace_back();
        }
      }
      start = end;
    }
    for (std::size_t s = 0; s < splits.size(); ++s) {
      auto rep = get(splits[s]);
      log->add(rep.stats);
      if (rep.blocks.size() != split_slots[s].size())
        throw error(errc::task_failed, "repartition: a block was cut into " + std::to_string(rep.blocks.size())
                                         + " pieces instead of " + std::to_string(split_slots[s].size()));
      for (std::size_t i = 0; i < rep.blocks.size(); ++i) {
        auto [j, at] = split_slots[s][i];
        pieces[j][at] = std::move(rep.blocks[i]);
        origin[j] = splits[s];
      }
    }
    // Pieces are in input order within each output, so concatenation keeps order.
    std::vector<pending_block> out(k);
    std::vector<std::vector<block_ref>> to_merge;
    std::vector<std::size_t> merged_into;
    for (std::size_t j = 0; j < k; ++j) {
      if (pieces[j].size() == 1) {
        out[j] = pending_block{{}, pieces[j].front(), {}, origin[j]};
      } else {
        to_merge.push_back(pieces[j]);
        merged_into.push_back(j);
      }
    }
    merge_request req;
    req.kind = merge_kind::concat;
    req.label = "repartition";
    req.type = type;
    auto merged = merge_all(to_merge, req, *log);
    for (std::size_t i = 0; i < merged.size(); ++i)
      out[merged_into[i]] = std::move(merged[i]);
    return out;
  });
  return p;
}

plan_ptr shuffle_plan(const plan_ptr& in, std::uint64_t seed) {
  auto p = derive(in);
  auto* log = p->stats.get();
  auto type = in->ops->type;
  produce_once(*p, [in, seed, log, type] {
    auto blocks = pending_blocks(*in);
    std::size_t k = std::max<std::size_t>(blocks.size(), 1);
    merge_request merge;
    merge.kind = merge_kind::shuffle;
    merge.label = "random_shuffle";
    merge.type = type;
    merge.seed = seed;
    return exchange(
      std::move(blocks), k,
      [&](std::size_t i) {
        stage_request req;
        req.finish = finish_kind::split_random;
        req.label = "random_shuffle.split";
        req.parts = k;
        req.seed = seed * 0x9e3779b97f4a7c15ULL + i + 1;
        return req;
      },
      merge, *log);
  });
  return p;
}

plan_ptr sort_plan(const plan_ptr& in, step key, std::shared_ptr<const closure> c, bool descending) {
  auto p = derive(in);
  if (c)
    p->closures.push_back(std::move(c));
  auto* log = p->stats.get();
  auto type = in->ops->type;
  produce_once(*p, [in, key, descending, log, type] {
    auto stored = store_all(pending_blocks(*in), *log, "sort.read");
    std::size_t k = std::max<std::size_t>(stored.size(), 1);
    std::uint64_t total = 0;
    for (const auto& b : stored)
      total += b.stored.rows;
    if (total == 0)
      return stored;
    // 1. A sample of keys from every block picks the k-1 range boundaries.
    std::vector<any_block> keys;
    run_window(
      stored.size(), stage_window(), "sort.sample",
      [&](std::size_t i) {
        stage_request req;
        req.finish = finish_kind::sample;
        req.label = "sort.sample";
        req.key = {key};
        req.sample_size = 64 + 32 * k;
        req.seed = 0x5eed + i;
        return submit(stored[i], req);
      },
      *log,
      [&](std::size_t, task_report& rep, const object_ref<task_report>&) {
        if (rep.value.ops)
          keys.push_back(std::move(rep.value));
      },
      [&](std::size_t i) { return stored[i].stored.bytes; });
    const block_ops* kops = keys.front().ops;
    std::vector<const void*> raw;
    for (const auto& b : keys)
      raw.push_back(b.rows.get());
    any_block all{kops->concat(raw), kops};
    auto order = kops->argsort(all.rows.get(), descending);
    std::vector<std::uint32_t> picks;
    for (std::size_t j = 1; j < k; ++j)
      picks.push_back(order[order.size() * j / k]);
    any_block boundaries{kops->gather(all.rows.get(), picks), kops};
    // 2. Each block cuts itself at the boundaries; 3. each range is merged and sorted.
    merge_request merge;
    merge.kind = merge_kind::sort;
    merge.label = "sort";
    merge.type = type;
    merge.key = {key};
    merge.descending = descending;
    return exchange(
      std::move(stored), k,
      [&](std::size_t) {
        stage_request req;
        req.finish = finish_kind::split_range;
        req.label = "sort.split";
        req.key = {key};
        req.boundaries = boundaries;
        req.descending = descending;
        req.parts = k;
        return req;
      },
      merge, *log);
  });
  return p;
}

plan_ptr group_plan(const plan_ptr& in, step key, std::vector<step> value, std::string agg, const block_ops* out,
                    std::vector<std::shared_ptr<const closure>> cs, std::string label) {
  auto p = derive(in);
  p->ops = out;
  for (auto& c : cs)
    if (c)
      p->closures.push_back(std::move(c));
  auto* log = p->stats.get();
  auto type = out->type;
  produce_once(*p, [in, key, value, agg, log, type, label] {
    auto blocks = pending_blocks(*in);
    std::size_t k = std::max<std::size_t>(blocks.size(), 1);
    merge_request merge;
    merge.kind = merge_kind::combine;
    merge.label = label;
    merge.type = type;
    merge.agg = agg;
    return exchange(
      std::move(blocks), k,
      [&](std::size_t) {
        stage_request req;
        req.finish = finish_kind::group;
        req.label = label + ".partial";
        req.key = {key};
        req.value = value;
        req.agg = agg;
        req.parts = k;
        return req;
      },
      merge, *log);
  });
  return p;
}

std::uint64_t count_once(const plan& p);
any_block sum_once(const plan& p);
std::uint64_t write_once(const plan& p, const std::string& dir, bool csv);

std::uint64_t count_rows(const plan& p) {
  return recovering(p, "count", [&] { return count_once(p); });
}

std::uint64_t count_once(const plan& p) {
  auto blocks = pending_blocks(p);
  std::uint64_t n = 0;
  std::vector<pending_block> todo;
  for (auto& b : blocks) {
    if (b.stored.ref && b.steps.empty())
      n += b.stored.rows;
    else
      todo.push_back(std::move(b));
  }
  stage_request req;
  req.finish = finish_kind::count;
  req.label = "count";
  run_blocks(todo, req, *p.stats, stream_window(),
             [&](std::size_t, task_report& rep, const object_ref<task_report>&) { n += rep.rows; });
  return n;
}

any_block sum_rows(const plan& p) {
  return recovering(p, "sum", [&] { return sum_once(p); });
}

any_block sum_once(const plan& p) {
  if (!p.ops->sum)
    throw error(errc::invalid_argument, "sum: rows of type " + actors::detail::demangle(p.ops->type.c_str())
                                          + " are not numbers");
  stage_request req;
  req.finish = finish_kind::sum;
  req.label = "sum";
  std::vector<any_block> partial;
  run_blocks(pending_blocks(p), req, *p.stats, stream_window(),
             [&](std::size_t, task_report& rep, const object_ref<task_report>&) {
    if (rep.value.ops)
      partial.push_back(std::move(rep.value));
  });
  if (partial.empty())
    return any_block{p.ops->concat({}), p.ops};
  std::vector<const void*> raw;
  for (const auto& b : partial)
    raw.push_back(b.rows.get());
  any_block all{p.ops->concat(raw), p.ops};
  return any_block{p.ops->sum(all.rows.get()), p.ops};
}

std::uint64_t write_rows(const plan& p, const std::string& dir, bool csv) {
  return recovering(p, csv ? "write_csv" : "write_text", [&] { return write_once(p, dir, csv); });
}

std::uint64_t write_once(const plan& p, const std::string& dir, bool csv) {
  if (!p.ops->write_text)
    throw error(errc::invalid_argument, std::string(csv ? "write_csv" : "write_text") + ": rows of type "
                                          + actors::detail::demangle(p.ops->type.c_str())
                                          + " have no text form; map them to std::string or actors::data::row first");
  auto blocks = pending_blocks(p);
  std::uint64_t n = 0;
  std::size_t window = stream_window();
  std::deque<object_ref<task_report>> inflight;
  progress_line progress(stage_name(blocks, csv ? "write_csv" : "write_text"), blocks.size());
  for (std::size_t i = 0; i <= blocks.size(); ++i) {
    while (!inflight.empty() && (inflight.size() >= window || i == blocks.size())) {
      auto rep = get(inflight.front());
      inflight.pop_front();
      p.stats->add(rep.stats);
      progress.block_done(rep.rows);
      n += rep.rows;
    }
    if (i == blocks.size())
      break;
    stage_request req;
    req.finish = finish_kind::write;
    req.label = csv ? "write_csv" : "write_text";
    req.csv = csv;
    req.path = file_name(dir, i, csv);
    inflight.push_back(submit(blocks[i], req));
  }
  return n;
}

plan_ptr materialize_plan(const plan_ptr& in) {
  auto p = std::make_shared<plan>(*in);
  p->tail.clear();
  p->stats = std::make_shared<stats_log>();
  p->lineage_stats = passed_on(*in);
  p->produced_once = true;
  auto* log = p->stats.get();
  produce_once(*p, [in, log] { return store_all(pending_blocks(*in), *log, "materialize"); });
  recovering(*p, "materialize", [&] { return p->produce(); });
  return p;
}

dataset_stats stats_of(const plan& p) {
  dataset_stats out;
  std::set<const stats_log*> seen;
  for (const auto& log : p.lineage_stats)
    log->collect(out, seen);
  p.stats->collect(out, seen);
  return out;
}

// -- block_stream ----------------------------------------------------------------------

struct block_stream::state {
  plan_ptr plan;
  bool started = false;
  std::vector<pending_block> blocks;
  std::size_t next = 0;
  std::size_t delivered = 0;
  std::size_t window = 2;
  std::deque<std::pair<std::size_t, object_ref<task_report>>> flight;
};

block_stream::block_stream(plan_ptr p) : s_(std::make_unique<state>()) {
  s_->plan = std::move(p);
}
block_stream::~block_stream() = default;
block_stream::block_stream(block_stream&&) noexcept = default;
block_stream& block_stream::operator=(block_stream&&) noexcept = default;

std::optional<any_block> block_stream::next() {
  auto& s = *s_;
  for (int attempt = 1;; ++attempt) {
    try {
      auto b = next_block();
      if (b)
        ++s.delivered;
      return b;
    } catch (const std::exception& e) {
      if (attempt > max_recomputes || !lost_block(e))
        throw;
      std::fprintf(stderr, "actors [dataset] read: a block was lost (%s); recomputing it from the plan\n", e.what());
      for (const auto& m : s.plan->memos)
        m->reset();
      // The plan gives the same blocks again: go on after the last one delivered.
      s.flight.clear();
      s.blocks = pending_blocks(*s.plan);
      s.next = s.delivered;
    }
  }
}

std::optional<any_block> block_stream::next_block() {
  auto& s = *s_;
  if (!s.started) {
    s.blocks = pending_blocks(*s.plan);
    s.window = stream_window();
    s.started = true;
  }
  stage_request req;
  req.label = "read";
  while (s.next < s.blocks.size() && s.flight.size() < s.window) {
    const auto& b = s.blocks[s.next];
    s.flight.emplace_back(s.next, runs_nothing(b, finish_kind::store) ? object_ref<task_report>{} : submit(b, req));
    ++s.next;
  }
  if (s.flight.empty())
    return std::nullopt;
  auto [i, ref] = std::move(s.flight.front());
  s.flight.pop_front();
  object_ref<any_block> block;
  if (ref) {
    auto rep = get(ref);
    s.plan->stats->add(rep.stats);
    block = std::move(rep.blocks.front().ref);
  } else {
    block = s.blocks[i].stored.ref;
    s.blocks[i].stored.ref = {}; // read once: let the store free it when nothing else holds it
  }
  return get(block);
}

// -- sources ----------------------------------------------------------------------------

std::vector<pending_block> range_blocks(std::int64_t n, std::size_t blocks) {
  if (n < 0)
    throw error(errc::invalid_argument, "range: n must not be negative (got " + std::to_string(n) + ")");
  if (blocks == 0)
    throw error(errc::invalid_argument, "range: the number of blocks must be at least 1");
  auto k = static_cast<std::int64_t>(std::min<std::uint64_t>(blocks, std::max<std::int64_t>(n, 1)));
  std::vector<pending_block> out;
  for (std::int64_t i = 0; i < k; ++i) {
    pending_block b;
    b.source.kind = source_spec::range;
    b.source.lo = n * i / k;
    b.source.hi = n * (i + 1) / k;
    out.push_back(std::move(b));
  }
  return out;
}

std::vector<pending_block> file_blocks(const std::string& pattern, source_spec::kind_t kind, const char* op) {
  std::vector<std::string> paths;
  struct stat st {};
  if (::stat(pattern.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    std::string dir = pattern.back() == '/' ? pattern : pattern + "/";
    glob_t g{};
    if (::glob((dir + "*").c_str(), 0, nullptr, &g) == 0)
      for (std::size_t i = 0; i < g.gl_pathc; ++i)
        paths.emplace_back(g.gl_pathv[i]);
    ::globfree(&g);
  } else {
    glob_t g{};
    if (::glob(pattern.c_str(), 0, nullptr, &g) == 0)
      for (std::size_t i = 0; i < g.gl_pathc; ++i)
        paths.emplace_back(g.gl_pathv[i]);
    ::globfree(&g);
  }
  std::vector<pending_block> out;
  for (auto& path : paths) {
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    pending_block b;
    b.source.kind = kind;
    // Nodes may run in other directories: name the file absolutely.
    b.source.path = std::filesystem::absolute(path).lexically_normal().string();
    out.push_back(std::move(b));
  }
  if (out.empty())
    throw error(errc::invalid_argument, std::string(op) + ": no file matches '" + pattern
                                          + "'; give a file, a directory or a glob such as 'dir/*.csv'");
  return out;
}

std::vector<pending_block> put_blocks(std::vector<any_block> blocks) {
  std::vector<pending_block> out;
  out.reserve(blocks.size());
  for (auto& b : blocks) {
    pending_block p;
    p.stored.rows = b.size();
    p.stored.bytes = b.ops->bytes(b.rows.get());
    p.stored.ref = put(std::move(b));
    out.push_back(std::move(p));
  }
  return out;
}

} // namespace detail
} // namespace actors::data
