"""train.py - train the Fashion-MNIST models kwvk ships (tools/kwvk-train is the command).

A small ResNet (models.py `resnet_fm`, widths 32/64/128, one BasicBlock per stage) as a
static baseline and as KernelWarehouse 1/4x, 1x and 4x (`kw_resnet_fm` with the ratios of
the official kw1d4x / kw1x / kw4x ResNet18 configs). The recipe keeps the parts of the
official one (OSVAI/KernelWarehouse main.py + engine.py) that matter at this scale:

  - AdamW, weight decay 0.05 on weights with >= 2 dims only (no decay on biases, BN, the
    1-d basis bias), cosine learning rate with a linear warm-up, label smoothing 0.1;
  - the attention temperature annealed linearly from 1 to 0 over the first
    `temp_epochs` epochs, updated every step (official get_temperature), with temp_bias
    from the official init_temperature (kw.py); evaluation at temperature 0;
  - fixed seeds: the initial weights come from torch.manual_seed(seed), the order of the
    training images in epoch e from a generator seeded with seed * 1000 + e (so a resumed
    run sees the same order); no augmentation, no dropout.

Each run writes, under --out:
  <name>.pth              {"model": state_dict (official key layout), "epoch", "args",
                           "config"} - what the official save_model writes, less the optimiser
  <name>.json             the model's config dict (what kwvk-convert takes with --config)
  <name>.record.json      command, seed, epochs, timings, parameter counts, accuracy
  <name>.torch-top1.u8    PyTorch's top-1 class of each of the 10,000 test images (one byte
                          each, test-file order), read by kwvk-eval
  <name>.kwvk             the converted model (tools/kwvk-convert), unless --no-convert
"""
import argparse
import json
import math
import os
import shlex
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import fmnist, kw, modelfile, models

TOOLS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

KW_COMMON = {"model": "kw_resnet_fm", "reduction": 0.0625, "sharing_range": "layer_conv",
             "nonlocal_basis_ratio": 1, "num_classes": 10}
VARIANTS = {
    # name: (file stem, config) - ratios as in configs/resnet18/kw{1d4x,1x,4x}_resnet18.json
    "static": ("fmnist_static", {"model": "resnet_fm", "num_classes": 10}),
    "kw1d4x": ("fmnist_kw1d4x", dict(KW_COMMON, cell_num_ratio=0.25, cell_inplane_ratio=0.5,
                                     cell_outplane_ratio=0.5)),
    "kw1x": ("fmnist_kw1x", dict(KW_COMMON, cell_num_ratio=1, cell_inplane_ratio=1,
                                 cell_outplane_ratio=1)),
    "kw4x": ("fmnist_kw4x", dict(KW_COMMON, cell_num_ratio=4, cell_inplane_ratio=1,
                                 cell_outplane_ratio=1)),
}


NAMES = {"static": "ResNet-FM (static)", "kw1d4x": "+ KW 1/4x", "kw1x": "+ KW 1x",
         "kw4x": "+ KW 4x"}


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# ---------------------------------------------------------------------------------------
# Schedules and optimiser
# ---------------------------------------------------------------------------------------

def lr_at(step, total_steps, warmup_steps, base_lr, min_lr):
    """Linear warm-up to base_lr, then cosine down to min_lr at the last step."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def param_groups(model, weight_decay):
    """Official get_parameter_groups: no decay for 1-d parameters and biases."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.ndim <= 1 or name.endswith(".bias"):
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def param_counts(model):
    if models.has_kw(model):
        return kw.kw_param_counts(model)
    total = models.count_params(model)
    return {"warehouse": 0, "attention": 0, "other": total, "total": total}


# ---------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------

@torch.no_grad()
def predict(model, images_u8, batch=500):
    """Top-1 class of every image (eval mode, temperature 0) and the logits."""
    model.eval()
    kw.set_temperature(model, 0.0)
    logits = []
    for i in range(0, images_u8.shape[0], batch):
        x = torch.from_numpy(fmnist.normalise(images_u8[i:i + batch]))
        logits.append(model(x))
    logits = torch.cat(logits)
    return logits.argmax(dim=1).numpy().astype(np.uint8), logits.numpy()


