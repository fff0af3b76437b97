#!/usr/bin/env bash
# The example job (examples/job) on a standing cluster of daemons, as the
# cluster guide runs it: a head offering no CPUs and two nodes, each started
# with `actorsd --load` of the job library, then the driver that links the
# library, joined with --actors-address. The driver's line must count every
# word, on both nodes and none on the driver; then `actors stop` must end every
# daemon with status 0.
#
# The cluster lives in its own session directory, so it never meets another
# one. Every wait is bounded; however the script ends, the daemons still
# running are killed and the directory is removed (the logs are printed first
# when it failed).
#
# Usage: check_job_example.sh ACTORSD ACTORS_CLI JOB_LIBRARY JOB_DRIVER
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 ACTORSD ACTORS_CLI JOB_LIBRARY JOB_DRIVER" >&2; exit 2; }
actorsd=$1 cli=$2 library=$3 driver=$4
expected='^6 texts counted on 2 node\(s\), 0 on this driver: 36 words; most common: the 10, driver 2, job 2$'

dir="$(mktemp -d /tmp/actors-job-example-XXXXXX)"
export ACTORS_SESSION_DIR="$dir"
unset ACTORS_ADDRESS ACTORS_TOKEN
daemons=()

clean_up() {
  local status=$?
  local pid
  # Nothing stops the clean-up halfway: not a failed command, not a reader of
  # the output that went away.
  set +e
  trap '' PIPE
  for pid in "${daemons[@]}"; do
    kill -KILL "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  if [ "$status" -ne 0 ]; then
    local log
    for log in "$dir"/*.log; do
      [ -f "$log" ] && { echo "--- ${log##*/}"; tail -n 40 "$log"; } >&2
    done
  fi
  rm -rf "$dir"
}
trap clean_up EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "check_job_example: $*" >&2
  exit 1
}

# up_within SECONDS WHAT CONDITION...: runs CONDITION every 0.1 s until it holds;
# fails saying WHAT did not happen once SECONDS have passed.
up_within() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$what within $seconds s"
    sleep 0.1
  done
}

# alive PID LOG: fails at once, with the process's log, if it has exited.
alive() {
  kill -0 "$1" 2>/dev/null || fail "${2##*/} ended early: $(tail -n 20 "$2")"
}

head_listening() {
  alive "$head" "$dir/head.log"
  grep -qs '^address=' "$dir/session_latest"
}

nodes_joined() {
  local i
  for i in 0 1; do
    alive "${daemons[i + 1]}" "$dir/node$i.log"
    grep -qs ' joined ' "$dir/node$i.log" || return 1
  done
}

# exited_within SECONDS PID: waits for PID to exit; its status, or 124 on timeout.
exited_within() {
  local deadline=$((SECONDS + $1))
  while kill -0 "$2" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || return 124
    sleep 0.1
  done
  local status=0
  wait "$2" || status=$?
  return "$status"
}

[ -f "$library" ] || fail "no job library at $library: build it with ninja -C build examples/job/libjob.so"

"$actorsd" --head --port 0 --num-cpus 0 --metrics-port -1 --load "$library" >"$dir/head.log" 2>&1 &
head=$!
daemons+=("$head")
up_within 20 "the head did not write its session file $dir/session_latest" head_listening
address="$(sed -n 's/^address=//p' "$dir/session_latest")"

# The nodes take the token from the session file, as on the head's machine.
for i in 0 1; do
  "$actorsd" --address "$address" --num-cpus 2 --metrics-port -1 --load "$library" >"$dir/node$i.log" 2>&1 &
  daemons+=("$!")
done
up_within 20 "the two nodes did not join $address" nodes_joined

status=0
timeout --foreground 60 "$driver" --actors-address="$address" >"$dir/driver.log" 2>&1 || status=$?
[ "$status" -eq 0 ] || fail "the driver exited with status $status (124: still running after 60 s): $(tail -n 20 "$dir/driver.log")"
grep -Eq -- "$expected" "$dir/driver.log" \
  || fail "the driver's output does not match /$expected/; it printed: $(cat "$dir/driver.log")"
grep -E -- "$expected" "$dir/driver.log"

timeout --foreground 10 "$cli" stop >"$dir/stop.log" 2>&1 || fail "actors stop failed: $(cat "$dir/stop.log")"
names=("the head" node0 node1)
for i in 0 1 2; do
  status=0
  exited_within 10 "${daemons[i]}" || status=$?
  [ "$status" -eq 0 ] || fail "${names[i]} ended with status $status after actors stop (124: still running 10 s after it)"
done
daemons=()
echo "check_job_example: the driver counted on 2 nodes; actors stop ended the head and both nodes"
