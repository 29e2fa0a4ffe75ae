#!/usr/bin/env bash
# libzoo as an installed library: `meson install` into a staging dir, then the
# example is compiled outside the tree with pkg-config alone, and must run.
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
LD_LIBRARY_PATH="$libdir" "$stage/two_layer"
echo "installed headers, library and pkg-config file build the example"
