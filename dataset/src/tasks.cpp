// The tasks that run a dataset's blocks on the nodes: a fused stage over one block
// (made by a source or read from the store) ending in what the operator needs, and
// the merge of the pieces an all-to-all operator sent to one output block.

#include "dataset/src/tasks.hpp"

#include <actors/actors.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <atomic>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace actors::data::detail {

namespace {

using clock = std::chrono::steady_clock;

std::uint64_t nanos_since(clock::time_point t0) {
  return static_cast<std::uint64_t>(
    std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count());
}

/// Rows processed by dataset operators on this node, by operator.
void count_rows_metric(const std::string& label, std::uint64_t rows) {
  auto op = label.substr(0, label.find('('));
  actors::metrics::counter c("actors_dataset_rows_total", "Rows produced by dataset operators on this node",
                             {{"operator", op}});
  c.inc(static_cast<double>(rows));
}

class stage {
 public:
  stage() : node_(current_node_id().to_string()) {}

  any_block source(const source_spec& src) {
    auto t0 = clock::now();
    any_block b;
    std::string op;
    switch (src.kind) {
      case source_spec::range: {
        std::vector<std::int64_t> rows;
        rows.reserve(static_cast<std::size_t>(std::max<std::int64_t>(0, src.hi - src.lo)));
        for (auto i = src.lo; i < src.hi; ++i)
          rows.push_back(i);
        b = make_block(std::move(rows));
        op = "range";
        break;
      }
      case source_spec::text_file: {
        std::ifstream in(src.path, std::ios::binary);
        if (!in)
          throw error(errc::invalid_argument, "read_text: cannot open " + src.path + " on node " + node_
                                                + ": check that the file exists and is readable on every node");
        std::vector<std::string> rows;
        std::string line;
        while (std::getline(in, line)) {
          if (!line.empty() && line.back() == '\r')
            line.pop_back();
          rows.push_back(std::move(line));
        }
        b = make_block(std::move(rows));
        op = "read_text";
        break;
      }
      case source_spec::csv_file:
        b = make_block(read_csv_file(src.path));
        op = "read_csv";
        break;
      case source_spec::none:
        throw error(errc::invalid_argument, "dataset block has no source");
    }
    note(op, b.size(), t0);
    return b;
  }

  /// A step found and its callable resolved, to run on one block or several,
  /// with the rows it made and the time it took so far.
  struct ready_step {
    const step* s;
    const step_impl* impl;
    std::shared_ptr<const void> fn;
    std::uint64_t rows = 0;
    std::uint64_t nanos = 0;
  };

  /// `steps` ready to run on blocks of `in` (null: not checked). Throws if one
  /// is not available here or does not take what the step before it makes.
  std::vector<ready_step> prepare(const std::vector<step>& steps, const block_ops* in) {
    std::vector<ready_step> out;
    for (const auto& s : steps) {
      auto t0 = clock::now();
      const step_impl* impl = find_step_impl(s.impl);
      if (!impl)
        throw not_registered_error("dataset operator " + s.label + " is not available on node " + node_
                                   + ": the code that builds the dataset must be loaded on every node (run "
                                     "the program with --actors-local-nodes, or give its library to actorsd --load)");
      if (in && impl->key.substr(impl->key.rfind('|') + 1) != in->type)
        throw error(errc::type_mismatch,
                    "dataset operator " + s.label + " got a block of " + actors::detail::demangle(in->type.c_str()));
      out.push_back(ready_step{&s, impl, resolve_callable(s, *impl)});
      out.back().nanos = nanos_since(t0);
      in = impl->out;
    }
    return out;
  }

  /// Runs the steps on `b`, adding up what each made and took.
  static any_block run(std::vector<ready_step>& steps, any_block b) {
    for (auto& r : steps) {
      auto t0 = clock::now();
      try {
        b = any_block{r.impl->apply(r.fn.get(), b.rows.get(), r.s->batch_size), r.impl->out};
      } catch (const actors::error&) {
        throw; // the runtime's own (an object lost, say): the consumer acts on its kind
      } catch (const std::exception& e) {
        // The task is the consumer's, with every operator fused into it: the
        // message says which operator threw.
        throw std::runtime_error("dataset operator " + r.s->label + ": " + e.what());
      }
      r.rows += b.size();
      r.nanos += nanos_since(t0);
    }
    return b;
  }

