#!/usr/bin/python3
"""Collates the JSON lines of a benchmark session (tests/perf/run.py) into
docs/performance.md: the machine, the runs and the load other processes put on
the machine, the targets, the scaling figures (with a plot made by gnuplot,
docs/perf/scaling.png), latency tails, memory per item, the big counts and the data
channel between network namespaces, and per benchmark the median/min/max of ours
(cluster and embedded) next to the Dask peer's.

    /usr/bin/python3 tests/perf/report.py [RESULTS_DIR] [--out docs/performance.md]

Without RESULTS_DIR, the newest directory under tests/perf/results is used. The
plot goes to perf/scaling.png next to --out.
"""

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# (name, extra or None, unit, better, what) in the order of the spec.
METRICS = [
    ("cluster_start", None, "s", "lower", "§1: from creating the cluster until both workers accept tasks"),
    ("tasks_sync", None, "round_trips/s", "higher", "§2: one task at a time, submit → result in the driver"),
    ("tasks_sync", "median_latency_us", "µs", "lower", "§2: median latency of one round trip"),
    ("tasks_sync", "p99_latency_us", "µs", "lower", "§2: 99th percentile latency"),
    ("tasks_async", None, "tasks/s", "higher", "§3: 20,000 independent tasks in flight, all results fetched"),
    ("tasks_async", "submit_s", "s", "lower", "§3: time spent submitting"),
    ("tasks_async_noqueue", None, "tasks/s", "higher", "§3: peer only, scheduler-side queuing off"),
    ("tasks_chain", None, "tasks/s", "higher", "§4: 2,000 tasks, each taking the previous one's future"),
    ("actor_calls_sync", None, "calls/s", "higher", "§5.1: one actor call at a time"),
    ("actor_calls_sync", "median_latency_us", "µs", "lower", "§5.1: median latency of one call"),
    ("actor_calls_sync", "p99_latency_us", "µs", "lower", "§5.1: 99th percentile latency"),
    ("actor_calls_async", None, "calls/s", "higher", "§5.2: 5,000 calls in flight on one actor"),
    ("put_get_small", None, "put+get_pairs/s", "higher", "§6.1: put a 100-byte object on a worker, get it back"),
    ("put_get_small", "median_latency_us", "µs", "lower", "§6.1: median latency of one pair"),
    ("put_get_small_batch", None, "objects/s", "higher", "§6.2: 10,000 small objects put then got in batches"),
    ("put_get_small_batch", "put_objs_per_s", "objects/s", "higher", "§6.2: put phase"),
    ("put_get_small_batch", "get_objs_per_s", "objects/s", "higher", "§6.2: get phase"),
    ("put_gigabytes", None, "GB/s", "higher", "§7: 256 MiB from the driver to worker #0"),
    ("get_gigabytes", None, "GB/s", "higher", "§7: 256 MiB from worker #0 back to the driver"),
    ("loopback_tcp_gigabytes", None, "GB/s", "higher",
     "ours only: §7's 256 MiB over one plain loopback TCP connection, no runtime: this machine's single stream"),
    ("loopback_round_trip", None, "µs", "lower",
     "ours only: 64 bytes there and back over that connection, no runtime: this machine's floor under a sync call"),
    ("loopback_round_trip", "p99_latency_us", "µs", "lower", "ours only: the same round trips: 99th percentile"),
    ("put_gigabytes_via_scheduler", None, "GB/s", "higher", "§7: peer only, relayed by its scheduler"),
    ("get_gigabytes_via_scheduler", None, "GB/s", "higher", "§7: peer only, relayed by its scheduler"),
    ("data_map_reduce", None, "elements/s", "higher", "§8: map, filter, sum over 10^7 integers in 16 partitions"),
    ("data_groupby", None, "rows/s", "higher", "§9.1: sum of value by key mod 1000 over 5,000,000 rows"),
    ("data_sort", None, "rows/s", "higher", "§9.2: global sort by key into 16 range partitions"),
    ("data_shuffle", None, "rows/s", "higher", "§9.3: N / (t_groupby + t_sort)"),
    ("data_hash_shuffle", None, "rows/s", "higher", "§9.4: repartition by hash of key into 16 partitions"),
    ("dataset_map_reduce", None, "elements/s", "higher", "§8 written with the dataset API (peer: its data_map_reduce)"),
    ("dataset_groupby", None, "rows/s", "higher", "§9.1 written with the dataset API (peer: its data_groupby)"),
    ("dataset_sort", None, "rows/s", "higher", "§9.2 written with the dataset API (peer: its data_sort)"),
    ("peak_rss_sum_of_process_hwm", None, "MiB", "lower", "§10: sum of every process's peak RSS (VmHWM)"),
    ("peak_rss_sampled_total", None, "MiB", "lower", "§10: peak of the summed RSS, sampled every 0.25 s"),
    ("tasks_sync_latency", "p50_latency_us", "µs", "lower", "up to 20,000 sequential tasks (30 s at most): median latency"),
    ("tasks_sync_latency", "p99_latency_us", "µs", "lower", "the same round trips: 99th percentile"),
    ("tasks_sync_latency", "p999_latency_us", "µs", "lower", "the same round trips: 99.9th percentile"),
    ("get_refs_batch", "objs_per_s", "objects/s", "higher", "one get of 10,000 ready 100-byte objects (median of 5)"),
    ("mem_per_queued_task", None, "bytes", "lower", "ours only: RSS growth per task queued behind busy slots"),
    ("mem_per_small_object", None, "bytes", "lower", "RSS growth per live 100-byte object"),
    ("mem_per_idle_actor", None, "bytes", "lower", "RSS growth per live idle actor (counts under Live actors)"),
    ("live_actors_create", "actors_per_s", "actors/s", "higher",
     "creating the live actors until each answered a first call (counts under Live actors)"),
    ("live_actors_call", "calls_per_s", "calls/s", "higher", "one call to each live actor, all in flight"),
    ("queued_tasks", None, "tasks/s", "higher", "ours only: submitting 1,000,000 tasks that wait for a gate"),
    ("queued_tasks", "bytes_per_queued_task", "bytes", "lower", "ours only: RSS growth per task waiting for the gate"),
    ("queued_tasks", "drain_s", "s", "lower", "ours only: gate opened → all 1,000,000 results in the driver"),
    ("data_channel_netns_256mib", None, "GB/s", "higher",
     "ours only: 256 MiB over the data channel between two network namespaces joined by veth"),
    ("cluster_stop", None, "s", "lower", "§1: shutting the client and the cluster down"),
    ("script_total", None, "s", "lower", "§11: the whole suite"),
]

