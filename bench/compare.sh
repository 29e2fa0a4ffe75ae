#!/usr/bin/env bash
# Compare zoo against PyTorch on the same benchmark.
#
# Usage: bench/compare.sh MODEL [--steps N] [--threads N] [--rounds N] [--exact]   (defaults 300, 2, 1)
# Runs `zoo-bench MODEL` (env ZOO_BENCH overrides its path) and
# bench/pytorch/MODEL.py with the same steps/threads, prints both outputs and
# a one-line summary: training ms/step, and inference images/s, or sampling tokens/s
# for a language model (one whose output has sample_tokens_per_s), or the time of one
# denoising step for 16 images for a diffusion model (sample_ms_per_step_16). With --rounds N the
# two alternate N times and the summary
# takes each one's best round (on a shared machine the slow rounds are noise). --exact
# runs zoo in exact numeric mode (fast is the default). PyTorch runs with OMP_WAIT_POLICY=PASSIVE, its best
# OpenMP setting on this machine; env TORCH_ENV replaces that
# (e.g. TORCH_ENV="GOMP_SPINCOUNT=1000", or TORCH_ENV="" for none).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
usage() { echo "usage: $0 MODEL [--steps N] [--threads N] [--rounds N] [--exact]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
model=$1; shift
steps=300 threads=2 rounds=1 exact=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --steps) steps=${2:?}; shift 2 ;;
    --threads) threads=${2:?}; shift 2 ;;
    --rounds) rounds=${2:?}; shift 2 ;;
    --exact) exact=(--exact); shift ;;
    *) usage ;;
  esac
done

zoo=${ZOO_BENCH:-$here/../build/apps/zoo-bench}
torch_script=$here/pytorch/$model.py
torch_env=${TORCH_ENV-OMP_WAIT_POLICY=PASSIVE}
if [[ ! -x $zoo ]]; then
  echo "error: $zoo not found; build first: meson setup build && ninja -C build" >&2
  exit 1
fi
[[ -f $torch_script ]] || { echo "error: no PyTorch benchmark $torch_script" >&2; exit 1; }

get() {  # get KEY TEXT -> value of "KEY: value", error if absent
  local v
  v=$(awk -v k="$1:" '$1 == k { print $2; exit }' <<<"$2")
  [[ -n $v ]] || { echo "error: no '$1' in benchmark output" >&2; exit 1; }
  echo "$v"
}
zms="" tms="" zip="" tip="" speed=infer_images_per_s what=inference higher=1
best() {  # best CURRENT NEW HIGHER_IS_BETTER
  awk -v a="$1" -v b="$2" -v hi="$3" 'BEGIN { if (a == "" || (hi ? b > a : b < a)) print b; else print a }'
}
for ((r = 1; r <= rounds; r++)); do
  zoo_out=$("$zoo" "$model" --steps "$steps" --threads "$threads" "${exact[@]}")
  echo "$zoo_out"; echo
  # shellcheck disable=SC2086  # TORCH_ENV is a list of VAR=value words
  torch_out=$(env $torch_env /usr/bin/python3 "$torch_script" --steps "$steps" --threads "$threads")
  echo "$torch_out"; echo
  zms=$(best "$zms" "$(get train_ms_per_step "$zoo_out")" 0)
  tms=$(best "$tms" "$(get train_ms_per_step "$torch_out")" 0)
  if grep -q '^sample_tokens_per_s:' <<<"$zoo_out"; then speed=sample_tokens_per_s what=sampling; fi
  if grep -q '^sample_ms_per_step_16:' <<<"$zoo_out"; then speed=sample_ms_per_step_16 what=sampling higher=0; fi
  zip=$(best "$zip" "$(get "$speed" "$zoo_out")" $higher)
  tip=$(best "$tip" "$(get "$speed" "$torch_out")" $higher)
done
awk -v m="$model" -v zms="$zms" -v tms="$tms" -v zip="$zip" -v tip="$tip" -v what="$what" -v hi="$higher" 'BEGIN {
  printf "%s: zoo %.2f ms/step, pytorch %.2f ms/step, speedup %.2fx (train); %s speedup %.2fx\n",
         m, zms, tms, tms / zms, what, hi ? zip / tip : tip / zip }'