  /// Notes each step's rows and time.
  void note_all(const std::vector<ready_step>& steps) {
    for (const auto& r : steps) {
      stats_.push_back(op_stat{r.s->label, r.rows, r.nanos, node_, 0});
      count_rows_metric(r.s->label, r.rows);
    }
  }

  any_block apply(any_block b, const std::vector<step>& steps) {
    auto ready = prepare(steps, b.ops);
    b = run(ready, std::move(b));
    note_all(ready);
    return b;
  }

  block_ref store(any_block b) {
    block_ref r;
    r.rows = b.size();
    r.bytes = b.ops ? b.ops->bytes(b.rows.get()) : 0;
    r.node = current_node_id();
    r.ref = put(std::move(b));
    return r;
  }

  void note(const std::string& op, std::uint64_t rows, clock::time_point t0, std::uint64_t bytes = 0) {
    stats_.push_back(op_stat{op, rows, nanos_since(t0), node_, bytes});
    count_rows_metric(op, rows);
  }

  std::vector<op_stat> take_stats() {
    return std::move(stats_);
  }

 private:
  std::string node_;
  std::vector<op_stat> stats_;
};

const block_ops& ops_of_block(const any_block& b, const std::string& op) {
  if (!b.ops)
    throw error(errc::invalid_argument, op + ": a dataset block without a type");
  return *b.ops;
}

any_block keys_of(stage& st, const any_block& b, const std::vector<step>& key) {
  return st.apply(b, key);
}

/// The rows of `b` grouped into `parts` pieces by `part_of[row]`, each stored here.
std::vector<block_ref> store_parts(stage& st, const any_block& b, const std::vector<std::uint32_t>& part_of,
                                   std::size_t parts) {
  std::vector<std::vector<std::uint32_t>> index(parts);
  for (std::uint32_t i = 0; i < part_of.size(); ++i)
    index[part_of[i]].push_back(i);
  std::vector<block_ref> out;
  out.reserve(parts);
  for (auto& ix : index) {
    if (ix.empty())
      out.push_back(block_ref{});
    else
      out.push_back(st.store(any_block{b.ops->gather(b.rows.get(), ix), b.ops}));
  }
  return out;
}

void write_file(const std::string& path, const any_block& b, bool csv) {
  const block_ops& ops = ops_of_block(b, "write");
  if (!ops.write_text)
    throw error(errc::invalid_argument, "write: rows of type " + actors::detail::demangle(ops.type.c_str())
                                          + " have no text form; map them to std::string or "
                                            "actors::data::row first");
  std::string text;
  if (csv) {
    if (ops.type == typeid(row).name()) {
      const auto& rows = *static_cast<const std::vector<row>*>(b.rows.get());
      if (!rows.empty()) {
        const auto& cols = rows.front().columns();
        for (std::size_t i = 0; i < cols.size(); ++i) {
          if (i)
            text += ',';
          append_csv_field(text, cols[i]);
        }
        text += '\n';
      }
    } else {
      text += ops.csv_header + "\n";
    }
  }
  ops.write_text(b.rows.get(), text, csv);
  std::filesystem::path p(path);
  std::error_code ec;
  std::filesystem::create_directories(p.parent_path(), ec);
  auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!out)
      throw error(errc::invalid_argument, "write: cannot write " + tmp + " on node "
                                            + current_node_id().to_string() + ": check the directory and free space");
  }
  std::filesystem::rename(tmp, p, ec);
  if (ec)
    throw error(errc::invalid_argument, "write: cannot rename " + tmp + " to " + path + ": " + ec.message());
}

/// Rows a group-by's partial aggregation takes at a time: their keys and values
/// stay in the cache.
constexpr std::size_t group_slice_rows = 8192;

/// The pieces' blocks, read from the nodes holding them a few at a time in
/// parallel (one read is a round trip to another node), in order.
std::vector<any_block> fetch_all(const std::vector<object_ref<any_block>>& pieces) {
  std::vector<any_block> parts(pieces.size());
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  std::exception_ptr failed;
  auto reader = [&] {
    for (std::size_t i; (i = next++) < pieces.size();) {
      try {
        if (pieces[i])
          parts[i] = get(pieces[i]);
      } catch (...) {
        std::lock_guard<std::mutex> guard{mu};
        if (!failed)
          failed = std::current_exception();
      }
    }
  };
  std::vector<std::thread> helpers;
  for (std::size_t t = 1; t < std::min<std::size_t>(pieces.size(), 8); ++t)
    helpers.emplace_back(reader);
  reader();
  for (auto& h : helpers)
    h.join();
  if (failed)
    std::rethrow_exception(failed);
  std::erase_if(parts, [](const any_block& b) { return !b.ops; });
  return parts;
}

