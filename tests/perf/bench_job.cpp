#include "tests/perf/bench_job.hpp"

#include "runtime/common/free_memory.hpp"

#include <actors/actors.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>
#include <malloc.h>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>

namespace benchjob {

namespace {

// The user-supplied per-element functions of §8.
inline i64 double_it(i64 x) {
  return 2 * x;
}
inline bool is_even(i64 x) {
  return x % 2 == 0;
}

inline std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

std::size_t rows_of(const column& c) {
  if (c.size() % 2 != 0)
    throw std::invalid_argument("a partition holds (key, value) pairs: odd length " +
                                std::to_string(c.size()));
  return c.size() / 2;
}

/// Lays out rows grouped by bucket behind the split header (see bench_job.hpp).
template <class BucketOf>
column split_rows(const column& part, std::size_t buckets, BucketOf bucket_of) {
  const std::size_t n = rows_of(part);
  if (buckets == 0 || buckets > 65535)
    throw std::invalid_argument("bucket count must be 1..65535, not " + std::to_string(buckets));
  std::vector<std::uint16_t> which(n);
  std::vector<std::size_t> count(buckets + 1, 0);
  for (std::size_t i = 0; i < n; ++i) {
    auto b = static_cast<std::uint16_t>(bucket_of(part[2 * i]));
    which[i] = b;
    ++count[b + 1];
  }
  for (std::size_t b = 0; b < buckets; ++b)
    count[b + 1] += count[b];
  const std::size_t header = buckets + 2;
  column out(header + 2 * n);
  out[0] = static_cast<i64>(buckets);
  for (std::size_t b = 0; b <= buckets; ++b)
    out[1 + b] = static_cast<i64>(count[b]);
  std::vector<std::size_t> pos(count.begin(), count.end() - 1);
  i64* data = out.data() + header;
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t at = pos[which[i]]++;
    data[2 * at] = part[2 * i];
    data[2 * at + 1] = part[2 * i + 1];
  }
  return out;
}

template <class... Cs>
column concat_all(const Cs&... cs) {
  std::size_t total = (cs.size() + ...);
  column out;
  out.reserve(total);
  (out.insert(out.end(), cs.begin(), cs.end()), ...);
  return out;
}

} // namespace

i64 square(i64 x) {
  return x * x;
}

i64 inc(i64 x) {
  return x + 1;
}

i64 add(i64 a, i64 b) {
  return a + b;
}

Counter make_counter() {
  return Counter{};
}

bytes small_obj(i64 i) {
  bytes b(100, 0);
  auto u = static_cast<std::uint64_t>(i);
  for (int r = 0; r < 12; ++r)
    for (int k = 0; k < 8; ++k)
      b[static_cast<std::size_t>(r * 8 + k)] = static_cast<char>((u >> (8 * k)) & 0xff);
  return b;
}

// By value: the argument is moved in and returned as the result, not copied.
bytes echo_bytes(bytes b) {
  return b;
}

std::vector<actors::object_ref<bytes>> put_small_objects(i64 first, i64 n) {
  if (n < 0)
    throw std::invalid_argument("put_small_objects: count " + std::to_string(n) + " is negative");
  std::vector<actors::object_ref<bytes>> refs;
  refs.reserve(static_cast<std::size_t>(n));
  for (i64 i = first; i < first + n; ++i)
    refs.push_back(actors::put(small_obj(i)));
  return refs;
}

