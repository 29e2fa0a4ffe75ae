#!/usr/bin/env bash
# Installs what zoo needs from Debian (only what is missing) and builds it in
# build/ (release) — the shared first half of both quick-start commands.
# Usage: bash scripts/setup.sh [BUILD_DIR [meson options...]]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential meson ninja-build pkg-config
  libopenblas-openmp-dev libpng-dev libstb-dev libcjson-dev zlib1g-dev
  libvulkan-dev glslc mesa-vulkan-drivers vulkan-validationlayers
  libopenmpi-dev openmpi-bin  # data-parallel training under mpirun (meson -Dmpi=auto)
  dataset-fashion-mnist fortunes
  python3 python3-numpy
  clang libclang-rt-14-dev  # libFuzzer, for the fuzz targets (scripts/fuzz.sh)
)
# The reference comparisons (bench/, tools/) need PyTorch; it is large, so only
# the test command asks for it (ZOO_WITH_TORCH=1).
if [ "${ZOO_WITH_TORCH:-0}" = 1 ]; then packages+=(python3-torch); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

build=${1:-build}
shift || true
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --buildtype=release "$@"
fi
ninja -C "$build"
