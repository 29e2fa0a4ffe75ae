#!/usr/bin/python3
"""PyTorch's same diffusion model trained as `zoo-train diffusion` trains it, and its
samples written as PNG tiles, for judging zoo's samples against it with a held-out
classifier (`zoo-eval cnn --images DIR`).

The model, schedule and step are bench/pytorch/diffusion.py's (zoo's default U-Net,
T = 1000 linear betas, Adam 2e-4, batch 64, EMA 0.999); here the data is reshuffled
every epoch as zoo's loader does, and sampling uses the EMA weights, as zoo does:
DDPM (ancestral, all 1000 steps, sigma^2 = beta) and DDIM (eta 0, evenly spaced steps).
Pixels become bytes as zoo's PNG writer makes them: (x + 1) / 2 * 255 + 0.5, clamped,
truncated. --real DIR also writes that many test images, the score real data gets.

Usage: diffusion_reference.py OUT [--steps 6000] [--threads 2] [--ddpm N] [--ddim N]
       [--ddim-steps 50] [--real N] [--seed 0]
Writes OUT/ddpm/*.png, OUT/ddim/*.png, OUT/real/*.png and prints the training time;
OUT/model.safetensors holds the trained weights and their EMA under zoo's names, so
`zoo-eval diffusion --checkpoint` measures its test loss and `zoo-sample diffusion
--checkpoint` draws from it with zoo's samplers.
"""
import argparse
import json
import math
import os
import struct
import sys
import time
import zlib

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "pytorch"))
from common import DATA_DIR, load_fashion  # noqa: E402
from diffusion import UNet  # noqa: E402
from safetensors_eval import write_safetensors  # noqa: E402

T = 1000


def write_png(path, pixels):
    """8-bit grayscale PNG of pixels [h, w] (uint8), written whole then renamed."""
    h, w = pixels.shape
    raw = b"".join(b"\x00" + pixels[r].tobytes() for r in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path + ".tmp", "wb") as f:
        f.write(png)
    os.replace(path + ".tmp", path)


def write_tiles(folder, x):
    """x [n, 1, 28, 28] in [-1, 1] as folder/sample_NNNN.png, bytes as zoo writes them"""
    os.makedirs(folder, exist_ok=True)
    p = np.clip((x.numpy()[:, 0] + 1.0) / 2.0 * 255.0 + 0.5, 0, 255).astype(np.uint8)
    for i in range(len(p)):
        write_png(os.path.join(folder, f"sample_{i:04d}.png"), p[i])


def write_checkpoint(path, net, ema, steps):
    """net's and ema's (as "ema.") tensors, with the metadata zoo's diffusion checkpoints
    carry (the default model's options)"""
    tensors = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    tensors.update({"ema." + k: v.detach().numpy() for k, v in ema.state_dict().items()})
    config = {"base-channels": "32", "mults": "1,2", "noise-schedule": "linear", "conditional": "0", "attn": "",
              "ema": "0.999"}
    meta = {"format": "zoo-1", "model": "diffusion", "config": json.dumps(config, separators=(",", ":")),
            "step": str(steps), "numeric": "fast", "input_mean": "0.5", "input_std": "0.5", "input_shape": "1,28,28",
            "classes": "10"}
    write_safetensors(path, tensors, meta)


@torch.no_grad()
def sample(net, abar, betas, n, ddim_steps, gen):
    """n images by DDPM (ddim_steps 0: all T steps) or DDIM with eta 0, in batches of 250"""
    out = []
    for lo in range(0, n, 250):
        m = min(250, n - lo)
        x = torch.randn(m, 1, 28, 28, generator=gen)
        if ddim_steps:
            ts = [int(i * T / ddim_steps) for i in range(ddim_steps)][::-1]
            for i, t in enumerate(ts):
                ab = abar[t].item()
                abp = abar[ts[i + 1]].item() if i + 1 < len(ts) else 1.0
                eps = net(x, torch.full((m,), t))
                x0 = (x - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
                x = math.sqrt(abp) * x0 + math.sqrt(1 - abp) * eps
        else:
            for t in range(T - 1, -1, -1):
                ab, b = abar[t].item(), betas[t].item()
                eps = net(x, torch.full((m,), t))
                x = (x - b / math.sqrt(1 - ab) * eps) / math.sqrt(1 - b)
                if t > 0:
                    x = x + math.sqrt(b) * torch.randn(x.shape, generator=gen)
        out.append(x.clamp(-1, 1))
    return torch.cat(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ddpm", type=int, default=256, help="images drawn by DDPM")
    ap.add_argument("--ddim", type=int, default=1000, help="images drawn by DDIM")
    ap.add_argument("--ddim-steps", type=int, default=50)
    ap.add_argument("--real", type=int, default=1000, help="test images written as they are")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=DATA_DIR)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x, _ = load_fashion("train", args.data)
    x = ((x * 0.3530 + 0.2860) * 2 - 1).reshape(-1, 1, 28, 28)  # the loader's normalization undone: [-1, 1]
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    abar = torch.cumprod(1 - betas, 0)
    net = UNet()
    ema = UNet()
    ema.load_state_dict(net.state_dict())
    opt = torch.optim.Adam(net.parameters(), lr=2e-4)
    rng = np.random.default_rng(args.seed)
    order, pos = rng.permutation(len(x)), 0
    t0 = time.time()
    for step in range(args.steps):
        if pos + 64 > len(x):  # the last partial batch, then a new epoch's order
            idx = order[pos:]
            order, pos = rng.permutation(len(x)), 0
        else:
            idx = order[pos:pos + 64]
            pos += 64
        x0 = x[idx]
        t = torch.randint(0, T, (len(idx),))
        eps = torch.randn_like(x0)
        a = abar[t].float()[:, None, None, None]
        loss = F.mse_loss(net(a.sqrt() * x0 + (1 - a).sqrt() * eps, t), eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema.parameters(), net.parameters()):
                e.lerp_(p, 1 - 0.999)
        if (step + 1) % 500 == 0:
            print(f"step {step + 1}: loss {loss.item():.4f}, {time.time() - t0:.0f} s", flush=True)
    print(f"trained {args.steps} steps in {time.time() - t0:.0f} s", flush=True)
    os.makedirs(args.out, exist_ok=True)
    write_checkpoint(os.path.join(args.out, "model.safetensors"), net, ema, args.steps)
    ema.eval()
    gen = torch.Generator().manual_seed(args.seed + 1)
    for name, n, k in (("ddim", args.ddim, args.ddim_steps), ("ddpm", args.ddpm, 0)):
        if n:
            t0 = time.time()
            write_tiles(os.path.join(args.out, name), sample(ema, abar, betas, n, k, gen))
            print(f"{name}: {n} images in {time.time() - t0:.0f} s", flush=True)
    if args.real:
        xt, _ = load_fashion("test", args.data)
        write_tiles(os.path.join(args.out, "real"), ((xt[:args.real] * 0.3530 + 0.2860) * 2 - 1).reshape(-1, 1, 28, 28))


if __name__ == "__main__":
    main()
