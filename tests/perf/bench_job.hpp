#pragma once

// The functions and the actor class of the benchmark job library. The nodes load
// it with `actorsd --load libbenchjob.so`; actors_bench links it.
//
// Tabular partitions are std::vector<std::int64_t> holding rows as interleaved
// (key, value) pairs. A "split" partition is the same rows grouped by output
// bucket behind a header: [B, off_0, ..., off_B] (row offsets), then the rows.

#include <cstdint>
#include <string>
#include <vector>

#include <actors/async.hpp>
#include <actors/generator.hpp>
#include <actors/object_ref.hpp>

#include <actors/dataset.hpp>

namespace benchjob {

using i64 = std::int64_t;
using column = std::vector<i64>;
using bytes = std::vector<char>;

// -- §0.3 shared definitions -------------------------------------------------------
i64 square(i64 x);
i64 inc(i64 x);

class Counter {
 public:
  i64 incr() {
    return ++n_;
  }

 private:
  i64 n_ = 0;
};
Counter make_counter();

/// An actor whose calls sleep: a threaded actor's benchmark.
class Sleeper {
 public:
  i64 nap(i64 ms);
};
Sleeper make_sleeper();

/// An async actor whose calls sleep at co_await, holding no thread.
class Napper {
 public:
  actors::async<i64> nap(i64 ms);
};
Napper make_napper();

/// Yields 0 .. n-1 (the generator throughput benchmark).
actors::generator<i64> count_items(i64 n);
/// Yields `n` times the moment it yields (microseconds of the system clock),
/// `pause_ms` apart (the generator latency benchmark).
actors::generator<i64> stamped_items(i64 n, i64 pause_ms);

/// a + b.
i64 add(i64 a, i64 b);

// -- objects -------------------------------------------------------------------------
/// §0.3 small_obj(i): 8-byte little-endian i, 12 times, then 4 zero bytes.
bytes small_obj(i64 i);
/// Returns its argument: a copy of the bytes, held where the task ran.
bytes echo_bytes(bytes b);
/// Puts small_obj(first .. first+n-1) into the store of the node it runs on (which
/// owns them) and returns their references.
std::vector<actors::object_ref<bytes>> put_small_objects(i64 first, i64 n);

// -- a gate the driver opens --------------------------------------------------------------
/// Returns 0 once the file `path` exists (checked every millisecond); throws after
/// `limit_s` seconds. Tasks that take its result as an argument cannot start before.
i64 wait_for_file(const std::string& path, i64 limit_s);

// -- helpers for the memory figures ----------------------------------------------------
/// Sleeps `ms` milliseconds; returns the steady-clock time (ns) it finished at.
i64 sleep_ms(i64 ms);
/// Gives this process's free heap memory back to the system: glibc's
/// malloc_trim, and tcmalloc's free pages when tcmalloc is the allocator.
void release_free_memory();
/// release_free_memory() as a task; returns 0.
i64 trim_memory(i64 unused);

// -- §8 map / filter / sum ------------------------------------------------------------
/// Materialises the partition [lo, hi), maps every element with x -> 2x, keeps the
/// elements with x mod 2 == 0 and returns their sum.
i64 map_filter_sum(i64 lo, i64 hi);

// -- §9 tables --------------------------------------------------------------------------
/// Rows [p*n/parts, (p+1)*n/parts): key = (i * 2654435761) mod 2^32, value = i.
column gen_partition(i64 p, i64 parts, i64 n);
/// Sums of value per group key mod `groups` (index = group).
column groupby_partial(const column& part, i64 groups);
/// About `k` keys taken at even strides.
column sample_keys(const column& part, i64 k);
/// Groups rows by range bucket: bucket b holds bounds[b-1] <= key < bounds[b].
column range_split(const column& part, const column& bounds);
/// Groups rows by hash(key) mod `buckets`.
column hash_split(const column& part, i64 buckets);
/// The rows of bucket `j` of a split partition.
column take_bucket(const column& split, i64 j);
/// Concatenates the 16 pieces and sorts the rows by key.
column merge_sort16(const column& a0, const column& a1, const column& a2, const column& a3,
                    const column& a4, const column& a5, const column& a6, const column& a7,
                    const column& a8, const column& a9, const column& a10, const column& a11,
                    const column& a12, const column& a13, const column& a14, const column& a15);
/// Concatenates the 16 pieces.
column concat16(const column& a0, const column& a1, const column& a2, const column& a3,
                const column& a4, const column& a5, const column& a6, const column& a7,
                const column& a8, const column& a9, const column& a10, const column& a11,
                const column& a12, const column& a13, const column& a14, const column& a15);
/// {rows, sorted by key (0/1), min key, max key} of a partition.
column partition_stats(const column& part);

/// Sorts interleaved (key, value) rows by key (stable LSD radix sort).
void sort_rows_by_key(column& rows);

// -- the same workloads written with datasets (built here, where the nodes load them) --

/// §8: range -> map(double) -> filter(even) -> sum.
i64 dataset_map_reduce(i64 n, std::size_t blocks);
/// §9's table as a dataset of (key, value) rows, generated on the nodes and kept there.
actors::data::dataset<std::pair<i64, i64>> dataset_table(i64 n, std::size_t blocks);
/// §9.1: sum of value per key mod 1000.
std::vector<std::pair<i64, i64>> dataset_groupby(const actors::data::dataset<std::pair<i64, i64>>& table);
/// §9.2: sorted by key, kept on the nodes.
actors::data::dataset<std::pair<i64, i64>> dataset_sort(const actors::data::dataset<std::pair<i64, i64>>& table);

} // namespace benchjob
