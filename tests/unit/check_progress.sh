#!/usr/bin/env bash
# A dataset program on a terminal draws its progress lines and clears them;
# with --actors-progress=false, or with stderr not a terminal, it draws none.
# `script` (util-linux) gives the program a pseudo-terminal.
# Usage: check_progress.sh PROGRAM [ARGS...]
set -euo pipefail
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
fail() { echo "check_progress: $*" >&2; exit 1; }
quoted="$(printf '%q ' "$@")"

script -qefc "$quoted" /dev/null > "$out/tty" 2>&1 || fail "the program failed on a terminal: $(tail -5 "$out/tty")"
grep -aqE 'dataset [^:]+: [0-9]+/[0-9]+ blocks, [0-9.]+[kMG]? rows' "$out/tty" \
  || fail "no progress line on a terminal; it printed: $(head -c 2000 "$out/tty" | cat -v)"
grep -aq $'\x1b\\[J' "$out/tty" || fail "the progress lines were never cleared"

script -qefc "$quoted --actors-progress=false" /dev/null > "$out/off" 2>&1 || fail "the program failed with --actors-progress=false"
if grep -aq ' blocks, ' "$out/off"; then fail "--actors-progress=false still drew progress: $(grep -a ' blocks, ' "$out/off" | head -2 | cat -v)"; fi

"$@" > "$out/pipe" 2>&1 || fail "the program failed without a terminal: $(tail -5 "$out/pipe")"
if grep -aq ' blocks, ' "$out/pipe"; then fail "progress was drawn into a pipe: $(grep -a ' blocks, ' "$out/pipe" | head -2)"; fi

echo "check_progress: $(grep -ac ' blocks, ' "$out/tty") drawings with progress on a terminal, none off it"
