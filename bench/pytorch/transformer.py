#!/usr/bin/python3
"""PyTorch reference for `zoo-bench transformer`: the same character-level GPT.

nanoGPT's GPT (bias=True, tied head) at zoo's size: 4 layers, 4 heads, embd 128,
context 64, on the characters of --data (default Debian's fortunes, read as zoo's
core/text.c reads a file or folder).  Default mode mirrors zoo-bench: 5 warm-up
steps, --steps timed AdamW steps on batches of 32 random windows, then 200 tokens
sampled after a one-token prompt three times (temperature 0.8, top-k 40, the whole
window recomputed per token) and prints zoo-bench's keys.  --train-steps N instead
trains N steps with zoo's recipe (warm-up, cosine, clipping, decay on matrices) and
prints the validation loss zoo's gpt_evaluate would.  The model, text loading and
evaluation here are also what tools/nanogpt_logits.py loads zoo's checkpoints into.
Run with OMP_WAIT_POLICY=PASSIVE (see bench/compare.sh): on a busy machine OpenMP's
spinning otherwise makes a step many times slower.
Usage: transformer.py [--steps 300] [--threads 2] [--train-steps N] [--data PATH]
   e.g. OMP_WAIT_POLICY=PASSIVE bench/pytorch/transformer.py --train-steps 2000
"""
import argparse
import math
import os
import stat
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import peak_rss_mb

FORTUNES = "/usr/share/games/fortunes"
EVAL_WINDOWS, EVAL_BATCH = 512, 32  # models/transformer/transformer.c
VAL_SPLIT = 0.1                     # zoo-train's and zoo-eval's --val-split


# ---------------------------------------------------------------- text

def read_text_bytes(path):
    """The bytes zoo_text_load reads: a file, or a folder's regular files (no symlinks,
    subfolders, hidden or .dat files) in strcmp order of their names, concatenated."""
    if not os.path.isdir(path):
        with open(path, "rb") as f:
            return f.read()
    names = [n for n in os.listdir(path) if not n.startswith(".") and not n.endswith(".dat")]
    names = [n for n in names if stat.S_ISREG(os.lstat(os.path.join(path, n)).st_mode)]
    parts = []
    for n in sorted(names, key=os.fsencode):
        with open(os.path.join(path, n), "rb") as f:
            parts.append(f.read())
    return b"".join(parts)


def load_text(path, byte=False):
    """(ids int64 numpy array, vocab string) as zoo tokenizes the text at path: the char
    tokenizer's id is the index in the text's sorted distinct code points (the vocab);
    the byte tokenizer's ids are the UTF-8 bytes (vocab "", as zoo's checkpoints say)."""
    raw = read_text_bytes(path)
    text = raw.decode("utf-8")  # strict, like zoo's loader: it rejects what zoo rejects
    if not text or "\0" in text:
        raise ValueError(f"{path}: empty, or binary (a NUL byte): zoo refuses it")
    if byte:
        return np.frombuffer(raw, np.uint8).astype(np.int64), ""
    cps = np.frombuffer(text.encode("utf-32-le"), "<u4")
    chars = np.unique(cps)
    return np.searchsorted(chars, cps).astype(np.int64), "".join(map(chr, chars))


def c_round(x):
    """C's round() of x >= 0: halves go up (away from zero), not to even."""
    k = math.floor(x)
    return k + 1 if x - k >= 0.5 else k


def split(ids, val_split=VAL_SPLIT):
    """zoo_text_split(text, 1 - val_split): the first round(frac * n) ids train."""
    k = c_round((1.0 - val_split) * len(ids))
    return ids[:k], ids[k:]


def windows(ids, starts, block):
    """tokens [B, T] and targets [B, T] of the windows starting at starts [B]."""
    at = starts[:, None] + torch.arange(block)
    return ids[at], ids[at + 1]


# ---------------------------------------------------------------- model
# Attribute names follow nanoGPT's GPT so that state_dict() has its keys.

