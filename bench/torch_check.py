#!/usr/bin/env python3
"""Checks evarl's Decision Transformer against PyTorch's autograd on the reference model.

Reads what `EVARL_TORCH_EXPORT=DIR go test -run TestExportForTorch ./policy` wrote into
DIR: the checkpoint (DIR/ckpt) and a padded batch with evarl's predictions, loss and
every parameter gradient (DIR/batch.safetensors). Loads the checkpoint into the
PyTorch model of torch_dt.py (same module names, so load_state_dict is one call),
recomputes everything in float64 and compares, at the real (unpadded) steps.

Tolerance: per tensor, max |evarl − torch| <= 1e-4 · max |torch| + 1e-7 (evarl computes
in float32; observed errors are ~1e-6 relative). Exits 1 on a mismatch.
"""
import json
import struct
import sys

import numpy as np
import torch

from torch_dt import DT

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64}


def read_safetensors(path):
    """A plain reader of the format (8-byte length, JSON header, data)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    header.pop("__metadata__", None)
    data = raw[8 + n :]
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        arr = np.frombuffer(data[b:e], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def main():
    d = sys.argv[1]
    cfg = json.load(open(f"{d}/ckpt/config.json"))["config"]
    assert cfg["activation"] == "gelu" and cfg["head"] == "deterministic", cfg
    model = DT(cfg["state_dim"], cfg["action"]["dim"], cfg["embed_dim"], cfg["layers"], cfg["heads"],
               cfg["max_episode_len"], cfg["dropout"]).double().eval()
    weights = {k: v.double() for k, v in read_safetensors(f"{d}/ckpt/model.safetensors").items()}
    model.load_state_dict(weights, strict=True)
    b = read_safetensors(f"{d}/batch.safetensors")
    mask = b["mask"] > 0
    pred = model(b["returns"].double(), b["states"].double(), b["actions"].double(), b["timesteps"], mask)
    loss = ((pred - b["actions"].double()) ** 2).mean(-1)[mask].mean()
    loss.backward()

    failed = 0

    def check(name, got, want):
        nonlocal failed
        err = (got.double() - want).abs().max().item()
        scale = want.abs().max().item()
        ok = err <= 1e-4 * scale + 1e-7
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name:28s} max|diff| {err:.3g}  max|torch| {scale:.3g}")

    check("loss", b["loss"], loss.detach().reshape(1))
    check("pred (real steps)", b["pred"][mask], pred.detach()[mask])
    for name, p in model.named_parameters():
        check("grad " + name, b["grad." + name], p.grad)
    print(f"{failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
