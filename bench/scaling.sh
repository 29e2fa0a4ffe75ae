#!/usr/bin/env bash
# Data-parallel scaling on this machine: each model trained by one process with T
# threads, then by `mpirun -np P` processes with T/P threads each, the same global batch
# and steps. Prints the training samples/s of both (zoo-train's final progress line),
# their ratio, and the gradient all-reduce's size and time per update.
#
# Usage: bench/scaling.sh [--procs P] [--threads T] [--rounds N] [MODEL...]
#   (defaults: 2 processes, 2 threads, 1 round; models mlp cnn gan transformer diffusion)
# With --rounds N the two alternate N times and each keeps its best.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
train=${ZOO_TRAIN:-$here/../build/apps/zoo-train}
procs=2 threads=2 rounds=1 models=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --procs) procs=${2:?}; shift 2 ;;
    --threads) threads=${2:?}; shift 2 ;;
    --rounds) rounds=${2:?}; shift 2 ;;
    -*) echo "usage: $0 [--procs P] [--threads T] [--rounds N] [MODEL...]" >&2; exit 2 ;;
    *) models+=("$1"); shift ;;
  esac
done
[[ ${#models[@]} -gt 0 ]] || models=(mlp cnn gan transformer diffusion)
command -v mpirun >/dev/null || { echo "error: mpirun not found (apt-get install openmpi-bin)" >&2; exit 1; }
[[ -x $train ]] || { echo "error: $train not found; build first" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
per=$((threads / procs))
[[ $per -ge 1 ]] || per=1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

steps_of() { case $1 in mlp) echo 600 ;; cnn) echo 60 ;; gan) echo 30 ;; transformer) echo 40 ;; *) echo 12 ;; esac; }
rate() { grep -o '[0-9]* samples/s' "$1" | tail -1 | cut -d' ' -f1; }
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b > a) ? b : a }'; }

printf "%-12s %10s %10s %7s   %s\n" model "1 x $threads" "$procs x $per" ratio "all-reduce per update ($procs processes)"
for m in "${models[@]}"; do
  args=("$m" --steps "$(steps_of "$m")" --eval-every 1000000 --ckpt-every 1000000)
  case $m in gan | diffusion) args+=(--sample-every 0) ;; esac
  one="" many="" reduce=""
  for ((r = 1; r <= rounds; r++)); do
    "$train" "${args[@]}" --threads "$threads" --out "$out/one" >"$out/one.log" 2>&1
    one=$(best "$one" "$(rate "$out/one.log")")
    mpirun -np "$procs" --oversubscribe --bind-to none "$train" "${args[@]}" --threads "$per" --out "$out/many" \
      >"$out/many.log" 2>&1
    many=$(best "$many" "$(rate "$out/many.log")")
    reduce=$(grep -o '[0-9.]* MB and [0-9.]* ms' "$out/many.log" | tail -1)
  done
  printf "%-12s %10s %10s %7s   %s\n" "$m" "$one" "$many" "$(awk -v a="$many" -v b="$one" 'BEGIN { printf "%.2f", a / b }')" \
    "$reduce"
done