# The data channel between two network namespaces (tests/perf/netns_transfer.sh):
# ours only, with the project's goal for it.
NETNS_NAME = "data_channel_netns_256mib"
NETNS_GOAL_GB_S = 1.5

# Ours only, compared with the peer's figure for the same workload.
PEER_OF = {
    "dataset_map_reduce": "data_map_reduce",
    "dataset_groupby": "data_groupby",
    "dataset_sort": "data_sort",
}

# (name, extra, comparison, goal, text)
TARGETS = [
    ("embedded_tasks_async", None, ">=", 500_000, "embedded tasks_async ≥ 500,000 tasks/s"),
    ("embedded_actor_calls_async", None, ">=", 500_000, "embedded actor_calls_async ≥ 500,000 calls/s"),
    ("embedded_tasks_sync", "median_latency_us", "<=", 10, "embedded tasks_sync median latency ≤ 10 µs"),
    ("embedded_actor_calls_sync", "median_latency_us", "<=", 10, "embedded actor_calls_sync median latency ≤ 10 µs"),
    ("embedded_tasks_chain", None, ">=", 100_000, "embedded tasks_chain ≥ 100,000 tasks/s"),
    ("embedded_put_get_small", None, ">=", 1_000_000, "embedded put_get_small ≥ 1,000,000 pairs/s"),
    ("tasks_async", None, ">=", 150_000, "cluster tasks_async ≥ 150,000 tasks/s"),
    ("actor_calls_async", None, ">=", 60_000, "cluster actor_calls_async ≥ 60,000 calls/s"),
    ("tasks_sync", "median_latency_us", "<=", 100, "cluster tasks_sync median latency ≤ 100 µs"),
    ("actor_calls_sync", "median_latency_us", "<=", 100, "cluster actor_calls_sync median latency ≤ 100 µs"),
    ("put_gigabytes", None, ">=", 3.0, "cluster 256 MiB driver to node, one host, sockets ≥ 3 GB/s"),
    ("get_gigabytes", None, ">=", 3.0, "cluster 256 MiB node to driver, one host, sockets ≥ 3 GB/s"),
    ("shared_memory_put_gigabytes", None, ">=", 3.0, "cluster 256 MiB driver to node, one host, shared memory ≥ 3 GB/s"),
    ("shared_memory_get_gigabytes", None, ">=", 3.0, "cluster 256 MiB node to driver, one host, shared memory ≥ 3 GB/s"),
    ("shared_memory_get_span_same_host", None, "<=", 1.0, "get_span of a 256 MiB same-host value ≤ 1 ms"),
    ("threaded_actor", None, "<=", 300, "cluster threaded actor, max_concurrency(4): 4 calls of 200 ms ≤ 300 ms"),
    ("async_actor", None, "<=", 500, "cluster async actor: 10,000 calls sleeping 50 ms at co_await ≤ 500 ms"),
    ("generator_items", None, ">=", 200_000, "cluster generator of 1,000,000 items read on another node ≥ 200,000 items/s"),
    ("generator_first_item", None, "<=", 1.0, "cluster generator: first item readable ≤ 1 ms after its co_yield, one host"),
    ("tasks_flood", "declared_dead", "<=", 0, "5,000,000 tiny tasks from one driver: no process declared dead"),
    ("data_map_reduce", None, ">=", 200e6, "cluster data_map_reduce ≥ 200 M elements/s"),
    ("embedded_data_map_reduce", None, ">=", 200e6, "embedded data_map_reduce ≥ 200 M elements/s"),
    ("data_sort", None, ">=", 20e6, "cluster data_sort ≥ 20 M rows/s"),
    ("dataset_sort", None, ">=", 10e6, "cluster dataset_sort ≥ 10 M rows/s"),
    ("embedded_data_sort", None, ">=", 20e6, "embedded data_sort ≥ 20 M rows/s"),
    ("data_groupby", None, ">=", 100e6, "cluster data_groupby ≥ 100 M rows/s"),
    ("embedded_data_groupby", None, ">=", 100e6, "embedded data_groupby ≥ 100 M rows/s"),
    ("cluster_start", None, "<=", 1.0, "cluster_start ≤ 1 s"),
    ("embedded_cluster_start", None, "<=", 0.05, "embedded cluster_start ≤ 50 ms"),
    ("mem_per_queued_task", None, "<=", 1000, "cluster memory per queued task ≤ 1 KB"),
    ("embedded_mem_per_queued_task", None, "<=", 1000, "embedded memory per queued task ≤ 1 KB"),
    ("queued_tasks", "bytes_per_queued_task", "<=", 1000, "cluster memory per queued task ≤ 1 KB, 1,000,000 queued"),
    ("embedded_queued_tasks", "bytes_per_queued_task", "<=", 1000,
     "embedded memory per queued task ≤ 1 KB, 1,000,000 queued"),
    ("mem_per_idle_actor", None, "<=", 4000, "cluster memory per idle actor ≤ 4 KB"),
    ("embedded_mem_per_idle_actor", None, "<=", 4000, "embedded memory per idle actor ≤ 4 KB"),
]

