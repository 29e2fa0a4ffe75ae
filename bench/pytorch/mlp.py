#!/usr/bin/python3
"""PyTorch reference for `zoo-bench mlp`: the same MLP training benchmark.

MLP 784-256-128-10 (ReLU), cross-entropy, Adam lr 1e-3, batch 128 on real
Fashion-MNIST training images (pre-loaded, pre-shuffled, sliced in order).
Times --steps full training steps after 20 warm-up steps, and no_grad
inference on batches of 1000 images.  Run with OMP_WAIT_POLICY=PASSIVE
(see bench/compare.sh).  Usage: mlp.py [--steps 300] [--threads 2]
"""
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import load_fashion, parse_args, report, time_steps


class MLP(nn.Module):
    def __init__(self, sizes=(784, 256, 128, 10)):
        super().__init__()
        self.fc1 = nn.Linear(sizes[0], sizes[1])
        self.fc2 = nn.Linear(sizes[1], sizes[2])
        self.fc3 = nn.Linear(sizes[2], sizes[3])

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def main():
    args = parse_args(__doc__, steps=300, batch=128, warmup=20)
    x, y = load_fashion("train", args.data, shuffle_seed=0)  # sliced in order
    nb = len(x) // args.batch

    model = MLP()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(i):
        lo = (i % nb) * args.batch
        xb, yb = x[lo:lo + args.batch], y[lo:lo + args.batch]
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()

    ms = time_steps(step, args.warmup, args.steps)

    ib = 1000
    with torch.no_grad():
        for lo in range(0, 5 * ib, ib):  # warm-up
            model(x[lo:lo + ib])
        t0 = time.perf_counter()
        n = 0
        for lo in range(0, len(x) - ib + 1, ib):  # one pass over 60000 images
            model(x[lo:lo + ib])
            n += ib
        ips = n / (time.perf_counter() - t0)

    report("mlp", args.threads, ms, args.batch, ips)


if __name__ == "__main__":
    main()