i64 wait_for_file(const std::string& path, i64 limit_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(limit_s);
  std::error_code ec;
  while (!std::filesystem::exists(path, ec)) {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("wait_for_file: " + path + " did not appear within " + std::to_string(limit_s) +
                               " s; the driver opens this gate by creating the file");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return 0;
}

i64 Sleeper::nap(i64 ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

Sleeper make_sleeper() {
  return {};
}

actors::async<i64> Napper::nap(i64 ms) {
  co_await actors::sleep_for(std::chrono::milliseconds(ms));
  co_return ms;
}

actors::generator<i64> count_items(i64 n) {
  for (i64 i = 0; i < n; ++i)
    co_yield i;
}

actors::generator<i64> stamped_items(i64 n, i64 pause_ms) {
  for (i64 i = 0; i < n; ++i) {
    if (i > 0)
      co_await actors::sleep_for(std::chrono::milliseconds(pause_ms));
    co_yield std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now().time_since_epoch())
      .count();
  }
}

Napper make_napper() {
  return {};
}

i64 sleep_ms(i64 ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

void release_free_memory() {
  ::malloc_trim(0);
  actors::runtime::return_free_memory(); // tcmalloc's free pages
}

i64 trim_memory(i64) {
  release_free_memory();
  return 0;
}

i64 map_filter_sum(i64 lo, i64 hi) {
  if (hi < lo)
    throw std::invalid_argument("map_filter_sum: hi < lo");
  column xs(static_cast<std::size_t>(hi - lo));
  std::iota(xs.begin(), xs.end(), lo);
  i64 sum = 0;
  for (i64 x : xs) {
    i64 y = double_it(x);
    if (is_even(y))
      sum += y;
  }
  return sum;
}

column gen_partition(i64 p, i64 parts, i64 n) {
  const i64 lo = p * n / parts;
  const i64 hi = (p + 1) * n / parts;
  column out(static_cast<std::size_t>(2 * (hi - lo)));
  std::size_t j = 0;
  for (i64 i = lo; i < hi; ++i) {
    out[j++] = static_cast<i64>((static_cast<std::uint64_t>(i) * 2654435761ULL) & 0xffffffffULL);
    out[j++] = i;
  }
  return out;
}

column groupby_partial(const column& part, i64 groups) {
  if (groups <= 0)
    throw std::invalid_argument("groupby_partial: groups must be positive");
  column sums(static_cast<std::size_t>(groups), 0);
  const std::size_t n = rows_of(part);
  for (std::size_t i = 0; i < n; ++i) {
    i64 g = part[2 * i] % groups;
    if (g < 0)
      g += groups;
    sums[static_cast<std::size_t>(g)] += part[2 * i + 1];
  }
  return sums;
}

column sample_keys(const column& part, i64 k) {
  const std::size_t n = rows_of(part);
  column out;
  if (n == 0 || k <= 0)
    return out;
  std::size_t stride = std::max<std::size_t>(1, n / static_cast<std::size_t>(k));
  for (std::size_t i = stride / 2; i < n; i += stride)
    out.push_back(part[2 * i]);
  return out;
}

column range_split(const column& part, const column& bounds) {
  // Bucket = number of bounds <= key, counted without branches.
  const i64* b = bounds.data();
  const std::size_t nb = bounds.size();
  return split_rows(part, nb + 1, [b, nb](i64 key) {
    std::size_t at = 0;
    for (std::size_t i = 0; i < nb; ++i)
      at += static_cast<std::size_t>(key >= b[i]);
    return at;
  });
}

column hash_split(const column& part, i64 buckets) {
  if (buckets <= 0)
    throw std::invalid_argument("hash_split: buckets must be positive");
  const auto b = static_cast<std::uint64_t>(buckets);
  return split_rows(part, static_cast<std::size_t>(buckets),
                    [b](i64 key) { return static_cast<std::size_t>(mix(static_cast<std::uint64_t>(key)) % b); });
}

column take_bucket(const column& split, i64 j) {
  if (split.empty())
    throw std::invalid_argument("take_bucket: not a split partition");
  const i64 buckets = split[0];
  if (j < 0 || j >= buckets)
    throw std::invalid_argument("take_bucket: bucket " + std::to_string(j) + " of " + std::to_string(buckets));
  const std::size_t header = static_cast<std::size_t>(buckets) + 2;
  const auto begin = static_cast<std::size_t>(split[1 + j]);
  const auto end = static_cast<std::size_t>(split[2 + j]);
  const i64* data = split.data() + header;
  return column(data + 2 * begin, data + 2 * end);
}

void sort_rows_by_key(column& rows) {
  const std::size_t n = rows_of(rows);
  if (n < 2)
    return;
  i64 lo = std::numeric_limits<i64>::max();
  i64 hi = std::numeric_limits<i64>::min();
  for (std::size_t i = 0; i < n; ++i) {
    lo = std::min(lo, rows[2 * i]);
    hi = std::max(hi, rows[2 * i]);
  }
  // LSD radix sort on key - lo, 11 bits per pass, all histograms in one pass.
  const std::uint64_t range = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
  const int bits = range == 0 ? 0 : 64 - __builtin_clzll(range);
  constexpr int digit = 11;
  constexpr std::size_t radix = std::size_t{1} << digit;
  const int passes = (bits + digit - 1) / digit;
  if (passes == 0)
    return;
  const auto base = static_cast<std::uint64_t>(lo);
  std::vector<std::size_t> count(radix * static_cast<std::size_t>(passes), 0);
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t k = static_cast<std::uint64_t>(rows[2 * i]) - base;
    for (int p = 0; p < passes; ++p)
      ++count[static_cast<std::size_t>(p) * radix + ((k >> (p * digit)) & (radix - 1))];
  }
  column tmp(rows.size());
  i64* src = rows.data();
  i64* dst = tmp.data();
  for (int p = 0; p < passes; ++p) {
    std::size_t* c = count.data() + static_cast<std::size_t>(p) * radix;
    std::size_t sum = 0;
    for (std::size_t d = 0; d < radix; ++d) {
      std::size_t here = c[d];
      c[d] = sum;
      sum += here;
    }
    const int shift = p * digit;
    for (std::size_t i = 0; i < n; ++i) {
      const i64 k = src[2 * i];
      std::size_t at = c[((static_cast<std::uint64_t>(k) - base) >> shift) & (radix - 1)]++;
      dst[2 * at] = k;
      dst[2 * at + 1] = src[2 * i + 1];
    }
    std::swap(src, dst);
  }
  if (src != rows.data())
    rows.swap(tmp);
}

column merge_sort16(const column& a0, const column& a1, const column& a2, const column& a3,
                    const column& a4, const column& a5, const column& a6, const column& a7,
                    const column& a8, const column& a9, const column& a10, const column& a11,
                    const column& a12, const column& a13, const column& a14, const column& a15) {
  column out = concat_all(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15);
  sort_rows_by_key(out);
  return out;
}

column concat16(const column& a0, const column& a1, const column& a2, const column& a3,
                const column& a4, const column& a5, const column& a6, const column& a7,
                const column& a8, const column& a9, const column& a10, const column& a11,
                const column& a12, const column& a13, const column& a14, const column& a15) {
  return concat_all(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15);
}

column partition_stats(const column& part) {
  const std::size_t n = rows_of(part);
  i64 sorted = 1;
  i64 lo = std::numeric_limits<i64>::max();
  i64 hi = std::numeric_limits<i64>::min();
  for (std::size_t i = 0; i < n; ++i) {
    i64 k = part[2 * i];
    if (i > 0 && part[2 * (i - 1)] > k)
      sorted = 0;
    lo = std::min(lo, k);
    hi = std::max(hi, k);
  }
  return {static_cast<i64>(n), sorted, lo, hi};
}

} // namespace benchjob

