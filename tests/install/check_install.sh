#!/usr/bin/env bash
# Installs the build into a scratch root, then builds and runs a program outside the
# tree with `g++ -std=c++20 app.cpp $(pkg-config --cflags --libs actors)`.
# Usage: check_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(realpath "$1")
src=$(realpath "$2")
root=$(mktemp -d)
work=$(mktemp -d)
trap 'rm -rf "$root" "$work"' EXIT

meson install -C "$build" --destdir "$root" --no-rebuild --quiet
pc=$(find "$root" -name actors.pc | head -n1)
lib=$(find "$root" -name 'libactors.so' | head -n1)
[ -n "$pc" ] || { echo "actors.pc was not installed" >&2; exit 1; }
[ -n "$lib" ] || { echo "libactors.so was not installed" >&2; exit 1; }
[ -f "$(dirname "$pc")/../../include/actors/actors.hpp" ] || [ -n "$(find "$root" -path '*/include/actors/actors.hpp')" ] \
  || { echo "public headers were not installed" >&2; exit 1; }
if find "$root" -path '*/include/*' -name '*.hpp' | grep -q '/runtime/'; then
  echo "runtime headers must not be installed" >&2
  exit 1
fi

cp "$src/tests/install/app.cpp" "$work/"
cd "$work"
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR="$root"
g++ -std=c++20 app.cpp $(pkg-config --cflags --libs actors) -o app
out=$(LD_LIBRARY_PATH=$(dirname "$lib") ./app --actors-num-cpus=2)
echo "installed program printed: $out"
[ "$out" = "1 4 9 16 25 " ] || { echo "unexpected output" >&2; exit 1; }

# Datasets: the actors-data package, which requires actors.
cp "$src/tests/install/data_app.cpp" "$work/"
g++ -std=c++20 data_app.cpp $(pkg-config --cflags --libs actors-data) -o data_app
data_lib=$(find "$root" -name 'libactors_data.so' | head -n1)
out=$(LD_LIBRARY_PATH=$(dirname "$lib"):$(dirname "$data_lib") ./data_app --actors-num-cpus=2)
echo "installed dataset program printed: $out"
[ "$out" = "14850 297" ] || { echo "unexpected output from the dataset program" >&2; exit 1; }
