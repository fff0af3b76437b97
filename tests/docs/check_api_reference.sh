#!/usr/bin/env bash
# The API reference builds from the public headers without a Doxygen warning,
# and shows what a user looks for: the classes with their /// text, the
# version, and nothing of the detail namespace.
# Usage: check_api_reference.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src="$1" build="$2"
out="$build/tests/docs/api-reference"
rm -rf "$out"
"$src/docs/api/make-reference" "$out" "$build"
html="$out/html"
fail() { echo "check_api_reference: $*" >&2; exit 1; }
[ -f "$html/index.html" ] || fail "no index.html in $html"
version="$(sed -n 's/^#define ACTORS_VERSION "\(.*\)"$/\1/p' "$build/libactors/include/actors/version.hpp")"
grep -q "$version" "$html/index.html" || fail "the index does not show version $version"
for page in classactors_1_1object__ref classactors_1_1actor__handle classactors_1_1data_1_1dataset \
            classactors_1_1metrics_1_1counter classactors_1_1object__lost__error classactors_1_1tune_1_1tuner; do
  [ -f "$html/$page.html" ] || fail "no page $page.html: a public class is missing from the reference"
done
grep -q "A reference to an immutable object somewhere in the cluster" "$html/classactors_1_1object__ref.html" \
  || fail "object_ref's page lacks the /// text of its header"
if ls "$html" | grep -q "actors_1_1detail"; then
  fail "the reference shows the detail namespace: $(ls "$html" | grep actors_1_1detail | head -3 | tr '\n' ' ')"
fi
echo "check_api_reference: $(ls "$html" | grep -c '^class.*[^s]\.html$') class pages in $html"
