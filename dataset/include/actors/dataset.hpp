#pragma once

/// Datasets: partitioned data spread over the cluster's nodes, transformed where it
/// lies. A dataset<T> is a lazy plan over blocks (std::vector<T> each); nothing runs
/// until a consumer (count, take, collect, iter_batches, write_*) asks for rows.
///
///     auto words = actors::data::read_text("corpus/*.txt").flat_map(split_words);
///     auto counts = words.group_by(identity).count().sort(by_count, true).take(10);
///
/// Row operators (map, filter, flat_map, map_batches) fuse into one pass per block and
/// run on the node holding the block. All-to-all operators (repartition,
/// random_shuffle, sort, group_by) exchange blocks directly between nodes. Functions
/// given to operators run on any node when listed in ACTORS_REMOTE; lambdas and
/// unregistered functions run only in a cluster of one process (the embedded one),
/// and elsewhere are refused at the call. See docs/guide/datasets.md.

#include "actors/data/block.hpp"
#include "actors/data/executor.hpp"
#include "actors/data/plan.hpp"
#include "actors/data/row.hpp"

#include <actors/registry.hpp>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace actors::data {

template <class T>
class dataset;

namespace detail {

/// The callable as an impl's `apply` receives it: the function's address for a
/// function pointer, else a pointer to the callable object. Copied per block, so a
/// mutable lambda keeps its state per block.
template <class F>
F callable_of(const void* c) {
  if constexpr (std::is_pointer_v<F>)
    return reinterpret_cast<F>(const_cast<void*>(c));
  else
    return *static_cast<const F*>(c);
}

template <class F, class T>
struct map_impl {
  using U = std::decay_t<std::invoke_result_t<F&, const T&>>;
  static constexpr step_kind kind = step_kind::map;
  static std::shared_ptr<const void> apply(const void* c, const void* in, std::size_t) {
    F f = callable_of<F>(c);
    const auto& rows = *static_cast<const std::vector<T>*>(in);
    std::vector<U> out;
    out.reserve(rows.size());
    for (const T& x : rows)
      out.push_back(std::invoke(f, x));
    return std::make_shared<const std::vector<U>>(std::move(out));
  }
};

template <class F, class T>
struct filter_impl {
  using U = T;
  static constexpr step_kind kind = step_kind::filter;
  static std::shared_ptr<const void> apply(const void* c, const void* in, std::size_t) {
    F f = callable_of<F>(c);
    const auto& rows = *static_cast<const std::vector<T>*>(in);
    std::vector<T> out;
    out.reserve(rows.size());
    for (const T& x : rows)
      if (std::invoke(f, x))
        out.push_back(x);
    return std::make_shared<const std::vector<T>>(std::move(out));
  }
};

template <class F, class T>
struct flat_map_impl {
  using C = std::decay_t<std::invoke_result_t<F&, const T&>>;
  using U = typename C::value_type;
  static constexpr step_kind kind = step_kind::flat_map;
  static std::shared_ptr<const void> apply(const void* c, const void* in, std::size_t) {
    F f = callable_of<F>(c);
    const auto& rows = *static_cast<const std::vector<T>*>(in);
    std::vector<U> out;
    for (const T& x : rows) {
      auto more = std::invoke(f, x);
      out.insert(out.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    }
    return std::make_shared<const std::vector<U>>(std::move(out));
  }
};

template <class F, class T>
struct map_batches_impl {
  using C = std::decay_t<std::invoke_result_t<F&, std::vector<T>>>;
  using U = typename C::value_type;
  static constexpr step_kind kind = step_kind::map_batches;
  static std::shared_ptr<const void> apply(const void* c, const void* in, std::size_t batch) {
    F f = callable_of<F>(c);
    const auto& rows = *static_cast<const std::vector<T>*>(in);
    if (batch == 0)
      batch = rows.size();
    std::vector<U> out;
    for (std::size_t i = 0; i < rows.size(); i += batch) {
      std::vector<T> part(rows.begin() + static_cast<std::ptrdiff_t>(i),
                          rows.begin() + static_cast<std::ptrdiff_t>(std::min(rows.size(), i + batch)));
      auto more = std::invoke(f, std::move(part));
      if (out.empty())
        out = std::vector<U>(std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
      else
        out.insert(out.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    }
    return std::make_shared<const std::vector<U>>(std::move(out));
  }
};

const char* step_kind_name(step_kind k);

template <class Impl, class F, class T>
std::string impl_key() {
  return std::string(step_kind_name(Impl::kind)) + "|" + typeid(F).name() + "|" + typeid(T).name();
}

/// Registers an operator's typed code when the code that uses it is loaded.
template <class Impl, class F, class T>
struct step_registrar {
  static inline const step_impl* const impl = add_step_impl(new step_impl{
    impl_key<Impl, F, T>(), typeid(F).name(), &Impl::apply, block_type<typename Impl::U>::ops});
};

/// The step that applies `f`, plus the closure that holds it when it is no
/// registered function. Throws not_registered_error when it cannot run on the
/// cluster's other nodes.
template <template <class, class> class ImplT, class F, class T>
std::pair<step, std::shared_ptr<const closure>> make_step(F f, const char* op, std::size_t batch = 0) {
  using Impl = ImplT<F, T>;
  step s;
  s.kind = Impl::kind;
  s.impl = step_registrar<Impl, F, T>::impl->key;
  s.batch_size = batch;
  std::shared_ptr<const closure> c;
  if constexpr (std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>) {
    auto* e = actors::detail::function_at(reinterpret_cast<const void*>(f));
    if (e && std::string_view(e->signature) == typeid(F).name()) {
      s.fn.function = e->name;
      s.label = std::string(op) + "(" + e->name + ")";
      return {std::move(s), nullptr};
    }
  }
  if (cluster_has_other_nodes())
    throw not_registered_error(
      std::string(op) + ": the function given is not registered with ACTORS_REMOTE, so the other "
      "nodes of this cluster cannot run it; define it as a free function and list it in an "
      "ACTORS_REMOTE line (lambdas run only in the embedded cluster)");
  if constexpr (std::is_pointer_v<F>)
    c = std::make_shared<const closure>(
      std::shared_ptr<const void>(reinterpret_cast<const void*>(f), [](const void*) {}));
  else
    c = std::make_shared<const closure>(std::shared_ptr<const void>(std::make_shared<const F>(std::move(f))));
  s.fn.closure = c->id();
  s.label = std::string(op) + "(<local function>)";
  return {std::move(s), std::move(c)};
}

template <class T>
plan_ptr plan_of(const dataset<T>& d);

// -- group_by aggregations ----------------------------------------------------------

/// Accumulators by key, for keys with std::hash: the (key, accumulator) entries
/// in one vector, in the order their keys came, found through an index of
/// open addressing (linear probing in a power-of-two table, at most half full).
/// A group-by's partial aggregation looks a key up for every row, and this
/// costs one multiplication and, mostly, one probe.
template <class K, class Acc>
class flat_accumulators {
 public:
  using entry = std::pair<K, Acc>;

  /// The entry of `k`: `update(acc)` if it is there, else made with `make()`.
  template <class Make, class Update>
  void upsert(const K& k, Make&& make, Update&& update) {
    if ((entries_.size() + 1) * 2 > slots_.size())
      grow();
    for (std::size_t i = slot_of(k);; i = (i + 1) & mask_) {
      const std::uint32_t e = slots_[i];
      if (e == 0) {
        entries_.emplace_back(k, make());
        slots_[i] = static_cast<std::uint32_t>(entries_.size());
        return;
      }
      if (entries_[e - 1].first == k) {
        update(entries_[e - 1].second);
        return;
      }
    }
  }

  std::vector<entry>& entries() noexcept {
    return entries_;
  }

 private:
  std::size_t slot_of(const K& k) const {
    // Fibonacci hashing: std::hash of an integer is the integer itself.
    return static_cast<std::size_t>((static_cast<std::uint64_t>(std::hash<K>{}(k)) * 0x9e3779b97f4a7c15ULL)
                                    >> shift_);
  }

  void grow() {
    const std::size_t size = std::max<std::size_t>(slots_.size() * 2, 64);
    slots_.assign(size, 0);
    mask_ = size - 1;
    shift_ = 64 - static_cast<unsigned>(std::countr_zero(size));
    for (std::size_t e = 0; e < entries_.size(); ++e) {
      std::size_t i = slot_of(entries_[e].first);
      while (slots_[i] != 0)
        i = (i + 1) & mask_;
      slots_[i] = static_cast<std::uint32_t>(e + 1);
    }
  }

  std::vector<entry> entries_;
  std::vector<std::uint32_t> slots_;
  std::size_t mask_ = 0;
  unsigned shift_ = 64;
};

/// Accumulators by key: flat for keys with std::hash, else ordered.
template <class K, class Acc>
class accumulators {
 public:
  using entry = std::pair<K, Acc>;

  /// The accumulator of `k`: `update(acc)` if it is there, else made with `make()`.
  template <class Make, class Update>
  void upsert(const K& k, Make&& make, Update&& update) {
    if constexpr (std_hashable<K>) {
      table_.upsert(k, make, update);
    } else {
      auto it = table_.find(k);
      if (it == table_.end())
        table_.emplace(k, make());
      else
        update(it->second);
    }
  }

  /// The entries, taken out.
  std::vector<entry> take() {
    if constexpr (std_hashable<K>)
      return std::move(table_.entries());
    else
      return std::vector<entry>(std::make_move_iterator(table_.begin()), std::make_move_iterator(table_.end()));
  }

 private:
  std::conditional_t<std_hashable<K>, flat_accumulators<K, Acc>, std::map<K, Acc>> table_;
};

struct count_agg {
  template <class V>
  using acc = std::int64_t;
  template <class V>
  using out = std::int64_t;
  static constexpr const char* name = "count";
  template <class V>
  static std::int64_t init(const V&) {
    return 1;
  }
  template <class V>
  static void add(std::int64_t& a, const V&) {
    ++a;
  }
  static void merge(std::int64_t& a, std::int64_t b) {
    a += b;
  }
  static std::int64_t finish(std::int64_t a) {
    return a;
  }
};

struct sum_agg {
  template <class V>
  using acc = V;
  template <class V>
  using out = V;
  static constexpr const char* name = "sum";
  template <class V>
  static V init(const V& v) {
    return v;
  }
  template <class V>
  static void add(V& a, const V& v) {
    a += v;
  }
  template <class V>
  static void merge(V& a, const V& b) {
    a += b;
  }
  template <class V>
  static V finish(const V& a) {
    return a;
  }
};

struct min_agg : sum_agg {
  static constexpr const char* name = "min";
  template <class V>
  static void add(V& a, const V& v) {
    if (v < a)
      a = v;
  }
  template <class V>
  static void merge(V& a, const V& b) {
    add(a, b);
  }
};

struct max_agg : sum_agg {
  static constexpr const char* name = "max";
  template <class V>
  static void add(V& a, const V& v) {
    if (a < v)
      a = v;
  }
  template <class V>
  static void merge(V& a, const V& b) {
    add(a, b);
  }
};

struct mean_agg {
  template <class V>
  using acc = std::pair<double, std::int64_t>;
  template <class V>
  using out = double;
  static constexpr const char* name = "mean";
  template <class V>
  static std::pair<double, std::int64_t> init(const V& v) {
    return {static_cast<double>(v), 1};
  }
  template <class V>
  static void add(std::pair<double, std::int64_t>& a, const V& v) {
    a.first += static_cast<double>(v);
    ++a.second;
  }
  static void merge(std::pair<double, std::int64_t>& a, const std::pair<double, std::int64_t>& b) {
    a.first += b.first;
    a.second += b.second;
  }
  static double finish(const std::pair<double, std::int64_t>& a) {
    return a.second ? a.first / static_cast<double>(a.second) : 0.0;
  }
};

/// Per-block partial aggregation split by key hash, and the combine per key. V is
/// the value type (std::int64_t for count, which reads no values).
template <class Agg, class K, class V>
struct agg_impl_of {
  using Acc = typename Agg::template acc<V>;
  using Out = typename Agg::template out<V>;
  using partial_row = std::pair<K, Acc>;
  using out_row = std::pair<K, Out>;

  /// A block's partial aggregation, fed slice by slice.
  static std::shared_ptr<void> start() {
    return std::make_shared<accumulators<K, Acc>>();
  }

  static void add(void* state, const void* keys, const void* values) {
    auto& acc = *static_cast<accumulators<K, Acc>*>(state);
    const auto& ks = *static_cast<const std::vector<K>*>(keys);
    const auto* vs = static_cast<const std::vector<V>*>(values);
    for (std::size_t i = 0; i < ks.size(); ++i) {
      const V& v = vs ? (*vs)[i] : one();
      acc.upsert(
        ks[i], [&] { return Agg::init(v); }, [&](Acc& a) { Agg::add(a, v); });
    }
  }

  /// The partial blocks, cut by the key's hash (the same cut on every node).
  static std::vector<std::shared_ptr<const void>> finish(void* state, std::size_t parts) {
    auto rows = static_cast<accumulators<K, Acc>*>(state)->take();
    parts = std::max<std::size_t>(parts, 1);
    std::vector<std::vector<partial_row>> cut(parts);
    if (parts == 1) {
      cut[0] = std::move(rows);
    } else {
      std::vector<K> keys;
      keys.reserve(rows.size());
      for (const auto& r : rows)
        keys.push_back(r.first);
      const block_ops* kops = block_type<K>::ops;
      for (std::size_t i = 0; i < rows.size(); ++i)
        cut[kops->hash(&keys, i) % parts].push_back(std::move(rows[i]));
    }
    std::vector<std::shared_ptr<const void>> out;
    out.reserve(parts);
    for (auto& c : cut)
      out.push_back(std::make_shared<const std::vector<partial_row>>(std::move(c)));
    return out;
  }

  static std::shared_ptr<const void> combine(const std::vector<const void*>& partials) {
    accumulators<K, Acc> m;
    for (const void* p : partials)
      for (const auto& [k, a] : *static_cast<const std::vector<partial_row>*>(p))
        m.upsert(
          k, [&] { return a; }, [&](Acc& into) { Agg::merge(into, a); });
    auto merged = m.take();
    std::vector<out_row> out;
    out.reserve(merged.size());
    for (auto& [k, a] : merged)
      out.emplace_back(std::move(k), Agg::finish(a));
    if constexpr (std_hashable<K> && ordered<K>) // an ordered table gives them sorted
      std::sort(out.begin(), out.end(), [](const out_row& a, const out_row& b) { return a.first < b.first; });
    return std::make_shared<const std::vector<out_row>>(std::move(out));
  }

  static const V& one() {
    static const V v{};
    return v;
  }

  static std::string key() {
    return std::string(Agg::name) + "|" + typeid(K).name() + "|" + typeid(V).name();
  }

  static inline const agg_impl* const impl = add_agg_impl(new agg_impl{
    key(), &start, &add, &finish, block_type<partial_row>::ops, &combine, block_type<out_row>::ops});
};

} // namespace detail

/// Rows grouped by a key: each aggregation gives one row (key, result) per key.
/// Keys are spread over the output blocks by hash; each block is sorted by key
/// where keys are ordered (sort the result for a global order).
template <class T, class K>
class grouped {
 public:
  grouped(detail::plan_ptr plan, detail::step key, std::shared_ptr<const detail::closure> c)
    : plan_(std::move(plan)), key_(std::move(key)), key_closure_(std::move(c)) {}