class SelfAttention(nn.Module):
    def __init__(self, embd, heads, dropout):
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(embd, 3 * embd)
        self.c_proj = nn.Linear(embd, embd)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):  # [B, T, C] -> [B, T, C]
        b, t, c = x.shape
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2)
                   for z in self.c_attn(x).split(c, dim=-1))
        scores = q @ k.transpose(-2, -1) / math.sqrt(c // self.heads)
        future = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
        att = self.drop(scores.masked_fill(future, float("-inf")).softmax(-1))
        return self.c_proj((att @ v).transpose(1, 2).reshape(b, t, c))


class FeedForward(nn.Module):
    def __init__(self, embd):
        super().__init__()
        self.c_fc = nn.Linear(embd, 4 * embd)
        self.c_proj = nn.Linear(4 * embd, embd)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))  # exact (erf) GELU


class Block(nn.Module):
    def __init__(self, embd, heads, dropout):
        super().__init__()
        self.ln_1 = nn.LayerNorm(embd, eps=1e-5)
        self.attn = SelfAttention(embd, heads, dropout)
        self.ln_2 = nn.LayerNorm(embd, eps=1e-5)
        self.mlp = FeedForward(embd)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        x = x + self.drop(self.attn(self.ln_1(x)))
        return x + self.drop(self.mlp(self.ln_2(x)))


class Trunk(nn.Module):
    """GPT.transformer: embeddings, blocks h.0 .. h.{layers-1}, final norm."""

    def __init__(self, vocab, layers, heads, embd, context, dropout):
        super().__init__()
        self.wte = nn.Embedding(vocab, embd)
        self.wpe = nn.Embedding(context, embd)
        self.h = nn.ModuleList(Block(embd, heads, dropout) for _ in range(layers))
        self.ln_f = nn.LayerNorm(embd, eps=1e-5)
        self.drop = nn.Dropout(dropout)


class GPT(nn.Module):
    def __init__(self, vocab, layers=4, heads=4, embd=128, context=64, dropout=0.0):
        super().__init__()
        self.context = context
        self.transformer = Trunk(vocab, layers, heads, embd, context, dropout)
        self.lm_head = nn.Linear(embd, vocab, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied: one tensor, two names

    @classmethod
    def from_config(cls, vocab, config):
        """config: zoo's checkpoint "config" (option name -> string)."""
        return cls(vocab, int(config["layers"]), int(config["heads"]), int(config["embd"]),
                   int(config["context"]), float(config["dropout"]))

    def init_weights(self):
        """zoo's (and nanoGPT's) init: weights N(0, 0.02), the residual projections
        N(0, 0.02 / sqrt(2 layers)), biases 0; LayerNorm keeps 1 and 0."""
        layers = len(self.transformer.h)
        for name, p in self.named_parameters():
            if name.endswith(".bias"):
                nn.init.zeros_(p)
            elif p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, ids):  # ids [B, T] -> logits [B, T, V]
        tr = self.transformer
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = tr.drop(tr.wte(ids) + tr.wpe(pos))
        for block in tr.h:
            x = block(x)
        return self.lm_head(tr.ln_f(x))


@torch.no_grad()
def evaluate(model, ids):
    """gpt_evaluate: the mean cross-entropy over min(windows, 512) windows evenly spaced
    over ids (window j of N starts at j * windows // N), every position counted."""
    model.eval()
    ids = torch.as_tensor(ids)
    n_win = len(ids) - model.context
    n = min(n_win, EVAL_WINDOWS)
    if n < 1:
        raise ValueError(f"{len(ids)} tokens hold no window of {model.context}")
    starts = torch.arange(n, dtype=torch.int64) * n_win // n
    total = 0.0
    for lo in range(0, n, EVAL_BATCH):
        x, y = windows(ids, starts[lo:lo + EVAL_BATCH], model.context)
        logits = model(x)
        total += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").double().item()
    return total / (n * model.context)


