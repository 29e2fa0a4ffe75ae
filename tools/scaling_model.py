#!/usr/bin/python3
"""Data-parallel throughput on paper: N ranks, each one of the development machine's
2-core processes training the model's own batch (weak scaling: the global batch grows
with N), gradients averaged by a ring all-reduce over 100 Gb/s links, not overlapped
with the backward pass.

  step(N)       = compute + allreduce(N) (+ updates per step, for the GAN's two parts)
  allreduce(N)  = 2 (N - 1) / N * bytes / bandwidth + 2 (N - 1) * latency
  throughput(N) = N * batch / step(N)

compute and bytes are measured (bench/scaling.sh: one process, 2 threads; the bytes
zoo-train reports per update); bandwidth 12.5 GB/s (100 Gb/s), latency 5 us per ring
step. Prints one row per model.

Usage: python3 tools/scaling_model.py
"""

BANDWIDTH = 100e9 / 8  # bytes/s
LATENCY = 5e-6  # s per ring step

# model: (batch, measured samples/s of one process on 2 threads, MB per update, updates per step)
MEASURED = {
    "mlp": (128, 77304, 0.941, 1),
    "cnn": (128, 5733, 1.687, 1),
    "gan": (64, 820, 1.358 / 2, 2),  # the generator's and the discriminator's, together 1.358 MB
    "transformer": (32, 359, 3.264, 1),
    "diffusion": (64, 254, 1.182, 1),
}


def allreduce_s(n, nbytes):
    return 2 * (n - 1) / n * nbytes / BANDWIDTH + 2 * (n - 1) * LATENCY


def main():
    ranks = (8, 64, 512)
    print("model        compute ms  " + "  ".join(f"{n:>4} ranks: samples/s (eff.)" for n in ranks))
    for model, (batch, rate, mb, updates) in MEASURED.items():
        compute = batch / rate
        cells = []
        for n in ranks:
            step = compute + updates * allreduce_s(n, mb * 1e6)
            cells.append(f"{n * batch / step:>16,.0f} ({compute / step:4.0%})")
        print(f"{model:<12} {1e3 * compute:>10.2f}  " + "  ".join(cells))


if __name__ == "__main__":
    main()