using namespace benchjob;
ACTORS_REMOTE(square, inc, add, make_counter, &Counter::incr, echo_bytes, put_small_objects, wait_for_file,
              sleep_ms, trim_memory, make_sleeper, &Sleeper::nap, make_napper, &Napper::nap, count_items, stamped_items,
              map_filter_sum, gen_partition, groupby_partial, sample_keys, range_split, hash_split,
              take_bucket, merge_sort16, concat16, partition_stats);

namespace benchjob {

namespace {
i64 doubled(const i64& x) {
  return double_it(x);
}
bool even(const i64& x) {
  return is_even(x);
}
std::pair<i64, i64> table_row(const i64& i) {
  return {static_cast<i64>((static_cast<std::uint64_t>(i) * 2654435761ULL) & 0xffffffffULL), i};
}
i64 group_of(const std::pair<i64, i64>& r) {
  return r.first % 1000;
}
i64 value_of(const std::pair<i64, i64>& r) {
  return r.second;
}
i64 key_of(const std::pair<i64, i64>& r) {
  return r.first;
}
ACTORS_REMOTE(doubled, even, table_row, group_of, value_of, key_of);
} // namespace

i64 dataset_map_reduce(i64 n, std::size_t blocks) {
  return actors::data::range(n, blocks).map(doubled).filter(even).sum();
}

actors::data::dataset<std::pair<i64, i64>> dataset_table(i64 n, std::size_t blocks) {
  return actors::data::range(n, blocks).map(table_row).materialize();
}

std::vector<std::pair<i64, i64>> dataset_groupby(const actors::data::dataset<std::pair<i64, i64>>& table) {
  return table.group_by(group_of).sum(value_of).collect();
}

actors::data::dataset<std::pair<i64, i64>> dataset_sort(const actors::data::dataset<std::pair<i64, i64>>& table) {
  return table.sort(key_of).materialize();
}

} // namespace benchjob