@torch.no_grad()
def generate(model, ids, n, temperature, top_k):
    """n tokens after ids [1, t], each from the whole last window (no cache)."""
    model.eval()
    for _ in range(n):
        logits = model(ids[:, -model.context:])[:, -1, :] / temperature
        if top_k:
            cut = logits.topk(min(top_k, logits.shape[-1])).values[:, -1:]
            logits = logits.masked_fill(logits < cut, float("-inf"))
        ids = torch.cat([ids, torch.multinomial(logits.softmax(-1), 1)], dim=1)
    return ids


# ---------------------------------------------------------------- recipe

def adamw(model, lr=1e-3, weight_decay=0.1):
    """AdamW with decay on every parameter of 2+ dims (embeddings too), none on
    biases and norms; parameters() lists the tied embedding once."""
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99), eps=1e-8)


def lr_at(step, total, lr=1e-3, min_lr=1e-4, warmup=100):
    """zoo_schedule_lr (core/optim.c): linear warm-up over `warmup` steps, then cosine
    from lr to min_lr, which it would reach at step `total` (one past the last)."""
    if step < warmup:
        return lr * (step + 1) / warmup
    span = total - warmup
    if span <= 0:
        return lr
    frac = min(step - warmup, span) / span
    return min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * frac))


def train_step(model, opt, ids, batch, clip=1.0):
    x, y = windows(ids, torch.randint(len(ids) - model.context, (batch,)), model.context)
    logits = model(x)
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    return loss.item()


def train(args):
    """--train-steps: zoo-train's recipe on the first 90% of the text, the last 10% scored."""
    ids, vocab = load_text(args.data)
    train_ids, val_ids = (torch.from_numpy(a) for a in split(ids))
    model = GPT(len(vocab))
    model.init_weights()
    opt = adamw(model)
    t0 = time.perf_counter()
    for s in range(args.train_steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(s, args.train_steps)
        model.train()
        loss = train_step(model, opt, train_ids, args.batch)
        if (s + 1) % 250 == 0 or s + 1 == args.train_steps:
            val = evaluate(model, val_ids)
            print(f"step {s + 1}/{args.train_steps}  loss {loss:.4f}  val_loss {val:.4f}  "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    print(f"val_loss: {val:.4f}")
    print(f"train_wall_s: {time.perf_counter() - t0:.1f}")


def bench(args):
    """The default mode: zoo-bench transformer's measurements on the whole text."""
    ids, vocab = load_text(args.data)
    ids = torch.from_numpy(ids)
    model = GPT(len(vocab))
    model.init_weights()
    opt = adamw(model)
    model.train()
    for _ in range(args.warmup):
        train_step(model, opt, ids, args.batch)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        train_step(model, opt, ids, args.batch)
    t_train = time.perf_counter() - t0

    t_sample = 0.0
    for _ in range(3):  # 200 tokens after a one-token prompt (the text's first), three times
        t0 = time.perf_counter()
        generate(model, ids[:1].view(1, 1), 200, temperature=0.8, top_k=40)
        t_sample += time.perf_counter() - t0

    print("model: transformer")
    print(f"framework: pytorch {torch.__version__}")
    print(f"threads: {args.threads}")
    print(f"batch: {args.batch}")
    print(f"context: {model.context}")
    print(f"train_ms_per_step: {1e3 * t_train / args.steps:.3f}")
    print(f"train_tokens_per_s: {args.steps * args.batch * model.context / t_train:.0f}")
    print(f"sample_tokens_per_s: {3 * 200 / t_sample:.0f}")
    print(f"peak_rss_mb: {peak_rss_mb():.1f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300, help="timed training steps")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--warmup", type=int, default=5, help="untimed training steps first")
    ap.add_argument("--train-steps", type=int, default=0,
                    help="train this many steps with the full recipe and report the validation loss")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=FORTUNES)
    args = ap.parse_args()
    if args.steps < 1 or args.train_steps < 0 or args.batch < 1:
        ap.error("--steps and --batch must be at least 1, --train-steps at least 0")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.train_steps:
        train(args)
    else:
        bench(args)


if __name__ == "__main__":
    main()
