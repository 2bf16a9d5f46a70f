#!/usr/bin/python3
"""bench.py - kwvk against PyTorch on one machine, in one run, and docs/benchmarks.md.

    tools/bench [--build build] [--out build/bench] [--models NAME,...] [--runs R]
                [--batches 1,8,32] [--official PATH] [--torch-runs R] [--skip-torch]
                [--ncnn-src DIR | --ncnn-git-dir DIR] [--ncnn-build DIR] [--doc docs/benchmarks.md]

1. writes 224x224 ImageNet-shaped model files with seeded random weights (speed does not
   depend on the weights) for ResNet18 static / KW 1/4x / KW 1x / KW 4x and MobileNetV2 1.0
   static / KW 1x;
2. runs kwvk-bench with fresh caches (a cold start: empty kwvk pipeline cache and Mesa
   shader cache) for the latencies, then `kwvk-run` twice on KW 1x ResNet18 with a fresh
   cache: the pipeline time of its first start (cold) and of its second (warm);
3. times the PyTorch eval forward of the same networks on the CPU in its best
   configuration (2 threads, OpenBLAS with OPENBLAS_NUM_THREADS=1), batch 1 — the official
   code when --official points at a checkout of OSVAI/KernelWarehouse, else kwvk's own
   PyTorch modules (bit-identical to it, docs/parity.md);
4. with --ncnn-src or --ncnn-git-dir, runs ncnn's Vulkan path (scripts/bench-ncnn, fp32) on
   the same device for ResNet18 and MobileNetV2 1.0;
5. prints the ratios and writes docs/benchmarks.md and docs/benchmarks.png.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tools"))

MODELS = ["resnet18", "kw1d4x_resnet18", "kw1x_resnet18", "kw4x_resnet18",
          "mobilenetv2_100", "kw1x_mobilenetv2_100"]


def write_models(names, outdir):
    import torch
    from kwvk_py import convert, models
    from kwvk_py.make_fixtures import OFFICIAL
    from kwvk_py.randomize import randomize_
    os.makedirs(outdir, exist_ok=True)
    paths = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(names):
            path = os.path.join(outdir, name + ".kwvk")
            paths[name] = path
            if os.path.exists(path):
                continue
            cfg = dict(OFFICIAL[name])
            torch.manual_seed(100 + i)
            net = models.build_model(cfg)
            randomize_(net, 100 + i, [2, 3, 64, 64])
            ckpt = os.path.join(tmp, name + ".pth")
            torch.save(net.state_dict(), ckpt)
            cfg_path = os.path.join(tmp, name + ".json")
            with open(cfg_path, "w") as f:
                json.dump(cfg, f)
            convert.convert_checkpoint(cfg["model"], cfg_path, ckpt, path, None, name=name)
            print(f"wrote {path}", flush=True)
    return paths


def cache_env(cache):
    """The environment of a kwvk process whose kwvk and Mesa caches live under `cache`."""
    for sub in ("kwvk", "mesa"):  # Mesa disables its cache when the directory's parent is missing
        os.makedirs(os.path.join(cache, sub), exist_ok=True)
    return dict(os.environ, KWVK_CACHE_DIR=os.path.join(cache, "kwvk"),
                MESA_SHADER_CACHE_DIR=os.path.join(cache, "mesa"))


def zero_image(tmp):
    """A 1x3x224x224 float32 input of zeros in directory tmp; returns its path."""
    x = os.path.join(tmp, "x.f32")
    with open(x, "wb") as f:
        f.write(bytes(3 * 224 * 224 * 4))
    return x


def run_kwvk(build, paths, runs, cache, json_out, batches):
    env = cache_env(cache)
    cmd = [os.path.join(build, "tools", "kwvk-bench"), "--runs", str(runs), "--batches", batches,
           "--json", json_out, *paths]
    subprocess.run(cmd, check=True, env=env)
    with open(json_out) as f:
        return json.load(f)


def pipeline_starts(build, model, cache):
    """Two consecutive kwvk-run starts sharing a fresh cache: (start ms, pipeline ms, first
    run ms) of each. lavapipe compiles a pipeline's machine code at its first dispatch, so the
    first run carries most of a cold start's compile time."""
    shutil.rmtree(cache, ignore_errors=True)
    env = cache_env(cache)
    with tempfile.TemporaryDirectory() as tmp:
        x = zero_image(tmp)
        out = []
        for _ in range(2):
            res = subprocess.run([os.path.join(build, "tools", "kwvk-run"), "--model", model, "--input", x,
                                  "--shape", "1,3,224,224", "--output", os.path.join(tmp, "y.f32")],
                                 check=True, env=env, capture_output=True, text=True, errors="replace")
            m = re.search(r"start ([0-9.]+) ms \(pipelines ([0-9.]+) ms.*run first ([0-9.]+) ms",
                          res.stderr + res.stdout)
            out.append(tuple(float(v) for v in m.groups()))
    return out


