#!/usr/bin/python3
"""Runs actors_bench and the Dask peer alternately, each on a quiet machine, and
keeps their JSON lines and the load other processes put on the machine.

    /usr/bin/python3 tests/perf/run.py --build build [--runs 3] [--out tests/perf/results]
        [--part suite,extra,scaling] [--only NAME[,NAME...]]
        [--ours-args "ARGS"] [--peer-args "ARGS"]

Each run has up to three parts, ours then the peer's in each:
  suite    the spec's suite: actors_bench --mode both (which also runs our figures
           beyond the spec, and the shared-memory ones) -> ours-N.jsonl;
           dask_bench.py -> peer-N.jsonl
  extra    ours: 256 MiB over the data channel between two network namespaces
           joined by veth (tests/perf/netns_transfer.sh; needs root, and --only
           skips it unless it names data_channel_netns_256mib) -> ours-netns-N.jsonl;
           the peer's figures beyond the spec, in a run of their own because its spec
           suite uses most of its time budget -> peer-extra-N.jsonl
  scaling  a fresh cluster of 1, 2, 4 and 8 workers: actors_bench --mode scaling ->
           ours-scaling-N.jsonl; dask_bench.py --suite scaling -> peer-scaling-N.jsonl
--only is a name filter passed to both sides (a part's name in it picks that part, so
`--only scaling` is `--part scaling`); --ours-args / --peer-args add flags
(e.g. smaller counts for a quick check: --ours-args "--queued-tasks 10000").

Writes those files, DIR/*.log (stderr) and DIR/meta.json (machine, per-run wall
time, own and foreign CPU), where DIR is a new time-stamped directory under --out;
prints DIR last.
"""

import argparse
import ctypes
import datetime
import json
import os
import platform
import resource
import shlex
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TICK = os.sysconf("SC_CLK_TCK")
QUIET_CORES = 0.1
QUIET_WINDOW_S = 10.0
QUIET_LIMIT_S = 60.0
PARTS = ("suite", "extra", "scaling")
EXTRA_WATCHDOG_S = 540
NETNS_NAME = "data_channel_netns_256mib"
NETNS_FETCHES = 5  # per run; the script's JSON line has their median
NETNS_TIMEOUT_S = 600.0  # the script bounds its own waits well below this


def busy_seconds():
    """CPU seconds the whole machine has been busy (steal included)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    v = [int(x) for x in fields]
    user, nice, system, idle, iowait, irq, softirq = v[:7]
    steal = v[7] if len(v) > 7 else 0
    return (user + nice + system + irq + softirq + steal) / TICK


def stat_fields():
    """Machine-wide CPU seconds by kind, from the first line of /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]] + [0] * 10
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    return {n: v[i] / TICK for i, n in enumerate(names)}


def own_seconds():
    """CPU seconds of this runner and of every child it has reaped."""
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def wait_quiet():
    """Waits until the machine was < 0.1 core busy over 10 s, at most 60 s."""
    t0 = time.monotonic()
    samples = [(t0, busy_seconds(), own_seconds())]
    best = None
    while True:
        time.sleep(1.0)
        now = time.monotonic()
        samples.append((now, busy_seconds(), own_seconds()))
        while len(samples) > 2 and now - samples[1][0] >= QUIET_WINDOW_S:
            samples.pop(0)
        t_a, b_a, o_a = samples[0]
        span = now - t_a
        if span >= QUIET_WINDOW_S - 0.01:
            cores = max(0.0, (samples[-1][1] - b_a) - (samples[-1][2] - o_a)) / span
            best = cores if best is None else min(best, cores)
            if cores < QUIET_CORES:
                return {"quiet": True, "waited_s": now - t0, "window_cores": cores}
        if now - t0 >= QUIET_LIMIT_S:
            return {"quiet": False, "waited_s": now - t0, "window_cores": best}


