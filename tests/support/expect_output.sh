#!/usr/bin/env bash
# Runs a command, shows its output, and fails unless the output matches a pattern.
# Usage: expect_output.sh PATTERN COMMAND [ARGS...]
set -uo pipefail
pattern=$1
shift
out=$("$@" 2>&1)
code=$?
printf '%s\n' "$out"
if [ "$code" -ne 0 ]; then
  echo "expect_output: '$*' exited with $code" >&2
  exit 1
fi
if ! grep -Eq -- "$pattern" <<<"$out"; then
  echo "expect_output: the output does not match /$pattern/" >&2
  exit 1
fi
