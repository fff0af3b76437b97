#!/usr/bin/env bash
# Kills (SIGKILL) a program that started node processes with
# --actors-local-nodes and expects them to end within 10 s: they belong to its
# process, which can no longer tell them to stop.
# Usage: check_local_nodes_end_with_head.sh PROGRAM
set -uo pipefail
program=$1
out=$(mktemp)
pids=""
cleanup() {
  [ -n "${head:-}" ] && kill -9 "$head" 2>/dev/null
  for p in $pids; do kill -9 "$p" 2>/dev/null; done
  rm -f "$out"
}
trap cleanup EXIT
"$program" --wait --actors-local-nodes=3 >"$out" 2>&1 &
head=$!
for _ in $(seq 300); do
  grep -q '^node pids:' "$out" && break
  sleep 0.05
done
pids=$(sed -n 's/^node pids://p' "$out")
if [ -z "$pids" ]; then
  echo "the program did not list its node processes:" >&2
  cat "$out" >&2
  exit 1
fi
kill -9 "$head"
wait "$head" 2>/dev/null
for _ in $(seq 200); do
  left=""
  for p in $pids; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
  if [ -z "$left" ]; then
    echo "node processes$pids ended with their head"
    exit 0
  fi
  sleep 0.05
done
echo "node processes$left still run 10 s after their head was killed" >&2
exit 1
