#!/usr/bin/env bash
# Runs one libFuzzer target for SECONDS from its seed corpus and a work corpus it grows;
# fails on any crash, leak, UBSan report, timeout or out-of-memory, and prints how many
# inputs ran. A crash leaves its input in WORK_DIR/crashes/.
# Usage: run.sh TARGET_EXE SEED_DIR WORK_DIR SECONDS
set -uo pipefail
if [ $# -ne 4 ]; then
  echo "usage: run.sh TARGET_EXE SEED_DIR WORK_DIR SECONDS" >&2
  exit 2
fi
exe=$1 seeds=$2 work=$3 seconds=$4
name=$(basename "$exe")
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work/corpus" "$work/crashes" || exit 1
log=$work/fuzz.log

flags=(-max_total_time="$seconds" -print_final_stats=1 -timeout=30 -rss_limit_mb=2560
       -artifact_prefix="$work/crashes/")
# a target's own settings: a dictionary of the format's keywords, extra flags
dict=$here/${name#fuzz_}.dict
[ -f "$dict" ] && flags+=(-dict="$dict")
options=$here/${name#fuzz_}.options
[ -f "$options" ] && read -r -a extra < "$options" && flags+=("${extra[@]}")

start=$(date +%s)
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  "$exe" "${flags[@]}" "$work/corpus" "$seeds" > "$log" 2>&1
rc=$?
took=$(( $(date +%s) - start ))
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
if [ $rc -ne 0 ]; then
  tail -n 80 "$log"
  echo "$name: FAILED (exit $rc) after ${execs:-?} executions in $took s; inputs in $work/crashes/:"
  ls "$work/crashes"
  exit 1
fi
echo "$name: ${execs:-?} executions in $took s, no findings ($(ls "$work/corpus" | wc -l) inputs in the work corpus)"