NCNN_PAIRS = [("resnet18", "resnet18"), ("mobilenetv2_100", "mobilenet_v2")]


def run_ncnn(args, paths, rounds=3):
    """kwvk and ncnn's fp32 Vulkan path on the same device, alternately (rounds x (kwvk-run of
    each model, then benchncnn)): {kwvk model: (kwvk min, kwvk mean, ncnn min, ncnn avg)},
    minima over the rounds, means averaged."""
    cmd = [os.path.join(REPO, "scripts", "bench-ncnn"), "--build", args.ncnn_build, "--loops", str(args.ncnn_loops)]
    cmd += ["--src", args.ncnn_src] if args.ncnn_src else ["--git-dir", args.ncnn_git_dir]
    pairs = [(ours, theirs) for ours, theirs in NCNN_PAIRS if ours in paths]
    kw, nc = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        x = zero_image(tmp)
        for _ in range(rounds):
            for ours, _theirs in pairs:
                res = subprocess.run([os.path.join(args.build, "tools", "kwvk-run"), "--model", paths[ours],
                                      "--input", x, "--shape", "1,3,224,224", "--output", os.path.join(tmp, "y"),
                                      "--repeat", str(args.ncnn_loops + 1)],
                                     check=True, capture_output=True, text=True, errors="replace")
                m = re.search(r"best ([0-9.]+) ms, mean ([0-9.]+) ms", res.stderr + res.stdout)
                kw.setdefault(ours, []).append((float(m.group(1)), float(m.group(2))))
            res = subprocess.run(cmd, check=True, capture_output=True, text=True, errors="replace")
            sys.stderr.write(res.stdout[-500:])
            for m in re.finditer(r"^ncnn (\S+) min_ms=([0-9.]+) avg_ms=([0-9.]+)", res.stdout, re.M):
                nc.setdefault(m.group(1), []).append((float(m.group(2)), float(m.group(3))))
    out = {}
    for ours, theirs in pairs:
        if ours in kw and theirs in nc:
            k, n = kw[ours], nc[theirs]
            out[ours] = (min(v[0] for v in k), sum(v[1] for v in k) / len(k),
                         min(v[0] for v in n), sum(v[1] for v in n) / len(n))
    return out


def time_torch(names, runs, official):
    """Median batch-1 forward time (ms) per model, in a child process configured like the
    reference's best case."""
    script = r'''
import json, os, sys, time, torch
sys.path.insert(0, sys.argv[1])
torch.set_num_threads(2)
names, runs, official = json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
from kwvk_py import models
from kwvk_py.make_fixtures import OFFICIAL
if official:
    from kwvk_py import check_official
    import tempfile
    root = check_official.prepare_checkout(official, tempfile.mkdtemp())
    fns = check_official.load_official(root)
out = {}
for name in names:
    cfg = dict(OFFICIAL[name])
    if official:
        net = fns[cfg["model"]](**check_official.official_kwargs(cfg))
        check_official.set_official_temperature(net, 0.0)
    else:
        net = models.build_model(cfg)
    net.eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        for _ in range(2):
            net(x)
        t = []
        for _ in range(runs):
            s = time.perf_counter(); net(x); t.append((time.perf_counter() - s) * 1e3)
    t.sort()
    out[name] = t[len(t) // 2]
    print(f"torch {name}: {out[name]:.1f} ms", file=sys.stderr, flush=True)
print(json.dumps(out))
'''
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="2")
    env.pop("OPENBLAS_CORETYPE", None)
    res = subprocess.run([sys.executable, "-c", script, os.path.join(REPO, "tools"), json.dumps(names),
                          str(runs), official or ""], check=True, env=env, capture_output=True,
                         text=True, errors="replace")
    sys.stderr.write(res.stderr)
    return json.loads(res.stdout.strip().splitlines()[-1])


