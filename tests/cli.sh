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

py "$tmp/a/metrics.jsonl" "$tmp/a/model.safetensors" fast <<'PY' && pass "metrics and checkpoint record fast mode" || fail "metrics and checkpoint record fast mode"
import json, struct, sys
first = json.loads(open(sys.argv[1]).readline())
assert first["run"] == "start" and first["numeric"] == sys.argv[3] and first["backend"] == "cpu", first
raw = open(sys.argv[2], "rb").read()
meta = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])["__metadata__"]
assert meta["numeric"] == sys.argv[3], meta
PY
expect 0 "--exact run" "$train" mlp "${tiny[@]}" --steps 5 --exact --out "$tmp/ex"
py "$tmp/ex/metrics.jsonl" "$tmp/ex/model.safetensors" exact <<'PY' && pass "metrics and checkpoint record exact mode" || fail "metrics and checkpoint record exact mode"
import json, struct, sys
first = json.loads(open(sys.argv[1]).readline())
assert first["run"] == "start" and first["numeric"] == sys.argv[3], first
raw = open(sys.argv[2], "rb").read()
meta = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])["__metadata__"]
assert meta["numeric"] == sys.argv[3], meta
PY
ZOO_EXACT=1 expect 0 "ZOO_EXACT=1 run" "$train" mlp "${tiny[@]}" --steps 5 --out "$tmp/ex2"
py "$tmp/ex2/metrics.jsonl" <<'PY' && pass "ZOO_EXACT=1 selects exact mode" || fail "ZOO_EXACT=1 selects exact mode"
import json, sys
assert json.loads(open(sys.argv[1]).readline())["numeric"] == "exact"
PY
ZOO_EXACT=yes expect 1 "ZOO_EXACT must be 0 or 1" "$train" mlp "${tiny[@]}" --steps 5 --out "$tmp/ex3"
contains "ZOO_EXACT error names the variable" "ZOO_EXACT must be 0 or 1"

expect 0 "zoo-eval on the checkpoint" "$eval" mlp --checkpoint "$tmp/a/model.safetensors"
contains "eval prints accuracy" "accuracy"
contains "eval names classes" "Ankle boot"
ZOO_MODELS_DIR="$tmp/none" expect 0 "zoo-eval without --checkpoint finds the shipped model" "$eval" mlp
printf 'garbage' > "$tmp/bad.safetensors"
expect 1 "zoo-eval on a corrupted file" "$eval" mlp --checkpoint "$tmp/bad.safetensors"
head -c 300 "$tmp/a/model.safetensors" > "$tmp/trunc.safetensors"
expect 1 "zoo-eval on a truncated file" "$eval" mlp --checkpoint "$tmp/trunc.safetensors"

