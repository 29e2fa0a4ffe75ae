#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang in build-fuzz and runs each for
# SECONDS (default 20) from its seed corpus, one after the other; exits non-zero when any
# finds a crash, leak or UBSan report (its input is then in
# build-fuzz/tests/fuzz/work-TARGET/crashes/). SECONDS 0 only configures and builds.
# Usage: bash scripts/fuzz.sh [SECONDS] [TARGET...]
#   targets: safetensors idx image_folder text (default: all)
set -uo pipefail
cd "$(dirname "$0")/.."

all=(safetensors idx image_folder text)
seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
case $seconds in '' | *[!0-9]*) echo "fuzz: SECONDS must be a number, got '$seconds'" >&2; exit 2 ;; esac
for t in "${targets[@]}"; do
  case " ${all[*]} " in *" $t "*) ;; *) echo "fuzz: no target '$t' (targets: ${all[*]})" >&2; exit 2 ;; esac
done

if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz: clang not found; bash scripts/setup.sh installs it (clang, libclang-rt-14-dev)" >&2
  exit 1
fi
# no Vulkan: the targets run on the CPU backend; no -Werror: this build is for finding
# crashes, and the gcc builds already hold the code to zero warnings
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang meson setup build-fuzz -Dfuzz=true -Dvulkan=disabled --buildtype=debugoptimized >/dev/null || exit 1
fi
ninja -C build-fuzz $(printf 'tests/fuzz/fuzz_%s ' "${targets[@]}") || exit 1
[ "$seconds" -gt 0 ] || exit 0

status=0
for t in "${targets[@]}"; do
  echo "fuzz: $t for $seconds s ($(date -u '+%Y-%m-%d %H:%M:%S UTC'))"
  bash tests/fuzz/run.sh "build-fuzz/tests/fuzz/fuzz_$t" "tests/fuzz/corpus/$t" "build-fuzz/tests/fuzz/work-$t" "$seconds" ||
    status=1
done
exit $status
