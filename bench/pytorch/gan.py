#!/usr/bin/python3
"""PyTorch reference for `zoo-bench gan`: the same DCGAN training step.

Generator z(64) -> linear -> 128x7x7 -> BN -> ReLU -> convT(128->64,4,2,1) -> BN ->
ReLU -> convT(64->1,4,2,1) -> tanh; discriminator conv(1->64,4,2,1) -> lReLU 0.2 ->
conv(64->128,4,2,1) -> BN -> lReLU 0.2 -> linear(6272->1); BCE with logits, Adam
2e-4 betas (0.5, 0.999), batch 64, pixels in [-1, 1]. One step = a discriminator
update on real + detached fake, then a generator update through the discriminator
(whose weights take no gradient). Usage: gan.py [--steps 50] [--threads 2]
"""
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import load_fashion, parse_args, report, time_steps


class Generator(nn.Module):
    def __init__(self, z=64):
        super().__init__()
        self.fc = nn.Linear(z, 128 * 7 * 7)
        self.bn1 = nn.BatchNorm2d(128)
        self.deconv1 = nn.ConvTranspose2d(128, 64, 4, 2, 1)
        self.bn2 = nn.BatchNorm2d(64)
        self.deconv2 = nn.ConvTranspose2d(64, 1, 4, 2, 1)

    def forward(self, z):
        x = F.relu(self.bn1(self.fc(z).view(-1, 128, 7, 7)))
        x = F.relu(self.bn2(self.deconv1(x)))
        return torch.tanh(self.deconv2(x))


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, 4, 2, 1)
        self.conv2 = nn.Conv2d(64, 128, 4, 2, 1)
        self.bn2 = nn.BatchNorm2d(128)
        self.fc = nn.Linear(128 * 7 * 7, 1)

    def forward(self, x):
        x = F.leaky_relu(self.conv1(x), 0.2)
        x = F.leaky_relu(self.bn2(self.conv2(x)), 0.2)
        return self.fc(x.flatten(1))


def main():
    args = parse_args(__doc__, steps=50, batch=64, warmup=10)
    x, _ = load_fashion("train", args.data, shuffle_seed=0)
    # load_fashion normalizes with the dataset's mean/std; undo that and map to [-1, 1]
    x = ((x * 0.3530 + 0.2860) * 2 - 1).reshape(-1, 1, 28, 28)
    nb = len(x) // args.batch
    G, D = Generator(), Discriminator()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ones = torch.ones(args.batch, 1)
    zeros = torch.zeros(args.batch, 1)

    def step(i):
        lo = (i % nb) * args.batch
        real = x[lo:lo + args.batch]
        fake = G(torch.randn(args.batch, 64))
        opt_d.zero_grad()
        d_loss = (F.binary_cross_entropy_with_logits(D(real), ones)
                  + F.binary_cross_entropy_with_logits(D(fake.detach()), zeros))
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        for p in D.parameters():
            p.requires_grad_(False)
        g_loss = F.binary_cross_entropy_with_logits(D(fake), ones)
        g_loss.backward()
        for p in D.parameters():
            p.requires_grad_(True)
        opt_g.step()

    ms = time_steps(step, args.warmup, args.steps)

    G.eval()
    with torch.no_grad():
        G(torch.randn(1000, 64))  # warm-up
        t0 = time.perf_counter()
        for _ in range(5):
            G(torch.randn(1000, 64))
        ips = 5000 / (time.perf_counter() - t0)

    report("gan", args.threads, ms, args.batch, ips)


if __name__ == "__main__":
    main()