  /// Rows per key.
  dataset<std::pair<K, std::int64_t>> count() const {
    return aggregate<detail::count_agg, std::int64_t>({}, nullptr, "count");
  }
  /// The sum of `value(row)` per key.
  template <class F>
  auto sum(F value) const {
    return with_value<detail::sum_agg>(std::move(value), "sum");
  }
  template <class F>
  auto min(F value) const {
    return with_value<detail::min_agg>(std::move(value), "min");
  }
  template <class F>
  auto max(F value) const {
    return with_value<detail::max_agg>(std::move(value), "max");
  }
  /// The mean of `value(row)` per key, as a double.
  template <class F>
  auto mean(F value) const {
    return with_value<detail::mean_agg>(std::move(value), "mean");
  }

 private:
  template <class Agg, class F>
  auto with_value(F value, const char* name) const {
    using V = std::decay_t<std::invoke_result_t<F&, const T&>>;
    auto [s, c] = detail::make_step<detail::map_impl, F, T>(std::move(value), "value");
    return aggregate<Agg, V>({std::move(s)}, std::move(c), name);
  }

  template <class Agg, class V>
  dataset<std::pair<K, typename Agg::template out<V>>> aggregate(std::vector<detail::step> value,
                                                                std::shared_ptr<const detail::closure> c,
                                                                const char* name) const {
    using impl = detail::agg_impl_of<Agg, K, V>;
    std::vector<std::shared_ptr<const detail::closure>> cs{key_closure_, std::move(c)};
    return dataset<std::pair<K, typename Agg::template out<V>>>(
      detail::group_plan(plan_, key_, std::move(value), impl::impl->key, impl::impl->out_ops, std::move(cs),
                         key_.label + "." + name));
  }

