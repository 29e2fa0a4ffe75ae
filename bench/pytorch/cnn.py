#!/usr/bin/python3
"""PyTorch reference for `zoo-bench cnn`: the same CNN training benchmark.

conv(1->32,3x3,p1)-ReLU-maxpool2 -> conv(32->64,3x3,p1)-ReLU-maxpool2 -> flatten
-> fc(3136->128)-ReLU-dropout(0.25) -> fc(128->10), cross-entropy, Adam 1e-3,
batch 128 on real Fashion-MNIST (pre-loaded, pre-shuffled, sliced in order).
Times --steps training steps after 20 warm-up steps, and no_grad inference on
batches of 1000 images. Usage: cnn.py [--steps 100] [--threads 2]
"""
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import load_fashion, parse_args, report, time_steps


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(3136, 128)
        self.fc2 = nn.Linear(128, 10)
        self.drop = nn.Dropout(0.25)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.drop(F.relu(self.fc1(x.flatten(1))))
        return self.fc2(x)


def main():
    args = parse_args(__doc__, steps=100, batch=128, warmup=20)
    x, y = load_fashion("train", args.data, shuffle_seed=0)
    x = x.reshape(-1, 1, 28, 28)
    nb = len(x) // args.batch

    model = CNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(i):
        lo = (i % nb) * args.batch
        xb, yb = x[lo:lo + args.batch], y[lo:lo + args.batch]
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()

    ms = time_steps(step, args.warmup, args.steps)

    model.eval()
    ib = 1000
    with torch.no_grad():
        model(x[:ib])  # warm-up
        t0 = time.perf_counter()
        n = 0
        for lo in range(0, 10 * ib, ib):
            model(x[lo:lo + ib])
            n += ib
        ips = n / (time.perf_counter() - t0)

    report("cnn", args.threads, ms, args.batch, ips)


if __name__ == "__main__":
    main()
