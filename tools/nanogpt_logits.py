#!/usr/bin/python3
"""Prove that a zoo transformer checkpoint is nanoGPT's GPT in PyTorch.

Parses the checkpoint with numpy (safetensors_eval.py's reader), builds the GPT of
bench/pytorch/transformer.py from its "config" (state_dict keys exactly nanoGPT's,
lm_head.weight tied to transformer.wte.weight), loads it with
load_state_dict(strict=True), then holds it against zoo's own apps:
  - the validation loss (the last 10% of --data, zoo's evaluation windows) against
    `zoo-eval transformer`: within 1e-4 relative, plus half a unit of the last digit
    zoo prints (it prints 4 decimals);
  - the greedy continuation of --prompt by --n tokens (prompt + n within one window)
    against `zoo-sample transformer --temperature 0`: the same bytes.
Prints, e.g.
    pytorch_val_loss: 3.603912
    zoo_val_loss: 3.6039
    greedy: match
and exits 1 on any mismatch (or when zoo's apps fail).
Usage: nanogpt_logits.py CKPT [--data PATH] [--zoo-build DIR] [--prompt TEXT] [--n N]
"""
import argparse
import json
import os
import re
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bench", "pytorch"))
from safetensors_eval import read_safetensors  # noqa: E402  (this script's folder)
from transformer import FORTUNES, GPT, evaluate, load_text, split  # noqa: E402

LOSS_RTOL = 1e-4


def load_model(path):
    """(GPT in eval mode, vocab string: "" for the byte tokenizer) from a zoo checkpoint."""
    tensors, meta = read_safetensors(path)
    if meta.get("model") != "transformer":
        sys.exit(f"{path}: a {meta.get('model')!r} checkpoint, not a transformer")
    vocab = meta.get("vocab")
    if vocab is None:
        sys.exit(f"{path}: no vocabulary in its metadata")
    model = GPT.from_config(256 if vocab == "" else len(vocab), json.loads(meta["config"]))
    state = {k: torch.from_numpy(v) for k, v in tensors.items()}
    if "transformer.wte.weight" in state:  # zoo stores the tied tensor once
        state["lm_head.weight"] = state["transformer.wte.weight"]
    model.load_state_dict(state, strict=True)
    return model.eval(), vocab


def encode(text, vocab):
    if vocab == "":
        return list(text.encode("utf-8"))
    index = {c: i for i, c in enumerate(vocab)}
    missing = sorted(set(text) - index.keys())
    if missing:
        sys.exit(f"--prompt: {len(missing)} characters not in the vocabulary: {''.join(missing)!r}")
    return [index[c] for c in text]


def decode(ids, vocab):
    """the bytes zoo-sample prints for ids"""
    return bytes(ids) if vocab == "" else "".join(vocab[i] for i in ids).encode("utf-8")


@torch.no_grad()
def greedy(model, ids, n):
    """n argmax continuations of ids (the first maximum on ties, as zoo_sample_logits)."""
    x = torch.tensor([ids])
    for _ in range(n):
        x = torch.cat([x, model(x)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return x[0, len(ids):].tolist()


def run_zoo(build, app, *args):
    """stdout of `build/app transformer args...`; exits 1 when it fails"""
    exe = os.path.join(build, app)
    try:
        r = subprocess.run([exe, "transformer", *args], capture_output=True)
    except OSError as e:
        sys.exit(f"cannot run {exe}: {e} (build first: ninja -C build, or pass --zoo-build)")
    if r.returncode:
        sys.exit(f"{app} failed (exit {r.returncode}): {r.stderr.decode(errors='replace').strip()}")
    return r.stdout


def zoo_loss(out):
    """(loss, half a unit of its last printed digit) from zoo-eval's "..., loss 3.6039" """
    m = re.search(rb"loss (\d+(?:\.(\d+))?)\s*$", out)
    if not m:
        sys.exit(f"no loss in zoo-eval's output: {out.decode(errors='replace')!r}")
    return float(m.group(1)), 0.5 * 10.0 ** -len(m.group(2) or b"")


def check_loss(model, vocab, args):
    ids, text_vocab = load_text(args.data, byte=vocab == "")
    if text_vocab != vocab:
        print(f"{args.data} has another vocabulary ({len(text_vocab)} characters) than the checkpoint's "
              f"({len(vocab)})", file=sys.stderr)
        return False
    _, val = split(ids)
    ours = evaluate(model, val)
    theirs, printed = zoo_loss(run_zoo(args.zoo_build, "zoo-eval", "--checkpoint", args.ckpt, "--data", args.data))
    diff = abs(ours - theirs)
    print(f"pytorch_val_loss: {ours:.6f}")
    print(f"zoo_val_loss: {theirs}")
    ok = diff <= LOSS_RTOL * abs(theirs) + printed
    print(f"val_loss: {'match' if ok else 'MISMATCH'} (relative difference {diff / abs(theirs):.2e}, "
          f"allowed {LOSS_RTOL:g} + the printed rounding)")
    return ok


def check_greedy(model, vocab, args):
    prompt = encode(args.prompt, vocab)
    ours = args.prompt.encode("utf-8") + decode(greedy(model, prompt, args.n), vocab) + b"\n"
    theirs = run_zoo(args.zoo_build, "zoo-sample", "--checkpoint", args.ckpt, "--prompt", args.prompt,
                     "--n", str(args.n), "--temperature", "0")
    if ours == theirs:
        print("greedy: match")
        print(f"greedy_text: {ours[:-1].decode(errors='replace')!r}")
        return True
    at = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
    print(f"greedy: MISMATCH from byte {at}")
    print(f"  pytorch: {ours!r}")
    print(f"  zoo:     {theirs!r}")
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ckpt", metavar="CKPT", help="a zoo transformer .safetensors")
    ap.add_argument("--data", default=FORTUNES, help="the text it was trained on")
    ap.add_argument("--zoo-build", default=os.path.join(HERE, "..", "build", "apps"),
                    help="the folder holding zoo-eval and zoo-sample")
    ap.add_argument("--prompt", default="The ")
    ap.add_argument("--n", type=int, default=40, help="greedy tokens after the prompt")
    args = ap.parse_args()
    args.prompt = os.fsencode(args.prompt).decode("utf-8")  # as given, whatever the locale
    sys.stdout.reconfigure(errors="backslashreplace")

    model, vocab = load_model(args.ckpt)
    n_prompt = len(encode(args.prompt, vocab))
    if n_prompt < 1 or args.n < 1 or n_prompt + args.n > model.context:
        ap.error(f"the prompt ({n_prompt} tokens) and --n {args.n} must each be at least 1 and together "
                 f"fit one window of {model.context}")
    ok = check_loss(model, vocab, args)
    ok = check_greedy(model, vocab, args) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