METHODS = """\
How each side does the work. Both follow the spec's definitions; the differences
that matter when reading the figures:

* **Cluster shape.** Ours: `actorsd --head --port 0 --num-cpus 0` plus two
  `actorsd --address … --num-cpus 1` workers, all loading `libbenchjob.so`
  (`tests/perf/bench_job.cpp`); `actors_bench` joins as the driver with
  `actors::init({.address, .token})`. The peer: `LocalCluster(n_workers=2,
  threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None)`
  with the scheduler in the driver process.
* **Sockets only.** As the spec asks of the figures compared with the peer, ours
  cross loopback sockets: every process of the cluster runs with shared memory
  off (`actorsd --shared-memory false`, the driver with
  `init_options::shared_memory = false`), so large values go over the data
  channel. The **shared memory** figures (`shared_memory_…`) are the large
  objects, the two sorts and `get_span` on the same cluster shape with shared
  memory on (the default), which a user's processes on one host get; they are
  not compared with the peer's.
* **Embedded** figures (`embedded_…`) are the same workloads on `actors::init()`
  in one process with every core; they have no peer counterpart, and their
  ours/peer ratio only says how far the single-process runtime is from the
  peer's cluster.
* **§6 put.** The API has no put-to-a-node: a small object is "put on a worker"
  by an `echo_bytes` task pinned to a worker (`.node(worker, false)`, the two
  workers alternating), which returns the bytes as its result; the get is
  `actors::get`. The batch put is 10,000 such tasks placed by the scheduler and
  a wait for all of them (there is no batch put call); the batch get is
  `actors::get(vector)`. Embedded: `actors::put` / `actors::get`.
* **§7 large objects.** Ours: `echo_bytes` pinned to worker #0 with the buffer
  moved into the call (an untimed copy is made first); the put ends when the
  result is ready (the worker holds it: `echo_bytes` takes its parameter by
  value and returns it, so the argument becomes the result without a copy), the
  get is `actors::get_shared`. Embedded: `actors::put(buf)` (a
  copy into the store) and `actors::get` (a copy out). The peer:
  `client.scatter(buf, workers=[w0], direct=True)` and `client.gather(…,
  direct=True)`; the `_via_scheduler` figures use `direct=False`.
* **§8.** Ours: 16 tasks, each materialising its partition as a
  `std::vector<int64_t>`, then applying the map and the filter to every element
  and summing; the driver adds the 16 partial sums. The peer: a dask.bag
  pipeline with a tree reduction.
* **§9.** Ours: plain tasks over `std::vector<int64_t>` partitions of
  interleaved (key, value) rows; partition p is generated on worker p mod 2 and
  every task reading a partition is pinned (soft node affinity) to the worker
  holding it; the per-bucket tasks of the sort and the hash shuffle are pinned to
  worker j mod 2 and fetch the other worker's pieces. Groupby: per-partition partial sums,
  added in the driver. Sort: 128 sampled keys per partition → 15 boundaries in
  the driver → per-partition range split → 256 `take_bucket` tasks → per-bucket
  concatenation and radix sort (16-argument task). Hash shuffle: the same with a
  hash split and a plain concatenation. The peer: dask.dataframe
  `groupby(key % 1000).value.sum()`, `set_index("key", shuffle="tasks",
  npartitions=16)` and `shuffle("key", shuffle="tasks", npartitions=16)`.
* **Memory (§10)** sums `VmHWM` / samples `VmRSS` of the driver and the three
  daemons (ours) or of the driver and every process below it (peer). The
  benchmarks beyond the spec run after it, so that their big counts do not
  raise it.
* **Memory per item** is the growth of the summed RSS of every process of the
  side from a base taken after every process gave its free heap back
  (`malloc_trim`; the peer also runs `gc.collect()` first), divided by the count: `mem_per_queued_task` with 20,000 tasks queued
  behind tasks that hold every execution slot (ours only);
  `mem_per_small_object` with 100,000 live 100-byte objects (ours, cluster: put
  on worker #0 by one task that returns the refs; embedded: `actors::put`; the
  peer: `client.scatter`); `mem_per_idle_actor` with 10,000 live actors (the
  peer: 1,000, see below), each called once.
* **Latency tails** (`tasks_sync_latency`): up to 20,000 sequential `square`
  round trips after 200 untimed ones, stopping after 30 s; the number of
  samples is in the table (the peer's ~10 ms round trip gives ~3,000 in 30 s,
  so its p99.9 rests on the few slowest samples).
* **One `get` of 10,000 refs** (`get_refs_batch`): ours, cluster: a task on
  worker #0 puts the 10,000 objects (the worker owns them) and returns their
  refs; the driver times one `actors::get(vector)`. Embedded: `actors::put` in
  the driver. The peer: `client.scatter(list)` then one timed
  `client.gather(list)`. Median of 5, fresh objects each time.
* **Live actors**: 10,000 `Counter` actors created without waiting (placed by
  the scheduler), timed until each answered its first `incr()`; then one more
  `incr()` on each, all in flight. Dask creates actors slowly (each is a task
  through its scheduler; about a hundred per second or fewer on this machine),
  so its figure uses 1,000 actors: 10,000 would take minutes.
* **1,000,000 queued tasks** (`queued_tasks`, ours only): a gate task waits for
  a file the driver creates later; 1,000,000 `add(gate, i)` tasks are submitted
  behind it, so none can start. Reported: the submit rate, the RSS growth per
  task while they wait, and the drain time from creating the file until all
  1,000,000 results are in the driver, each checked to be `i`.
* **Scaling**: a fresh cluster for each worker count: ours is a head and N
  `actorsd --num-cpus 1` workers, the peer `LocalCluster(n_workers=N,
  threads_per_worker=1)`. Tasks: 50,000 (peer: 10,000) independent `square`
  tasks placed by the scheduler; actor calls: one `Counter` pinned to each
  worker and 20,000 (peer: 2,000) `incr()` calls spread round-robin over them,
  all in flight. The peer's counts are smaller because it runs at a few hundred
  per second.
* **Plain loopback TCP** (`loopback_tcp_gigabytes` and `loopback_round_trip`,
  ours only, in the cluster run after its memory figures): what the machine
  gives without the runtime, measured in the same run as the figures it
  bounds. §7's payload five times over one TCP connection on `127.0.0.1`
  between two threads of the driver, with the data channel's 1 MiB socket
  buffers, read into one buffer touched beforehand (no page faults); timed from
  the receiver's one-byte request to its last byte, every 4096th byte checked;
  the median of the 5. Then 20,000 round trips of 64 bytes over the same
  connection, one at a time: the median and p99. §7's put and get over sockets
  each move the value over one data channel connection, and a sync task or
  actor call (§3, §5) crosses loopback twice, driver to worker and back.
* **Between network namespaces** (`data_channel_netns_256mib`, ours only):
  `tests/perf/netns_transfer.sh` (root) makes a bridge and two network
  namespaces, each joined to the bridge by a veth pair (MTU 1500) with an address
  of its own; `data_channel_bench --serve` holds a 256 MiB value in the first,
  `data_channel_bench --fetch` in the second fetches it 5 times over the data
  channel (one reused TCP connection, the node's socket buffers, each fetch into
  fresh memory as a node's, every byte checked untimed). The figure of a run is
  the median of its 5 fetches. No netem: no added latency or loss. The peer has
  no such figure.
"""


