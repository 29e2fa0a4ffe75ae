#!/usr/bin/python3
"""Writes the reference file for zoo's F16 and BF16 safetensors support, with PyTorch's
own conversions, so that tests/test_io.c checks zoo against PyTorch without needing it:

  f16_all        F16  [65536]  every half bit pattern (0x0000 .. 0xffff, NaNs included)
  f16_all_f32    F32  [65536]  PyTorch's float32 of each (.float())
  bf16_some      BF16 [8192]   the specials, then every 8th bfloat16 pattern
  bf16_some_f32  F32  [8192]   PyTorch's float32 of each
  probe          F32  [4096]   float32 values: ties and near-ties of both formats, the
                               F16 overflow edge (65504, 65519.99, 65520), subnormals of
                               both, +-0, +-inf, NaN, and random values over all exponents
  probe_f16      F16  [4096]   PyTorch's rounding of each (.half())
  probe_bf16     BF16 [4096]   PyTorch's rounding of each (.bfloat16())

The file is written as the safetensors format lays it out (this Python has no
safetensors package): u64 header length, JSON header, the tensors packed in order.

    /usr/bin/python3 tools/half_reference.py tests/data/half_reference.safetensors
"""
import json
import struct
import sys

import numpy as np
import torch


def f32_from_bits(bits):
    return torch.from_numpy(np.asarray(bits, dtype=np.uint32).view(np.float32).copy())


def probe_values():
    rng = np.random.default_rng(7)
    v = []
    # F16: halfway between neighbouring halves, and one float ulp either side of it
    h = np.arange(0, 0x7c00, 37, dtype=np.uint16)
    lo = h.view(np.float16).astype(np.float64)
    hi = (h + 1).view(np.float16).astype(np.float64)
    mid = ((lo + hi) / 2).astype(np.float32)
    v += [mid, np.nextafter(mid, np.float32(0)), np.nextafter(mid, np.float32(np.inf))]
    # BF16: halfway points of random patterns, and one float ulp either side
    b = rng.integers(0, 0x7f80, 300, dtype=np.uint32) << 16
    mid = (b | 0x8000).view(np.float32)
    v += [mid, np.nextafter(mid, np.float32(0)), np.nextafter(mid, np.float32(np.inf))]
    # the F16 overflow edge and the subnormal ends of both formats
    v.append(np.array([65504, 65505, 65519, 65519.996, 65520, 65536, 1e5, 3.4e38,
                       2.0**-14, 2.0**-14 * (1 - 2.0**-11), 2.0**-24, 2.0**-25, 2.0**-25 * 1.0000001,
                       2.0**-26, 1.5 * 2.0**-24, 2.5 * 2.0**-24, 1e-45, 1.17549435e-38, 1.1754942e-38,
                       0.0, np.inf], dtype=np.float32))
    v.append(f32_from_bits([0x80000000, 0xff800000, 0x7fc00000, 0xffc00001, 0x7f800001]).numpy())
    # random float32 bit patterns over every exponent (NaNs left to the specials)
    r = rng.integers(0, 2**32, 4096, dtype=np.uint64).astype(np.uint32)
    r = r[(r & 0x7f800000) != 0x7f800000]
    v.append(r.view(np.float32))
    out = np.concatenate(v).astype(np.float32)
    out = np.concatenate([out, -out[: len(out) // 4]])
    return torch.from_numpy(out[:4096].copy())


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: half_reference.py OUT.safetensors")
    f16_all = torch.from_numpy(np.arange(65536, dtype=np.uint16).view(np.int16).copy()).view(torch.float16)
    bits = [0x0001, 0x8001, 0x007f, 0x0080, 0x7f7f, 0x7f80, 0xff80, 0x7fc0, 0x7f81] + list(range(0, 65536, 8))
    bf16_some = torch.from_numpy(np.array(bits[:8192], dtype=np.uint16).view(np.int16).copy()).view(torch.bfloat16)
    probe = probe_values()
    assert probe.numel() == 4096
    tensors = [
        ("f16_all", f16_all), ("f16_all_f32", f16_all.float()),
        ("bf16_some", bf16_some), ("bf16_some_f32", bf16_some.float()),
        ("probe", probe), ("probe_f16", probe.half()), ("probe_bf16", probe.bfloat16()),
    ]
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
    header, blobs, off = {"__metadata__": {"writer": f"torch {torch.__version__}"}}, [], 0
    for name, t in tensors:
        raw = t.contiguous().view(torch.int16 if t.element_size() == 2 else torch.int32).numpy().astype("<i%d" % t.element_size())
        b = raw.tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(sys.argv[1], "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    print(f"{sys.argv[1]}: {len(tensors)} tensors, {8 + len(h) + off} bytes")


if __name__ == "__main__":
    main()
