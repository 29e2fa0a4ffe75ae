#!/usr/bin/env bash
# The apps end to end at tiny sizes: help, flag errors, a short training run, its
# files, evaluation, exact resume, init-from + freeze, the NaN guard, bad inputs.
# Usage: tests/cli.sh BUILD_DIR SOURCE_DIR
set -u
build=$1
src=$2
train="$build/apps/zoo-train"
eval="$build/apps/zoo-eval"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }
# expect CODE NAME CMD...: runs CMD, checks its exit status, keeps its output in $tmp/out
expect() {
  local code=$1 name=$2
  shift 2
  "$@" >"$tmp/out" 2>&1
  local got=$?
  if [ "$got" = "$code" ]; then pass "$name"; else fail "$name (exit $got, expected $code)"; sed 's/^/    /' "$tmp/out" | tail -5; fi
}
contains() { if grep -q -- "$2" "$tmp/out"; then pass "$1"; else fail "$1 (no '$2' in output)"; sed 's/^/    /' "$tmp/out" | tail -5; fi; }
py() { /usr/bin/python3 - "$@"; }

tiny=(--train-size 1000 --test-size 300 --batch 50 --seed 3 --quiet)

expect 0 "zoo-train --help lists the models" "$train" --help
contains "help names mlp" "mlp"
expect 0 "zoo-train mlp --help" "$train" mlp --help
contains "model options appear in help" "--hidden"
expect 2 "unknown model" "$train" nosuchmodel
expect 2 "no model" "$train"
expect 2 "unknown flag" "$train" mlp --bogus 1
contains "unknown flag is named" "unknown option --bogus"
expect 2 "malformed number" "$train" mlp --lr abc
expect 2 "out-of-range number" "$train" mlp --epochs 0
expect 2 "unknown optimizer" "$train" mlp --optimizer rmsprop
expect 2 "bad --hidden" "$train" mlp --hidden 12,x "${tiny[@]}" --out "$tmp/bad"
expect 2 "missing flag value" "$train" mlp --lr
expect 1 "missing data folder" "$train" mlp --data "$tmp/nowhere" --out "$tmp/x"
contains "missing data is explained" "nowhere"
expect 2 "bad backend name" "$train" mlp --backend metal
if ! "$train" mlp --backend vulkan --help >/dev/null 2>&1; then fail "vulkan help"; fi

# a short run and its files
expect 0 "short training run" "$train" mlp "${tiny[@]}" --epochs 2 --out "$tmp/a"
for f in model.safetensors checkpoint.safetensors checkpoint.optim.safetensors metrics.jsonl; do
  if [ -s "$tmp/a/$f" ]; then pass "writes $f"; else fail "writes $f"; fi
done
py "$tmp/a/metrics.jsonl" <<'PY' && pass "metrics.jsonl records test_acc and epoch" || fail "metrics.jsonl records test_acc and epoch"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
evals = [r for r in recs if "test_acc" in r]
assert len(evals) == 2 and [r["epoch"] for r in evals] == [1, 2], evals
assert all(0.0 <= r["test_acc"] <= 1.0 for r in evals)
assert evals[-1]["test_acc"] > 0.6, evals
assert any("loss" in r and "lr" in r for r in recs)
PY

expect 0 "zoo-eval on the checkpoint" "$eval" mlp --checkpoint "$tmp/a/model.safetensors"
contains "eval prints accuracy" "accuracy"
contains "eval names classes" "Ankle boot"
expect 2 "zoo-eval without --checkpoint" "$eval" mlp
printf 'garbage' > "$tmp/bad.safetensors"
expect 1 "zoo-eval on a corrupted file" "$eval" mlp --checkpoint "$tmp/bad.safetensors"
head -c 300 "$tmp/a/model.safetensors" > "$tmp/trunc.safetensors"
expect 1 "zoo-eval on a truncated file" "$eval" mlp --checkpoint "$tmp/trunc.safetensors"

# --hidden changes the network and eval rebuilds it from the checkpoint
expect 0 "--hidden 64" "$train" mlp "${tiny[@]}" --epochs 1 --hidden 64 --out "$tmp/h"
expect 0 "eval rebuilds --hidden 64" "$eval" mlp --checkpoint "$tmp/h/model.safetensors"