def load_jsonl(path, by_nodes=False):
    """name -> record of one run's JSON lines; with by_nodes, "name@N" for lines with "nodes": N."""
    out = {}
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if "name" in rec:
                    key = rec["name"]
                    if by_nodes and rec.get("nodes") is not None:
                        key = f"{key}@{rec['nodes']}"
                    out[key] = rec
    except OSError:
        pass
    return out


def fmt(v):
    if v is None:
        return "—"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.3g} M"
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.3g}"
    if a == 0:
        return "0"
    return f"{v:.3g}"


class Series:
    """The values of one metric over the runs of one side."""

    def __init__(self, runs, name, extra):
        self.values, self.errors, self.missing = [], [], 0
        for i, recs in enumerate(runs, 1):
            rec = recs.get(name)
            if rec is None:
                self.missing += 1
            elif rec.get("unit") == "error":
                self.errors.append((i, rec.get("error", "")))
            else:
                v = rec.get(extra) if extra else rec.get("value")
                if isinstance(v, (int, float)):
                    self.values.append(float(v))
                else:
                    self.missing += 1
        self.runs = len(runs)

    @property
    def present(self):
        return bool(self.values or self.errors)

    @property
    def median(self):
        return statistics.median(self.values) if self.values else None

    def cells(self):
        if not self.values:
            if self.errors:
                return ["error", "—", "—"]
            return ["—", "—", "—"]
        return [fmt(self.median), fmt(min(self.values)), fmt(max(self.values))]

    def ok_text(self):
        return f"{len(self.values)}/{self.runs}"


def first_extra(runs, name, extra):
    """`extra` of the first run that has it (e.g. a count that is the same in every run)."""
    for recs in runs:
        v = (recs.get(name) or {}).get(extra)
        if isinstance(v, (int, float)):
            return v
    return None


