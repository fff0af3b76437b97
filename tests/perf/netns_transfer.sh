#!/usr/bin/env bash
# 256 MiB over the data channel between two hosts made of network namespaces on this
# machine: a bridge with an address of its own and two namespaces with theirs, each
# joined to the bridge by a veth pair; data_channel_bench --serve in the first and
# --fetch in the second, addressing each other only. Prints the fetcher's JSON line
# on stdout:
#
#   {"name": "data_channel_netns_256mib", "value": <median GB/s>, "unit": "GB/s", ...}
#
#   sudo tests/perf/netns_transfer.sh [--bench PATH] [--runs N] [--size BYTES]
#
# --bench defaults to build/tests/perf/data_channel_bench next to this script's
# repository; --runs (default 5) and --size (default 268435456) go to the bench.
# Needs root (exits 2 without it). Makes bridge actb-br0 (10.211.7.1/24), namespaces
# actb-h1 (10.211.7.11) and actb-h2 (10.211.7.12) and links actb-v1, actb-v2, and
# removes them all on exit, also after a failure or Ctrl-C; whatever a killed earlier
# run left behind is removed first. One run at a time (a lock in /run/lock). Every
# wait is bounded; the server also exits by itself when this script goes away (its
# stdin is a FIFO only this script holds open).

set -euo pipefail

ME=netns_transfer.sh
HERE="$(cd "$(dirname "$0")" && pwd)"
BENCH="$HERE/../../build/tests/perf/data_channel_bench"
RUNS=5
SIZE=$((256 << 20))

BR=actb-br0
NS=(actb-h1 actb-h2)
VETH=(actb-v1 actb-v2)
NET=10.211.7
BR_ADDR=$NET.1
ADDR=("$NET.11" "$NET.12")
PORT=7611
READY_S=60       # the server making its value and listening
STOP_S=10        # the server going away once asked
FETCH_EACH_S=60  # per fetch (the bench itself gives up on a fetch after 60 s)

# Fails with a message; once the cleanup trap is set, the trap prints it last (after
# the server's own last words), so that it ends stderr.
WHY=""
TRAPPED=0
die() {
  WHY="$*"
  [ "$TRAPPED" -eq 1 ] || echo "$ME: $WHY" >&2
  exit 1
}