# ---------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------

def tune_malloc():
    """Keep freed activation buffers in the heap instead of returning them to the kernel
    after every step (glibc's mmap threshold and trimming): measured here, this cut the
    system time of a KW training step from 0.43 s to 0.17 s. No effect on the results."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
        libc.mallopt(M_TOP_PAD, 256 << 20)
    except OSError:
        pass


def _portable(value):
    """A path inside the repository as a path relative to its root (checkpoints are shipped,
    and must not record the directories of the machine that trained them)."""
    root = os.path.dirname(TOOLS_DIR)
    if isinstance(value, str) and os.path.isabs(value) and \
            os.path.commonpath([root, os.path.abspath(value)]) == root:
        return os.path.relpath(value, root)
    return value


def train(args):
    tune_malloc()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    stem, cfg = VARIANTS[args.variant]
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, stem)
    ckpt_path, state_path = base + ".pth", base + ".train-state.pth"

    train_x, train_y = fmnist.load("train")
    test_x, test_y = fmnist.load("test")
    if args.limit:                               # smoke tests only
        train_x, train_y = train_x[:args.limit], train_y[:args.limit]
    torch.manual_seed(args.seed)
    model = models.build_model(cfg)
    counts = param_counts(model)
    log(f"{args.variant}: {cfg}")
    log(f"parameters: {counts}")

    opt = torch.optim.AdamW(param_groups(model, args.weight_decay), lr=args.lr,
                            betas=(0.9, 0.999), eps=1e-8)
    crit = nn.CrossEntropyLoss(label_smoothing=args.smoothing)
    n = train_x.shape[0]
    steps_per_epoch = n // args.batch            # drop the last partial batch, as official
    total_steps = steps_per_epoch * args.epochs
    warmup = int(round(args.warmup_epochs * steps_per_epoch))
    start_epoch, elapsed, epoch_times = 0, 0.0, []
    if args.resume and os.path.exists(state_path):
        st = torch.load(state_path)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        start_epoch, elapsed = st["epoch"] + 1, st["elapsed_s"]
        epoch_times = list(st["epoch_seconds"])
        log(f"resumed after epoch {st['epoch']} ({elapsed:.0f} s so far)")

    xs_all = torch.from_numpy(fmnist.normalise(train_x))
    ys_all = torch.from_numpy(train_y.astype(np.int64))
    for epoch in range(start_epoch, args.epochs):
        model.train()
        gen = torch.Generator().manual_seed(args.seed * 1000 + epoch)
        perm = torch.randperm(n, generator=gen)
        t0 = time.time()
        run_loss, run_correct, run_n = 0.0, 0, 0
        for it in range(steps_per_epoch):
            step = epoch * steps_per_epoch + it
            lr = lr_at(step, total_steps, warmup, args.lr, args.min_lr)
            for g in opt.param_groups:
                g["lr"] = lr
            temp = kw.temperature_at(it + 1, epoch, steps_per_epoch, args.temp_epochs)
            kw.set_temperature(model, temp)
            idx = perm[it * args.batch:(it + 1) * args.batch]
            x, y = xs_all[idx], ys_all[idx]
            out = model(x)
            loss = crit(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            run_loss += loss.item() * y.shape[0]
            run_correct += int((out.argmax(1) == y).sum())
            run_n += y.shape[0]
            if (it + 1) % args.log_every == 0 or it + 1 == steps_per_epoch:
                dt = time.time() - t0
                eta = dt / (it + 1) * (total_steps - step - 1)
                log(f"epoch {epoch + 1}/{args.epochs} step {it + 1}/{steps_per_epoch} "
                    f"loss {run_loss / run_n:.4f} train acc {100 * run_correct / run_n:.2f} "
                    f"lr {lr:.2e} t {temp:.3f} | {dt / (it + 1):.2f} s/step, "
                    f"eta {eta / 60:.1f} min")
                run_loss, run_correct, run_n = 0.0, 0, 0
        epoch_times.append(time.time() - t0)
        elapsed += epoch_times[-1]
        log(f"epoch {epoch + 1} done in {epoch_times[-1]:.0f} s")
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                    "epoch": epoch, "elapsed_s": elapsed, "epoch_seconds": epoch_times},
                   state_path)

    top1, _ = predict(model, test_x)
    acc = 100.0 * float((top1 == test_y).mean())
    log(f"test accuracy (PyTorch, t = 0): {acc:.2f} %")

    record = {
        "variant": args.variant,
        "config": cfg,
        "command": args.command,
        "seed": args.seed,
        "epochs": args.epochs,
        "batch": args.batch,
        "optimizer": f"AdamW lr {args.lr} (cosine to {args.min_lr}, warm-up "
                     f"{args.warmup_epochs} epochs), weight decay {args.weight_decay}, "
                     f"label smoothing {args.smoothing}",
        "temp_epochs": args.temp_epochs,
        "threads": args.threads,
        "train_seconds": round(elapsed, 1),
        "epoch_seconds": [round(t, 1) for t in epoch_times],
        "params": counts,
        "test_accuracy": round(acc, 2),
        "test_correct": int((top1 == test_y).sum()),
        "torch": torch.__version__,
    }
    torch.save({"model": model.state_dict(), "epoch": args.epochs - 1,
                "args": {k: _portable(v) for k, v in vars(args).items() if k != "func"},
                "config": cfg}, ckpt_path)
    with open(base + ".json", "w") as f:
        json.dump(cfg, f, indent=2)
    top1.tofile(base + ".torch-top1.u8")
    if not args.no_convert:
        record["kwvk_file"] = os.path.basename(convert(base, args))
    with open(base + ".record.json", "w") as f:
        json.dump(record, f, indent=2)
    if os.path.exists(state_path):
        os.remove(state_path)
    log(f"wrote {base}.*")
    return record


def convert(base, args):
    """Convert <base>.pth with tools/kwvk-convert (and its --check against PyTorch);
    returns the .kwvk path."""
    out = base + ".kwvk"
    cmd = [sys.executable, os.path.join(TOOLS_DIR, "kwvk-convert"), "--kw-config",
           base + ".json", "--checkpoint", base + ".pth", "--out", out, "--labels",
           args.labels, "--check"]
    log("converting: " + " ".join(shlex.quote(c) for c in cmd))
    subprocess.run(cmd, check=True)
    return out


def convert_run(args):
    """`kwvk-train convert`: convert a finished run and note the file in its record."""
    base = os.path.join(args.out, VARIANTS[args.variant][0])
    path = convert(base, args)
    with open(base + ".record.json") as f:
        record = json.load(f)
    record["kwvk_file"] = os.path.basename(path)
    with open(base + ".record.json", "w") as f:
        json.dump(record, f, indent=2)


# ---------------------------------------------------------------------------------------
# Sample images and the results table
# ---------------------------------------------------------------------------------------

def write_png_gray(path, img_u8):
    """A minimal 8-bit greyscale PNG (no dependency beyond zlib)."""
    h, w = img_u8.shape
    raw = b"".join(b"\x00" + img_u8[y].tobytes() for y in range(h))

    def chunk(tag, data):
        c = struct.pack(">I", len(data)) + tag + data
        return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)


def samples(args):
    """models/samples/NN_<class>.png: for each class the first test image that the shipped
    model's PyTorch top-1 file (--top1) classifies correctly; prints what it skipped."""
    test_x, test_y = fmnist.load("test")
    top1 = np.fromfile(args.top1, dtype=np.uint8)
    if top1.shape[0] != test_y.shape[0]:
        raise SystemExit(f"{args.top1}: {top1.shape[0]} entries for {test_y.shape[0]} images")
    os.makedirs(args.out, exist_ok=True)
    for c, name in enumerate(fmnist.CLASSES):
        idx = np.nonzero(test_y == c)[0]
        ok = idx[top1[idx] == c]
        first, pick = int(idx[0]), int(ok[0])
        skipped = int(np.sum(idx < pick))
        path = os.path.join(args.out, f"{c:02d}_{fmnist.slug(name)}.png")
        write_png_gray(path, test_x[pick])
        print(f"{path}: test image {pick}" +
              (f" (first of its class: {first}; {skipped} earlier misclassified)" if skipped
               else " (the first of its class)"))