def blas_name():
    try:
        import numpy
        cfg = numpy.show_config  # noqa: F841
        for lib in ("libopenblas", "libblas"):
            for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"):
                link = os.path.join(d, "libblas.so.3")
                if os.path.exists(link):
                    return os.path.realpath(link)
    except Exception:
        pass
    return "unknown"


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = [r["name"] for r in rows]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    xs = range(len(names))
    kinds = ["attention", "assembly", "convolution", "other"]
    bottom = [0.0] * len(rows)
    for k in kinds:
        vals = [r["gpu"][k] for r in rows]
        ax.bar(xs, vals, bottom=bottom, label=f"kwvk {k} (GPU ms, batch 1)")
        bottom = [b + v for b, v in zip(bottom, vals)]
    if any(r.get("torch_ms") for r in rows):
        ax.plot(xs, [r.get("torch_ms") or float("nan") for r in rows], "k^", label="PyTorch CPU ms")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, rotation=20, ha="right")
    ax.set_ylabel("ms per image (batch 1, 224x224)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--torch-runs", type=int, default=5)
    ap.add_argument("--official", default=None)
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--ncnn-src", default=None, help="ncnn source tree (scripts/bench-ncnn)")
    ap.add_argument("--ncnn-git-dir", default=None, help="bare ncnn mirror (scripts/bench-ncnn)")
    ap.add_argument("--ncnn-build", default=os.path.join(REPO, "build-ncnn"))
    ap.add_argument("--ncnn-loops", type=int, default=8)
    ap.add_argument("--doc", default=os.path.join(REPO, "docs", "benchmarks.md"))
    args = ap.parse_args(argv)
    out = args.out or os.path.join(args.build, "bench")
    names = args.models.split(",")
    paths = write_models(names, os.path.join(out, "models"))
    cache = os.path.join(out, "cache")
    shutil.rmtree(cache, ignore_errors=True)
    cold = run_kwvk(args.build, [paths[n] for n in names], args.runs, cache, os.path.join(out, "cold.json"),
                    args.batches)
    start_model = paths.get("kw1x_resnet18", paths[names[0]])
    starts = pipeline_starts(args.build, start_model, os.path.join(out, "cache-starts"))
    ncnn = run_ncnn(args, paths) if (args.ncnn_src or args.ncnn_git_dir) else {}
    torch_ms = {} if args.skip_torch else time_torch(names, args.torch_runs, args.official)
    rows = []
    for name, c in zip(names, cold["models"]):
        b = {x["batch"]: x for x in c["batches"]}
        rows.append(dict(name=name, params=c["params"], b1=b.get(1, {}).get("median_ms"),
                         b1_min=b.get(1, {}).get("min_ms"),
                         b8=b.get(8, {}).get("images_per_s"), b32=b.get(32, {}).get("images_per_s"),
                         b8_ms=b.get(8, {}).get("median_ms"),
                         gpu=c["gpu_ms_b1"], mem=c["peak_bytes"], torch_ms=torch_ms.get(name)))
    by = {r["name"]: r for r in rows}

    def ratio(a, b, key):
        if a in by and b in by and by[a].get(key) and by[b].get(key):
            return by[a][key] / by[b][key]
        return None

    lines = []
    # the command as a reader reruns it: this machine's directories become placeholders
    words = list(argv if argv is not None else sys.argv[1:])
    placeholders = {"--official": "OFFICIAL_REPO", "--ncnn-src": "NCNN_SRC", "--ncnn-build": "NCNN_BUILD"}
    for i in range(len(words) - 1):
        if words[i] in placeholders:
            words[i + 1] = placeholders[words[i]]
    cmd = "tools/bench " + " ".join(words)
    lines.append("# Benchmarks\n")
    lines.append(f"Generated by `{cmd.strip()}` on {time.strftime('%Y-%m-%d')}.")
    lines.append(f"kwvk device: **{cold['device']}** ({cold['driver']}). PyTorch: "
                 f"{'the official code' if args.official else 'kwvk_py (bit-identical to the official code)'}, "
                 f"CPU, 2 threads, OPENBLAS_NUM_THREADS=1, BLAS {blas_name()}. Batch 1 = median of "
                 f"{args.runs} runs after a warm-up; random weights (speed does not depend on them).\n")
    lines.append("| model | params (M) | kwvk b1 ms | kwvk b8 img/s | kwvk b32 img/s | GPU ms b1: attention / assembly / conv / other | device MiB (b1) | PyTorch b1 ms |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for r in rows:
        g = r["gpu"]
        lines.append(f"| {r['name']} | {r['params'] / 1e6:.2f} | {r['b1']:.1f} | {r['b8'] or 0:.1f} | "
                     f"{r['b32'] or 0:.1f} | {g['attention']:.1f} / {g['assembly']:.1f} / {g['convolution']:.1f} / "
                     f"{g['other']:.1f} | {r['mem'] / 1048576:.1f} | "
                     f"{'%.1f' % r['torch_ms'] if r['torch_ms'] else '-'} |")
    if ncnn:
        lines.append("\n## kwvk and ncnn, fp32, batch 1 (the same device, this run)\n")
        lines.append(f"Three rounds, each `kwvk-run --repeat {args.ncnn_loops + 1}` per model (the first run, "
                     f"which may compile, is not counted) and then `scripts/bench-ncnn --loops "
                     f"{args.ncnn_loops}`; minimum over all rounds, mean of the rounds' means.\n")
        lines.append("| model (ncnn's) | kwvk min / mean ms | ncnn min / mean ms | kwvk / ncnn, min | kwvk / ncnn, mean |")
        lines.append("|---|---|---|---|---|")
        for ours, theirs in NCNN_PAIRS:
            if ours in ncnn:
                kmin, kmean, nmin, nmean = ncnn[ours]
                lines.append(f"| {ours} ({theirs}) | {kmin:.1f} / {kmean:.1f} | {nmin:.1f} / {nmean:.1f} | "
                             f"{kmin / nmin:.2f}x | {kmean / nmean:.2f}x |")
    lines.append("\n## Ratios (within this run)\n")
    lines.append("| ratio | kwvk | PyTorch | target |")
    lines.append("|---|---|---|---|")

    def fmt(v):
        return f"{v:.2f}x" if v is not None else "-"
    for a, b, target in [("kw1x_resnet18", "resnet18", "<= 1.3x"), ("kw4x_resnet18", "resnet18", "<= 2x"),
                         ("kw1d4x_resnet18", "resnet18", ""), ("kw1x_mobilenetv2_100", "mobilenetv2_100", "")]:
        lines.append(f"| {a} / {b}, batch 1 | {fmt(ratio(a, b, 'b1'))} | {fmt(ratio(a, b, 'torch_ms'))} | {target} |")
        lines.append(f"| {a} / {b}, batch 8 | {fmt(ratio(a, b, 'b8_ms'))} | - | {target} |")
    start_name = os.path.splitext(os.path.basename(start_model))[0]
    (s0, p0, f0), (s1, p1, f1) = starts
    lines.append(f"| second / first `kwvk-run` start, start-up + first run, {start_name} "
                 f"({s1 + f1:.0f} / {s0 + f0:.0f} ms) | {fmt((s1 + f1) / (s0 + f0))} | - | <= 0.2x |")
    lines.append(f"| second / first `kwvk-run` start, pipeline creation only ({p1:.0f} / {p0:.0f} ms) | "
                 f"{fmt(p1 / p0)} | - | |")
    if "kw1d4x_resnet18" in by and "resnet18" in by:
        lines.append(f"| device memory KW 1/4x / static ResNet18 | {fmt(by['kw1d4x_resnet18']['mem'] / by['resnet18']['mem'])} | - | < 1x |")
    png = os.path.splitext(args.doc)[0] + ".png"
    if plot(rows, png):
        lines.append(f"\n![kwvk GPU time per op kind and PyTorch CPU time]({os.path.basename(png)})\n")
    extra = os.path.splitext(args.doc)[0] + ".notes.md"
    if os.path.exists(extra):
        with open(extra) as f:
            lines.append(f.read())
    text = "\n".join(lines) + "\n"
    with open(args.doc, "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
