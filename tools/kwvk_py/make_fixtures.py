#!/usr/bin/python3
"""make_fixtures.py - golden fixtures for kwvk's network tests.

    /usr/bin/python3 tools/kwvk_py/make_fixtures.py --out DIR [--set ci|full] [--only NAME..]
                                                    [--verify]

For each case it builds our PyTorch model with seeded random weights (randomize.py: random
biases and BatchNorm affines, calibrated and jittered BatchNorm statistics, so nothing is
identity), saves a checkpoint, converts it with the converter (convert.py, the code behind
tools/kwvk-convert) and writes into DIR:

    <case>.kwvk      the model file
    <case>.in.f32    the input, float32 little-endian NCHW
    <case>.out.f32   the PyTorch eval output, float32 [N, ...] (probes: [N, O, H, W];
                     classifiers: [N, classes])
    manifest.txt     one line per case: name model in out N C H W (paths relative to DIR)

Sets: `ci` - single-KW-layer probes (cell_num_ratio 0.25/0.5/1/4, cell in/out ratio 0.5,
no spatial partition, depthwise, dilation, 1x1, KWLinear, two layers sharing a warehouse
on the standard and the basis path), each at batch 1 and 3 on 9x11 maps; each family at
64x64 batch 2 (ConvNeXt and KW 1x ConvNeXt reduced to widths 16/24/32/40 and depths
1/1/2/1); kw_resnet18 1x at 224x224 batch 2; the Fashion-MNIST nets at 28x28.
`full` - every official configuration at 224x224, batch 2 (large: ~1.6 GB).
--verify also runs each written model file through the reference interpreter of
modelfile.py and checks it against the PyTorch output (slow for the big nets).
Everything is deterministic (seeded).
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from kwvk_py import convert, modelfile, models  # noqa: E402
from kwvk_py.randomize import random_input, randomize_  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGENET_LABELS = os.path.join(REPO, "models", "imagenet_classes.txt")
FM_LABELS = os.path.join(REPO, "models", "fashion_mnist_classes.txt")

# official configurations (the KW settings of configs/*.json)
R18 = dict(sharing_range="layer_conv", reduction=0.0625)
OFFICIAL = {
    "resnet18": dict(model="resnet18"),
    "kw1d4x_resnet18": dict(model="kw_resnet18", cell_num_ratio=0.25, cell_inplane_ratio=0.5,
                            cell_outplane_ratio=0.5, **R18),
    "kw1d2x_resnet18": dict(model="kw_resnet18", cell_num_ratio=0.5, cell_inplane_ratio=0.5,
                            cell_outplane_ratio=0.5, **R18),
    "kw1x_resnet18": dict(model="kw_resnet18", cell_num_ratio=1, cell_inplane_ratio=1,
                          cell_outplane_ratio=1, **R18),
    "kw2x_resnet18": dict(model="kw_resnet18", cell_num_ratio=2, cell_inplane_ratio=1,
                          cell_outplane_ratio=1, **R18),
    "kw4x_resnet18": dict(model="kw_resnet18", cell_num_ratio=4, cell_inplane_ratio=1,
                          cell_outplane_ratio=1, **R18),
    "resnet50": dict(model="resnet50"),
    "kw1d2x_resnet50": dict(model="kw_resnet50", cell_num_ratio=0.5, cell_inplane_ratio=0.5,
                            cell_outplane_ratio=0.5, nonlocal_basis_ratio=0.0625, **R18),
    "kw1x_resnet50": dict(model="kw_resnet50", cell_num_ratio=1, cell_inplane_ratio=1,
                          cell_outplane_ratio=1, **R18),
    "kw4x_resnet50": dict(model="kw_resnet50", cell_num_ratio=4, cell_inplane_ratio=1,
                          cell_outplane_ratio=1, **R18),
}
for w in ("050", "100"):
    OFFICIAL[f"mobilenetv2_{w}"] = dict(model=f"mobilenetv2_{w}")
    OFFICIAL[f"kw1d2x_mobilenetv2_{w}"] = dict(model=f"kw1d2x_mobilenetv2_{w}")
    OFFICIAL[f"kw1x_mobilenetv2_{w}"] = dict(model=f"kw_mobilenetv2_{w}", cell_num_ratio=1,
                                             cell_inplane_ratio=1, cell_outplane_ratio=1,
                                             sharing_range=["layer", "pwconv"])
    OFFICIAL[f"kw4x_mobilenetv2_{w}"] = dict(model=f"kw_mobilenetv2_{w}", cell_num_ratio=4,
                                             cell_inplane_ratio=1, cell_outplane_ratio=1,
                                             sharing_range=["layer"])
OFFICIAL["convnext_tiny"] = dict(model="convnext_tiny")
OFFICIAL["kw1x_convnext_tiny"] = dict(model="kw_convnext_tiny", reduction=0.0625, cell_num_ratio=1,
                                      cell_inplane_ratio=1, cell_outplane_ratio=1,
                                      sharing_range="layer_pwconv")
# reduced ConvNeXts for CI: every op of the Tiny ones, 4 stages, two blocks sharing stage 2's
# warehouses
SMALL_CONVNEXT = dict(depths=[1, 1, 2, 1], dims=[16, 24, 32, 40])


def probe(**kw):
    cfg = dict(model="kw_probe", kernel_size=3, stride=1, padding=1, dilation=1, groups=1,
               norm=True, act="none")
    cfg.update(kw)
    return cfg


# name: (config, (H, W)); every probe runs at batch 1 and batch 3
PROBES = {
    # KW layer reads the network input itself (3 channels, no stem)
    "probe_nostem": (probe(in_channels=3, out_channels=10), (9, 11)),
    "probe_r1": (probe(in_channels=7, out_channels=9), (9, 11)),
    "probe_r4_s2": (probe(in_channels=9, out_channels=11, stride=2, cell_num_ratio=4,
                          act="relu"), (9, 11)),
    "probe_r025_dil2": (probe(in_channels=12, out_channels=10, padding=2, dilation=2,
                              cell_num_ratio=0.25, cell_inplane_ratio=0.5,
                              cell_outplane_ratio=0.5), (9, 11)),
    "probe_r05_s2": (probe(in_channels=14, out_channels=12, stride=2, cell_num_ratio=0.5,
                           cell_inplane_ratio=0.5, cell_outplane_ratio=0.5), (9, 11)),
    "probe_io05_k5_bias": (probe(in_channels=14, out_channels=10, kernel_size=5, padding=2,
                                 cell_inplane_ratio=0.5, cell_outplane_ratio=0.5, bias=True,
                                 norm=False, act="relu"), (9, 11)),
    "probe_nosp": (probe(in_channels=10, out_channels=12, spatial_partition=False,
                         cell_num_ratio=2, cell_inplane_ratio=0.5, cell_outplane_ratio=0.5),
                   (9, 11)),
    "probe_dw_s2": (probe(in_channels=12, out_channels=12, groups=12, stride=2), (9, 11)),
    "probe_dw_r4": (probe(in_channels=15, out_channels=15, groups=15, cell_num_ratio=4,
                          act="relu"), (9, 11)),
    "probe_1x1": (probe(in_channels=15, out_channels=9, kernel_size=1, padding=0,
                        cell_inplane_ratio=0.34, cell_outplane_ratio=0.34), (9, 11)),
    "probe_linear": (probe(layer_type="linear", in_channels=14, out_channels=12,
                           bias=True, cell_num_ratio=0.5, cell_inplane_ratio=0.5,
                           cell_outplane_ratio=0.5), (5, 7)),
    "probe_shared": (probe(in_channels=8, out_channels=12, second_out_channels=12,
                           act="relu"), (9, 11)),
    "probe_shared_basis": (probe(in_channels=8, out_channels=12, second_out_channels=12,
                                 cell_num_ratio=0.5, nonlocal_basis_ratio=0.5, act="relu"),
                           (9, 11)),
}

# name: (config, size, batch, labels); whole networks are named net_* (tests/CMakeLists.txt
# runs the groups "probe_" and "net_" separately)
CI_NETS = {
    "net_resnet18_64": (OFFICIAL["resnet18"], 64, 2, IMAGENET_LABELS),
    "net_kw1x_resnet18_64": (OFFICIAL["kw1x_resnet18"], 64, 2, IMAGENET_LABELS),
    "net_kw1d4x_resnet18_64": (OFFICIAL["kw1d4x_resnet18"], 64, 2, None),
    "net_kw1d2x_resnet50_64": (OFFICIAL["kw1d2x_resnet50"], 64, 2, None),
    "net_mobilenetv2_050_64": (OFFICIAL["mobilenetv2_050"], 64, 2, None),
    "net_kw1x_mobilenetv2_050_64": (OFFICIAL["kw1x_mobilenetv2_050"], 64, 2, None),
    "net_kw1d2x_mobilenetv2_050_64": (OFFICIAL["kw1d2x_mobilenetv2_050"], 64, 2, None),
    "net_kw1x_resnet18_224": (OFFICIAL["kw1x_resnet18"], 224, 2, IMAGENET_LABELS),
    "net_resnet_fm": (dict(model="resnet_fm"), 28, 3, FM_LABELS),
    "net_kw1x_resnet_fm": (dict(model="kw_resnet_fm", sharing_range="layer_conv"), 28, 3,
                       FM_LABELS),
    # last, so that the cases before keep their seeds (1000 + position)
    "net_convnext_s_64": (dict(model="convnext", **SMALL_CONVNEXT), 64, 2, None),
    "net_kw1x_convnext_s_64": (dict(OFFICIAL["kw1x_convnext_tiny"], model="kw_convnext",
                                    **SMALL_CONVNEXT), 64, 2, None),
}


def cases(which):
    out = []
    if which == "ci":
        for name, (cfg, hw) in PROBES.items():
            for n in (1, 3):
                out.append((f"{name}_n{n}", cfg, hw, n, None))
        for name, (cfg, size, n, labels) in CI_NETS.items():
            out.append((name, cfg, (size, size), n, labels))
    elif which == "full":
        for name, cfg in OFFICIAL.items():
            out.append((f"net_{name}_224", cfg, (224, 224), 2, IMAGENET_LABELS))
    else:
        raise SystemExit(f"unknown set {which}")
    return out


def input_channels(cfg, net):
    if isinstance(net, models.KWProbe):
        return net.input_channels
    if isinstance(net, models.ResNet):
        return net.conv1.in_channels
    return 3


def make_case(index, name, cfg, hw, n, labels, outdir, tmp, verify, official_style):
    seed = 1000 + index
    torch.manual_seed(seed)
    cfg = dict(cfg)
    if cfg["model"] == "kw_probe":
        cfg["input_size"] = list(hw)
    net = models.build_model(cfg)
    c = input_channels(cfg, net)
    # BatchNorm statistics from 8 samples: with 3, the random KW 1x ResNet50 at 224x224 grew
    # logits of ~255 and PyTorch's own float32 output was only good to 1.8e-4 relative (vs
    # float64); with 8 its logits stay ~11 and float32 is good to 5e-6, like the others.
    randomize_(net, seed, [8, c, *hw])
    ckpt = os.path.join(tmp, name + ".pth")
    if official_style:   # like the official training script: dict with model + args
        torch.save({"model": net.state_dict(), "epoch": 0,
                    "args": argparse.Namespace(**cfg)}, ckpt)
    else:
        torch.save(net.state_dict(), ckpt)
    cfg_path = os.path.join(tmp, name + ".json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    model_path = os.path.join(outdir, name + ".kwvk")
    mfile, cnet = convert.convert_checkpoint(cfg["model"], cfg_path, ckpt, model_path, labels,
                                             input_size=hw, name=name)
    x = random_input([n, c, *hw], torch.Generator().manual_seed(seed + 7))
    ratios = []     # ConvNeXt: RMS of each block's branch / RMS of its input
    hooks = [b.register_forward_hook(
        lambda m, i, o: ratios.append(float(((o - i[0]).pow(2).mean() / i[0].pow(2).mean()).sqrt())))
        for b in net.modules() if isinstance(b, models.ConvNeXtBlock)]
    with torch.no_grad():
        y = net(x)
        for h in hooks:
            h.remove()
        y_conv = cnet(x)
    if not torch.equal(y, y_conv):   # the converter's reloaded net is the same net
        diff = (y - y_conv).abs().max().item()
        raise SystemExit(f"{name}: reloaded checkpoint differs from the original ({diff})")
    x.numpy().astype("<f4").tofile(os.path.join(outdir, name + ".in.f32"))
    y.numpy().astype("<f4").tofile(os.path.join(outdir, name + ".out.f32"))
    os.remove(ckpt)
    note = ""
    if verify:
        got = modelfile.run_model(modelfile.read_model(model_path), x.numpy())
        ref = y.numpy().reshape(got.shape)
        diff = float(np.abs(got - ref).max())
        scale = float(np.abs(ref).max())
        if not diff <= 1e-4 * max(1.0, scale):
            raise SystemExit(f"{name}: interpreter differs from PyTorch by {diff} "
                             f"(max abs output {scale})")
        note = f" verified (max abs diff {diff:.2e})"
    if ratios:
        note += (f"; {len(ratios)} blocks, each changes the residual stream by "
                 f"{min(ratios):.2f}x..{max(ratios):.2f}x of its RMS")
    line = f"{name} {name}.kwvk {name}.in.f32 {name}.out.f32 {n} {c} {hw[0]} {hw[1]}"
    return line, note, float(y.abs().max())


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write kwvk golden fixtures.")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--set", default="ci", choices=["ci", "full"])
    ap.add_argument("--only", nargs="*", help="case names to write (manifest lists only them)")
    ap.add_argument("--verify", action="store_true",
                    help="check each model file with the reference interpreter")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    os.makedirs(args.out, exist_ok=True)
    lines = []
    t_all = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, cfg, hw, n, labels) in enumerate(cases(args.set)):
            if args.only and name not in args.only:
                continue
            t0 = time.time()
            line, note, scale = make_case(i, name, cfg, hw, n, labels, args.out, tmp,
                                          args.verify, official_style=(i % 2 == 1))
            lines.append(line)
            print(f"{name}: {time.time() - t0:.1f} s, max |out| {scale:.3g}{note}",
                  flush=True)
    with open(os.path.join(args.out, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{len(lines)} cases in {args.out} ({time.time() - t_all:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