def table(args):
    """Markdown table from <out>/*.record.json (and, with --json, the records in one file)."""
    rows = []
    for variant in ("static", "kw1d4x", "kw1x", "kw4x"):
        path = os.path.join(args.out, VARIANTS[variant][0] + ".record.json")
        if os.path.exists(path):
            with open(path) as f:
                rows.append(json.load(f))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
            f.write("\n")
    static = next((r for r in rows if r["variant"] == "static"), None)
    print("| model | parameters (PyTorch) | warehouses | attention | floats in the .kwvk file | "
          "test top-1 (%) | vs static (points) | epochs | wall time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        p = r["params"]
        rel = f" ({p['total'] / static['params']['total']:.2f}x)" if static else ""
        d = f"{r['test_accuracy'] - static['test_accuracy']:+.2f}" if static else ""
        kwvk_path = os.path.join(args.out, r.get("kwvk_file") or "-")
        in_file = "-"
        if os.path.exists(kwvk_path):   # BatchNorms folded into scale and bias
            in_file = f"{sum(t.size for t in modelfile.read_model(kwvk_path).tensors):,}"
        print(f"| {NAMES[r['variant']]} | {p['total']:,}{rel} | {p['warehouse']:,} | "
              f"{p['attention']:,} | {in_file} | {r['test_accuracy']:.2f} | {d} | "
              f"{r['epochs']} | {r['train_seconds'] / 60:.0f} min |")


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------

def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="kwvk-train", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train one variant, save, convert")
    t.add_argument("--variant", choices=list(VARIANTS), required=True)
    t.add_argument("--epochs", type=int, default=3)
    t.add_argument("--batch", type=int, default=128)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--min-lr", type=float, default=1e-5)
    t.add_argument("--weight-decay", type=float, default=0.05)
    t.add_argument("--smoothing", type=float, default=0.1)
    t.add_argument("--warmup-epochs", type=float, default=0.2)
    t.add_argument("--temp-epochs", type=float, default=1.0,
                   help="epochs over which the attention temperature goes from 1 to 0")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: on a shared 2-core machine two threads spent 4x "
                        "the CPU time per step waiting for each other)")
    t.add_argument("--log-every", type=int, default=25)
    t.add_argument("--limit", type=int, default=0,
                   help="train on the first N training images only (smoke tests)")
    t.add_argument("--out", default="kwvk-train-out")
    t.add_argument("--labels", default=os.path.join(os.path.dirname(TOOLS_DIR), "models",
                                                    "fashion_mnist_classes.txt"))
    t.add_argument("--resume", action="store_true",
                   help="continue from <out>/<name>.train-state.pth (written every epoch)")
    t.add_argument("--no-convert", action="store_true")
    t.set_defaults(func=train)
    c = sub.add_parser("convert", help="convert a finished run (as train does at its end)")
    c.add_argument("--variant", choices=list(VARIANTS), required=True)
    c.add_argument("--out", default="kwvk-train-out")
    c.add_argument("--labels", default=t.get_default("labels"))
    c.set_defaults(func=convert_run)
    s = sub.add_parser("samples", help="write the sample PNGs")
    s.add_argument("--top1", required=True, help="<name>.torch-top1.u8 of the shipped model")
    s.add_argument("--out", required=True)
    s.set_defaults(func=samples)
    b = sub.add_parser("table", help="print the results table from <out>/*.record.json")
    b.add_argument("--out", default="kwvk-train-out")
    b.add_argument("--json", help="also write the records as one JSON list to this file")
    b.set_defaults(func=table)
    args = p.parse_args(argv)
    args.command = "tools/kwvk-train " + " ".join(shlex.quote(a) for a in argv)
    args.func(args)
    return 0
