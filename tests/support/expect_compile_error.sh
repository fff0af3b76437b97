#!/usr/bin/env bash
# Compiles a source that must not compile, and fails unless the compiler refuses
# it with a message matching a pattern.
# Usage: expect_compile_error.sh PATTERN SOURCE COMPILER [FLAGS...]
set -uo pipefail
pattern=$1
source=$2
shift 2
out=$("$@" -fsyntax-only "$source" 2>&1)
code=$?
if [ "$code" -eq 0 ]; then
  echo "expect_compile_error: $source compiled, but it must not" >&2
  exit 1
fi
if ! grep -Eq -- "$pattern" <<<"$out"; then
  printf '%s\n' "$out" | head -40
  echo "expect_compile_error: the compiler refused $source, but not with /$pattern/" >&2
  exit 1
fi
echo "refused as expected: $(grep -Eo -- "$pattern" <<<"$out" | head -1)"