  detail::plan_ptr plan_;
  detail::step key_;
  std::shared_ptr<const detail::closure> key_closure_;
};

/// Batches of rows, read as the loop asks for them: only a window of blocks is in
/// memory at a time.
template <class T>
class batch_range {
 public:
  class iterator {
   public:
    using value_type = std::vector<T>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(batch_range* r) : r_(r) {
      advance();
    }
    std::vector<T>& operator*() const {
      return r_->batch_;
    }
    std::vector<T>* operator->() const {
      return &r_->batch_;
    }
    iterator& operator++() {
      advance();
      return *this;
    }
    friend bool operator==(const iterator& a, const iterator& b) {
      return a.r_ == b.r_;
    }

   private:
    void advance() {
      if (!r_->fill())
        r_ = nullptr;
    }
    batch_range* r_ = nullptr;
  };

  batch_range(detail::plan_ptr plan, std::size_t batch_size)
    : stream_(std::move(plan)), size_(batch_size == 0 ? 1 : batch_size) {}
  iterator begin() {
    return iterator(this);
  }
  iterator end() {
    return iterator();
  }

 private:
  bool fill() {
    batch_.clear();
    while (batch_.size() < size_) {
      if (!block_ || pos_ == block_->size()) {
        auto next = stream_.next();
        if (!next)
          break;
        block_ = std::make_shared<const std::vector<T>>(detail::rows_of<T>(*next));
        keep_ = std::move(*next);
        pos_ = 0;
        continue;
      }
      std::size_t n = std::min(size_ - batch_.size(), block_->size() - pos_);
      batch_.insert(batch_.end(), block_->begin() + static_cast<std::ptrdiff_t>(pos_),
                    block_->begin() + static_cast<std::ptrdiff_t>(pos_ + n));
      pos_ += n;
    }
    return !batch_.empty();
  }

