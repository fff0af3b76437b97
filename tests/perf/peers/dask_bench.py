#!/usr/bin/python3
"""The benchmark suite on Dask distributed (Debian 12: python3-distributed
2022.12.1), the peer the figures of docs/performance.md are compared with.

Prints one JSON object per line on stdout: {"name", "value", "unit", ...extras};
a failure prints value null, unit "error" and the message, and the suite goes
on. A watchdog stops the script after 285 s (--watchdog).

    /usr/bin/python3 tests/perf/peers/dask_bench.py [--suite spec|extra|scaling]
        [--only NAME[,NAME]] [--literal-bag] [--scaling-nodes 1,2,4,8] [--COUNT N ...]

--suite spec (the default) is the spec's suite. `extra` runs the figures beyond the
spec that Dask can do, on the spec's cluster shape: tasks_sync_latency,
get_refs_batch, mem_per_small_object and live_actors. `scaling` runs
scaling_tasks_async and scaling_actor_calls_async on a fresh LocalCluster of N
single-thread workers for each N of --scaling-nodes; those lines carry "nodes": N.
"""

import argparse
import gc
import json
import math
import os
import signal
import statistics
import sys
import threading
import time

WATCHDOG_S = 285.0
N_ASYNC = 20000
N_CHAIN = 2000
N_MAP_REDUCE = 10_000_000
N_ROWS = 5_000_000
PARTS = 16
LARGE = 268_435_456

T_SCRIPT0 = time.monotonic()
_out_lock = threading.Lock()
_current = {"names": ["script"]}


_mode = {"mode": "peer", "nodes": None}
EXTRA_NAMES = ["tasks_sync_latency", "get_refs_batch", "mem_per_small_object",
               "live_actors_create", "live_actors_call", "mem_per_idle_actor"]
SCALING_NAMES = ["scaling_tasks_async", "scaling_actor_calls_async"]


def emit(name, value, unit, **extras):
    obj = {"name": name, "value": value, "unit": unit}
    obj.update(extras)
    obj["mode"] = _mode["mode"]
    if _mode["nodes"] is not None:
        obj["nodes"] = _mode["nodes"]
    with _out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def emit_error(names, msg):
    for n in names:
        emit(n, None, "error", error=msg)


# -- the work (module level: the workers unpickle these) ----------------------------------


def square(x):
    return x * x


def inc(x):
    return x + 1


class Counter:
    def __init__(self):
        self.n = 0

    def incr(self):
        self.n += 1
        return self.n


def double(x):
    return 2 * x


def is_even(x):
    return x % 2 == 0


def small_obj(i):
    return i.to_bytes(8, "little") * 12 + b"\0" * 4


def small_objs(first, n):
    return [small_obj(i) for i in range(first, first + n)]


def make_part(p):
    import numpy as np
    import pandas as pd

    lo, hi = p * N_ROWS // PARTS, (p + 1) * N_ROWS // PARTS
    i = np.arange(lo, hi, dtype=np.int64)
    key = (i * 2654435761) % (2**32)
    return pd.DataFrame({"key": key.astype(np.int64), "value": i})


def part_stats(p):
    n = len(p)
    return (
        n,
        bool(p.index.is_monotonic_increasing),
        int(p.index.min()) if n else 0,
        int(p.index.max()) if n else 0,
    )


def trim_memory():
    """Collects garbage and gives free heap memory back to the system (glibc malloc_trim)."""
    import ctypes

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    return 0


def set_saturation(value, dask_scheduler=None):
    old = dask_scheduler.WORKER_SATURATION
    dask_scheduler.WORKER_SATURATION = value
    return old


# -- process tree memory --------------------------------------------------------------------


def tree_pids():
    import psutil

    me = psutil.Process(os.getpid())
    out = {os.getpid(): "driver"}
    try:
        for c in me.children(recursive=True):
            out[c.pid] = "child"
    except psutil.Error:
        pass
    return out


def status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


