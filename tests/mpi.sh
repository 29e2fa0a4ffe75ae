#!/usr/bin/env bash
# Data-parallel training under mpirun, two processes on this machine: the same losses
# as one process at the same global batch, mismatched processes refused, a killed
# process ending the job with its checkpoint intact, resuming on another number of
# processes. Skips (77) without MPI. Usage: tests/mpi.sh BUILD_DIR
set -u
build=$1
train="$build/apps/zoo-train"
eval="$build/apps/zoo-eval"
if ! grep -q ZOO_HAVE_MPI "$build/build.ninja"; then echo "skip: built without MPI (-Dmpi)"; exit 77; fi
if ! command -v mpirun >/dev/null; then echo "skip: mpirun not found (apt-get install openmpi-bin)"; exit 77; fi
# Open MPI refuses root unless told; the single-copy mechanism needs ptrace rights
# containers often lack, and plain copies through shared memory do as well here
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
mpi=(mpirun -np 2 --oversubscribe --bind-to none)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }
expect() { # expect CODE NAME CMD...
  local code=$1 name=$2
  shift 2
  "$@" >"$tmp/out" 2>&1
  local got=$?
  if [ "$got" = "$code" ]; then pass "$name"; else fail "$name (exit $got, expected $code)"; tail -5 "$tmp/out" | sed 's/^/    /'; fi
}
# same_losses NAME TOLERANCE A B [train]: every logged metric of A's steps (training
# and evaluation; with `train` training only) within TOLERANCE (relative) of B's, at
# every step both logged
same_losses() {
  /usr/bin/python3 - "$@" <<'PY'
import json, sys
name, tol, a, b = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
train_only = sys.argv[5:] == ["train"]
def steps(p):  # every metric logged at a step: the training step's and the evaluation's
    out = {}
    for r in map(json.loads, open(p)):
        if "run" not in r and ("lr" in r or not train_only):
            out.setdefault(r["step"], {}).update(r)
    return out
ra, rb = steps(a), steps(b)
common = sorted(set(ra) & set(rb))
worst = max(abs(ra[s][k] - rb[s][k]) / max(abs(rb[s][k]), 1e-12)
            for s in common for k in ra[s] if k in rb[s] and k not in ("step", "epoch", "lr"))
ok = len(common) > 0 and worst <= tol
print(f"{'ok  ' if ok else 'FAIL'} {name}: {len(common)} steps, largest relative difference {worst:.1e} (bound {tol:g})")
sys.exit(0 if ok else 1)
PY
}

