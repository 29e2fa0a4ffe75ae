#!/usr/bin/env bash
# libzoo as an installed library: `meson install` into a staging dir; the example is
# compiled outside the tree with pkg-config alone, as C and as C++ with warnings as
# errors, and must run; the shared library exports the public API alone (zoo_ names,
# none of the internals' zoo__ ones), and the headers' version is the library's.
# Usage: tests/install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
meson install -C "$build" --no-rebuild --destdir "$stage" --quiet >/dev/null
pc=$(find "$stage" -name zoo.pc | head -n 1)
[ -n "$pc" ] || { echo "no zoo.pc installed"; exit 1; }
prefix=$(sed -n 's/^prefix=//p' "$pc")
export PKG_CONFIG_PATH=$(dirname "$pc")
flags=$(pkg-config --define-variable=prefix="$stage$prefix" --cflags --libs zoo)
libdir=$(pkg-config --define-variable=prefix="$stage$prefix" --variable=libdir zoo)
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror "$src/examples/two_layer.c" -o "$stage/two_layer" $flags -lm
# shellcheck disable=SC2086
c++ -std=c++17 -x c++ -Wall -Wextra -Werror "$src/examples/two_layer.c" -o "$stage/two_layer_cxx" $flags -lm
LD_LIBRARY_PATH="$libdir" "$stage/two_layer" > "$stage/c.out"
LD_LIBRARY_PATH="$libdir" "$stage/two_layer_cxx" > "$stage/cxx.out"
cmp -s "$stage/c.out" "$stage/cxx.out" || { echo "the C and C++ builds of the example print different results"; exit 1; }

# only the public API leaves the library
lib=$(find "$stage" -name 'libzoo.so' | head -n 1)
bad=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^zoo_' || true)
[ -z "$bad" ] || { echo "libzoo.so exports non-zoo_ symbols:"; echo "$bad" | head; exit 1; }
internal=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep '^zoo__' || true)
[ -z "$internal" ] || { echo "libzoo.so exports internals:"; echo "$internal" | head; exit 1; }
exports=$(nm -D --defined-only "$lib" | awk '{print $3}')
echo "$exports" | grep -qx zoo_matmul || { echo "libzoo.so does not export zoo_matmul"; exit 1; }
# the internal headers are not installed
for h in core/internal.h backends/backend.h backends/base.h backends/ops.def; do
  [ -z "$(find "$stage" -path "*/zoo/$h")" ] || { echo "internal header $h is installed"; exit 1; }
done

# the headers' version, the library's and pkg-config's agree
version=$(pkg-config --modversion zoo)
grep -q "libzoo $version (headers $version)" "$stage/c.out" ||
  { echo "version mismatch: pkg-config $version, example printed: $(head -n 1 "$stage/c.out")"; exit 1; }
echo "installed headers, library and pkg-config file build the example as C and C++ (libzoo $version)"