  detail::block_stream stream_;
  std::size_t size_;
  std::vector<T> batch_;
  std::shared_ptr<const std::vector<T>> block_;
  detail::any_block keep_;
  std::size_t pos_ = 0;
};

/// A partitioned collection of T spread over the cluster. Cheap to copy (copies
/// share the plan); operators return new datasets and leave this one as it is.
template <class T>
class dataset {
 public:
  using value_type = T;

  explicit dataset(detail::plan_ptr plan) : plan_(std::move(plan)) {}

  // -- row operators: fused, run where the blocks are -------------------------------

  /// f(row) for each row.
  template <class F>
  auto map(F f) const {
    return with_step<detail::map_impl>(std::move(f), "map");
  }
  /// The rows for which pred(row) is true.
  template <class F>
  dataset<T> filter(F pred) const {
    return with_step<detail::filter_impl>(std::move(pred), "filter");
  }
  /// Every element of the container f(row) returns, in order.
  template <class F>
  auto flat_map(F f) const {
    return with_step<detail::flat_map_impl>(std::move(f), "flat_map");
  }
  /// f(batch) for batches of up to `batch_size` rows (0: a whole block), each
  /// returning a vector of output rows.
  template <class F>
  auto map_batches(F f, std::size_t batch_size = 0) const {
    return with_step<detail::map_batches_impl>(std::move(f), "map_batches", batch_size);
  }