mlp=(mlp --train-size 4000 --test-size 1000 --steps 200 --threads 1 --log-every 1 --quiet)
expect 0 "mlp, one process" "$train" "${mlp[@]}" --out "$tmp/one"
expect 0 "mlp, two processes" "${mpi[@]}" "$train" "${mlp[@]}" --out "$tmp/two"
same_losses "two processes train the mlp as one does" 1e-4 "$tmp/two/metrics.jsonl" "$tmp/one/metrics.jsonl" || failures=$((failures + 1))
if [ -s "$tmp/two/model.safetensors" ] && ! ls "$tmp"/two/*.tmp* >/dev/null 2>&1; then pass "rank 0 writes the model"; else fail "rank 0 writes the model"; fi

# the CNN draws dropout masks: each process draws its rows' part of the whole batch's.
# In exact mode: fast mode's products round differently for 64 rows than for 128, and
# max pooling amplifies that to about 1e-3 by step 50 (README), too close to test on.
cnn=(cnn --train-size 2000 --test-size 500 --steps 50 --threads 1 --log-every 1 --quiet --exact)
expect 0 "cnn, one process" "$train" "${cnn[@]}" --out "$tmp/cnn1"
expect 0 "cnn, two processes" "${mpi[@]}" "$train" "${cnn[@]}" --out "$tmp/cnn2"
same_losses "two processes train the cnn as one does" 1e-3 "$tmp/cnn2/metrics.jsonl" "$tmp/cnn1/metrics.jsonl" || failures=$((failures + 1))

# per-example noise and timesteps (diffusion), a language model's windows (transformer)
dif=(diffusion --base-channels 8 --train-size 256 --test-size 64 --batch 16 --steps 6 --threads 1 --log-every 1 --quiet)
expect 0 "diffusion, one process" "$train" "${dif[@]}" --out "$tmp/dif1"
expect 0 "diffusion, two processes" "${mpi[@]}" "$train" "${dif[@]}" --out "$tmp/dif2"
same_losses "two processes train the diffusion model as one does" 1e-4 "$tmp/dif2/metrics.jsonl" "$tmp/dif1/metrics.jsonl" || failures=$((failures + 1))
gpt=(transformer --layers 1 --embd 32 --heads 2 --context 16 --batch 8 --steps 8 --eval-every 8 --threads 1 --log-every 1 --quiet)
expect 0 "transformer, one process" "$train" "${gpt[@]}" --out "$tmp/gpt1"
expect 0 "transformer, two processes" "${mpi[@]}" "$train" "${gpt[@]}" --out "$tmp/gpt2"
same_losses "two processes train the transformer as one does" 1e-4 "$tmp/gpt2/metrics.jsonl" "$tmp/gpt1/metrics.jsonl" || failures=$((failures + 1))

# batch norm (the GAN): each process's own statistics by default, the whole batch's
# with --sync-bn, which then trains as one process does (the GAN's game amplifies
# rounding differences later on, so its first 8 steps; and training steps only: the
# biases before its batch norms get gradients that are rounding noise, which Adam turns
# into real steps, so the running means, which evaluation uses, differ by 1e-3)
gan=(gan --batch 16 --train-size 512 --test-size 64 --steps 8 --threads 1 --log-every 1 --quiet)
expect 0 "gan, one process" "$train" "${gan[@]}" --out "$tmp/gan1"
expect 0 "gan, two processes, --sync-bn" "${mpi[@]}" "$train" "${gan[@]}" --sync-bn --out "$tmp/gan2"
same_losses "--sync-bn: two processes train the gan as one does" 1e-4 "$tmp/gan2/metrics.jsonl" "$tmp/gan1/metrics.jsonl" train || failures=$((failures + 1))
expect 0 "gan, two processes, their own statistics" "${mpi[@]}" "$train" "${gan[@]}" --out "$tmp/gan3"
if ! same_losses "own statistics differ" 1e-3 "$tmp/gan3/metrics.jsonl" "$tmp/gan1/metrics.jsonl" train >/dev/null; then
  pass "without --sync-bn each process normalizes by its own rows"
else
  fail "without --sync-bn each process normalizes by its own rows"
fi

# the Vulkan backend: gradients go through the host for the reduction
if "$build/apps/zoo-bench" --devices 2>/dev/null | grep -q "^0:"; then
  vk=(mlp --train-size 2000 --test-size 500 --steps 30 --backend vulkan --log-every 1 --quiet)
  expect 0 "mlp on vulkan, one process" "$train" "${vk[@]}" --out "$tmp/vk1"
  expect 0 "mlp on vulkan, two processes" "${mpi[@]}" -x LP_NUM_THREADS=1 "$train" "${vk[@]}" --out "$tmp/vk2"
  same_losses "two processes on vulkan train as one does" 1e-4 "$tmp/vk2/metrics.jsonl" "$tmp/vk1/metrics.jsonl" || failures=$((failures + 1))
else
  echo "skip vulkan under mpirun: no Vulkan device"
fi

# processes started differently are refused before they train
expect 1 "different options on the two processes are refused" mpirun -np 1 --oversubscribe "$train" mlp --hidden 64 --steps 5 \
  --train-size 1000 --out "$tmp/bad" : -np 1 "$train" mlp --hidden 32 --steps 5 --train-size 1000 --out "$tmp/bad"
if grep -q "started with different model, options, data or settings" "$tmp/out"; then pass "the refusal says why"; else fail "the refusal says why"; fi
expect 1 "a last batch too small to share is refused" "${mpi[@]}" "$train" mlp --train-size 1001 --batch 50 --steps 5 --out "$tmp/bad"
if grep -q "fewer than the 2 processes" "$tmp/out"; then pass "the refusal names the processes"; else fail "the refusal names the processes"; fi

# resume on one process what two began: the losses go on as a single run's
expect 0 "mlp, two processes, first 100 steps" "${mpi[@]}" "$train" "${mlp[@]}" --steps 100 --out "$tmp/half"
expect 0 "resumed on one process" "$train" "${mlp[@]}" --resume "$tmp/half/checkpoint.safetensors" --out "$tmp/half"
same_losses "two processes then one train as one does" 1e-4 "$tmp/half/metrics.jsonl" "$tmp/one/metrics.jsonl" || failures=$((failures + 1))

# a process killed mid-run ends the job within seconds, naming it; the checkpoint stays
"${mpi[@]}" "$train" mlp --train-size 4000 --steps 1000000 --ckpt-every 20 --threads 1 --quiet --out "$tmp/kill" \
  >"$tmp/kill.log" 2>&1 &
job=$!
for _ in $(seq 1 300); do [ -s "$tmp/kill/checkpoint.safetensors" ] && break; sleep 0.1; done
victim=""
for pid in $(pgrep -f "zoo-train mlp --train-size 4000 --steps 1000000"); do
  if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1"; then victim=$pid; fi
done
if [ -n "$victim" ]; then
  kill -9 "$victim"
  start=$(date +%s)
  for _ in $(seq 1 150); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$job" 2>/dev/null; then fail "killing rank 1 ends the job within 15 s"; kill -9 "$job"; else pass "killing rank 1 ends the job within $(($(date +%s) - start)) s"; fi
  wait "$job"
  code=$?
  if [ "$code" != 0 ] && grep -q "rank 1" "$tmp/kill.log"; then pass "the job fails naming rank 1"; else fail "the job fails naming rank 1 (exit $code)"; tail -5 "$tmp/kill.log"; fi
  expect 0 "the last checkpoint is intact" "$eval" mlp --checkpoint "$tmp/kill/checkpoint.safetensors"
else
  fail "found rank 1 of the job to kill"
  kill "$job" 2>/dev/null
  wait "$job"
fi

echo "$failures failed"
[ "$failures" = 0 ]
