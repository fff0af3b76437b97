#!/usr/bin/env bash
# Installs the build into a scratch root, then builds and runs programs outside the
# tree with `g++ -std=c++20 app.cpp $(pkg-config --cflags --libs actors)` and with a
# CMake project that calls find_package(actors).
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

# The allocator the build chose (meson_options.txt): a program linked through
# either package must get it too, or it would run on another malloc than actorsd.
allocator=$(meson introspect "$build" --buildoptions \
  | python3 -c 'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "allocator"))')
sanitize=$(meson introspect "$build" --buildoptions \
  | python3 -c 'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "b_sanitize"))')
check_allocator() {
  if [ "$allocator" = tcmalloc ] && [ "$sanitize" = none ]; then
    readelf -d "$1" | grep -q 'NEEDED.*libtcmalloc_minimal' \
      || { echo "$2 is not linked with tcmalloc, the allocator this build chose" >&2; exit 1; }
  elif readelf -d "$1" | grep -q 'NEEDED.*libtcmalloc'; then
    echo "$2 is linked with tcmalloc, which this build (allocator=$allocator, b_sanitize=$sanitize) left out" >&2
    exit 1
  fi
}

cp "$src/tests/install/app.cpp" "$work/"
cd "$work"
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR="$root"
g++ -std=c++20 app.cpp $(pkg-config --cflags --libs actors) -o app
check_allocator app "the program built with pkg-config"
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

# Parameter search: the actors-tune package, which requires actors.
cp "$src/tests/install/tune_app.cpp" "$work/"
g++ -std=c++20 tune_app.cpp $(pkg-config --cflags --libs actors-tune) -o tune_app
tune_lib=$(find "$root" -name 'libactors_tune.so' | head -n1)
out=$(LD_LIBRARY_PATH=$(dirname "$lib"):$(dirname "$tune_lib") ./tune_app --actors-num-cpus=2 2>/dev/null)
echo "installed tune program printed: $out"
[ "$out" = "4 3" ] || { echo "unexpected output from the tune program" >&2; exit 1; }

# CMake: find_package(actors) from the installed tree, every target, and a
# version request the package must refuse.
config_dir=$(dirname "$(find "$root" -name actorsConfig.cmake | head -n1)")
[ -f "$config_dir/actorsConfigVersion.cmake" ] || { echo "actorsConfigVersion.cmake was not installed" >&2; exit 1; }
install_prefix="$root$(meson introspect "$build" --buildoptions \
  | python3 -c 'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')"
mkdir -p "$work/cmake-app" && cd "$work/cmake-app"
cp "$src/tests/install/app.cpp" "$src/tests/install/data_app.cpp" "$src/tests/install/tune_app.cpp" .
cat > CMakeLists.txt <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(actors_consumer CXX)
find_package(actors 0.1 REQUIRED)
add_executable(app app.cpp)
target_link_libraries(app PRIVATE actors::actors)
add_executable(data_app data_app.cpp)
target_link_libraries(data_app PRIVATE actors::data)
add_executable(tune_app tune_app.cpp)
target_link_libraries(tune_app PRIVATE actors::tune)
CMAKE
cmake -S . -B build -DCMAKE_PREFIX_PATH="$install_prefix" -DCMAKE_BUILD_TYPE=Release >cmake.log 2>&1 \
  || { cat cmake.log; echo "cmake could not configure a project with find_package(actors)" >&2; exit 1; }
cmake --build build >>cmake.log 2>&1 || { cat cmake.log; echo "the CMake project did not build" >&2; exit 1; }
check_allocator build/app "the CMake-built program"
out=$(./build/app --actors-num-cpus=2)
echo "CMake-built program printed: $out"
[ "$out" = "1 4 9 16 25 " ] || { echo "unexpected output from the CMake-built program" >&2; exit 1; }
out=$(./build/data_app --actors-num-cpus=2)
echo "CMake-built dataset program printed: $out"
[ "$out" = "14850 297" ] || { echo "unexpected output from the CMake-built dataset program" >&2; exit 1; }
out=$(./build/tune_app --actors-num-cpus=2 2>/dev/null)
echo "CMake-built tune program printed: $out"
[ "$out" = "4 3" ] || { echo "unexpected output from the CMake-built tune program" >&2; exit 1; }
mkdir too-new && cd too-new
printf 'cmake_minimum_required(VERSION 3.16)\nproject(too_new CXX)\nfind_package(actors 1.0 REQUIRED)\n' > CMakeLists.txt
if cmake -S . -B build -DCMAKE_PREFIX_PATH="$install_prefix" >cmake.log 2>&1; then
  echo "find_package(actors 1.0) was accepted by version $(grep -o '"[0-9.]*"' "$config_dir/actorsConfigVersion.cmake" | head -n1)" >&2
  exit 1
fi
grep -q "with requested version \"1.0\"" cmake.log && grep -q "version: 0.1" cmake.log \
  || { cat cmake.log; echo "cmake refused version 1.0 for another reason than the version" >&2; exit 1; }
echo "find_package(actors 1.0) is refused, as it should be"