  // -- all-to-all operators --------------------------------------------------------

  /// The same rows, in order, in `blocks` blocks of (nearly) equal size.
  dataset<T> repartition(std::size_t blocks) const {
    return dataset<T>(detail::repartition_plan(plan_, blocks));
  }
  /// The rows in an order drawn at random from `seed` (the same seed, the same
  /// order), in as many blocks as before.
  dataset<T> random_shuffle(std::uint64_t seed = 0) const {
    return dataset<T>(detail::shuffle_plan(plan_, seed));
  }
  /// Rows sorted by key(row), across blocks: block i's keys all come before block
  /// i+1's. Ranges are picked from a sample so blocks come out balanced.
  template <class F>
  dataset<T> sort(F key, bool descending = false) const {
    using K = std::decay_t<std::invoke_result_t<F&, const T&>>;
    static_assert(detail::ordered<K>, "sort: the key must have operator<");
    auto [s, c] = detail::make_step<detail::map_impl, F, T>(std::move(key), "sort");
    return dataset<T>(detail::sort_plan(plan_, std::move(s), std::move(c), descending));
  }
  /// The first `n` rows.
  dataset<T> limit(std::uint64_t n) const {
    return dataset<T>(detail::limit_plan(plan_, n));
  }
  /// This dataset's rows, then `other`'s.
  dataset<T> union_with(const dataset<T>& other) const {
    return dataset<T>(detail::union_plans(plan_, other.plan_));
  }
  /// Rows grouped by key(row), for count, sum, min, max or mean.
  template <class F>
  auto group_by(F key) const {
    using K = std::decay_t<std::invoke_result_t<F&, const T&>>;
    static_assert(detail::ordered<K> || detail::std_hashable<K>,
                  "group_by: the key must have operator< or std::hash");
    auto [s, c] = detail::make_step<detail::map_impl, F, T>(std::move(key), "group_by");
    return grouped<T, K>(plan_, std::move(s), std::move(c));
  }