class Sampler(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.peak = 0
        self.stop_flag = False

    def run(self):
        while not self.stop_flag:
            total = sum(max(0, status_kb(p, "VmRSS")) for p in tree_pids())
            self.peak = max(self.peak, total * 1024)
            time.sleep(0.25)


def kill_children():
    try:
        import psutil

        for c in psutil.Process(os.getpid()).children(recursive=True):
            try:
                c.kill()
            except psutil.Error:
                pass
    except Exception:
        pass


WATCHDOG_S_USED = [WATCHDOG_S]


def watchdog():
    emit_error(_current["names"], f"watchdog: the script exceeded {WATCHDOG_S_USED[0]:.0f} s")
    kill_children()
    os._exit(3)


# -- the suite ------------------------------------------------------------------------------


class Suite:
    def __init__(self, args):
        self.args = args
        self.only = set(filter(None, (args.only or "").split(",")))
        self.client = None
        self.cluster = None
        self.counter = None
        self.counter_calls = 0
        self.actor_create_s = math.nan
        self.df = None
        self.generate_s = math.nan
        self.t_groupby = None
        self.t_sort = None
        self.sampler = Sampler()
        self.workers = 2

    def picked(self, names):
        return not self.only or any(n in self.only for n in names)

    def step(self, names, fn, always=False):
        if not (always or self.picked(names)):
            return True
        _current["names"] = names
        try:
            fn()
            return True
        except Exception as e:  # noqa: BLE001 - every failure is reported
            emit_error(names, f"{type(e).__name__}: {e}")
            gc.collect()
            return False

    def run(self):
        if self.args.suite == "scaling":
            if self.picked(SCALING_NAMES):
                self.run_scaling()
            return
        if self.args.suite == "extra" and not self.picked(EXTRA_NAMES):
            return
        self.sampler.start()
        ok = self.step(["cluster_start"], self.cluster_start, always=True)
        if not ok:
            return
        if self.args.suite == "extra":
            self.step(["warmup"], self.warmup, always=True)
            self.step(["tasks_sync_latency"], self.tasks_sync_latency)
            self.step(["get_refs_batch"], self.get_refs_batch)
            self.step(["mem_per_small_object"], self.mem_per_small_object)
            self.step(EXTRA_NAMES[3:], self.live_actors)
            self.step(["cluster_stop"], self.cluster_stop, always=True)
            if self.picked(["script_total"]):
                emit("script_total", time.monotonic() - T_SCRIPT0, "s")
            return
        self.spec_suite()

    def spec_suite(self):
        self.step(["warmup"], self.warmup, always=True)
        self.step(["tasks_sync"], self.tasks_sync)
        self.step(["tasks_async"], lambda: self.tasks_async("tasks_async"))
        self.step(["tasks_async_noqueue"], self.tasks_async_noqueue)
        self.step(["tasks_chain"], self.tasks_chain)
        self.step(["actor_calls_sync"], self.actor_calls_sync)
        self.step(["actor_calls_async"], self.actor_calls_async)
        self.step(["put_get_small"], self.put_get_small)
        self.step(["put_get_small_batch"], self.put_get_small_batch)
        self.step(
            ["put_gigabytes", "get_gigabytes", "put_gigabytes_via_scheduler", "get_gigabytes_via_scheduler"],
            self.large_objects,
        )
        self.step(["data_map_reduce"], self.data_map_reduce)
        if self.args.literal_bag:
            self.step(["data_map_reduce_literal"], self.data_map_reduce_literal)
        self.step(["data_groupby"], self.data_groupby)
        self.step(["data_sort"], self.data_sort)
        self.step(["data_shuffle"], self.data_shuffle)
        self.step(["data_hash_shuffle"], self.data_hash_shuffle)
        self.step(["peak_rss_sum_of_process_hwm", "peak_rss_sampled_total"], self.memory)
        self.step(["cluster_stop"], self.cluster_stop, always=True)
        if self.picked(["script_total"]):
            emit("script_total", time.monotonic() - T_SCRIPT0, "s")

    # §1
    def cluster_start(self):
        from distributed import Client, LocalCluster

        t0 = time.monotonic()
        self.cluster = LocalCluster(
            n_workers=self.workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        )
        self.client = Client(self.cluster)
        self.client.wait_for_workers(self.workers)
        t = time.monotonic() - t0
        if self.picked(["cluster_start"]):
            emit("cluster_start", t, "s")

    def warmup(self):
        futs = self.client.map(square, range(200), pure=False)
        vals = self.client.gather(futs)
        assert vals == [i * i for i in range(200)], "warm-up: wrong squares"
        del futs

    # §2
    def sync_round_trips(self, warmup, n, limit_s):
        """Latencies (µs) of up to n sequential square tasks after `warmup` unmeasured
        ones, stopping after limit_s seconds; and the seconds they took."""
        c = self.client
        for i in range(warmup):
            assert c.submit(square, i, pure=False).result() == i * i
        lat = []
        t0 = time.monotonic()
        for i in range(n):
            s = time.monotonic()
            f = c.submit(square, i, pure=False)
            v = f.result()
            f.release()
            del f
            e = time.monotonic()
            lat.append((e - s) * 1e6)
            if v != i * i:
                raise AssertionError(f"square({i}) returned {v}")
            if e - t0 > limit_s:
                break
        return lat, time.monotonic() - t0

    def tasks_sync(self):
        lat, el = self.sync_round_trips(50, 2000, 10)
        emit(
            "tasks_sync",
            len(lat) / el,
            "round_trips/s",
            n=len(lat),
            median_latency_us=statistics.median(lat),
            p99_latency_us=percentile(lat, 0.99),
        )

    # §3
    def squares_in_flight(self, n, timeout):
        """Submits n square tasks at once and waits for all; returns the seconds the
        submission and the whole took, after checking every result."""
        from distributed import wait

        c = self.client
        t0 = time.monotonic()
        futs = c.map(square, range(n), pure=False)
        submit = time.monotonic() - t0
        done = wait(futs, timeout=timeout)
        if done.not_done:
            raise TimeoutError(f"{len(done.not_done)} tasks not done after {timeout} s")
        vals = c.gather(futs)
        el = time.monotonic() - t0
        assert vals == [i * i for i in range(n)], "wrong results"
        del futs, vals
        return submit, el

    def tasks_async(self, name):
        submit, el = self.squares_in_flight(N_ASYNC, 60)
        emit(name, N_ASYNC / el, "tasks/s", submit_s=submit)

    def tasks_async_noqueue(self):
        old = self.client.run_on_scheduler(set_saturation, math.inf)
        try:
            self.tasks_async("tasks_async_noqueue")
        finally:
            self.client.run_on_scheduler(set_saturation, old)

    # §4
    def tasks_chain(self):
        c = self.client
        t0 = time.monotonic()
        f = c.submit(inc, 0, pure=False)
        for _ in range(2, N_CHAIN + 1):
            f = c.submit(inc, f, pure=False)
        submit = time.monotonic() - t0
        v = f.result(timeout=60)
        el = time.monotonic() - t0
        assert v == N_CHAIN, f"F2000 = {v}"
        emit("tasks_chain", N_CHAIN / el, "tasks/s", submit_s=submit)

    # §5
    def ensure_actor(self):
        if self.counter is not None:
            return
        t0 = time.monotonic()
        self.counter = self.client.submit(Counter, actor=True).result(timeout=60)
        assert self.counter.incr().result(timeout=60) == 1
        self.actor_create_s = time.monotonic() - t0
        self.counter_calls = 1
        for _ in range(49):
            self.counter_calls += 1
            assert self.counter.incr().result(timeout=60) == self.counter_calls

    def actor_calls_sync(self):
        self.ensure_actor()
        lat = []
        last = None
        t0 = time.monotonic()
        for _ in range(2000):
            s = time.monotonic()
            last = self.counter.incr().result()
            e = time.monotonic()
            self.counter_calls += 1
            lat.append((e - s) * 1e6)
            if e - t0 > 10:
                break
        el = time.monotonic() - t0
        assert last == self.counter_calls, f"last value {last} != calls made {self.counter_calls}"
        emit(
            "actor_calls_sync",
            len(lat) / el,
            "calls/s",
            n=len(lat),
            median_latency_us=statistics.median(lat),
            p99_latency_us=percentile(lat, 0.99),
            actor_create_s=self.actor_create_s,
        )

    def actor_calls_async(self):
        self.ensure_actor()
        n = 5000
        t0 = time.monotonic()
        futs = [self.counter.incr() for _ in range(n)]
        deadline = t0 + 60
        vals = [f.result(timeout=max(0.001, deadline - time.monotonic())) for f in futs]
        el = time.monotonic() - t0
        self.counter_calls += n
        assert len(set(vals)) == n, "values not distinct"
        assert max(vals) == self.counter_calls, "max != calls made"
        emit("actor_calls_async", n / el, "calls/s", actor_create_s=self.actor_create_s)

    # §6.1
    def put_get_small(self):
        c = self.client
        for i in range(50):
            o = small_obj(i)
            f = c.scatter(o, hash=False)
            assert c.gather(f) == o
            f.release()
        lat = []
        t0 = time.monotonic()
        for i in range(2000):
            o = small_obj(i)
            s = time.monotonic()
            f = c.scatter(o, hash=False)
            back = c.gather(f)
            f.release()
            del f
            e = time.monotonic()
            lat.append((e - s) * 1e6)
            if back != o:
                raise AssertionError(f"bytes of object {i} differ")
            if e - t0 > 10:
                break
        el = time.monotonic() - t0
        emit(
            "put_get_small",
            len(lat) / el,
            "put+get_pairs/s",
            n=len(lat),
            median_latency_us=statistics.median(lat),
            method="client.scatter(obj, hash=False) + client.gather(future)",
        )

    # §6.2
    def put_get_small_batch(self):
        c = self.client
        n = 10000
        objs = [small_obj(i) for i in range(n)]
        t0 = time.monotonic()
        futs = c.scatter(objs, hash=False)
        t1 = time.monotonic()
        vals = c.gather(futs)
        t2 = time.monotonic()
        assert vals == objs, "bytes differ"
        del futs, vals
        put, get = t1 - t0, t2 - t1
        emit(
            "put_get_small_batch",
            n / (t2 - t0),
            "objects/s",
            put_s=put,
            get_s=get,
            put_objs_per_s=n / put,
            get_objs_per_s=n / get,
            method="client.scatter(list, hash=False) + client.gather(list)",
        )

    # §7
    def large_objects(self):
        import numpy as np

        c = self.client
        buf = np.random.default_rng(0).integers(0, 256, size=LARGE, dtype=np.uint8)
        expect = int(buf[::4096].sum(dtype=np.uint64))
        w0 = sorted(c.scheduler_info()["workers"])[0]
        gb = LARGE / 1e9
        for direct, suffix in ((True, ""), (False, "_via_scheduler")):
            try:
                puts, gets = [], []
                for _ in range(5):
                    t0 = time.monotonic()
                    f = c.scatter(buf, workers=[w0], direct=direct, hash=False)
                    t1 = time.monotonic()
                    r = c.gather(f, direct=direct)
                    t2 = time.monotonic()
                    assert r.size == LARGE, f"got {r.size} bytes"
                    assert int(r[::4096].sum(dtype=np.uint64)) == expect, "checksum differs"
                    puts.append(t1 - t0)
                    gets.append(t2 - t1)
                    del r
                    f.release()
                    del f
                    gc.collect()
                    time.sleep(0.2)
                how = "direct=True (driver <-> worker socket)" if direct else "direct=False (relayed by the scheduler)"
                emit("put_gigabytes" + suffix, gb / statistics.median(puts), "GB/s",
                     best_gb_s=gb / min(puts), rep_s=puts, method="client.scatter(buf, workers=[w0], " + how + ")")
                emit("get_gigabytes" + suffix, gb / statistics.median(gets), "GB/s",
                     best_gb_s=gb / min(gets), rep_s=gets, method="client.gather(future, " + how + ")")
            except Exception as e:  # noqa: BLE001
                emit_error(["put_gigabytes" + suffix, "get_gigabytes" + suffix], f"{type(e).__name__}: {e}")
        del buf
        gc.collect()

    # §8
    def data_map_reduce(self):
        import dask.bag as db

        t0 = time.monotonic()
        ranges = [range(p * N_MAP_REDUCE // PARTS, (p + 1) * N_MAP_REDUCE // PARTS) for p in range(PARTS)]
        b = db.from_sequence(ranges, npartitions=PARTS).flatten().map(double).filter(is_even).sum()
        total = self.client.compute(b).result(timeout=60)
        el = time.monotonic() - t0
        assert total == N_MAP_REDUCE * (N_MAP_REDUCE - 1), f"sum {total}"
        emit("data_map_reduce", N_MAP_REDUCE / el, "elements/s")

    def data_map_reduce_literal(self):
        import dask.bag as db

        t0 = time.monotonic()
        b = db.from_sequence(range(N_MAP_REDUCE), npartitions=PARTS).map(double).filter(is_even).sum()
        total = self.client.compute(b).result(timeout=400)
        el = time.monotonic() - t0
        assert total == N_MAP_REDUCE * (N_MAP_REDUCE - 1), f"sum {total}"
        emit("data_map_reduce_literal", N_MAP_REDUCE / el, "elements/s")

    # §9
    def ensure_table(self):
        if self.df is not None:
            return
        import dask.dataframe as dd
        import pandas as pd
        from dask import delayed
        from distributed import wait

        meta = pd.DataFrame({"key": pd.Series(dtype="int64"), "value": pd.Series(dtype="int64")})
        t0 = time.monotonic()
        df = dd.from_delayed([delayed(make_part)(p) for p in range(PARTS)], meta=meta)
        df = df.persist()
        wait(df, timeout=60)
        self.generate_s = time.monotonic() - t0
        self.df = df

    def data_groupby(self):
        self.ensure_table()
        df = self.df
        t0 = time.monotonic()
        r = self.client.compute(df.groupby(df.key % 1000).value.sum()).result(timeout=60)
        el = time.monotonic() - t0
        self.t_groupby = el
        assert len(r) == 1000, f"{len(r)} groups"
        assert int(r.sum()) == N_ROWS * (N_ROWS - 1) // 2, f"total of sums {int(r.sum())}"
        emit("data_groupby", N_ROWS / el, "rows/s", generate_s=self.generate_s)

    def partition_stats(self, ddf):
        from dask import delayed

        return self.client.gather(self.client.compute([delayed(part_stats)(d) for d in ddf.to_delayed()]))

    def data_sort(self):
        from distributed import wait

        self.ensure_table()
        t0 = time.monotonic()
        s = self.df.set_index("key", shuffle="tasks", npartitions=PARTS).persist()
        wait(s, timeout=60)
        el = time.monotonic() - t0
        self.t_sort = el
        stats = self.partition_stats(s)
        rows = sum(st[0] for st in stats)
        prev_max = -1
        for j, (n, ok, mn, mx) in enumerate(stats):
            assert ok, f"output partition {j} is not sorted"
            if n:
                assert mn > prev_max, f"output partition {j} overlaps the previous one"
                prev_max = mx
        assert rows == N_ROWS, f"{rows} rows out"
        del s
        emit("data_sort", N_ROWS / el, "rows/s", generate_s=self.generate_s, npartitions_out=len(stats))

    def data_shuffle(self):
        if self.t_groupby is None or self.t_sort is None:
            raise RuntimeError("needs data_groupby and data_sort to have succeeded")
        emit("data_shuffle", N_ROWS / (self.t_groupby + self.t_sort), "rows/s",
             t_groupby_s=self.t_groupby, t_sort_s=self.t_sort, generate_s=self.generate_s)

    def data_hash_shuffle(self):
        from distributed import wait

        self.ensure_table()
        t0 = time.monotonic()
        h = self.df.shuffle("key", shuffle="tasks", npartitions=PARTS).persist()
        wait(h, timeout=60)
        el = time.monotonic() - t0
        rows = int(self.client.compute(h.map_partitions(len)).result(timeout=60).sum())
        assert rows == N_ROWS, f"{rows} rows out"
        del h
        emit("data_hash_shuffle", N_ROWS / el, "rows/s", generate_s=self.generate_s)

    # §10
    def memory(self):
        self.df = None
        procs = {}
        total = 0.0
        workers = {}
        try:
            workers = {pid: addr for addr, pid in self.client.run(os.getpid).items()}
        except Exception:  # noqa: BLE001
            pass
        for pid, role in tree_pids().items():
            hwm = status_kb(pid, "VmHWM")
            rss = status_kb(pid, "VmRSS")
            if hwm < 0:
                continue
            total += hwm / 1024
            label = role if pid not in workers else "worker " + workers[pid]
            procs[str(pid)] = {"role": label, "hwm_mib": hwm / 1024, "rss_mib": rss / 1024}
        emit("peak_rss_sum_of_process_hwm", total, "MiB", processes=procs)
        emit("peak_rss_sampled_total", self.sampler.peak / 1048576, "MiB", interval_s=0.25)

    def cluster_stop(self):
        self.counter = None
        self.df = None
        t0 = time.monotonic()
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        t = time.monotonic() - t0
        self.sampler.stop_flag = True
        if self.picked(["cluster_stop"]):
            emit("cluster_stop", t, "s")


    # -- beyond the spec (--suite extra) ------------------------------------------------

    def tasks_sync_latency(self):
        lat, el = self.sync_round_trips(200, self.args.latency_samples, 30)
        emit("tasks_sync_latency", percentile(lat, 0.5), "µs", n=len(lat), round_trips_per_s=len(lat) / el,
             p50_latency_us=percentile(lat, 0.5), p99_latency_us=percentile(lat, 0.99),
             p999_latency_us=percentile(lat, 0.999), max_latency_us=max(lat),
             method="up to n sequential square tasks (stop after 30 s); value = p50")

    def get_refs_batch(self):
        c = self.client
        n = self.args.get_refs
        reps = []
        for rep in range(5):
            objs = small_objs(rep * n, n)
            futs = c.scatter(objs, hash=False)
            t0 = time.monotonic()
            vals = c.gather(futs)
            reps.append(time.monotonic() - t0)
            assert vals == objs, "bytes differ"
            del futs, vals
        t = statistics.median(reps)
        emit("get_refs_batch", t, "s", n=n, objs_per_s=n / t, rep_s=reps,
             method="median of 5: one client.gather of n futures of 100-byte objects scattered to the workers")

    def tree_rss(self):
        return sum(max(0, status_kb(p, "VmRSS")) for p in tree_pids()) * 1024

    def settled_rss(self):
        """The summed RSS after every process freed what it no longer holds (as ours trims)."""
        self.client.run(trim_memory)
        trim_memory()
        time.sleep(0.3)
        return self.tree_rss()

    def mem_per_small_object(self):
        c = self.client
        n = self.args.small_objects
        base = self.settled_rss()
        t0 = time.monotonic()
        futs = c.scatter(small_objs(0, n), hash=False)
        put = time.monotonic() - t0
        time.sleep(0.3)
        after = self.tree_rss()
        step = max(1, n // 100)
        assert c.gather(futs[::step]) == [small_obj(i) for i in range(0, n, step)], "bytes differ"
        del futs
        emit("mem_per_small_object", (after - base) / n, "bytes", n=n, put_s=put,
             method="RSS growth of the driver and the workers with n scattered 100-byte objects")

    def live_actors(self):
        c = self.client
        n = self.args.live_actors
        base = self.settled_rss()
        t0 = time.monotonic()
        futs = [c.submit(Counter, actor=True, pure=False) for _ in range(n)]
        actors = [f.result(timeout=120) for f in futs]

        def call_each(expect):
            calls = [a.incr() for a in actors]
            deadline = time.monotonic() + 120
            for i, f in enumerate(calls):
                v = f.result(timeout=max(0.001, deadline - time.monotonic()))
                if v != expect:
                    raise AssertionError(f"actor {i} returned {v}, expected {expect}")

        call_each(1)
        create = time.monotonic() - t0
        time.sleep(0.3)
        after = self.tree_rss()
        t1 = time.monotonic()
        call_each(2)
        call = time.monotonic() - t1
        emit("live_actors_create", create, "s", n=n, actors_per_s=n / create,
             method="n client.submit(Counter, actor=True) without waiting, until each answered its first incr()")
        emit("live_actors_call", call, "s", n=n, calls_per_s=n / call,
             method="one incr() on each of the n actors, all in flight")
        emit("mem_per_idle_actor", (after - base) / n, "bytes", n=n, create_s=create,
             method="RSS growth of the driver and the workers with n live Counter actors, each called once")
        del actors, futs

    # -- scaling (--suite scaling) ---------------------------------------------------------

    def run_scaling(self):
        _mode["mode"] = "scaling"
        for n in self.args.scaling_nodes:
            _mode["nodes"] = n
            self.workers = n
            self.counter = None
            ok = self.step(["cluster_start"], self.cluster_start, always=True)
            if ok:
                self.step(["warmup"], self.warmup, always=True)
                self.step(["scaling_tasks_async"], self.scaling_tasks_async)
                self.step(["scaling_actor_calls_async"], self.scaling_actor_calls_async)
            self.step(["cluster_stop"], self.cluster_stop, always=True)
            self.client = self.cluster = None

    def scaling_tasks_async(self):
        n = self.args.scaling_tasks
        submit, el = self.squares_in_flight(n, 90)
        emit("scaling_tasks_async", n / el, "tasks/s", n=n, submit_s=submit,
             method="as tasks_async with n tasks over the workers")

    def scaling_actor_calls_async(self):
        c = self.client
        n = self.args.scaling_calls
        addrs = sorted(c.scheduler_info()["workers"])
        k = len(addrs)
        actors = [c.submit(Counter, actor=True, workers=[a], pure=False).result(timeout=60) for a in addrs]
        calls = [0] * k
        for _ in range(50):
            for w in range(k):
                calls[w] += 1
                assert actors[w].incr().result(timeout=60) == calls[w], "warm-up: wrong count"
        t0 = time.monotonic()
        futs = [actors[i % k].incr() for i in range(n)]
        deadline = t0 + 90
        vals = [f.result(timeout=max(0.001, deadline - time.monotonic())) for f in futs]
        el = time.monotonic() - t0
        for w in range(k):
            mine = vals[w::k]
            assert len(set(mine)) == len(mine), f"actor {w} returned repeated values"
            assert max(mine) == calls[w] + len(mine), f"actor {w}: max != calls made"
        del futs, actors
        emit("scaling_actor_calls_async", n / el, "calls/s", n=n, actors=k,
             method="one Counter actor on each worker; n incr() calls round-robin over them, all in flight")


def percentile(xs, p):
    v = sorted(xs)
    rank = math.ceil(p * len(v))
    return v[min(len(v) - 1, max(rank - 1, 0))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", choices=("spec", "extra", "scaling"), default="spec")
    ap.add_argument("--only", help="comma-separated benchmark names")
    ap.add_argument("--literal-bag", action="store_true", help="also run data_map_reduce_literal (~6 min)")
    ap.add_argument("--watchdog", type=float, default=WATCHDOG_S, help="seconds before the script gives up")
    ap.add_argument("--scaling-nodes", type=lambda v: [int(x) for x in v.split(",") if x], default=[1, 2, 4, 8])
    ap.add_argument("--scaling-tasks", type=int, default=10000)
    ap.add_argument("--scaling-calls", type=int, default=2000)
    ap.add_argument("--latency-samples", type=int, default=20000)
    ap.add_argument("--get-refs", type=int, default=10000)
    ap.add_argument("--small-objects", type=int, default=100000)
    ap.add_argument("--live-actors", type=int, default=1000,
                    help="actors of live_actors (Dask creates about a hundred per second or fewer here: 10,000 would take minutes)")
    args = ap.parse_args()
    for name in ("scaling_tasks", "scaling_calls", "latency_samples", "get_refs", "small_objects", "live_actors"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    if not args.scaling_nodes or min(args.scaling_nodes) < 1:
        ap.error("--scaling-nodes needs positive worker counts, e.g. 1,2,4,8")
    WATCHDOG_S_USED[0] = args.watchdog + (400 if args.literal_bag else 0)
    timer = threading.Timer(WATCHDOG_S_USED[0], watchdog)
    timer.daemon = True
    timer.start()
    signal.signal(signal.SIGTERM, lambda *_: (kill_children(), os._exit(143)))
    Suite(args).run()
    timer.cancel()


if __name__ == "__main__":
    main()