def reap_orphans():
    """Reaps processes re-parented to this runner (it is a child subreaper)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def descendants(root):
    """Pids of every process below `root` (from /proc)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def kill_tree(root):
    for pid in [root] + descendants(root):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run_one(cmd, out_path, err_path, timeout_s):
    wait = wait_quiet()
    f0 = stat_fields()
    b0, o0, t0 = busy_seconds(), own_seconds(), time.monotonic()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, start_new_session=True)
        try:
            code = p.wait(timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            kill_tree(p.pid)
            code = p.wait()
            timed_out = True
    for pid in descendants(os.getpid()):  # anything the run left behind
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(0.2)
    reap_orphans()
    wall = time.monotonic() - t0
    busy = busy_seconds() - b0
    own = own_seconds() - o0
    f1 = stat_fields()
    by_kind = {k: f1[k] - f0[k] for k in f0 if k not in ("idle", "iowait")}
    return {
        "cmd": cmd,
        "exit_code": code,
        "timed_out": timed_out,
        "wall_s": wall,
        "own_cpu_s": own,
        "machine_busy_cpu_s": busy,
        "foreign_cpu_s": busy - own,
        "foreign_cores": (busy - own) / wall if wall > 0 else None,
        "machine_busy_cpu_s_by_kind": by_kind,
        "quiet_wait": wait,
    }


def record_missing(out_path, err_path, names, result):
    """A run that failed without a line for each of `names` (e.g. not root) gets an
    error line for each, as a benchmark that fails prints: value null, unit "error"
    and why (its last line on stderr)."""
    have = set()
    with open(out_path) as f:
        for line in f:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and "name" in rec:
                have.add(rec["name"])
    missing = [n for n in names if n not in have]
    if not missing:
        return
    why = ""
    try:
        with open(err_path, errors="replace") as f:
            lines = [ln.strip() for ln in f if ln.strip()]
        why = lines[-1] if lines else ""
    except OSError:
        pass
    if result["timed_out"]:
        why = f"timed out after {result['wall_s']:.0f} s" + (f"; last said: {why}" if why else "")
    elif not why:
        why = f"exited with status {result['exit_code']} and no figure"
    with open(out_path, "a") as f:
        for n in missing:
            f.write(json.dumps({"name": n, "value": None, "unit": "error", "error": why}) + "\n")


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    debian = ""
    try:
        with open("/etc/debian_version") as f:
            debian = f.read().strip()
    except OSError:
        pass
    versions = {}
    try:
        import dask
        import distributed

        versions = {"dask": dask.__version__, "distributed": distributed.__version__}
    except ImportError:
        pass
    try:
        gcc = subprocess.run(["c++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        gcc = ""
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_total_gib": mem_kb / 1048576,
        "kernel": platform.release(),
        "debian": debian,
        "python": platform.python_version(),
        "compiler": gcc,
        "peer_versions": versions,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build", help="the meson build directory")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--part", default=",".join(PARTS), help="comma-separated parts: " + ", ".join(PARTS))
    ap.add_argument("--only", help="comma-separated benchmark names, passed to both sides")
    ap.add_argument("--ours-args", default="", help="more flags for actors_bench")
    ap.add_argument("--peer-args", default="", help="more flags for dask_bench.py")
    ap.add_argument("--ours-timeout", type=float, default=1500.0)
    ap.add_argument("--peer-timeout", type=float, default=330.0)
    args = ap.parse_args()
    parts = [p for p in args.part.split(",") if p]
    for p in parts:
        if p not in PARTS:
            ap.error(f"--part: {p} is not one of {', '.join(PARTS)}")
    names = [n for n in (args.only or "").split(",") if n]
    if any(n in PARTS for n in names):
        parts = [p for p in PARTS if p in names]
        args.only = ",".join(n for n in names if n not in PARTS) or None

    # Orphans of a run (a killed benchmark's daemons) become our children, so their
    # CPU time is counted as the run's own, not as foreign load.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass

    build = os.path.abspath(args.build)
    ours = [
        os.path.join(build, "tests/perf/actors_bench"),
        "--actorsd", os.path.join(build, "runtime/daemon/actorsd"),
        "--cli", os.path.join(build, "runtime/cli/actors"),
        "--job", os.path.join(build, "tests/perf/libbenchjob.so"),
    ]
    peer = [sys.executable, os.path.join(HERE, "peers", "dask_bench.py")]
    netns = ["/bin/bash", os.path.join(HERE, "netns_transfer.sh"),
             "--bench", os.path.join(build, "tests/perf/data_channel_bench"), "--runs", str(NETNS_FETCHES)]
    for path in (ours[0], ours[2], ours[4], ours[6]):
        if not os.path.exists(path):
            sys.exit(f"run.py: {path} is missing: build first (./dev bench does)")
    only = ["--only", args.only] if args.only else []
    ours_extra = only + shlex.split(args.ours_args)
    peer_extra = only + shlex.split(args.peer_args)
    # The spec's 285 s budget binds the peer's spec suite only; its other parts get more.
    long_peer = ["--watchdog", str(EXTRA_WATCHDOG_S)]
    long_timeout = max(args.peer_timeout, EXTRA_WATCHDOG_S + 45)
    # The namespaces figure is ours alone; a name filter runs it only if it names it.
    netns_plan = [("ours", "ours-netns", netns, NETNS_TIMEOUT_S)] if not args.only or NETNS_NAME in names else []
    # Figures a command must print; if it fails without them, run.py writes their error lines.
    expects = {"ours-netns": [NETNS_NAME]}
    # part -> [(side, file stem, command, timeout)], ours first
    plan = {
        "suite": [("ours", "ours", ours + ["--mode", "both"] + ours_extra, args.ours_timeout),
                  ("peer", "peer", peer + peer_extra, args.peer_timeout)],
        "extra": netns_plan + [("peer", "peer-extra", peer + ["--suite", "extra"] + long_peer + peer_extra,
                                long_timeout)],
        "scaling": [("ours", "ours-scaling", ours + ["--mode", "scaling"] + ours_extra, args.ours_timeout),
                    ("peer", "peer-scaling", peer + ["--suite", "scaling"] + long_peer + peer_extra, long_timeout)],
    }

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    outdir = os.path.join(os.path.abspath(args.out), stamp)
    os.makedirs(outdir, exist_ok=True)
    meta = {"machine": machine(), "runs": []}

    def save():
        with open(os.path.join(outdir, "meta.json"), "w") as f:
            json.dump(meta, f, indent=2)

    save()
    for i in range(1, args.runs + 1):
        for part in parts:
            for impl, stem, cmd, timeout in plan[part]:
                what = f"run {i}/{args.runs}: {part}: {impl}"
                print(f"run.py: {what}: waiting for a quiet machine", file=sys.stderr, flush=True)
                out_path, err_path = os.path.join(outdir, f"{stem}-{i}.jsonl"), os.path.join(outdir, f"{stem}-{i}.log")
                r = run_one(cmd, out_path, err_path, timeout)
                if stem in expects:
                    record_missing(out_path, err_path, expects[stem], r)
                r.update({"impl": impl, "part": part, "run": i})
                meta["runs"].append(r)
                save()
                print(f"run.py: {what}: exit {r['exit_code']}, {r['wall_s']:.1f} s, "
                      f"foreign load {r['foreign_cores']:.2f} cores, quiet={r['quiet_wait']['quiet']}",
                      file=sys.stderr, flush=True)
    print(outdir)


if __name__ == "__main__":
    main()