# --hidden changes the network and eval rebuilds it from the checkpoint
expect 0 "--hidden 64" "$train" mlp "${tiny[@]}" --epochs 1 --hidden 64 --out "$tmp/h/nested/dir"
expect 0 "eval rebuilds --hidden 64" "$eval" mlp --checkpoint "$tmp/h/nested/dir/model.safetensors"

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
assert vals.index(max(vals)) == len(vals) - 3         # after 2 evaluations without a better one
def tensors(p):
    raw = open(p, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    return raw[8 + n:]
assert tensors(sys.argv[2]) == tensors(sys.argv[3])   # the model is the best checkpoint
PY
expect 2 "--patience needs --val-split" "$train" mlp "${tiny[@]}" --patience 2 --out "$tmp/es2"

# the CNN: a short run, then transfer with its convolutions frozen
expect 0 "cnn short run" "$train" cnn "${tiny[@]}" --epochs 1 --out "$tmp/cnn"
expect 0 "cnn init-from, conv1,conv2 frozen" "$train" cnn "${tiny[@]}" --epochs 1 --init-from "$tmp/cnn/model.safetensors" --freeze conv1,conv2 --lr 0.003 --out "$tmp/cnnft"
contains "cnn init-from loads all 8 tensors" "loaded 8 tensors"
py "$tmp/cnn/model.safetensors" "$tmp/cnnft/model.safetensors" <<'PY' && pass "cnn frozen convolutions bit-identical" || fail "cnn frozen convolutions bit-identical"
import json, struct, sys
def load(p):
    raw = open(p, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    h = json.loads(raw[8:8 + n])
    return {k: raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items() if k != "__metadata__"}
a, b = load(sys.argv[1]), load(sys.argv[2])
for k in ("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"):
    assert a[k] == b[k], k
assert a["fc1.weight"] != b["fc1.weight"] and a["fc2.bias"] != b["fc2.bias"]
PY
expect 0 "init-from across shapes" "$train" cnn "${tiny[@]}" --epochs 1 --init-from "$tmp/cnn/model.safetensors" --fc-hidden 64 --out "$tmp/cnn64"
contains "mismatched shapes are reported and skipped" "checkpoint has \[128, 3136\], model has \[64, 3136\]"

# fast mode follows exact mode: the CNN's loss after 50 steps within 1e-3 (backend.h's
# contract bounds each kernel; this bounds what training makes of the differences)
expect 0 "cnn 50 steps, exact" "$train" cnn --steps 50 --log-every 50 --exact --quiet --out "$tmp/cx"
expect 0 "cnn 50 steps, fast" "$train" cnn --steps 50 --log-every 50 --quiet --out "$tmp/cf"
py "$tmp/cx/metrics.jsonl" "$tmp/cf/metrics.jsonl" <<'PY' && pass "cnn fast mode within 1e-3 of exact at step 50" || fail "cnn fast mode within 1e-3 of exact at step 50"
import json, sys
def loss(p):
    return [r["loss"] for r in map(json.loads, open(p)) if r.get("step") == 50 and "loss" in r][0]
a, b = loss(sys.argv[1]), loss(sys.argv[2])
assert abs(a - b) <= 1e-3 * abs(a), (a, b)
PY

# the GAN: finite losses, progress grids that change, zoo-sample, image folders
sample="$build/apps/zoo-sample"
expect 0 "gan short run" "$train" gan --train-size 256 --batch 32 --steps 20 --sample-every 10 --seed 3 --quiet --out "$tmp/gan"
for f in samples/step_000010.png samples/step_000020.png model.safetensors; do
  if [ -s "$tmp/gan/$f" ]; then pass "gan writes $f"; else fail "gan writes $f"; fi
done
if ! cmp -s "$tmp/gan/samples/step_000010.png" "$tmp/gan/samples/step_000020.png"; then pass "gan samples change"; else fail "gan samples change"; fi
py "$tmp/gan/metrics.jsonl" <<'PY' && pass "gan metrics finite, with D(x) and D(G(z)), and its evaluation's quality proxies" || fail "gan metrics finite, with D(x) and D(G(z)), and its evaluation's quality proxies"
import json, math, sys
recs = [r for r in map(json.loads, open(sys.argv[1])) if "run" not in r]
steps = [r for r in recs if "lr" in r]
assert steps and all(k in r for r in steps for k in ("d_loss", "g_loss", "d_real", "d_fake", "d_wins"))
assert all(math.isfinite(r[k]) for r in steps for k in ("d_loss", "g_loss", "d_real", "d_fake"))
evals = [r for r in recs if "test_d_real" in r]
keys = ("test_d_real", "test_d_fake", "test_mean_gap", "test_std_gap")
assert evals and evals[-1]["step"] == 20 and all(k in r and math.isfinite(r[k]) for r in evals for k in keys), evals
assert all(0 <= r["test_d_real"] <= 1 and 0 <= r["test_d_fake"] <= 1 and r["test_mean_gap"] >= 0 for r in evals)
PY
expect 0 "zoo-sample grid and tiles" "$sample" gan --checkpoint "$tmp/gan/model.safetensors" --n 10 --cols 5 --out "$tmp/grid.png" --tiles "$tmp/tiles"
py "$tmp/grid.png" "$tmp/tiles" <<'PY' && pass "zoo-sample grid is make_grid-sized, one tile per sample" || fail "zoo-sample grid is make_grid-sized, one tile per sample"
import os, struct, sys
w, h = struct.unpack(">II", open(sys.argv[1], "rb").read()[16:24])
assert (w, h) == (5 * 30 + 2, 2 * 30 + 2), (w, h)
assert len(os.listdir(sys.argv[2])) == 10
PY
expect 2 "zoo-sample refuses a classifier" "$sample" mlp --checkpoint "$tmp/a/model.safetensors"
expect 1 "zoo-sample on the wrong model's checkpoint" "$sample" gan --checkpoint "$tmp/a/model.safetensors"
expect 0 "gan on an image folder" "$train" gan --data "$src/assets/images/mixed" --image-size 12 --batch 2 --steps 2 --sample-every 2 --quiet --out "$tmp/ganimg"
contains "unreadable images are skipped with a warning" "skipping"
expect 1 "an image folder with no images" "$train" gan --data "$tmp/tiles/../gan/samples/.." --steps 1 --quiet --out "$tmp/ganbad"

# the diffusion model: a short run with its grid and evaluation, then zoo-sample's samplers
expect 0 "diffusion short run" "$train" diffusion --base-channels 8 --train-size 256 --test-size 64 --batch 16 --steps 6 \
  --sample-every 6 --eval-every 6 --seed 3 --quiet --out "$tmp/dif"
if [ -s "$tmp/dif/samples/step_000006.png" ] && [ -s "$tmp/dif/model.safetensors" ]; then pass "diffusion writes its grid and model"; else fail "diffusion writes its grid and model"; fi
py "$tmp/dif/metrics.jsonl" <<'PY' && pass "diffusion logs its loss and the EMA weights' test_loss" || fail "diffusion logs its loss and the EMA weights' test_loss"
import json, math, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert all(math.isfinite(r["loss"]) for r in recs if "lr" in r)
assert [r["step"] for r in recs if "test_loss" in r] == [6] and all(math.isfinite(r["test_loss"]) for r in recs if "test_loss" in r)
PY
expect 0 "zoo-eval diffusion" "$eval" diffusion --checkpoint "$tmp/dif/model.safetensors"
contains "prints the noise-prediction loss" ", loss [0-9]"
# the shipped classifiers and the GAN's generator (stored without its discriminator)
expect 0 "zoo-eval mlp uses the shipped model" "$eval" mlp
contains "the shipped mlp scores as its model card says" "accuracy 88.29%"
expect 0 "zoo-eval cnn uses the shipped model" "$eval" cnn
contains "the shipped cnn scores as its model card says" "accuracy 92.26%"
expect 0 "zoo-sample gan draws from the shipped generator" "$sample" gan --n 4 --out "$tmp/gan_shipped.png"
expect 0 "zoo-sample gan --tiles" "$sample" gan --n 12 --tiles "$tmp/gantiles" --out "$tmp/gan12.png"
expect 0 "zoo-eval cnn --images classifies a folder of pictures" "$eval" cnn --images "$tmp/gantiles"
contains "it counts every picture" "gantiles: 12 images"
contains "and judges them" "classifier score .* Frechet distance to the 10000 test images"
expect 1 "zoo-eval --images on a folder without pictures" "$eval" cnn --images "$tmp/none"
expect 0 "zoo-eval gan evaluates the shipped generator" "$eval" gan
contains "a generator alone gets the pixel gaps" "mean_gap 0.0438"
expect 1 "a generator alone cannot resume training" "$train" gan --resume "$src/assets/models/gan.safetensors" --steps 1 --out "$tmp/ganres"
py "$src/assets/models/gan.safetensors" "$tmp/halfgen.safetensors" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
data = b[8 + n:]
gone = next(k for k in h if k.startswith("generator.") and k.endswith(".bias"))  # one tensor of the part
out, blobs, off = {"__metadata__": h.pop("__metadata__")}, [], 0
for k, t in sorted(h.items(), key=lambda kv: kv[1]["data_offsets"][0]):
    if k == gone:
        continue
    s, e = t["data_offsets"]
    out[k] = dict(t, data_offsets=[off, off + e - s])
    blobs.append(data[s:e])
    off += e - s
hj = json.dumps(out).encode()
hj += b" " * (-len(hj) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))
PY
expect 1 "a generator missing a tensor is refused" "$sample" gan --checkpoint "$tmp/halfgen.safetensors" --out "$tmp/x.png"
contains "the refusal names the tensor" "no tensor 'generator."
expect 0 "zoo-sample diffusion uses the shipped model" "$sample" diffusion --n 2 --sample-steps 2 --out "$tmp/shipped.png"
contains "and says so" "shipped model"
# the shipped diffusion model is class-conditional: the shipped CNN knows its classes
# (its card: 100% of trousers and of bags with 100 samples; here 10 each, 20 steps)
for k in 1 8; do
  expect 0 "zoo-sample diffusion --class $k" "$sample" diffusion --class "$k" --n 10 --sample-steps 20 --tiles "$tmp/class$k" --out "$tmp/class$k.png"
  expect 0 "zoo-eval cnn judges them" "$eval" cnn --images "$tmp/class$k"
  got=$(awk -v k="$k" '$1 == k { print $(NF - 1) + 0 }' "$tmp/out")
  if [ "${got:-0}" -ge 7 ]; then pass "the shipped cnn takes $got of 10 class-$k samples for class $k"; else fail "the shipped cnn takes ${got:-none} of 10 class-$k samples for class $k (7 asked)"; fi
done
expect 0 "--class all: a column per class" "$sample" diffusion --class all --n 20 --cols 10 --sample-steps 2 --out "$tmp/all.png"
expect 0 "zoo-sample diffusion --help offers samplers" "$sample" diffusion --help
contains "the sampler flag" "--sampler NAME"
expect 0 "zoo-sample diffusion, DDIM 5 steps" "$sample" diffusion --checkpoint "$tmp/dif/model.safetensors" --n 4 --sample-steps 5 --out "$tmp/dif1.png"
expect 0 "the same seed, the same PNG" "$sample" diffusion --checkpoint "$tmp/dif/model.safetensors" --n 4 --sample-steps 5 --out "$tmp/dif2.png"
if cmp -s "$tmp/dif1.png" "$tmp/dif2.png"; then pass "zoo-sample diffusion is deterministic"; else fail "zoo-sample diffusion is deterministic"; fi
# exact mode: a GPU writes the bytes the CPU writes (the file names no backend)
if "$build/apps/zoo-bench" --devices 2>/dev/null | grep -q "^0:"; then
  expect 0 "exact samples on the CPU" "$sample" diffusion --checkpoint "$tmp/dif/model.safetensors" --n 2 --sample-steps 3 --exact --out "$tmp/ex_cpu.png"
  expect 0 "exact samples on Vulkan" "$sample" diffusion --checkpoint "$tmp/dif/model.safetensors" --n 2 --sample-steps 3 --exact --backend vulkan --out "$tmp/ex_vk.png"
  if cmp -s "$tmp/ex_cpu.png" "$tmp/ex_vk.png"; then pass "exact mode: the same PNG bytes on CPU and Vulkan"; else fail "exact mode: the same PNG bytes on CPU and Vulkan"; fi
else
  echo "skip exact PNG bytes on Vulkan: no Vulkan device"
fi
expect 0 "--from-png draws the grid again" "$sample" diffusion --from-png "$tmp/dif1.png" --out "$tmp/dif4.png"
if cmp -s "$tmp/dif1.png" "$tmp/dif4.png"; then pass "the same PNG bytes from the settings it records"; else fail "the same PNG bytes from the settings it records"; fi
expect 0 "--from-png with a flag that wins" "$sample" diffusion --from-png "$tmp/dif1.png" --seed 9 --out "$tmp/dif5.png"
if ! cmp -s "$tmp/dif1.png" "$tmp/dif5.png"; then pass "another seed, another grid"; else fail "another seed, another grid"; fi
expect 1 "--from-png of another model's PNG" "$sample" gan --from-png "$tmp/dif1.png"
contains "names the model" "from model 'diffusion'"
expect 0 "a denoising strip" "$sample" diffusion --checkpoint "$tmp/dif/model.safetensors" --n 3 --sample-steps 12 --strip "$tmp/strip.png" --out "$tmp/dif3.png"
py "$tmp/strip.png" <<'PY' && pass "the strip holds 10 frames of each of the 3 samples" || fail "the strip holds 10 frames of each of the 3 samples"
import struct, sys
w, h = struct.unpack(">II", open(sys.argv[1], "rb").read()[16:24])
assert (w, h) == (10 * 30 + 2, 3 * 30 + 2), (w, h)
PY
expect 1 "DDPM with fewer steps is refused" "$sample" diffusion --checkpoint "$tmp/dif/model.safetensors" --sampler ddpm --sample-steps 5 --out "$tmp/x.png"
contains "and says why" "runs all 1000 steps"
expect 1 "an unknown sampler is refused" "$sample" diffusion --checkpoint "$tmp/dif/model.safetensors" --sampler euler --out "$tmp/x.png"
expect 2 "zoo-sample gan has no --sampler" "$sample" gan --checkpoint "$tmp/gan/model.safetensors" --sampler ddim
expect 0 "a U-Net with self-attention (--attn 14)" "$train" diffusion --attn 14 --base-channels 8 --train-size 128 --test-size 32 \
  --batch 16 --steps 3 --quiet --out "$tmp/difattn"
expect 0 "zoo-sample from it" "$sample" diffusion --checkpoint "$tmp/difattn/model.safetensors" --n 2 --sample-steps 2 --out "$tmp/attn.png"
expect 2 "--ema outside [0, 1)" "$train" diffusion --ema 1 --steps 1 --quiet --out "$tmp/difbad"
expect 2 "--attn at a side the U-Net does not have" "$train" diffusion --attn 13 --steps 1 --quiet --out "$tmp/difbad"
contains "the refusal lists the sides" "among the U-Net's levels (28, 14)"
expect 2 "bad --mults" "$train" diffusion --mults 1,x --steps 1 --quiet --out "$tmp/difbad"
expect 0 "a class-conditional diffusion run" "$train" diffusion --conditional --base-channels 8 --train-size 128 --test-size 32 \
  --batch 16 --steps 2 --sample-every 2 --eval-every 2 --quiet --out "$tmp/difc"
expect 0 "zoo-sample --class with guidance" "$sample" diffusion --checkpoint "$tmp/difc/model.safetensors" --class 3 --guidance 3 --n 2 --sample-steps 2 --out "$tmp/c3.png"
expect 1 "--class on an unconditional model is refused" "$sample" diffusion --checkpoint "$tmp/dif/model.safetensors" --class 3 --n 2 --out "$tmp/c.png"
contains "and says why" "not trained with --conditional"

# the NaN guard stops a diverging run with a clear message
expect 1 "divergence is caught" "$train" mlp "${tiny[@]}" --epochs 1 --optimizer sgd --lr 1000 --out "$tmp/nan"
contains "divergence is explained" "diverged"

# the PyTorch reference loads the checkpoint and agrees on accuracy
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  for run in mlp:a cnn:cnn; do
    model=${run%%:*} dir=$tmp/${run##*:}
    zoo_acc=$("$eval" "$model" --checkpoint "$dir/model.safetensors" | sed -n 's/.*accuracy \([0-9.]*\)%.*/\1/p')
    torch_acc=$(/usr/bin/python3 "$src/tools/safetensors_eval.py" "$dir/model.safetensors" | sed -n 's/pytorch_test_acc: //p')
    if /usr/bin/python3 -c "import sys; sys.exit(0 if abs(${zoo_acc:-0}/100 - ${torch_acc:-9}) <= 0.0003 else 1)"; then
      pass "PyTorch loads the $model checkpoint: $torch_acc vs zoo $zoo_acc%"
    else
      fail "PyTorch accuracy ${torch_acc:-?} differs from zoo's ${zoo_acc:-?}% ($model)"
    fi
  done

  # the transformer: nanoGPT's GPT in PyTorch scores the held-out text as zoo-eval does
  # and continues a prompt greedily as zoo-sample does, on a folder read by zoo's rules
  mkdir -p "$tmp/text/sub"
  cp "$src/README.md" "$tmp/text/a.md"
  for i in $(seq 40); do printf 'naïve café, 𝄞 ★ %d\n' "$i"; done >"$tmp/text/Z.txt"  # strcmp: Z before a
  # skipped (a hidden file, a fortune index, a subfolder, a symlink): their characters
  # would change the vocabulary
  printf 'Ω\n' >"$tmp/text/.hidden"; printf 'Ж\n' >"$tmp/text/a.dat"; printf 'Ł\n' >"$tmp/text/sub/c.txt"
  printf 'Ψ\n' >"$tmp/outside.txt"; ln -s ../outside.txt "$tmp/text/b.txt"
  for tok in char byte; do
    expect 0 "transformer 20 steps, $tok tokenizer" "$train" transformer --data "$tmp/text" --tokenizer $tok \
      --steps 20 --eval-every 20 --layers 2 --heads 2 --embd 64 --batch 16 --quiet --out "$tmp/gpt-$tok"
    if /usr/bin/python3 "$src/tools/nanogpt_logits.py" "$tmp/gpt-$tok/model.safetensors" --data "$tmp/text" \
      --zoo-build "$build/apps" --prompt "Zoo é𝄞 " --n 30 >"$tmp/out" 2>&1; then
      pass "PyTorch's nanoGPT loads the $tok transformer: loss $(sed -n 's/pytorch_val_loss: //p' "$tmp/out") vs zoo $(sed -n 's/zoo_val_loss: //p' "$tmp/out"), greedy match"
    else
      fail "PyTorch's nanoGPT disagrees with zoo on the $tok transformer"; sed 's/^/    /' "$tmp/out" | tail -8
    fi
  done

  # the diffusion model: PyTorch's U-Net and DDIM, started from zoo-sample's own noise (its
  # Philox stream rebuilt in numpy), draw zoo-sample's images, rounding aside
  expect 0 "zoo-sample diffusion tiles for PyTorch" "$sample" diffusion --checkpoint "$tmp/dif/model.safetensors" --n 6 \
    --seed 5 --tiles "$tmp/dif-tiles" --out "$tmp/dif-t.png"
  if /usr/bin/python3 "$src/tools/diffusion_reference.py" "$tmp/dif-torch" --redraw "$tmp/dif/model.safetensors" --ddim 6 \
    --seed 5 --threads 1 --compare "$tmp/dif-tiles" >"$tmp/out" 2>&1; then
    pass "PyTorch's DDIM from zoo's noise draws zoo's samples: $(sed -n 's/^against [^:]*: //p' "$tmp/out")"
  else
    fail "PyTorch's DDIM from zoo's noise differs from zoo-sample's"; sed 's/^/    /' "$tmp/out" | tail -8
  fi

  # and its training: from zoo's initial weights (one step at learning rate 0 leaves them
  # as they are), fed zoo's own draws (data order, timesteps, noise), PyTorch's U-Net,
  # Adam and EMA take zoo's steps: the same losses and weights, rounding aside
  expect 0 "zoo's initial diffusion weights" "$train" diffusion --steps 1 --lr 0 --test-size 64 --seed 9 \
    --sample-every 0 --quiet --out "$tmp/ls-init"
  expect 0 "10 diffusion steps, each step's loss logged" "$train" diffusion --steps 10 --test-size 64 --seed 9 \
    --sample-every 0 --log-every 1 --quiet --out "$tmp/ls-zoo"
  if /usr/bin/python3 "$src/tools/diffusion_reference.py" "$tmp/ls-torch" --lockstep "$tmp/ls-init/model.safetensors" \
    --seed 9 --steps 10 --threads 1 --against "$tmp/ls-zoo" --max-diff 1e-5 >"$tmp/out" 2>&1; then
    pass "PyTorch trains zoo's diffusion run step for step: $(sed -n 's/^pytorch vs [^:]*: //p' "$tmp/out")"
  else
    fail "PyTorch's training from zoo's draws differs from zoo's"; sed 's/^/    /' "$tmp/out" | tail -8
  fi
else
  echo "skip PyTorch comparison (python3-torch not installed)"
fi

echo "$failures failed"
[ "$failures" = 0 ]
