#!/usr/bin/env bash
# The whole test suite: set up, build with warnings as errors, run every test
# (CI's command), then the unit tests again under AddressSanitizer + UBSan.
# Ends with one line "N passed, N failed" counted from meson's test logs.
set -uo pipefail
cd "$(dirname "$0")/.."
export ZOO_WITH_TORCH=1
bash scripts/setup.sh build-test -Dwerror=true --buildtype=debugoptimized || exit 1

status=0
# suite gpu holds the large shapes meant for real GPUs: too slow for lavapipe in CI
meson test -C build-test --no-suite gpu --print-errorlogs --no-rebuild --num-processes 2 || status=1
# the Vulkan tests again under the Khronos validation layer with synchronization
# validation: lavapipe forgives a missing barrier, the layer does not
if grep -q ZOO_HAVE_VULKAN build-test/build.ninja; then
  meson test -C build-test --setup vkvalidate --suite unit --suite vulkan --print-errorlogs --no-rebuild \
    --num-processes 2 --logbase vkvalidate || status=1
fi

if [ "${ZOO_SKIP_ASAN:-0}" != 1 ]; then
  [ -f build-asan/build.ninja ] || meson setup build-asan -Dwerror=true --buildtype=debug \
    -Db_sanitize=address,undefined -Db_lundef=false >/dev/null || exit 1
  ninja -C build-asan || exit 1
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --suite unit --print-errorlogs --no-rebuild --num-processes 2 || status=1
fi

# every parser a user can point at a file, fuzzed 20 s each under ASan + UBSan (libFuzzer,
# tests/fuzz/README); clang builds them, and without it this step is skipped with a note
if [ "${ZOO_SKIP_FUZZ:-0}" != 1 ]; then
  if command -v clang >/dev/null 2>&1; then
    bash scripts/fuzz.sh 0 || exit 1 # configures build-fuzz and builds the targets only
    meson test -C build-fuzz --suite fuzz --print-errorlogs --no-rebuild --num-processes 2 || status=1
  else
    echo "test: clang not found, so the fuzz targets did not run (bash scripts/setup.sh installs it)"
  fi
fi

/usr/bin/python3 - build-test build-asan build-fuzz <<'PY'
import json, os, sys
passed = failed = skipped = 0
logs = [os.path.join(d, "meson-logs", f) for d in sys.argv[1:] if os.path.isdir(os.path.join(d, "meson-logs"))
        for f in sorted(os.listdir(os.path.join(d, "meson-logs"))) if f.endswith(".json")]
for log in logs:
    if not os.path.exists(log):
        continue
    for line in open(log):
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
exit $status
