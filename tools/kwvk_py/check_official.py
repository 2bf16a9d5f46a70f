#!/usr/bin/python3
"""check_official.py - compare kwvk's PyTorch models (models.py / kw.py) with the official
KernelWarehouse code, config by config.

    /usr/bin/python3 tools/kwvk_py/check_official.py PATH [--size 64] [--only NAME ...]
                                                          [--markdown FILE]

PATH is a checkout of github.com/OSVAI/KernelWarehouse (a directory with models/,
modules/ and configs/), or a bare git directory of it, which is exported to a temporary
directory with `git archive`. The official code is only imported at run time (timm is
replaced by small stubs); nothing of it is copied into kwvk.

For every official config it builds both networks, checks that the state_dict key sets
and shapes are equal, randomises our weights (randomize.py: biases, BN affines and
calibrated BN statistics), loads the same state_dict into both, and compares eval outputs
(batch 2, size x size) at attention temperature 0 and 0.5 (the latter exercises temp_bias,
i.e. start_cell_idx and the cell_num_ratio < 1 rule; BN statistics are re-measured at 0.5
so that activations stay finite). It also compares every KW layer's temp_bias and
start_cell_idx directly. Exit status 0 when all match.
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import types

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from kwvk_py import kw, models  # noqa: E402
from kwvk_py.randomize import calibrate_bn_, random_input, randomize_  # noqa: E402

# (label, config path in the checkout, README parameter count in millions)
CASES = [
    ("ResNet18", "configs/resnet18/resnet18.json", 11.69),
    ("KW 1/4x ResNet18", "configs/resnet18/kw1d4x_resnet18.json", 4.08),
    ("KW 1/2x ResNet18", "configs/resnet18/kw1d2x_resnet18.json", 7.43),
    ("KW 1x ResNet18", "configs/resnet18/kw1x_resnet18.json", 11.93),
    ("KW 2x ResNet18", "configs/resnet18/kw2x_resnet18.json", 23.24),
    ("KW 4x ResNet18", "configs/resnet18/kw4x_resnet18.json", 45.86),
    ("ResNet50", "configs/resnet50/resnet50.json", 25.56),
    ("KW 1/2x ResNet50", "configs/resnet50/kw1d2x_resnet50.json", 17.64),
    ("KW 1x ResNet50", "configs/resnet50/kw1x_resnet50.json", 28.05),
    ("KW 4x ResNet50", "configs/resnet50/kw4x_resnet50.json", 102.02),
    ("MobileNetV2 0.5", "configs/mobilenetv2_050/mobilenetv2_050.json", 1.97),
    ("KW 1/2x MobileNetV2 0.5", "configs/mobilenetv2_050/kw1d2x_mobilenetv2_050.json", 1.47),
    ("KW 1x MobileNetV2 0.5", "configs/mobilenetv2_050/kw1x_mobilenetv2_050.json", 2.85),
    ("KW 4x MobileNetV2 0.5", "configs/mobilenetv2_050/kw4x_mobilenetv2_050.json", 4.65),
    ("MobileNetV2 1.0", "configs/mobilenetv2_100/mobilenetv2_100.json", 3.50),
    ("KW 1/2x MobileNetV2 1.0", "configs/mobilenetv2_100/kw1d2x_mobilenetv2_100.json", 2.65),
    ("KW 1x MobileNetV2 1.0", "configs/mobilenetv2_100/kw1x_mobilenetv2_100.json", 5.17),
    ("KW 4x MobileNetV2 1.0", "configs/mobilenetv2_100/kw4x_mobilenetv2_100.json", 11.38),
    ("ConvNeXt-Tiny", "configs/convnext/convnext_tiny.json", 28.59),
    ("KW 1x ConvNeXt-Tiny", "configs/convnext/kw1x_convnext_tiny.json", 39.37),
]

OFFICIAL_FILES = {   # our arch name -> (official file, function name)
    "resnet18": ("models/resnet.py", "resnet18"),
    "resnet50": ("models/resnet.py", "resnet50"),
    "kw_resnet18": ("models/kw_resnet.py", "kw_resnet18"),
    "kw_resnet50": ("models/kw_resnet.py", "kw_resnet50"),
    "mobilenetv2_050": ("models/mobilenetv2.py", "mobilenetv2_050"),
    "mobilenetv2_100": ("models/mobilenetv2.py", "mobilenetv2_100"),
    "kw_mobilenetv2_050": ("models/kw_mobilenetv2.py", "kw_mobilenetv2_050"),
    "kw_mobilenetv2_100": ("models/kw_mobilenetv2.py", "kw_mobilenetv2_100"),
    "kw1d2x_mobilenetv2_050": ("models/kw1d2x_mobilenetv2.py", "kw1d2x_mobilenetv2_050"),
    "kw1d2x_mobilenetv2_100": ("models/kw1d2x_mobilenetv2.py", "kw1d2x_mobilenetv2_100"),
    "convnext_tiny": ("models/convnext.py", "convnext_tiny"),
    "kw_convnext_tiny": ("models/kw_convnext.py", "kw_convnext_tiny"),
    # the classes, which take depths and dims (reduced ConvNeXts for quick tests)
    "convnext": ("models/convnext.py", "ConvNeXt"),
    "kw_convnext": ("models/kw_convnext.py", "KW_ConvNeXt"),
}


def stub_timm():
    """Minimal stand-ins for the two timm imports the official models use."""
    class DropPath(nn.Module):
        def __init__(self, p=0.0):
            super().__init__()
            self.p = p

        def forward(self, x):   # only used at eval here
            return x

    timm = types.ModuleType("timm")
    tm = types.ModuleType("timm.models")
    layers = types.ModuleType("timm.models.layers")
    registry = types.ModuleType("timm.models.registry")
    layers.DropPath = DropPath
    layers.trunc_normal_ = nn.init.trunc_normal_
    registry.register_model = lambda fn: fn
    timm.models, tm.layers, tm.registry = tm, layers, registry
    for name, mod in [("timm", timm), ("timm.models", tm), ("timm.models.layers", layers),
                      ("timm.models.registry", registry)]:
        sys.modules[name] = mod


def prepare_checkout(path, tmp):
    """A directory with the official files: `path` itself, or an export of a git dir."""
    if os.path.isdir(os.path.join(path, "modules")) and os.path.isdir(os.path.join(path, "models")):
        return path
    out = os.path.join(tmp, "official")
    os.makedirs(out)
    archive = subprocess.run(["git", "-C", path, "archive", "HEAD"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", out], input=archive, check=True)
    return out


def load_official(root):
    """Import the official model files (by path) with the checkout on sys.path so that
    `from modules.kernel_warehouse import ...` resolves to it."""
    stub_timm()
    sys.path.insert(0, root)
    loaded = {}
    fns = {}
    for arch, (rel, fn) in OFFICIAL_FILES.items():
        if rel not in loaded:
            name = "kw_official_" + os.path.splitext(os.path.basename(rel))[0]
            spec = importlib.util.spec_from_file_location(name, os.path.join(root, rel))
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            loaded[rel] = mod
        fns[arch] = getattr(loaded[rel], fn)
    return fns


def official_kwargs(cfg):
    """Arguments the official main.py passes to create_model for a config (None values are
    dropped, as timm's create_model does)."""
    kwargs = dict(num_classes=1000, drop_path_rate=0.0,
                  reduction=cfg.get("reduction"),
                  cell_num_ratio=cfg.get("cell_num_ratio"),
                  cell_inplane_ratio=cfg.get("cell_inplane_ratio"),
                  cell_outplane_ratio=cfg.get("cell_outplane_ratio"),
                  sharing_range=cfg.get("sharing_range", []),
                  nonlocal_basis_ratio=cfg.get("nonlocal_basis_ratio", 1.0),
                  dropout=cfg.get("dropout", 0.0),
                  depths=cfg.get("depths"), dims=cfg.get("dims"))
    return {k: v for k, v in kwargs.items() if v is not None}


def set_official_temperature(net, t):
    for m in net.modules():
        if hasattr(m, "update_temperature"):
            m.update_temperature(t)


def compare(label, rel, root, fns, size, seed, cfg=None):
    """One configuration: `rel` in the checkout, or the config dict `cfg` (rel then only
    labels it)."""
    if cfg is None:
        with open(os.path.join(root, rel)) as f:
            cfg = json.load(f)
    arch = cfg["model"]
    row = {"label": label, "config": rel, "arch": arch}
    torch.manual_seed(seed)
    t0 = time.time()
    ours = models.build_model(dict(cfg, num_classes=1000))
    torch.manual_seed(seed)
    theirs = fns[arch](**official_kwargs(cfg))
    row["params_ours"] = models.count_params(ours)
    row["params_official"] = sum(p.numel() for p in theirs.parameters())
    sd_o, sd_t = ours.state_dict(), theirs.state_dict()
    missing = sorted(set(sd_t) - set(sd_o))
    extra = sorted(set(sd_o) - set(sd_t))
    shape_diff = [k for k in sd_o if k in sd_t and sd_o[k].shape != sd_t[k].shape]
    row["keys"] = len(sd_t)
    row["keys_equal"] = not missing and not extra and not shape_diff
    if not row["keys_equal"]:
        row["key_problems"] = (missing[:3], extra[:3], shape_diff[:3])
        return row
    randomize_(ours, seed, [4, 3, size, size])
    theirs.load_state_dict(ours.state_dict(), strict=True)
    theirs.eval()
    # temperature init: temp_bias and start_cell_idx of every KW layer
    tb_ok = True
    named_t = dict(theirs.named_modules())
    n_kw = 0
    for name, m in ours.named_modules():
        if isinstance(m, kw.KWAttention):
            n_kw += 1
            o = named_t[name]
            same = torch.equal(m.temp_bias, o.temp_bias.float())
            same = same and (o.start_cell_idx is None or m.start_cell_idx == o.start_cell_idx)
            tb_ok = tb_ok and same
    row["kw_layers"] = n_kw
    row["temp_bias_equal"] = tb_ok
    gen = torch.Generator().manual_seed(seed + 1)
    x = random_input([2, 3, size, size], gen)
    for t in (0.0, 0.5):
        kw.set_temperature(ours, t)
        if t:   # BN statistics measured at this temperature keep activations O(1)
            calibrate_bn_(ours, random_input([4, 3, size, size], gen))
            theirs.load_state_dict(ours.state_dict(), strict=True)
            theirs.eval()
        set_official_temperature(theirs, t)
        with torch.no_grad():
            a, b = ours(x), theirs(x)
        row[f"diff_t{t}"] = (a - b).abs().max().item()
        row[f"scale_t{t}"] = b.abs().max().item()
    row["seconds"] = time.time() - t0
    return row


def markdown(rows, size, command):
    lines = [f"Command: `{command}`", "",
             f"Eval outputs at batch 2, {size}x{size}, 1000 classes; max |ours - official| "
             "(and max |official| for scale) at attention temperature 0 and 0.5.", "",
             "| model | config | params ours / official / README (M) | state_dict keys equal "
             "| KW layers, temp_bias + start idx equal | max abs diff t=0 (max abs out) "
             "| max abs diff t=0.5 |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if not r.get("keys_equal"):
            lines.append(f"| {r['label']} | `{r['config']}` | {r['params_ours'] / 1e6:.2f} / "
                         f"{r['params_official'] / 1e6:.2f} / {r['readme']:.2f} | NO "
                         f"{r.get('key_problems')} | | | |")
            continue
        tb = "n/a" if r["kw_layers"] == 0 else ("yes" if r["temp_bias_equal"] else "NO")
        lines.append(
            f"| {r['label']} | `{os.path.basename(r['config'])}` | "
            f"{r['params_ours'] / 1e6:.2f} / {r['params_official'] / 1e6:.2f} / "
            f"{r['readme']:.2f} | yes ({r['keys']}) | {r['kw_layers']}, {tb} | "
            f"{r['diff_t0.0']:.2e} ({r['scale_t0.0']:.2f}) | {r['diff_t0.5']:.2e} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("official", help="official checkout (or its bare git directory)")
    ap.add_argument("--size", type=int, default=64, help="input size (default 64)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", help="labels or config basenames to run")
    ap.add_argument("--markdown", help="also write the results table to this file")
    ap.add_argument("--quiet", action="store_true", help="print only failures")
    ap.add_argument("--tol", type=float, default=1e-4,
                    help="max abs diff relative to max abs output that passes (1e-4)")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        root = prepare_checkout(args.official, tmp)
        fns = load_official(root)
        rows = []
        ok = True
        for label, rel, readme in CASES:
            if args.only and label not in args.only and os.path.basename(rel) not in args.only:
                continue
            r = compare(label, rel, root, fns, args.size, args.seed)
            r["readme"] = readme
            good = r.get("keys_equal") and r.get("temp_bias_equal") and all(
                r[f"diff_t{t}"] <= args.tol * max(1.0, r[f"scale_t{t}"]) for t in (0.0, 0.5))
            ok = ok and bool(good)
            rows.append(r)
            if args.quiet and good:
                continue
            print(f"{'ok  ' if good else 'FAIL'} {label:26s} params {r['params_ours']:>10d} "
                  f"keys_equal={r.get('keys_equal')} "
                  + (f"diff t0 {r['diff_t0.0']:.2e} t0.5 {r['diff_t0.5']:.2e} "
                     f"({r['seconds']:.1f} s)" if r.get("keys_equal") else
                     str(r.get("key_problems"))), flush=True)
    table = markdown(rows, args.size, "/usr/bin/python3 tools/kwvk_py/check_official.py "
                     + " ".join(argv if argv is not None else sys.argv[1:]))
    if not args.quiet:
        print(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")
    if not (args.quiet and ok):
        print("all match" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
