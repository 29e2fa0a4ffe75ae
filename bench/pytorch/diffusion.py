#!/usr/bin/python3
"""PyTorch reference for `zoo-bench diffusion`: the same DDPM training step and sampler.

U-Net for 28x28: sinusoidal time embedding (128) -> Linear -> SiLU -> Linear; conv_in
1->32; ResBlock 32->32 (the skip); stride-2 conv 32->32 (28 -> 14); ResBlock 32->64;
ResBlock 64->64 (mid); nearest x2 + conv 64->64; ResBlock concat(64 + 32)->32;
GroupNorm(8) -> SiLU -> conv 32->1. ResBlock = GN(8) -> SiLU -> conv3x3 -> + Linear(SiLU(
temb)) per channel -> GN(8) -> SiLU -> conv3x3 -> + x (1x1 conv when the width changes).
Names as zoo's tensors. Training: T = 1000 linear betas 1e-4..0.02, t uniform, MSE on
the noise, Adam 2e-4, batch 64, an EMA of the weights (0.999) updated every step.
Sampling: one DDIM step for 16 images (the network's forward and the update), timed.
Usage: diffusion.py [--steps 50] [--threads 2]
"""
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import load_fashion, parse_args, peak_rss_mb, time_steps

TEMB = 128


def time_embedding(t):
    half = TEMB // 2
    f = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half)
    a = t.double()[:, None] * f[None]
    return torch.cat([torch.sin(a), torch.cos(a)], 1).float()


class ResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.temb = nn.Linear(TEMB, cout)
        self.norm2 = nn.GroupNorm(8, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb_act):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(temb_act)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (self.skip(x) if self.skip is not None else x)


class Down(nn.Module):
    def __init__(self, cin, cout, down):
        super().__init__()
        self.res = ResBlock(cin, cout)
        self.down = nn.Conv2d(cout, cout, 3, 2, 1) if down else None


class Up(nn.Module):
    def __init__(self, c, skip):
        super().__init__()
        self.up = nn.Conv2d(c, c, 3, 1, 1)
        self.res = ResBlock(c + skip, skip)


class UNet(nn.Module):
    def __init__(self, ch=32, mults=(1, 2), c=1):
        super().__init__()
        self.time_mlp = nn.Sequential(nn.Linear(TEMB, TEMB), nn.SiLU(), nn.Linear(TEMB, TEMB))
        self.conv_in = nn.Conv2d(c, ch, 3, 1, 1)
        widths = [ch * m for m in mults]
        self.down = nn.ModuleList()
        cur = ch
        for i, w in enumerate(widths):
            self.down.append(Down(cur, w, i < len(widths) - 1))
            cur = w
        self.mid = ResBlock(cur, cur)
        self.up = nn.ModuleList([None] * (len(widths) - 1))
        for i in range(len(widths) - 2, -1, -1):
            self.up[i] = Up(cur, widths[i])
            cur = widths[i]
        self.norm_out = nn.GroupNorm(8, cur)
        self.conv_out = nn.Conv2d(cur, c, 3, 1, 1)

    def forward(self, x, t):
        temb_act = F.silu(self.time_mlp(time_embedding(t)))
        h = self.conv_in(x)
        skips = []
        for d in self.down:
            h = d.res(h, temb_act)
            skips.append(h)
            if d.down is not None:
                h = d.down(h)
        h = self.mid(h, temb_act)
        for i in range(len(self.up) - 1, -1, -1):
            h = self.up[i].up(F.interpolate(h, scale_factor=2, mode="nearest"))
            h = self.up[i].res(torch.cat([h, skips[i]], 1), temb_act)
        return self.conv_out(F.silu(self.norm_out(h)))


def main():
    args = parse_args(__doc__, steps=50, batch=64, warmup=5)
    x, _ = load_fashion("train", args.data, shuffle_seed=0)
    x = ((x * 0.3530 + 0.2860) * 2 - 1).reshape(-1, 1, 28, 28)  # undo the normalization: [-1, 1]
    nb = len(x) // args.batch
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    abar = torch.cumprod(1 - betas, 0)
    net = UNet()
    ema = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.Adam(net.parameters(), lr=2e-4)

    def step(i):
        lo = (i % nb) * args.batch
        x0 = x[lo:lo + args.batch]
        t = torch.randint(0, 1000, (args.batch,))
        eps = torch.randn_like(x0)
        a = abar[t].float()[:, None, None, None]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
        opt.zero_grad()
        loss = F.mse_loss(net(xt, t), eps)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema, net.parameters()):
                e.lerp_(p, 1 - 0.999)

    ms = time_steps(step, args.warmup, args.steps)

    # one DDIM step (eta 0) for 16 images: the forward and the update, best of 10 after 2
    net.eval()
    xs = torch.randn(16, 1, 28, 28)
    best = float("inf")
    with torch.no_grad():
        for k in range(12):
            t0 = time.perf_counter()
            cur, prev = 980 - 20 * (k % 49), 960 - 20 * (k % 49)
            ab, abp = abar[cur].item(), abar[prev].item()
            eps = net(xs, torch.full((16,), cur))
            xs = math.sqrt(abp / ab) * xs + (math.sqrt(1 - abp) - math.sqrt(abp) * math.sqrt(1 - ab) / math.sqrt(ab)) * eps
            if k >= 2:
                best = min(best, time.perf_counter() - t0)

    print("model: diffusion")
    print(f"framework: pytorch {torch.__version__}")
    print(f"threads: {args.threads}")
    print(f"parameters: {sum(p.numel() for p in net.parameters())}")
    print(f"train_ms_per_step: {ms:.3f}")
    print(f"train_samples_per_s: {args.batch * 1000 / ms:.0f}")
    print(f"sample_ms_per_step_16: {best * 1000:.3f}")
    print(f"peak_rss_mb: {peak_rss_mb():.0f}")


if __name__ == "__main__":
    main()
