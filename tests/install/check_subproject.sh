#!/usr/bin/env bash
# Configures a Meson project outside the tree that takes this one as a subproject
# (dependency('actors', fallback: ...)), and checks what the subproject builds:
# its three libraries, for the consumer's programs, and none of its programs,
# examples or tests. Configure only: the libraries are the ones the main build
# already compiles.
# Usage: check_subproject.sh SOURCE_DIR
set -euo pipefail
src=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/subprojects"
ln -s "$src" "$work/subprojects/actors"
cp "$src/tests/install/app.cpp" "$src/tests/install/data_app.cpp" "$src/tests/install/tune_app.cpp" "$work/"
cat > "$work/meson.build" <<'MESON'
project('actors_consumer', 'cpp', default_options: ['cpp_std=c++20'])
executable('app', 'app.cpp', dependencies: dependency('actors', fallback: ['actors']))
executable('data_app', 'data_app.cpp', dependencies: dependency('actors-data', fallback: ['actors']))
executable('tune_app', 'tune_app.cpp', dependencies: dependency('actors-tune', fallback: ['actors']))
MESON
meson setup "$work/build" "$work" >"$work/setup.log" 2>&1 \
  || { cat "$work/setup.log"; echo "a project with actors as a subproject did not configure" >&2; exit 1; }
targets=$(meson introspect "$work/build" --targets \
  | python3 -c 'import json, sys; print("\n".join(sorted(t["name"] for t in json.load(sys.stdin))))')
echo "targets of the consumer's build:"
echo "$targets"
for want in app data_app tune_app actors actors_data actors_tune; do
  grep -qx "$want" <<<"$targets" || { echo "the consumer's build has no target '$want'" >&2; exit 1; }
done
for unwanted in actorsd quickstart cluster_test tasks_test; do
  if grep -qx "$unwanted" <<<"$targets"; then
    echo "the subproject builds '$unwanted': it should build only its libraries" >&2
    exit 1
  fi
done