  // -- consumers: these run the plan ----------------------------------------------

  std::uint64_t count() const {
    return detail::count_rows(*plan_);
  }
  /// The sum of all rows (arithmetic T).
  T sum() const
    requires std::is_arithmetic_v<T>
  {
    auto b = detail::sum_rows(*plan_);
    const auto& rows = detail::rows_of<T>(b);
    return rows.empty() ? T{} : rows.front();
  }
  /// The first `n` rows; runs only as many blocks as it needs.
  std::vector<T> take(std::size_t n) const {
    std::vector<T> out;
    if (n == 0)
      return out;
    detail::block_stream s(detail::limit_plan(plan_, n));
    while (out.size() < n) {
      auto b = s.next();
      if (!b)
        break;
      const auto& rows = detail::rows_of<T>(*b);
      out.insert(out.end(), rows.begin(),
                 rows.begin() + static_cast<std::ptrdiff_t>(std::min(rows.size(), n - out.size())));
    }
    return out;
  }
  /// Every row, in order.
  std::vector<T> collect() const {
    std::vector<T> out;
    detail::block_stream s(plan_);
    while (auto b = s.next()) {
      const auto& rows = detail::rows_of<T>(*b);
      out.insert(out.end(), rows.begin(), rows.end());
    }
    return out;
  }
  /// Streams the rows in batches of `batch_size` (the last may be shorter).
  batch_range<T> iter_batches(std::size_t batch_size) const {
    return batch_range<T>(plan_, batch_size);
  }
  /// Writes one CSV file per block into `dir` (made if missing), with a header:
  /// the columns of actors::data::row, "key,value" for pairs, else "value".
  /// Returns the number of rows written.
  std::uint64_t write_csv(const std::string& dir) const {
    return detail::write_rows(*plan_, dir, true);
  }
  /// Writes one text file per block into `dir`, one line per row.
  std::uint64_t write_text(const std::string& dir) const {
    return detail::write_rows(*plan_, dir, false);
  }
  /// The number of blocks (runs the all-to-all operators upstream, if any).
  std::size_t num_blocks() const {
    return detail::pending_blocks(*plan_).size();
  }
  /// Runs the plan now and keeps the blocks on the nodes; the result reads them
  /// (and recomputes a block lost with its node from this dataset's plan).
  dataset<T> materialize() const {
    return dataset<T>(detail::materialize_plan(plan_));
  }
  /// Per-operator rows, bytes, time and nodes of what has run so far.
  dataset_stats stats() const {
    return detail::stats_of(*plan_);
  }