usage() {
  echo "usage: $ME [--bench PATH] [--runs N] [--size BYTES]" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --bench) [ $# -ge 2 ] || usage; BENCH="$2"; shift 2 ;;
    --runs) [ $# -ge 2 ] || usage; RUNS="$2"; shift 2 ;;
    --size) [ $# -ge 2 ] || usage; SIZE="$2"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "$ME: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "$ME: --runs must be a positive number" >&2; usage; }
[[ "$SIZE" =~ ^[1-9][0-9]*$ ]] || { echo "$ME: --size must be a positive number of bytes" >&2; usage; }

if [ "$(id -u)" -ne 0 ]; then
  echo "$ME: must run as root: it makes network namespaces, veth links and a bridge" >&2
  exit 2
fi
[ -x "$BENCH" ] || die "$BENCH is missing or not executable: build tests/perf/data_channel_bench first"
BENCH="$(cd "$(dirname "$BENCH")" && pwd)/$(basename "$BENCH")"

# One run at a time: the names are fixed.
exec 9>/run/lock/actb-netns.lock
flock -w 120 9 || die "another run still holds /run/lock/actb-netns.lock after 120 s"

TMP=""
SERVER_PID=""
FETCH_PID=""

# Stops a process this script started (by pid): TERM, then KILL after $2 seconds.
stop_pid() {
  local pid="$1" grace="$2" i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

link_exists() {
  ip link show "$1" >/dev/null 2>&1
}

# Removes the namespaces, links and bridge (of this run or one killed before it), and
# whatever still runs inside the namespaces (only this script starts processes there).
remove_net() {
  local ns pid l i left
  for ns in "${NS[@]}"; do
    if [ -e "/run/netns/$ns" ]; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do
        kill -KILL "$pid" 2>/dev/null || true
      done
      ip netns del "$ns" 2>/dev/null || echo "$ME: could not delete namespace $ns" >&2
    fi
  done
  # Deleting a namespace takes its end of a veth pair with it, but the kernel may keep
  # the pair for a moment: delete our ends explicitly, and wait until they are gone.
  for ((i = 0; i < 50; i++)); do
    left=()
    for l in "${VETH[@]}" "$BR"; do
      if link_exists "$l"; then
        left+=("$l")
        ip link del "$l" 2>/dev/null || true
      fi
    done
    [ ${#left[@]} -eq 0 ] && return 0
    sleep 0.1
  done
  echo "$ME: links still present after 5 s: ${left[*]}" >&2
  return 1
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  set +e
  exec 3>&-                    # the server's stdin ends: it stops by itself
  stop_pid "$FETCH_PID" 5
  stop_pid "$SERVER_PID" "$STOP_S"
  remove_net || rc=1
  [ -n "$TMP" ] && rm -rf "$TMP"
  if [ "$rc" -ne 0 ]; then
    case "$rc" in
      129|130|143) WHY="${WHY:-stopped by a signal}" ;;
    esac
    echo "$ME: ${WHY:-failed (status $rc)}" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'WHY="interrupted (SIGINT)"; exit 130' INT
trap 'WHY="terminated (SIGTERM)"; exit 143' TERM
trap 'WHY="hung up (SIGHUP)"; exit 129' HUP
TRAPPED=1

# The subnet must be free, or ours from a run killed before.
if ip -4 route show "$NET.0/24" | grep -v " dev $BR " | grep -q .; then
  die "$NET.0/24 is already routed on this machine: $(ip -4 route show "$NET.0/24" | head -n 1)"
fi
remove_net || die "could not remove what an earlier run left behind"
rm -rf /tmp/actb-netns.*   # an earlier run's files (no other run holds the lock)

TMP="$(mktemp -d /tmp/actb-netns.XXXXXX)"

# The hosts: a bridge, and per host a namespace, a veth pair with one end on the
# bridge and the other (eth0) in the namespace, an address and the links up.
ip link add "$BR" type bridge && ip link set "$BR" up && ip addr add "$BR_ADDR/24" dev "$BR"
for i in 0 1; do
  ip netns add "${NS[$i]}"
  ip link add "${VETH[$i]}" type veth peer name eth0 netns "${NS[$i]}"
  ip link set "${VETH[$i]}" master "$BR" up
  ip -n "${NS[$i]}" addr add "${ADDR[$i]}/24" dev eth0
  ip -n "${NS[$i]}" link set eth0 up && ip -n "${NS[$i]}" link set lo up
done
MTU="$(cat "/sys/class/net/${VETH[0]}/mtu")"

TOKEN="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# The server in host 1. Its stdin is a FIFO that only this script holds open (fd 3):
# when the script ends, however it ends, the server reads EOF and stops.
mkfifo "$TMP/server.stdin"
exec 3<>"$TMP/server.stdin"
timeout -k 5 $((READY_S + RUNS * FETCH_EACH_S + 60)) \
  ip netns exec "${NS[0]}" "$BENCH" --serve "${ADDR[0]}:$PORT" --token "$TOKEN" --size "$SIZE" \
  <"$TMP/server.stdin" >"$TMP/server.out" 3>&- 9>&- &
SERVER_PID=$!

deadline=$((SECONDS + READY_S))
until grep -qx ready "$TMP/server.out" 2>/dev/null; do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    wait "$SERVER_PID" && rc=0 || rc=$?
    SERVER_PID=""
    die "the server in ${NS[0]} exited (status $rc) before it was ready"
  fi
  [ "$SECONDS" -lt "$deadline" ] || die "the server in ${NS[0]} was not ready after $READY_S s"
  sleep 0.1
done

# The fetcher in host 2, in the background so that a signal interrupts the wait.
NOTE="server in network namespace ${NS[0]} (${ADDR[0]}), fetcher in ${NS[1]} (${ADDR[1]}), each joined by a veth pair to bridge $BR (MTU $MTU)"
FETCH_S=$((RUNS * FETCH_EACH_S + 30))
timeout -k 5 "$FETCH_S" \
  ip netns exec "${NS[1]}" "$BENCH" --fetch "${ADDR[0]}:$PORT" --token "$TOKEN" --size "$SIZE" \
  --runs "$RUNS" --note "$NOTE" </dev/null >"$TMP/fetch.out" 3>&- 9>&- &
FETCH_PID=$!
wait "$FETCH_PID" && rc=0 || rc=$?
FETCH_PID=""

grep '^{' "$TMP/fetch.out" || true
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  die "the fetcher in ${NS[1]} did not finish within $FETCH_S s"
elif [ "$rc" -ne 0 ]; then
  die "the fetcher in ${NS[1]} failed (status $rc)"
fi
grep -q '"unit": "GB/s"' "$TMP/fetch.out" || die "the fetcher printed no figure"

# Stop the server the gentle way (end of its stdin), then clean up.
exec 3>&-
stop_deadline=$((SECONDS + STOP_S))
while kill -0 "$SERVER_PID" 2>/dev/null && [ "$SECONDS" -lt "$stop_deadline" ]; do
  sleep 0.1
done
exit 0
