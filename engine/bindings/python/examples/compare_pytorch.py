#!/usr/bin/python3
"""compare_pytorch.py - a KernelWarehouse network built by the official PyTorch code, saved as a
checkpoint, converted with tools/kwvk-convert, and run by both: the max relative difference of
the logits (max |kwvk - PyTorch| / max |PyTorch|) is printed.

    /usr/bin/python3 engine/bindings/python/examples/compare_pytorch.py OFFICIAL
        [--config configs/resnet18/kw1x_resnet18.json] [--size 64] [--batch 2] [--seed 0]
        [--device NAME|INDEX]

OFFICIAL is a checkout of github.com/OSVAI/KernelWarehouse (or its bare git directory). The
official model gets seeded non-trivial weights (tools/kwvk_py/randomize.py: weights, biases and
BatchNorm statistics calibrated on random data) and attention temperature 0 (the end of the
official training schedule). Needs Debian's python3-torch and the kwvk package (`pip install .`,
or PYTHONPATH=engine/bindings/python with KWVK_LIBRARY_DIR=build). Exit status 0 when the
difference is within 1e-4.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))  # the repository
sys.path.insert(0, os.path.join(ROOT, "tools"))
from kwvk_py import check_official, models  # noqa: E402
from kwvk_py.randomize import random_input, randomize_  # noqa: E402

import kwvk  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("official", help="checkout of the official KernelWarehouse code (or its bare git dir)")
    ap.add_argument("--config", default="configs/resnet18/kw1x_resnet18.json",
                    help="official config, relative to the checkout")
    ap.add_argument("--size", type=int, default=64, help="input height and width (default 64)")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", help="kwvk device (index or name substring)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        root = check_official.prepare_checkout(args.official, tmp)
        fns = check_official.load_official(root)
        cfg_path = os.path.join(root, args.config)
        with open(cfg_path) as f:
            cfg = json.load(f)
        arch = cfg["model"]
        # the official model, with weights we can reproduce (same state_dict keys as ours)
        torch.manual_seed(args.seed)
        official = fns[arch](**check_official.official_kwargs(cfg))
        torch.manual_seed(args.seed)
        ours = models.build_model(dict(cfg, num_classes=1000))
        randomize_(ours, args.seed, [4, 3, args.size, args.size])
        official.load_state_dict(ours.state_dict(), strict=True)
        official.eval()
        check_official.set_official_temperature(official, 0.0)
        ckpt, model = os.path.join(tmp, "official.pth"), os.path.join(tmp, "model.kwvk")
        torch.save({"model": official.state_dict()}, ckpt)
        cmd = [os.path.join(ROOT, "tools", "kwvk-convert"), "--kw-config", cfg_path,
               "--checkpoint", "official.pth", "--out", "model.kwvk", "--input-size", str(args.size)]
        print("$ tools/kwvk-convert --kw-config", args.config, *cmd[3:], flush=True)
        subprocess.run([sys.executable] + cmd, check=True, cwd=tmp)  # in tmp: relative names

        x = random_input([args.batch, 3, args.size, args.size], torch.Generator().manual_seed(args.seed + 1))
        with torch.no_grad():
            ref = official(x).numpy()
        with kwvk.Net(model, device=args.device) as net:
            got = net.run(x.numpy())
            info = net.info
        diff = float(np.abs(got - ref).max())
        scale = float(np.abs(ref).max())
        rel = diff / scale
        same_top1 = int((got.argmax(1) == ref.argmax(1)).sum())
        print(f"{args.config} ({info['architecture']}, {info['parameters'] / 1e6:.2f} M parameters, "
              f"{info['kw_layers']} KW layers) on {info['device']}, input {args.batch}x3x{args.size}x{args.size}")
        print(f"max |kwvk - PyTorch| = {diff:.3g}, max |PyTorch| = {scale:.3g}, "
              f"max relative difference = {rel:.3g}; top-1 equal for {same_top1}/{args.batch}")
        return 0 if rel <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