# resume: 2 epochs, then 2 more from the checkpoint == 4 epochs straight
expect 0 "4 epochs straight" "$train" mlp "${tiny[@]}" --epochs 4 --out "$tmp/full"
expect 0 "2 epochs" "$train" mlp "${tiny[@]}" --epochs 2 --out "$tmp/half"
expect 0 "resume to 4 epochs" "$train" mlp "${tiny[@]}" --epochs 4 --out "$tmp/half" --resume "$tmp/half/checkpoint.safetensors"
py "$tmp/full/metrics.jsonl" "$tmp/half/metrics.jsonl" <<'PY' && pass "resumed run has the same losses" || fail "resumed run has the same losses"
import json, sys
def losses(p):
    return {r["step"]: r["loss"] for r in map(json.loads, open(p)) if "loss" in r}
a, b = losses(sys.argv[1]), losses(sys.argv[2])
assert a.keys() == b.keys(), (sorted(a), sorted(b))
assert all(a[s] == b[s] for s in a), [(s, a[s], b[s]) for s in a if a[s] != b[s]][:5]
PY
expect 1 "resume past the end" "$train" mlp "${tiny[@]}" --epochs 4 --out "$tmp/half" --resume "$tmp/half/checkpoint.safetensors"

# transfer: init-from + freeze keeps fc1 bit-identical
expect 0 "init-from and freeze" "$train" mlp "${tiny[@]}" --epochs 1 --init-from "$tmp/a/model.safetensors" --freeze fc1 --out "$tmp/ft"
contains "init-from reports what it loaded" "loaded 6 tensors"
py "$tmp/a/model.safetensors" "$tmp/ft/model.safetensors" <<'PY' && pass "frozen weights unchanged, others trained" || fail "frozen weights unchanged, others trained"
import json, struct, sys
def load(p):
    raw = open(p, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    h = json.loads(raw[8:8 + n])
    return {k: raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items() if k != "__metadata__"}
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a["fc1.weight"] == b["fc1.weight"] and a["fc1.bias"] == b["fc1.bias"]
assert a["fc2.weight"] != b["fc2.weight"]
PY
expect 2 "freeze of an unknown layer" "$train" mlp "${tiny[@]}" --epochs 1 --freeze conv9 --out "$tmp/ft2"

# early stopping keeps the best validation weights as the model
expect 0 "early stopping" "$train" mlp "${tiny[@]}" --epochs 30 --lr 0.02 --val-split 0.2 --patience 2 --out "$tmp/es"
py "$tmp/es/metrics.jsonl" "$tmp/es/model.safetensors" "$tmp/es/best.safetensors" <<'PY' && pass "early stopping stops and keeps the best" || fail "early stopping stops and keeps the best"
import json, struct, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
vals = [r["val_acc"] for r in recs if "val_acc" in r]
assert 3 <= len(vals) < 30, vals                      # it stopped early
assert vals[-1] < max(vals) and vals[-2] < max(vals)   # after 2 evaluations without a better one
def tensors(p):
    raw = open(p, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    return raw[8 + n:]
assert tensors(sys.argv[2]) == tensors(sys.argv[3])   # the model is the best checkpoint
PY
expect 2 "--patience needs --val-split" "$train" mlp "${tiny[@]}" --patience 2 --out "$tmp/es2"

# the NaN guard stops a diverging run with a clear message
expect 1 "divergence is caught" "$train" mlp "${tiny[@]}" --epochs 1 --optimizer sgd --lr 1000 --out "$tmp/nan"
contains "divergence is explained" "diverged"

# the PyTorch reference loads the checkpoint and agrees on accuracy
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  zoo_acc=$("$eval" mlp --checkpoint "$tmp/a/model.safetensors" | sed -n 's/.*accuracy \([0-9.]*\)%.*/\1/p')
  torch_acc=$(/usr/bin/python3 "$src/tools/safetensors_eval.py" "$tmp/a/model.safetensors" | sed -n 's/pytorch_test_acc: //p')
  if /usr/bin/python3 -c "import sys; sys.exit(0 if abs($zoo_acc/100 - $torch_acc) <= 0.0003 else 1)"; then
    pass "PyTorch loads the checkpoint: $torch_acc vs zoo $zoo_acc%"
  else
    fail "PyTorch accuracy $torch_acc differs from zoo's $zoo_acc%"
  fi
else
  echo "skip PyTorch comparison (python3-torch not installed)"
fi

echo "$failures failed"
[ "$failures" = 0 ]