task_report finish(stage& st, any_block b, const stage_request& req) {
  task_report rep;
  auto t0 = clock::now();
  switch (req.finish) {
    case finish_kind::store: {
      auto r = st.store(std::move(b));
      rep.rows = r.rows;
      if (!req.label.empty())
        st.note(req.label, r.rows, t0, r.bytes);
      rep.blocks.push_back(std::move(r));
      break;
    }
    case finish_kind::count:
      rep.rows = b.size();
      st.note(req.label, rep.rows, t0);
      break;
    case finish_kind::sum: {
      const block_ops& ops = ops_of_block(b, "sum");
      if (!ops.sum)
        throw error(errc::invalid_argument, "sum: rows of type " + actors::detail::demangle(ops.type.c_str())
                                              + " are not numbers");
      rep.rows = b.size();
      rep.value = any_block{ops.sum(b.rows.get()), b.ops};
      st.note(req.label, rep.rows, t0);
      break;
    }
    case finish_kind::write:
      rep.rows = b.size();
      write_file(req.path, b, req.csv);
      st.note(req.label, rep.rows, t0);
      break;
    case finish_kind::sample: {
      auto keys = keys_of(st, b, req.key);
      std::size_t n = keys.size();
      std::size_t m = std::min(n, req.sample_size);
      std::vector<std::uint32_t> pick;
      pick.reserve(m);
      std::mt19937_64 rng(req.seed);
      for (std::size_t i = 0; i < m; ++i)
        pick.push_back(static_cast<std::uint32_t>(n == m ? i : rng() % n));
      rep.value = any_block{keys.ops->gather(keys.rows.get(), pick), keys.ops};
      rep.rows = n;
      st.note(req.label, m, t0);
      break;
    }
    case finish_kind::split_range: {
      auto keys = keys_of(st, b, req.key);
      if (!keys.ops->bucket)
        throw error(errc::invalid_argument, "sort: keys of type " + actors::detail::demangle(keys.ops->type.c_str())
                                              + " cannot be ordered");
      auto part_of = keys.ops->bucket(keys.rows.get(), req.boundaries.rows.get(), req.descending);
      rep.blocks = store_parts(st, b, part_of, req.parts);
      rep.rows = b.size();
      st.note(req.label, rep.rows, t0);
      break;
    }
    case finish_kind::split_random: {
      std::mt19937_64 rng(req.seed);
      std::vector<std::uint32_t> part_of(b.size());
      for (auto& p : part_of)
        p = static_cast<std::uint32_t>(rng() % req.parts);
      rep.blocks = store_parts(st, b, part_of, req.parts);
      rep.rows = b.size();
      st.note(req.label, rep.rows, t0);
      break;
    }
    case finish_kind::split_even: {
      // cuts: offsets into the block, first 0 and last its size; one piece between each two.
      for (std::size_t i = 0; i + 1 < req.cuts.size(); ++i)
        rep.blocks.push_back(st.store(any_block{b.ops->slice(b.rows.get(), req.cuts[i], req.cuts[i + 1]), b.ops}));
      rep.rows = b.size();
      st.note(req.label, rep.rows, t0);
      break;
    }
    case finish_kind::group: {
      const agg_impl* agg = find_agg_impl(req.agg);
      if (!agg)
        throw not_registered_error("group_by: the aggregation is not available on node "
                                   + current_node_id().to_string()
                                   + ": the code that builds the dataset must be loaded on every node");
      auto key = st.prepare(req.key, b.ops);
      auto value = st.prepare(req.value, b.ops);
      auto state = agg->start();
      // A slice at a time, when a slice is cheap to cut: the keys and values
      // of the whole block would be fresh memory, written once and read once.
      const std::size_t n = b.size();
      const std::size_t slice = b.ops && b.ops->trivially_copyable ? group_slice_rows : std::max<std::size_t>(n, 1);
      for (std::size_t begin = 0; begin < n; begin += slice) {
        const std::size_t end = std::min(n, begin + slice);
        any_block part = begin == 0 && end == n ? b : any_block{b.ops->slice(b.rows.get(), begin, end), b.ops};
        auto keys = stage::run(key, part);
        auto values = value.empty() ? any_block{} : stage::run(value, part);
        agg->add(state.get(), keys.rows.get(), values.rows.get());
      }
      st.note_all(key);
      st.note_all(value);
      auto partials = agg->finish(state.get(), req.parts);
      for (auto& p : partials) {
        any_block piece{std::move(p), agg->partial_ops};
        if (piece.size() == 0)
          rep.blocks.push_back(block_ref{});
        else
          rep.blocks.push_back(st.store(std::move(piece)));
      }
      rep.rows = b.size();
      st.note(req.label, rep.rows, t0);
      break;
    }
  }
  rep.stats = st.take_stats();
  return rep;
}


