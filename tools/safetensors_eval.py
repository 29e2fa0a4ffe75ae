#!/usr/bin/python3
"""Prove that a zoo checkpoint loads into plain PyTorch.

Parses a zoo .safetensors MLP checkpoint with numpy only (u64-LE header
length, JSON header, raw little-endian F32/I32 data, F16/BF16 widened), builds a plain
nn.Module with fc1, fc2, ... (ReLU between), loads the tensors with
load_state_dict(strict=True) and prints the Fashion-MNIST test accuracy:
    pytorch_test_acc: 0.8812
Usage:  safetensors_eval.py CKPT [--data DIR]
        safetensors_eval.py --write-random OUT   (random model, for testing)
"""
import argparse
import gzip
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {"F32": np.dtype("<f4"), "I32": np.dtype("<i4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}


def read_safetensors(path):
    """Return ({name: numpy array}, metadata dict); F16 and BF16 come back as float32."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack_from("<Q", buf, 0)
    header = json.loads(buf[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = memoryview(buf)[8 + n:]
    tensors = {}
    for name, t in header.items():
        if t["dtype"] not in DTYPES:
            sys.exit(f"{name}: unsupported dtype {t['dtype']}")
        b, e = t["data_offsets"]
        dt = DTYPES[t["dtype"]]
        if not (0 <= b <= e <= len(data)) or e - b != dt.itemsize * int(np.prod(t["shape"])):
            sys.exit(f"{name}: bad data_offsets {b},{e} for shape {t['shape']}")
        a = np.frombuffer(data[b:e], dt).reshape(t["shape"])
        if t["dtype"] == "F16":  # widened exactly, as zoo loads them
            a = a.astype(np.float32)
        elif t["dtype"] == "BF16":
            a = (a.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = a.copy()
    return tensors, meta


def write_safetensors(path, tensors, meta):
    """Tiny writer (F32 only): header padded with spaces to 8 bytes; written whole, then renamed."""
    header, off, blobs = {"__metadata__": meta}, 0, []
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, "<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(path + ".tmp", path)


class MLP(nn.Module):
    """fc1 .. fcN Linear layers with ReLU between (no nn.Sequential)."""

    def __init__(self, sizes):
        super().__init__()
        self.n = len(sizes) - 1
        for i in range(self.n):
            setattr(self, f"fc{i + 1}", nn.Linear(sizes[i], sizes[i + 1]))

    def forward(self, x):
        for i in range(1, self.n + 1):
            x = getattr(self, f"fc{i}")(x)
            if i < self.n:
                x = F.relu(x)
        return x


class CNN(nn.Module):
    """zoo's cnn: conv1/conv2 (3x3, padding 1) each with ReLU and 2x2 max pooling,
    then fc1 + ReLU (+ dropout, inactive in eval) and fc2."""

    def __init__(self, t):
        super().__init__()
        c1, cin = t["conv1.weight"].shape[:2]
        c2 = t["conv2.weight"].shape[0]
        self.conv1 = nn.Conv2d(cin, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.fc1 = nn.Linear(*t["fc1.weight"].shape[::-1])
        self.fc2 = nn.Linear(*t["fc2.weight"].shape[::-1])

    def forward(self, x):
        x = x.reshape(-1, 1, 28, 28)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def load_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = np.frombuffer(raw, ">u4", raw[3], 4).astype(int)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * raw[3]).reshape(dims)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ckpt", nargs="?")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--write-random", metavar="OUT", help="write a random MLP checkpoint and exit")
    args = ap.parse_args()

    if args.write_random:
        torch.manual_seed(0)
        sd = MLP([784, 256, 128, 10]).state_dict()
        meta = {"model": "mlp", "config": json.dumps({"hidden": "256,128"}),
                "input_mean": "0.2860", "input_std": "0.3530"}
        write_safetensors(args.write_random, {k: v.numpy() for k, v in sd.items()}, meta)
        return
    if not args.ckpt:
        ap.error("CKPT is required")

    tensors, meta = read_safetensors(args.ckpt)
    if meta.get("model") == "cnn":
        model = CNN(tensors)
    elif meta.get("model") == "mlp":
        model = mlp_from(tensors, meta)
    else:
        sys.exit(f"unsupported model {meta.get('model')!r} (expected 'mlp' or 'cnn')")
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    model.eval()

    x = load_idx(os.path.join(args.data, "t10k-images-idx3-ubyte.gz")).reshape(-1, 784)
    y = load_idx(os.path.join(args.data, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    x = (x.astype(np.float32) / 255 - float(meta["input_mean"])) / float(meta["input_std"])
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1)
    acc = (pred == torch.from_numpy(y)).double().mean().item()
    print(f"pytorch_test_acc: {acc:.4f}")


def mlp_from(tensors, meta):
    nfc = sum(1 for k in tensors if k.startswith("fc") and k.endswith(".weight"))
    sizes = [tensors["fc1.weight"].shape[1]] + [tensors[f"fc{i}.weight"].shape[0] for i in range(1, nfc + 1)]
    hidden = json.loads(meta.get("config", "{}")).get("hidden")
    if isinstance(hidden, str):
        hidden = hidden.split(",")
    if hidden is not None and [int(h) for h in hidden] != sizes[1:-1]:
        sys.exit(f"config {meta['config']} does not match weight shapes, layer sizes {sizes}")
    return MLP(sizes)


if __name__ == "__main__":
    main()