 private:
  template <class U>
  friend class dataset;
  template <class U>
  friend detail::plan_ptr detail::plan_of(const dataset<U>& d);

  template <template <class, class> class ImplT, class F>
  auto with_step(F f, const char* op, std::size_t batch = 0) const {
    using U = typename ImplT<F, T>::U;
    auto [s, c] = detail::make_step<ImplT, F, T>(std::move(f), op, batch);
    return dataset<U>(detail::add_step(plan_, std::move(s), detail::block_type<U>::ops, std::move(c)));
  }

  detail::plan_ptr plan_;
};

namespace detail {
template <class T>
plan_ptr plan_of(const dataset<T>& d) {
  return d.plan_;
}
std::vector<pending_block> range_blocks(std::int64_t n, std::size_t blocks);
std::vector<pending_block> file_blocks(const std::string& pattern, source_spec::kind_t kind,
                                       const char* op);
std::vector<pending_block> put_blocks(std::vector<any_block> blocks);
} // namespace detail

// -- sources ------------------------------------------------------------------------

/// The integers 0 .. n-1 in `blocks` contiguous blocks, made on the nodes.
inline dataset<std::int64_t> range(std::int64_t n, std::size_t blocks = 16) {
  return dataset<std::int64_t>(
    detail::source_plan(detail::range_blocks(n, blocks), detail::block_type<std::int64_t>::ops));
}

/// The items, cut into `blocks` contiguous blocks stored from this process.
template <class T>
dataset<T> from_items(std::vector<T> items, std::size_t blocks = 16) {
  blocks = std::max<std::size_t>(1, std::min(blocks, std::max<std::size_t>(items.size(), 1)));
  std::vector<detail::any_block> parts;
  parts.reserve(blocks);
  for (std::size_t i = 0; i < blocks; ++i) {
    auto lo = items.size() * i / blocks;
    auto hi = items.size() * (i + 1) / blocks;
    parts.push_back(detail::make_block(std::vector<T>(std::make_move_iterator(items.begin() + static_cast<std::ptrdiff_t>(lo)),
                                                      std::make_move_iterator(items.begin() + static_cast<std::ptrdiff_t>(hi)))));
  }
  return dataset<T>(detail::source_plan(detail::put_blocks(std::move(parts)), detail::block_type<T>::ops));
}

/// One row per line of the files matching `pattern` (a path, a directory, or a
/// glob such as "corpus/*.txt"), one block per file, read on the nodes.
inline dataset<std::string> read_text(const std::string& pattern) {
  return dataset<std::string>(detail::source_plan(
    detail::file_blocks(pattern, detail::source_spec::text_file, "read_text"), detail::block_type<std::string>::ops));
}

/// One row per record of the CSV files matching `pattern`; each file's first line
/// names the columns. A record with another number of fields fails the read with
/// an error naming the file and line.
inline dataset<row> read_csv(const std::string& pattern) {
  return dataset<row>(detail::source_plan(
    detail::file_blocks(pattern, detail::source_spec::csv_file, "read_csv"), detail::block_type<row>::ops));
}

} // namespace actors::data
