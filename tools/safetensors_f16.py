#!/usr/bin/python3
"""Rewrites a safetensors file with its F32 tensors stored as F16 (or BF16), half the
bytes, for the shipped models in assets/models. I32 tensors and the metadata stay as
they are; the order of the tensors is kept. numpy rounds to nearest even, as zoo's
zoo_safetensors_save_as does; values past F16's 65504 would become infinity, so the
script refuses them. --drop PREFIX leaves out the tensors whose names start with it (a
GAN's discriminator.*, which sampling does not need). The output is written beside and
renamed over OUT at the end.

    /usr/bin/python3 tools/safetensors_f16.py IN OUT [--bf16] [--drop PREFIX]
"""
import json
import os
import struct
import sys

import numpy as np


def main():
    argv = sys.argv[1:]
    drop = []
    while "--drop" in argv:
        i = argv.index("--drop")
        if i + 1 >= len(argv):
            sys.exit("--drop needs a PREFIX")
        drop.append(argv[i + 1])
        del argv[i:i + 2]
    args = [a for a in argv if a != "--bf16"]
    bf16 = "--bf16" in argv
    if len(args) != 2:
        sys.exit("usage: safetensors_f16.py IN OUT [--bf16] [--drop PREFIX]")
    src, dst = args
    buf = open(src, "rb").read()
    (n,) = struct.unpack_from("<Q", buf, 0)
    header = json.loads(buf[8:8 + n])
    data = memoryview(buf)[8 + n:]
    out_header, blobs, off = {}, [], 0
    if "__metadata__" in header:
        out_header["__metadata__"] = header.pop("__metadata__")
    for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        if any(name.startswith(p) for p in drop):
            continue
        b, e = t["data_offsets"]
        raw = bytes(data[b:e])
        dtype = t["dtype"]
        if dtype == "F32":
            a = np.frombuffer(raw, "<f4")
            if bf16:
                u = a.view("<u4").astype(np.uint64)
                r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")
                r = np.where(np.isnan(a), ((u >> 16) | 0x40).astype("<u2"), r)
                raw, dtype = r.tobytes(), "BF16"
            else:
                if np.any(np.abs(a[np.isfinite(a)]) >= 65520):
                    sys.exit(f"{src}: tensor '{name}' holds values past F16's range")
                raw, dtype = a.astype("<f2").tobytes(), "F16"
        elif dtype not in ("I32", "F16", "BF16"):
            sys.exit(f"{src}: tensor '{name}' has dtype {dtype}, which this script does not convert")
        out_header[name] = {"dtype": dtype, "shape": t["shape"], "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(out_header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, dst)
    print(f"{dst}: {len(out_header) - ('__metadata__' in out_header)} tensors, {os.path.getsize(src)} -> {8 + len(h) + off} bytes")


if __name__ == "__main__":
    main()