/// Runs a task body; a block it read that was lost is reported with the marker.
template <class F>
task_report marking_lost(F body) {
  try {
    return body();
  } catch (const object_lost_error& e) {
    throw std::runtime_error(std::string(lost_marker) + e.what());
  }
}

task_report run_on_source_body(const source_spec& src, const stage_request& req) {
  stage st;
  auto b = st.apply(st.source(src), req.steps);
  return finish(st, std::move(b), req);
}

task_report run_on_block_body(const any_block& in, const stage_request& req) {
  stage st;
  auto b = st.apply(in, req.steps);
  return finish(st, std::move(b), req);
}

task_report merge_pieces_body(const std::vector<object_ref<any_block>>& pieces, const merge_request& req);

} // namespace

task_report run_on_source(const source_spec& src, const stage_request& req) {
  return marking_lost([&] { return run_on_source_body(src, req); });
}

task_report run_on_block(const any_block& in, const stage_request& req) {
  return marking_lost([&] { return run_on_block_body(in, req); });
}

task_report merge_pieces(const std::vector<object_ref<any_block>>& pieces, const merge_request& req) {
  return marking_lost([&] { return merge_pieces_body(pieces, req); });
}

namespace {

task_report merge_pieces_body(const std::vector<object_ref<any_block>>& pieces, const merge_request& req) {
  stage st;
  auto t0 = std::chrono::steady_clock::now();
  const block_ops* ops = find_block_ops(req.type);
  if (!ops)
    throw not_registered_error(req.label + ": rows of type " + actors::detail::demangle(req.type.c_str())
                               + " are not known on node " + current_node_id().to_string()
                               + ": the code that builds the dataset must be loaded on every node");
  auto parts = fetch_all(pieces);
  std::vector<const void*> raw;
  for (const auto& p : parts)
    raw.push_back(p.rows.get());
  any_block out;
  if (req.kind == merge_kind::combine) {
    const agg_impl* agg = find_agg_impl(req.agg);
    if (!agg)
      throw not_registered_error(req.label + ": the aggregation is not available on node "
                                 + current_node_id().to_string());
    out = any_block{agg->combine(raw), agg->out_ops};
  } else {
    out = any_block{ops->concat(raw), ops};
    parts.clear();
    if (req.kind == merge_kind::shuffle) {
      std::vector<std::uint32_t> order(out.size());
      for (std::uint32_t i = 0; i < order.size(); ++i)
        order[i] = i;
      std::shuffle(order.begin(), order.end(), std::mt19937_64(req.seed));
      out = any_block{ops->gather(out.rows.get(), order), ops};
    } else if (req.kind == merge_kind::sort) {
      auto keys = st.apply(out, req.key);
      auto order = keys.ops->argsort(keys.rows.get(), req.descending);
      out = any_block{ops->gather(out.rows.get(), order), ops};
    }
  }
  task_report rep;
  auto r = st.store(std::move(out));
  rep.rows = r.rows;
  st.note(req.label, r.rows, t0, r.bytes);
  rep.blocks.push_back(std::move(r));
  rep.stats = st.take_stats();
  return rep;
}

} // namespace

} // namespace actors::data::detail

ACTORS_REMOTE(actors::data::detail::run_on_source, actors::data::detail::run_on_block,
              actors::data::detail::merge_pieces);