def cell(runs, name, extra=None):
    """median (min–max) of a figure over the runs, or — / error."""
    s = Series(runs, name, extra)
    if s.median is None:
        return "error" if s.errors else "—"
    text = fmt(s.median)
    if min(s.values) != max(s.values):
        text += f" ({fmt(min(s.values))}–{fmt(max(s.values))})"
    if s.errors:
        text += f"; {len(s.errors)} run(s) failed"
    return text


def count_text(v):
    return "—" if v is None else f"{int(v):,}"


def scaling_nodes(*sides):
    nodes = set()
    for runs in sides:
        for recs in runs:
            for key in recs:
                if "@" in key:
                    try:
                        nodes.add(int(key.rsplit("@", 1)[1]))
                    except ValueError:
                        pass
    return sorted(nodes)


def plot_scaling(path, nodes, ours_s, peer_s, cores):
    """Writes the scaling plot with gnuplot; returns None or why it could not."""
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        return "gnuplot is not installed (Debian package gnuplot-nox; ./dev bench installs it)"

    def col(runs, name, n):
        v = Series(runs, f"{name}@{n}", None).median
        return "NaN" if v is None else repr(v)

    def block(var, name):
        rows = [f"{n} {col(ours_s, name, n)} {col(peer_s, name, n)}" for n in nodes]
        return f"${var} << EOD\n" + "\n".join(rows) + "\nEOD\n"

    def panel(title, var, unit):
        return (f"set title '{title}'\nset ylabel '{unit} (log scale)'\n"
                f"plot ${var} using 1:2 with linespoints lw 2 pt 7 title 'actors', "
                f"${var} using 1:3 with linespoints lw 2 pt 5 title 'Dask'\n")

    tics = ", ".join(str(n) for n in nodes)
    shade = ""
    if cores and nodes[-1] > cores:
        # The workers beyond the cores: shaded, between the last count that fits and the next.
        start = max([n for n in nodes if n <= cores] or [nodes[0] / 1.3])
        first_over = min(n for n in nodes if n > cores)
        edge = (start * first_over) ** 0.5
        shade = (f"set object 1 rect from {edge}, graph 0 to graph 1, graph 1 behind "
                 "fillcolor rgb '#eeeeee' fillstyle solid noborder\n"
                 f"set label 1 'more workers than cores' at {edge}, graph 0.96 offset 0.5,0 font ',9'\n")
    script = (block("T", "scaling_tasks_async") + block("A", "scaling_actor_calls_async")
              + f"set terminal pngcairo size 1100,460 font 'sans,10'\nset output '{path}'\n"
              + "set multiplot layout 1,2 title 'Throughput against worker processes (1 slot each, loopback TCP; "
                f"medians; {cores} cores: more workers than that are oversubscribed)'\n"
              + "set logscale y\nset logscale x 2\nset grid\nset key left center opaque\n" + shade
              + f"set xtics ({tics})\nset xrange [{nodes[0] / 1.3}:{nodes[-1] * 1.3}]\n"
              + "set xlabel 'worker processes'\n"
              + panel("async tasks", "T", "tasks/s") + panel("async actor calls", "A", "calls/s")
              + "unset multiplot\n")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    r = subprocess.run([gnuplot], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        return f"gnuplot failed (exit {r.returncode}): {r.stderr.strip()}"
    return None


def beyond_spec(w, ours, peer, ours_s, peer_s, png_path, png_rel, cores):
    """The scaling figures, latency tails, memory per item, the big counts and the
    data channel between network namespaces."""
    sides = [("ours, cluster", ours, ""), ("ours, embedded", ours, "embedded_"), ("peer (Dask)", peer, "")]
    w("## Scaling, latency tails, memory per item and big counts")
    w("")
    w("Medians over the runs, with (min–max) where the runs differ. How each is measured:")
    w("see Method.")
    w("")

    w("### Scaling with the number of worker processes")
    w("")
    nodes = scaling_nodes(ours_s, peer_s)
    if not nodes:
        w("Not measured in this results directory (`./dev bench` measures it; `--part scaling` alone).")
        w("")
    else:
        over = [n for n in nodes if cores and n > cores]
        w("Async tasks/s and async actor calls/s with a driver and N worker processes of one slot")
        w("each over loopback TCP, a fresh cluster per N.")
        if over:
            w(f"The machine has {cores} cores: with {' and '.join(str(n) for n in over)} workers (plus the driver")
            w("and, for ours, the head) the processes are oversubscribed by design, so those points")
            w("show how each system behaves when its workers compete for the cores, not more")
            w("parallel capacity.")
        w("")
        why = plot_scaling(png_path, nodes, ours_s, peer_s, cores)
        if why:
            w(f"(No plot: {why}.)")
            print(f"report.py: no scaling plot: {why}", file=sys.stderr)
        else:
            w(f"![Tasks/s and actor calls/s against worker processes, ours and Dask's]({png_rel})")
        w("")
        w("| workers | ours tasks/s | Dask tasks/s | ours / Dask | ours calls/s | Dask calls/s | ours / Dask |")
        w("|---|---|---|---|---|---|---|")
        for n in nodes:
            t, a = f"scaling_tasks_async@{n}", f"scaling_actor_calls_async@{n}"
            rt = ratio_text(Series(ours_s, t, None).median, Series(peer_s, t, None).median, "higher")
            ra = ratio_text(Series(ours_s, a, None).median, Series(peer_s, a, None).median, "higher")
            over = " (oversubscribed)" if cores and n > cores else ""
            w(f"| {n}{over} | {cell(ours_s, t)} | {cell(peer_s, t)} | {rt} | {cell(ours_s, a)} | {cell(peer_s, a)} | {ra} |")
        w("")

    w("### Latency percentiles of sync tasks")
    w("")
    w("| side | round trips | p50 (µs) | p99 (µs) | p99.9 (µs) | max (µs) |")
    w("|---|---|---|---|---|---|")
    for side, runs, pre in sides:
        name = pre + "tasks_sync_latency"
        n = first_extra(runs, name, "n")
        w(f"| {side} | {count_text(n)} | {cell(runs, name, 'p50_latency_us')} | {cell(runs, name, 'p99_latency_us')} | "
          f"{cell(runs, name, 'p999_latency_us')} | {cell(runs, name, 'max_latency_us')} |")
    w("")

    w("### Memory per item")
    w("")
    w("Bytes of RSS growth per item (KB = 1,000 bytes).")
    w("")
    w("| item | ours, cluster | ours, embedded | peer (Dask) | target |")
    w("|---|---|---|---|---|")
    items = [("queued task (20,000 behind busy slots)", "mem_per_queued_task", None, "≤ 1 KB"),
             ("queued task (1,000,000 behind a gate)", "queued_tasks", "bytes_per_queued_task", "≤ 1 KB"),
             ("live idle actor", "mem_per_idle_actor", None, "≤ 4 KB"),
             ("live 100-byte object", "mem_per_small_object", None, "—")]
    for label, name, extra, target in items:
        w(f"| {label} | {cell(ours, name, extra)} | {cell(ours, 'embedded_' + name, extra)} | "
          f"{cell(peer, name, extra)} | {target} |")
    w("")

    w("### One million queued tasks")
    w("")
    w("| side | tasks | submit rate (tasks/s) | bytes per queued task | drain (s) | drain rate (tasks/s) | results checked correct |")
    w("|---|---|---|---|---|---|---|")
    for side, runs, pre in sides[:2]:
        name = pre + "queued_tasks"
        w(f"| {side} | {count_text(first_extra(runs, name, 'n'))} | {cell(runs, name)} | "
          f"{cell(runs, name, 'bytes_per_queued_task')} | {cell(runs, name, 'drain_s')} | "
          f"{cell(runs, name, 'drain_tasks_per_s')} | {cell(runs, name, 'correct')} |")
    w("")
    w("The peer has no such figure: at its few hundred tasks per second, a million tasks")
    w("would take most of an hour.")
    w("")

    w("### One get of 10,000 refs")
    w("")
    w("| side | refs | time (s) | objects/s |")
    w("|---|---|---|---|")
    for side, runs, pre in sides:
        name = pre + "get_refs_batch"
        w(f"| {side} | {count_text(first_extra(runs, name, 'n'))} | {cell(runs, name)} | {cell(runs, name, 'objs_per_s')} |")
    w("")

    w("### Live actors")
    w("")
    w("| side | actors | create (s) | actors/s | one call to each (s) | calls/s | bytes per actor |")
    w("|---|---|---|---|---|---|---|")
    for side, runs, pre in sides:
        c, k, m = pre + "live_actors_create", pre + "live_actors_call", pre + "mem_per_idle_actor"
        w(f"| {side} | {count_text(first_extra(runs, c, 'n'))} | {cell(runs, c)} | {cell(runs, c, 'actors_per_s')} | "
          f"{cell(runs, k)} | {cell(runs, k, 'calls_per_s')} | {cell(runs, m)} |")
    w("")

    w("### 256 MiB between two network namespaces")
    w("")
    s = Series(ours, NETNS_NAME, None)
    if not s.present:
        w("Not measured in this results directory (`./dev bench` measures it, as root; `--part extra`).")
    else:
        w("The data channel alone, from a server in one network namespace to a fetcher in")
        w("another, joined by veth pairs on a bridge (`tests/perf/netns_transfer.sh`); each")
        w("run's figure is the median of its fetches. Ours only: the peer is not measured")
        w("between namespaces.")
        w("")
        if s.median is None:
            status = "error"
        else:
            status = "met" if s.median >= NETNS_GOAL_GB_S else "**missed**"
        fetches = [len(recs[NETNS_NAME]["runs"]) for recs in ours
                   if isinstance((recs.get(NETNS_NAME) or {}).get("runs"), list)]
        each = ", ".join(fmt(v) for v in s.values) or "—"
        w("| figure | fetches per run | GB/s (median of the runs) | each run | target | status |")
        w("|---|---|---|---|---|---|")
        w(f"| {NETNS_NAME} | {max(fetches) if fetches else '—'} | {cell(ours, NETNS_NAME)} | {each} | "
          f"≥ {NETNS_GOAL_GB_S:g} GB/s | {status} |")
    w("")


def ratio_text(ours, peer, better):
    if ours is None or peer is None or peer == 0:
        return "—"
    r = ours / peer
    good = r > 1 if better == "higher" else r < 1
    text = f"{r:,.0f}" if r >= 1000 else f"{r:.3g}"
    return f"{text}× ({'ours better' if good else 'peer better'})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="?", help="a directory written by run.py")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "performance.md"))
    args = ap.parse_args()
    d = args.results
    if not d:
        dirs = sorted(p for p in glob.glob(os.path.join(HERE, "results", "*")) if os.path.isdir(p))
        if not dirs:
            sys.exit("report.py: no results under tests/perf/results: run ./dev bench")
        d = dirs[-1]
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    n_runs = max([r["run"] for r in meta["runs"]] or [0])
    ours = [{**load_jsonl(os.path.join(d, f"ours-{i}.jsonl")), **load_jsonl(os.path.join(d, f"ours-netns-{i}.jsonl"))}
            for i in range(1, n_runs + 1)]
    peer = [{**load_jsonl(os.path.join(d, f"peer-{i}.jsonl")), **load_jsonl(os.path.join(d, f"peer-extra-{i}.jsonl"))}
            for i in range(1, n_runs + 1)]
    ours_s = [load_jsonl(os.path.join(d, f"ours-scaling-{i}.jsonl"), by_nodes=True) for i in range(1, n_runs + 1)]
    peer_s = [load_jsonl(os.path.join(d, f"peer-scaling-{i}.jsonl"), by_nodes=True) for i in range(1, n_runs + 1)]
    out_dir = os.path.dirname(os.path.abspath(args.out))
    png_path = os.path.join(out_dir, "perf", "scaling.png")
    png_rel = "perf/scaling.png"

    m = meta["machine"]
    rel = os.path.relpath(d, ROOT)
    L = []
    w = L.append
    w("# Performance")
    w("")
    w("Figures of the benchmark suite (`tests/perf/`): remote tasks, actor calls, object")
    w("put/get, partitioned data and memory, on a head and two single-slot worker")
    w("processes over loopback TCP, next to the same work on Dask distributed (the peer).")
    w("Every figure is the median, min and max over "
      f"{n_runs} runs; ours and the peer's runs alternate, each starting on a quiet machine.")
    w("")
    w("Reproduce with `./dev bench` (about 30 minutes for 3 runs). It installs what it needs")
    w("(the peer, gnuplot), builds `actors_bench`, runs `tests/perf/run.py` (the alternating")
    w("runs; raw JSON lines in `tests/perf/results/`) and `tests/perf/report.py` (this page and")
    w("its plot, `docs/perf/scaling.png`). Parts only: `./dev bench --part suite|extra|scaling`")
    w("and/or `--only NAME[,NAME]` (a name filter passed to both sides); such a partial run")
    w("writes its page and plot into its results directory. One suite alone:")
    w("`build/tests/perf/actors_bench [--mode all|both|cluster|embedded|shared_memory|scaling] [--only NAME]`")
    w("(`--help` lists the count flags) and")
    w("`/usr/bin/python3 tests/perf/peers/dask_bench.py [--suite spec|extra|scaling] [--only NAME]`.")
    w("")
    w("## Machine")
    w("")
    w(f"* CPUs: {m.get('nproc')} × {m.get('cpu_model')}")
    w(f"* Memory: {m.get('mem_total_gib', 0):.1f} GiB")
    w(f"* Kernel: Linux {m.get('kernel')}; Debian {m.get('debian')}")
    w(f"* Compiler: {m.get('compiler')} (release build, -O2)")
    pv = m.get("peer_versions") or {}
    w(f"* Peer: Dask {pv.get('dask', '?')}, distributed {pv.get('distributed', '?')} on Python {m.get('python')}")
    w(f"* Date: {m.get('date')}")
    w(f"* Raw results: `{rel}/`")
    w("")
    w("## Runs and foreign load")
    w("")
    w("Each run waits until the machine was less than 0.1 core busy over 10 s (at most")
    w("60 s), then records the CPU time other processes used during the run: busy time")
    w("from `/proc/stat` (steal included) minus the CPU time of the run's own processes.")
    w("")
    w("| run | part | side | exit | wall (s) | quiet before start | waited (s) | own CPU (s) | foreign load (cores) | of which steal (cores) |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for r in meta["runs"]:
        q = r.get("quiet_wait", {})
        qc = q.get("window_cores")
        quiet = ("yes" if q.get("quiet") else "no") + (f" ({qc:.2f} cores)" if qc is not None else "")
        side = "ours" if r["impl"] == "ours" else "peer"
        exit_text = str(r.get("exit_code")) + (" (timed out)" if r.get("timed_out") else "")
        fc = r.get("foreign_cores") or 0.0
        kinds = r.get("machine_busy_cpu_s_by_kind")
        steal = f"{kinds.get('steal', 0) / r['wall_s']:.2f}" if kinds and r["wall_s"] > 0 else "—"
        w(f"| {r['run']} | {r.get('part', 'suite')} | {side} | {exit_text} | {r['wall_s']:.1f} | {quiet} | {q.get('waited_s', 0):.0f} | "
          f"{r['own_cpu_s']:.1f} | {max(0.0, fc):.2f} | {steal} |")
    w("")

    # Targets
    w("## Targets")
    w("")
    w("Medians over the runs, 2 cores. KB = 1,000 bytes and GB = 10^9 bytes, as in the")
    w("spec. The data targets apply to the cluster shape; the embedded rows are shown")
    w("for comparison.")
    w("")
    w("| target | measured (median) | min – max | status |")
    w("|---|---|---|---|")
    missed = []
    for name, extra, op, goal, text in TARGETS:
        s = Series(ours, name, extra)
        if s.median is None:
            status = "error" if s.errors else "not measured"
            measured = "—"
            rng = "—"
        else:
            ok = s.median >= goal if op == ">=" else s.median <= goal
            status = "met" if ok else "**missed**"
            measured = fmt(s.median)
            rng = f"{fmt(min(s.values))} – {fmt(max(s.values))}"
        if status != "met":
            missed.append(text)
        w(f"| {text} | {measured} | {rng} | {status} |")
    w("")
    # Why the missed ones are missed: prose kept by hand next to this script, since
    # it comes from profiling, not from the figures.
    gaps = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gaps.md")
    if missed and os.path.exists(gaps):
        w("## Where targets are missed, and why")
        w("")
        with open(gaps, encoding="utf-8") as f:
            for line in f.read().rstrip("\n").split("\n"):
                w(line)
        w("")

    # Summary
    w("## Summary")
    w("")
    w("Medians. The ratio is ours (cluster) / peer; the `better` column says which")
    w("direction is better for that figure.")
    w("")
    w("| benchmark | unit | better | ours, cluster | peer | ours / peer | ours, embedded | ours, shared memory |")
    w("|---|---|---|---|---|---|---|---|")
    for name, extra, unit, better, _ in METRICS:
        c, e, p = Series(ours, name, extra), Series(ours, "embedded_" + name, extra), Series(peer, PEER_OF.get(name, name), extra)
        sm = Series(ours, "shared_memory_" + name, extra)
        if not (c.present or e.present or p.present):
            continue
        label = name + (f" ({extra})" if extra else "")

        def med(x):
            return fmt(x.median) if x.median is not None else ("error" if x.errors else "—")
        w(f"| {label} | {unit} | {better} | {med(c)} | {med(p)} | {ratio_text(c.median, p.median, better)} | "
          f"{med(e)} | {med(sm)} |")
    w("")

    beyond_spec(w, ours, peer, ours_s, peer_s, png_path, png_rel, m.get("nproc"))

    # Figures measured outside the full runs (changes side by side with the build
    # before them, TLS): prose kept by hand next to this script, like gaps.md.
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "notes.md")
    if os.path.exists(notes):
        with open(notes, encoding="utf-8") as f:
            for line in f.read().rstrip("\n").split("\n"):
                w(line)
        w("")

    # Details
    w("## Each benchmark")
    w("")
    w("Ratios are against the peer's median.")
    w("")
    errors = []
    reported = set()
    for name, extra, unit, better, what in METRICS:
        rows = [("ours, cluster", Series(ours, name, extra)),
                ("ours, embedded", Series(ours, "embedded_" + name, extra)),
                ("ours, cluster, shared memory", Series(ours, "shared_memory_" + name, extra)),
                ("peer (Dask)", Series(peer, PEER_OF.get(name, name), extra))]
        if not any(s.present for _, s in rows):
            continue
        label = name + (f" — {extra}" if extra else "")
        w(f"### {label}")
        w("")
        w(f"{what}. Unit: {unit}; {better} is better.")
        w("")
        w("| side | median | min | max | runs ok | ours / peer |")
        w("|---|---|---|---|---|---|")
        pmed = rows[-1][1].median
        for side, s in rows:
            if not s.present:
                continue
            # The shared-memory figures are not the spec's comparable ones (sockets only).
            ratio = ratio_text(s.median, pmed, better) if side in ("ours, cluster", "ours, embedded") else "—"
            w(f"| {side} | " + " | ".join(s.cells()) + f" | {s.ok_text()} | {ratio} |")
            for run, msg in s.errors:
                if (name, side, run) not in reported:  # once per benchmark, not per figure
                    reported.add((name, side, run))
                    errors.append((name, side, run, msg))
        w("")

    for n in scaling_nodes(ours_s, peer_s):
        for name in ("scaling_tasks_async", "scaling_actor_calls_async"):
            for side, runs in (("ours", ours_s), ("peer (Dask)", peer_s)):
                for run, msg in Series(runs, f"{name}@{n}", None).errors:
                    errors.append((f"{name} ({n} workers)", side, run, msg))

    w("## Failures")
    w("")
    if errors:
        w("Every error line of the runs, as printed:")
        w("")
        w("| benchmark | side | run | error |")
        w("|---|---|---|---|")
        for label, side, run, msg in errors:
            msg = msg.replace("|", "\\|").replace("\n", " ")
            w(f"| {label} | {side} | {run} | {msg} |")
    else:
        w("No benchmark failed.")
    w("")
    w("## Method")
    w("")
    w(METHODS.rstrip())
    w("")
    text = "\n".join(L) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(f"report.py: wrote {args.out} from {rel}")
    if missed:
        print("report.py: targets not met: " + "; ".join(missed))


if __name__ == "__main__":
    main()
