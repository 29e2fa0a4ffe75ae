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

       diffusion_reference.py OUT --redraw CKPT [--ddim N] [--seed S] [--compare DIR]
draws N images (default 1000) by DDIM from a zoo checkpoint's EMA weights with PyTorch's
network and sampler, starting from the noise `zoo-sample diffusion --seed S` starts from
(zoo's Philox stream, rebuilt here), into OUT/ddim; --compare DIR counts the pixels that
differ from the tiles zoo-sample wrote to DIR with the same checkpoint, --n and --seed,
and fails if more than 1% do or any by more than 1.

       diffusion_reference.py OUT --lockstep INIT --seed S [--steps N] [--against DIR...]
trains from the weights of INIT (`zoo-train diffusion --steps 1 --lr 0 --seed S --out D`
writes them: zoo's initialization, unchanged) with zoo's own randomness for --seed S:
its data order, timesteps and noise, rebuilt here. Per-step losses go to OUT/losses.txt,
the weights to OUT/model.safetensors; each DIR is a `zoo-train diffusion --steps N --seed
S --log-every 1` run to set these against (its metrics.jsonl and model.safetensors). Two
runs of the same steps part only by rounding, amplified as training goes on: set against
zoo's fast and exact modes, which part the same way, this tells a different step apart
from rounding.
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
from common import DATA_DIR, load_fashion, load_idx  # noqa: E402
from diffusion import UNet  # noqa: E402
from safetensors_eval import read_safetensors, write_safetensors  # noqa: E402

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
    """x [n, 1, 28, 28] in [-1, 1] as folder/sample_NNNN.png, bytes as zoo writes them;
    returns those bytes [n, 28, 28]"""
    os.makedirs(folder, exist_ok=True)
    p = np.clip((x.numpy()[:, 0] + 1.0) / 2.0 * 255.0 + 0.5, 0, 255).astype(np.uint8)
    for i in range(len(p)):
        write_png(os.path.join(folder, f"sample_{i:04d}.png"), p[i])
    return p


def read_png(path):
    """the pixels [h, w] (uint8) of an 8-bit grayscale PNG, as zoo and write_png write them"""
    with open(path, "rb") as f:
        buf = f.read()
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(buf):
        (n,), kind = struct.unpack_from(">I", buf, pos), buf[pos + 4:pos + 8]
        data = buf[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, color = struct.unpack_from(">IIBB", data)
            if (depth, color) != (8, 0):
                sys.exit(f"{path}: not an 8-bit grayscale PNG")
        elif kind == b"IDAT":
            idat += data
        pos += 12 + n
    raw, rows, prev = zlib.decompress(idat), [], np.zeros(w, np.int64)
    for r in range(h):
        kind, line = raw[r * (w + 1)], np.frombuffer(raw, np.uint8, w, r * (w + 1) + 1).astype(np.int64)
        out = np.zeros(w, np.int64)
        for i in range(w):  # the five filters: none, sub, up, average, Paeth
            a, b, c = (out[i - 1] if i else 0), prev[i], (prev[i - 1] if i else 0)
            p = a + b - c
            pred = (0, a, b, (a + b) // 2, a if abs(p - a) <= min(abs(p - b), abs(p - c)) else b if abs(p - b) <= abs(p - c) else c)[kind]
            out[i] = (line[i] + pred) & 255
        rows.append(out)
        prev = out
    return np.array(rows, np.uint8)


M32, M64 = 0xFFFFFFFF, (1 << 64) - 1


def zoo_key(seed, stream):
    """the Philox key of zoo_rng_stream(seed, stream): splitmix64's finalizer mixes both"""
    def mix64(v):
        v = (v + 0x9E3779B97F4A7C15) & M64
        v = ((v ^ (v >> 30)) * 0xBF58476D1CE4E5B9) & M64
        v = ((v ^ (v >> 27)) * 0x94D049BB133111EB) & M64
        return v ^ (v >> 31)

    return mix64(mix64(seed) ^ mix64(stream + 0x5851F42D4C957F2D))


def philox(key, ctr):
    """the first two words of Philox 4x32-10 (Salmon et al. 2011) at counters ctr (uint64)"""
    u32, lo = np.uint64(32), np.uint64(M32)
    c0, c1, c2, c3 = ctr & lo, ctr >> u32, np.zeros_like(ctr), np.zeros_like(ctr)
    k0, k1 = key & M32, key >> 32
    for _ in range(10):
        p0, p1 = np.uint64(0xD2511F53) * c0, np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = (p1 >> u32) ^ c1 ^ np.uint64(k0), p1 & lo, (p0 >> u32) ^ c3 ^ np.uint64(k1), p0 & lo
        k0, k1 = (k0 + 0x9E3779B9) & M32, (k1 + 0xBB67AE85) & M32
    return c0, c1


def zoo_normal(key, offset, count):
    """zoo's normal fill: element i from counter offset + i, Box-Muller on the first two
    words. Computed in double and rounded: within 2 float ulps of zoo's values."""
    c0, c1 = philox(key, np.arange(offset, offset + count, dtype=np.uint64))
    u1 = ((c0 >> np.uint64(8)).astype(np.float64) + 1.0) / 16777216.0  # (0, 1]
    u2 = (c1 >> np.uint64(8)).astype(np.float64) / 16777216.0
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).astype(np.float32)


class ZooRng:
    """zoo_rng_stream(seed, stream): zoo_rng_below's draws (one counter each, Lemire's
    multiply-shift with rejection) and normal fills, advancing the same offset"""

    def __init__(self, seed, stream, ahead=64):
        self.key, self.offset, self.ahead, self.buf, self.at = zoo_key(seed, stream), 0, ahead, [], 0

    def u32(self):
        if not self.at <= self.offset < self.at + len(self.buf):
            self.at = self.offset
            self.buf = philox(self.key, np.arange(self.offset, self.offset + self.ahead, dtype=np.uint64))[0].tolist()
        self.offset += 1
        return self.buf[self.offset - 1 - self.at]

    def below(self, n):
        m = self.u32() * n
        if m & M32 < n:
            threshold = ((1 << 32) - n) % n
            while m & M32 < threshold:
                m = self.u32() * n
        return m >> 32

    def normal(self, count):
        x = zoo_normal(self.key, self.offset, count)
        self.offset += count
        return x


def zoo_noise(seed, n, shape=(1, 28, 28)):
    """x_T [n, *shape] as `zoo-sample diffusion --seed S` draws it (stream 4)"""
    return torch.from_numpy(zoo_normal(zoo_key(seed, 4), 0, n * int(np.prod(shape))).reshape(n, *shape))


# the options of zoo's default diffusion model, as its checkpoints record them
DEFAULT_CONFIG = {"base-channels": "32", "mults": "1,2", "noise-schedule": "linear", "conditional": "0", "attn": "",
                  "ema": "0.999"}


def checkpoint_tensors(net, ema):
    """net's and ema's (as "ema.") tensors under zoo's names"""
    tensors = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    tensors.update({"ema." + k: v.detach().numpy() for k, v in ema.state_dict().items()})
    return tensors


def write_checkpoint(path, net, ema, steps):
    """net's and ema's tensors, with the metadata zoo's diffusion checkpoints carry (the
    default model's options)"""
    meta = {"format": "zoo-1", "model": "diffusion", "config": json.dumps(DEFAULT_CONFIG, separators=(",", ":")),
            "step": str(steps), "numeric": "fast", "input_mean": "0.5", "input_std": "0.5", "input_shape": "1,28,28",
            "classes": "10"}
    write_safetensors(path, checkpoint_tensors(net, ema), meta)


@torch.no_grad()
def sample(net, abar, betas, n, ddim_steps, gen, x_T=None):
    """n images by DDPM (ddim_steps 0: all T steps) or DDIM with eta 0, in batches of 250,
    from x_T [n, 1, 28, 28] (default: drawn from gen)"""
    out = []
    for lo in range(0, n, 250):
        m = min(250, n - lo)
        x = torch.randn(m, 1, 28, 28, generator=gen) if x_T is None else x_T[lo:lo + m]
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
    ap.add_argument("--redraw", metavar="CKPT", help="no training: draw from this zoo checkpoint with zoo's noise")
    ap.add_argument("--compare", metavar="DIR", help="with --redraw: zoo-sample's tiles to compare against")
    ap.add_argument("--lockstep", metavar="INIT", help="train from these zoo weights with zoo's randomness")
    ap.add_argument("--against", metavar="DIR", nargs="*", default=[], help="with --lockstep: zoo runs to compare")
    ap.add_argument("--max-diff", type=float, help="with --lockstep: fail if PyTorch's losses or final weights differ "
                    "from the first --against run's by more than this (relative)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    abar = torch.cumprod(1 - betas, 0)
    if args.redraw:
        return redraw(args, abar, betas)
    if args.lockstep:
        return lockstep(args, abar)
    x, _ = load_fashion("train", args.data)
    x = ((x * 0.3530 + 0.2860) * 2 - 1).reshape(-1, 1, 28, 28)  # the loader's normalization undone: [-1, 1]
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


def redraw(args, abar, betas):
    """--redraw: a zoo checkpoint's EMA weights drawn by this file's sampler from zoo's x_T"""
    tensors, meta = read_safetensors(args.redraw)
    config = json.loads(meta.get("config", "{}"))
    if (meta.get("model") != "diffusion" or config.get("conditional", "0") != "0" or config.get("attn", "")
            or meta.get("input_shape", "1,28,28") != "1,28,28"):
        sys.exit(f"{args.redraw}: not an unconditional zoo diffusion checkpoint of 28x28 gray images without --attn")
    net = UNet(int(config.get("base-channels", "32")), tuple(int(m) for m in config.get("mults", "1,2").split(",")))
    net.load_state_dict({k[4:]: torch.from_numpy(v) for k, v in tensors.items() if k.startswith("ema.")})
    net.eval()
    n = args.ddim or 1000
    folder = os.path.join(args.out, "ddim")
    t0 = time.time()
    ours = write_tiles(folder, sample(net, abar, betas, n, args.ddim_steps, None, zoo_noise(args.seed, n)))
    print(f"ddim: {n} images from zoo's noise for --seed {args.seed} in {time.time() - t0:.0f} s", flush=True)
    if args.compare:
        zoos = np.stack([read_png(os.path.join(args.compare, f"sample_{i:04d}.png")) for i in range(n)])
        d = np.abs(ours.astype(np.int64) - zoos)
        print(f"against {args.compare}: {int((d > 0).sum())} of {d.size} pixels differ, by at most {int(d.max())}")
        if d.max() > 1 or (d > 0).mean() > 0.01:  # float rounding flips a byte here and there, no more
            sys.exit("zoo's samples and these differ by more than rounding")


def lockstep(args, abar):
    """--lockstep: zoo's training run for --seed, step for step, in PyTorch"""
    tensors, meta = read_safetensors(args.lockstep)
    if meta.get("model") != "diffusion" or json.loads(meta.get("config", "{}")) != DEFAULT_CONFIG:
        sys.exit(f"{args.lockstep}: not a checkpoint of zoo's default unconditional diffusion model")
    net, ema = UNet(), UNet()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items() if not k.startswith("ema.")})
    ema.load_state_dict(net.state_dict())
    opt = torch.optim.Adam(net.parameters(), lr=2e-4)
    ema_rate = float(np.float32(1) - np.float32(0.999))  # zoo's 1 - decay, in float
    path = os.path.join(args.data, "train-images-idx3-ubyte")
    images = load_idx(path + ".gz" if os.path.exists(path + ".gz") else path).reshape(-1, 1, 28, 28)
    n_img = len(images)
    per_epoch, order, losses = (n_img + 63) // 64, None, []
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    for step in range(args.steps):
        epoch, b = divmod(step, per_epoch)
        if b == 0:  # zoo's loader: Fisher-Yates over zoo_rng_stream(seed, epoch)
            rng, order = ZooRng(args.seed, epoch, n_img), list(range(n_img))
            for i in range(n_img - 1, 0, -1):
                j = rng.below(i + 1)
                order[i], order[j] = order[j], order[i]
        idx = order[b * 64:(b + 1) * 64]
        img = torch.from_numpy(images[idx].astype(np.float32) * np.float32(1.0 / 255.0))
        x0 = img * 2.0 + -1.0
        rng = ZooRng(args.seed, (7 << 32) + step)  # the step's draws: timesteps, then noise
        t = torch.tensor([rng.below(T) for _ in idx])
        eps = torch.from_numpy(rng.normal(len(idx) * 784).reshape(len(idx), 1, 28, 28))
        ab = abar[t][:, None, None, None]  # square roots in double, rounded to float as zoo's
        sa, sb = ab.sqrt().float(), (1.0 - ab).sqrt().float()
        loss = F.mse_loss(net(x0 * sa + eps * sb, t), eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema.parameters(), net.parameters()):
                e.lerp_(p, ema_rate)
        losses.append(loss.item())
    print(f"{args.steps} steps in {time.time() - t0:.0f} s from {args.lockstep}, zoo's draws for --seed {args.seed}")
    with open(os.path.join(args.out, "losses.txt"), "w") as f:
        f.writelines(f"{i + 1} {v:.9g}\n" for i, v in enumerate(losses))
    write_checkpoint(os.path.join(args.out, "model.safetensors"), net, ema, args.steps)
    ours = checkpoint_tensors(net, ema)
    runs = [("pytorch", losses, ours)]
    for d in args.against:
        with open(os.path.join(d, "metrics.jsonl")) as f:
            rec = {r["step"]: r["loss"] for r in map(json.loads, f) if "loss" in r}
        zt, _ = read_safetensors(os.path.join(d, "model.safetensors"))
        if any(s + 1 not in rec for s in range(args.steps)):
            sys.exit(f"{d}: metrics.jsonl lacks a loss for every step 1..{args.steps} (--log-every 1)")
        runs.append((d, [rec[s + 1] for s in range(args.steps)], {k: zt[k] for k in ours}))
    marks = [m for m in (1, 10, 30, 100, 300, 1000, 3000, 6000) if m <= args.steps]
    worst = 0.0
    for i in range(len(runs)):
        for j in range(i + 1, len(runs)):
            (na, la, wa), (nb, lb, wb) = runs[i], runs[j]
            rel = np.abs(np.array(la) - np.array(lb)) / np.array(lb)
            apart = []
            for ema_part in (False, True):
                keys = [k for k in wa if k.startswith("ema.") == ema_part]
                num = sum(float(((wa[k] - wb[k]).astype(np.float64) ** 2).sum()) for k in keys)
                apart.append(math.sqrt(num / sum(float((wb[k].astype(np.float64) ** 2).sum()) for k in keys)))
            print(f"{na} vs {nb}: loss relative difference, worst up to step " +
                  ", ".join(f"{m}: {rel[:m].max():.1e}" for m in marks) +
                  f"; at the end the weights {apart[0]:.1e} apart, their EMA {apart[1]:.1e} (relative L2)")
            if i == 0 and j == 1:
                worst = max(rel.max(), *apart)
    if args.max_diff is not None and args.against and not worst <= args.max_diff:
        sys.exit(f"PyTorch's training and {args.against[0]}'s differ by {worst:.1e}, more than {args.max_diff:g}")


if __name__ == "__main__":
    main()
