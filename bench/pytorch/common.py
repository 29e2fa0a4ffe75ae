"""Shared helpers for the PyTorch reference benchmarks (bench/pytorch/*.py).

Loads Fashion-MNIST from gz IDX files and prints results in the same
`key: value` format as `zoo-bench`, so bench/compare.sh can parse both.
"""
import argparse
import gzip
import os
import resource
import time

import numpy as np
import torch

DATA_DIR = os.environ.get("ZOO_DATA", "/usr/share/datasets/fashion-mnist")
MEAN, STD = 0.2860, 0.3530


def load_idx(path):
    """Parse a (gzipped) IDX file into a numpy uint8 array."""
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = np.frombuffer(raw, ">u4", ndim, 4).astype(int)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion(split="train", data_dir=DATA_DIR, shuffle_seed=None):
    """Return (x float32 [N,784] normalized, y int64 [N]) as torch tensors,
    optionally shuffled once with the given seed."""
    p = "train" if split == "train" else "t10k"
    x = load_idx(os.path.join(data_dir, f"{p}-images-idx3-ubyte.gz"))
    y = load_idx(os.path.join(data_dir, f"{p}-labels-idx1-ubyte.gz"))
    if shuffle_seed is not None:
        perm = np.random.default_rng(shuffle_seed).permutation(len(x))
        x, y = x[perm], y[perm]
    x = x.reshape(len(x), -1).astype(np.float32)
    x /= 255
    x -= MEAN
    x /= STD
    return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))


def parse_args(doc, steps, batch, warmup):
    """The flags every reference benchmark takes, with its own defaults."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--steps", type=int, default=steps)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--warmup", type=int, default=warmup)
    ap.add_argument("--data", default=DATA_DIR)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    return args


def time_steps(step, warmup, steps):
    """Milliseconds per call of step(i), over `steps` calls after `warmup` untimed ones."""
    for i in range(warmup):
        step(i)
    t0 = time.perf_counter()
    for i in range(warmup, warmup + steps):
        step(i)
    return (time.perf_counter() - t0) * 1000 / steps


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def report(model, threads, ms_per_step, batch, infer_ips):
    print(f"model: {model}")
    print(f"framework: pytorch {torch.__version__}")
    print(f"threads: {threads}")
    print(f"train_ms_per_step: {ms_per_step:.3f}")
    print(f"train_samples_per_s: {batch * 1000 / ms_per_step:.0f}")
    print(f"infer_images_per_s: {infer_ips:.0f}")
    print(f"peak_rss_mb: {peak_rss_mb():.0f}")
