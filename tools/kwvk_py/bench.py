#!/usr/bin/python3
"""bench.py - kwvk against PyTorch on one machine, in one run, and docs/benchmarks.md.

    tools/bench [--build build] [--out build/bench] [--models NAME,...] [--runs R]
                [--batches 1,8,32] [--official PATH] [--torch-runs R] [--skip-torch]
                [--ncnn-src DIR | --ncnn-git-dir DIR] [--ncnn-build DIR] [--doc docs/benchmarks.md]
    tools/bench --section NAME [--runs R] [--batches 1,8] [--official PATH] [--torch-runs R] ...

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

The page keeps sections that are measured apart from the main table (SECTIONS: ConvNeXt-Tiny,
whose runs are long; "arithmetic", the multiply-adds per image counted from the model
definitions, which times nothing). `--section NAME` measures only that section's models
(steps 1-3, PyTorch at every batch size, no start-up or ncnn runs) and rewrites only the text
between that section's markers, with its own command line; the rest of the page and the plot
stay as they are. A run without --section rewrites the main part and the plot and keeps every section.
"""
import argparse
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tools"))

MODELS = ["resnet18", "kw1d4x_resnet18", "kw1x_resnet18", "kw4x_resnet18", "resnet50",
          "mobilenetv2_100", "kw1x_mobilenetv2_100"]

# The ratio rows of the main table: (numerator, denominator, target), each at batch 1 and 8.
RATIOS = [("kw1x_resnet18", "resnet18", "<= 1.3x"), ("kw4x_resnet18", "resnet18", "<= 2x"),
          ("resnet50", "resnet18", "<= 2.6x"), ("kw1d4x_resnet18", "resnet18", ""),
          ("kw1x_mobilenetv2_100", "mobilenetv2_100", "")]
# The model every first-time user runs (README, tools/demo): its start-up is the one measured.
SHIPPED_MODEL = os.path.join(REPO, "models", "fmnist_kw1x.kwvk")
KINDS = ["attention", "assembly", "convolution", "other"]

# Parts of the page measured apart from the main table, each by `tools/bench --section NAME`:
# its models, default batch sizes and the (KW, static) pairs of its ratio rows.
SECTIONS = {
    "convnext": dict(title="ConvNeXt-Tiny", models=["convnext_tiny", "kw1x_convnext_tiny"], batches="1,8",
                     pairs=[("kw1x_convnext_tiny", "convnext_tiny", "KW 1x / static ConvNeXt-Tiny")]),
}
# A section that times nothing: the multiply-adds per image, counted from the model definitions.
COUNT_SECTION = dict(title="Multiply-adds per image (counted, not timed)",
                     models=MODELS + ["convnext_tiny", "kw1x_convnext_tiny"],
                     pairs=[(a, b, t) for a, b, t in RATIOS if a != "kw1d4x_resnet18"] +
                           [("kw1x_convnext_tiny", "convnext_tiny", "")])
SECTIONS["arithmetic"] = COUNT_SECTION
# engine/src/ops_wino.c runs a 3x3, stride-1, ungrouped convolution by Winograd F(2x2, 3x3) where
# it has at least this many input and output channels (WINO_MIN_C, WINO_MIN_O)
WINO_MIN_CHANNELS = 32
WINO_SAVING = 36 / 16   # multiplies per 2x2 outputs and input channel: 36 direct, 16 Winograd
WINO_DOMAIN = 16 / 9    # elements of a Winograd-domain kernel plane per tap
WINO_TRANSFORM = 84     # multiply-adds of G g G^T for one 3x3 plane (4x3x3 + 4x3x4)
SECTION_BEGIN = "<!-- tools/bench --section {}: begin -->"
SECTION_END = "<!-- tools/bench --section {}: end -->"
SECTION_RE = re.compile(r"<!-- tools/bench --section (\S+): begin -->\n"
                        r".*?<!-- tools/bench --section \1: end -->\n", re.S)
NOTES_MARK = "<!-- the rest of this page is kept from benchmarks.notes.md -->"


def split_page(text, notes):
    """An existing page as (main part, [(section name, its text with markers)]). The main part
    ends at the first section or at the notes (NOTES_MARK, or on pages written before that
    marker the notes' first line)."""
    ends = [len(text)]
    m = SECTION_RE.search(text)
    if m:
        ends.append(m.start())
    for mark in (NOTES_MARK, notes.strip().split("\n")[0] if notes.strip() else None):
        if mark and ("\n" + mark) in text:
            ends.append(text.index("\n" + mark) + 1)
            break
    head = text[:min(ends)]
    return head, [(m.group(1), m.group(0)) for m in SECTION_RE.finditer(text)]


def join_page(head, sections, notes):
    """The page: main part, sections in order, then the notes."""
    parts = [head.rstrip("\n") + "\n"]
    for _name, block in sections:
        parts.append(block.rstrip("\n") + "\n")
    if notes.strip():
        parts.append(NOTES_MARK + "\n" + notes.strip("\n") + "\n")
    return "\n".join(parts)


def replace_section(sections, name, block):
    """sections with `name`'s text replaced by block (appended when it had none)."""
    out = [(n, block if n == name else b) for n, b in sections]
    if name not in [n for n, _b in sections]:
        out.append((name, block))
    return out


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


def pipeline_starts(build, model, cache, shape="1,3,224,224"):
    """Two consecutive kwvk-run processes sharing a fresh cache (kwvk's pipeline cache and
    Mesa's shader cache): (process wall ms, pipeline creation ms, first run ms) of each.
    lavapipe compiles a pipeline's machine code at its first dispatch, so the first run of
    the first process carries most of a cold start's compile time."""
    shutil.rmtree(cache, ignore_errors=True)
    env = cache_env(cache)
    n, c, h, w = (int(v) for v in shape.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        x = os.path.join(tmp, "x.f32")
        with open(x, "wb") as f:
            f.write(bytes(n * c * h * w * 4))
        out = []
        for _ in range(2):
            t0 = time.perf_counter()
            res = subprocess.run([os.path.join(build, "tools", "kwvk-run"), "--model", model, "--input", x,
                                  "--shape", shape, "--output", os.path.join(tmp, "y.f32")],
                                 check=True, env=env, capture_output=True, text=True, errors="replace")
            wall = (time.perf_counter() - t0) * 1e3
            m = re.search(r"pipelines ([0-9.]+) ms.*run first ([0-9.]+) ms", res.stderr + res.stdout)
            out.append((wall, float(m.group(1)), float(m.group(2))))
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


def time_torch(names, runs, official, batches=(1,)):
    """Median forward time (ms) per model and batch size, {name: {batch: ms}}, in a child
    process configured like the reference's best case. As in kwvk-bench, the timed runs of
    all models are interleaved (round after round, after two warm-up runs each)."""
    script = r'''
import json, os, sys, time, torch
sys.path.insert(0, sys.argv[1])
torch.set_num_threads(2)
names, runs, official = json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
batches = json.loads(sys.argv[5])
from kwvk_py import models
from kwvk_py.make_fixtures import OFFICIAL
if official:
    from kwvk_py import check_official
    import tempfile
    root = check_official.prepare_checkout(official, tempfile.mkdtemp())
    fns = check_official.load_official(root)
nets = {}
for name in names:
    cfg = dict(OFFICIAL[name])
    if official:
        net = fns[cfg["model"]](**check_official.official_kwargs(cfg))
        check_official.set_official_temperature(net, 0.0)
    else:
        net = models.build_model(cfg)
    nets[name] = net.eval()
out = {name: {} for name in names}
with torch.no_grad():
    for b in batches:
        x = torch.randn(b, 3, 224, 224)
        for name in names:
            for _ in range(2):
                nets[name](x)
        t = {name: [] for name in names}
        for _ in range(runs):
            for name in names:
                s = time.perf_counter(); nets[name](x); t[name].append((time.perf_counter() - s) * 1e3)
        for name in names:
            t[name].sort()
            out[name][b] = t[name][len(t[name]) // 2]
            print(f"torch {name} batch {b}: {out[name][b]:.1f} ms", file=sys.stderr, flush=True)
print(json.dumps(out))
'''
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="2")
    env.pop("OPENBLAS_CORETYPE", None)
    res = subprocess.run([sys.executable, "-c", script, os.path.join(REPO, "tools"), json.dumps(names),
                          str(runs), official or "", json.dumps(list(batches))], check=True, env=env,
                         capture_output=True, text=True, errors="replace")
    sys.stderr.write(res.stderr)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return {name: {int(b): ms for b, ms in t.items()} for name, t in out.items()}


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


def command_line(argv):
    """The command as a reader reruns it: this machine's directories become placeholders."""
    words = list(argv if argv is not None else sys.argv[1:])
    placeholders = {"--official": "OFFICIAL_REPO", "--ncnn-src": "NCNN_SRC", "--ncnn-git-dir": "NCNN_GIT_DIR",
                    "--ncnn-build": "NCNN_BUILD", "--baseline": "BASELINE_BUILD", "--out": "OUT_DIR",
                    "--build": "BUILD_DIR", "--doc": "DOC"}
    for i in range(len(words) - 1):
        if words[i] in placeholders:
            words[i + 1] = placeholders[words[i]]
    return ("tools/bench " + shlex.join(words)).strip()


def bench_rows(names, cold, torch_ms):
    rows = []
    for name, c in zip(names, cold["models"]):
        b = {x["batch"]: x for x in c["batches"]}
        rows.append(dict(name=name, params=c["params"], b1=b.get(1, {}).get("median_ms"),
                         b1_min=b.get(1, {}).get("min_ms"),
                         b8=b.get(8, {}).get("images_per_s"), b32=b.get(32, {}).get("images_per_s"),
                         b8_ms=b.get(8, {}).get("median_ms"),
                         ms={n: x["median_ms"] for n, x in b.items()},
                         gpu=c["gpu_ms_b1"], mem=c["peak_bytes"],
                         torch={int(k): v for k, v in torch_ms.get(name, {}).items()},
                         torch_ms=torch_ms.get(name, {}).get(1)))
    return rows


def fmt(v):
    return f"{v:.2f}x" if v is not None else "-"


def before_after(args, rows, base):
    """Lines of the before / after table: `base` holds the rows of --baseline's build, measured
    in this run just before the current build's."""
    old = {r["name"]: r for r in base["rows"]}
    lines = ["\n## Before / after (within this run)\n",
             f"`--baseline`: {base['label']}, measured by the same kwvk-bench command just before this build "
             "(same models, same machine, minutes apart). GPU ms per op kind at batch 1 (profiling run).\n",
             "| model | b1 ms before / after | b8 ms before / after | " +
             " | ".join(f"{k} before / after" for k in KINDS) + " |",
             "|---|---|---|" + "---|" * len(KINDS)]
    for r in rows:
        o = old.get(r["name"])
        if not o:
            continue
        cells = [r["name"], f"{o['b1']:.1f} / {r['b1']:.1f}",
                 f"{o['b8_ms']:.0f} / {r['b8_ms']:.0f}" if o.get("b8_ms") and r.get("b8_ms") else "-"]
        cells += [f"{o['gpu'][k]:.1f} / {r['gpu'][k]:.1f}" for k in KINDS]
        lines.append("| " + " | ".join(cells) + " |")
    by, ob = {r["name"]: r for r in rows}, old
    lines += ["\n| ratio | before | after | target |", "|---|---|---|---|"]
    for a, b, target in RATIOS:
        for key, label in (("b1", "batch 1"), ("b8_ms", "batch 8")):
            if all(n in d and d[n].get(key) for d in (by, ob) for n in (a, b)):
                lines.append(f"| {a} / {b}, {label} | {fmt(ob[a][key] / ob[b][key])} | "
                             f"{fmt(by[a][key] / by[b][key])} | {target} |")
    for name, (cold_s, warm_s), target, ptarget in base["starts"]:
        cold_b, warm_b = base["starts_before"][name]
        lines.append(f"| start-up cold / warm, {name} | {fmt(cold_b[0] / warm_b[0])} "
                     f"({cold_b[0]:.0f} / {warm_b[0]:.0f} ms) | {fmt(cold_s[0] / warm_s[0])} "
                     f"({cold_s[0]:.0f} / {warm_s[0]:.0f} ms) | {target} |")
        lines.append(f"| warm pipeline creation ms, {name} | {base['starts_before'][name][1][1]:.0f} | "
                     f"{warm_s[1]:.0f} | {ptarget} |")
    return lines


def main_part(args, cmd, cold, rows, starts, ncnn, base):
    """The main part of the page (all but the sections and the notes) and the plot."""
    by = {r["name"]: r for r in rows}

    def ratio(a, b, key):
        if a in by and b in by and by[a].get(key) and by[b].get(key):
            return by[a][key] / by[b][key]
        return None

    lines = []
    lines.append("# Benchmarks\n")
    lines.append(f"Generated by `{cmd}` on {time.strftime('%Y-%m-%d')}.")
    lines.append(f"kwvk device: **{cold['device']}** ({cold['driver']}). PyTorch: "
                 f"{'the official code' if args.official else 'kwvk_py (bit-identical to the official code)'}, "
                 f"CPU, 2 threads, OPENBLAS_NUM_THREADS=1, BLAS {blas_name()}. Batch 1 = median of "
                 f"{args.runs} runs after a warm-up; random weights (speed does not depend on them).\n")
    lines.append("| model | params (M) | kwvk b1 ms | kwvk b8 img/s | kwvk b32 img/s | GPU ms b1: attention / assembly / conv / other | device MiB (b1) | PyTorch b1 ms |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for r in rows:
        g = r["gpu"]
        lines.append(f"| {r['name']} | {r['params'] / 1e6:.2f} | {r['b1']:.1f} | {'%.1f' % r['b8'] if r['b8'] else '-'} | "
                     f"{'%.1f' % r['b32'] if r['b32'] else '-'} | {g['attention']:.1f} / {g['assembly']:.1f} / {g['convolution']:.1f} / "
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
    for a, b, target in RATIOS:
        lines.append(f"| {a} / {b}, batch 1 | {fmt(ratio(a, b, 'b1'))} | {fmt(ratio(a, b, 'torch_ms'))} | {target} |")
        lines.append(f"| {a} / {b}, batch 8 | {fmt(ratio(a, b, 'b8_ms'))} | - | {target} |")
    if "kw1d4x_resnet18" in by and "resnet18" in by:
        lines.append(f"| device memory KW 1/4x / static ResNet18 | {fmt(by['kw1d4x_resnet18']['mem'] / by['resnet18']['mem'])} | - | < 1x |")
    lines.append("\n## Start-up (within this run)\n")
    lines.append("Two `kwvk-run` processes one after the other, sharing a fresh kwvk pipeline cache and Mesa "
                 "shader cache: the first starts with empty caches (cold), the second finds them filled "
                 "(warm). Whole-process wall time, and the pipeline creation time kwvk-run reports.\n")
    lines.append("| model | cold process ms | warm process ms | cold / warm | target | pipeline creation cold / warm ms | target (warm) |")
    lines.append("|---|---|---|---|---|---|---|")
    for name, (cold_s, warm_s), target, ptarget in starts:
        lines.append(f"| {name} | {cold_s[0]:.0f} | {warm_s[0]:.0f} | {fmt(cold_s[0] / warm_s[0])} | {target} | "
                     f"{cold_s[1]:.0f} / {warm_s[1]:.0f} | {ptarget} |")
    if base:
        lines += before_after(args, rows, base)
    png = os.path.splitext(args.doc)[0] + ".png"
    if plot(rows, png):
        lines.append(f"\n![kwvk GPU time per op kind and PyTorch CPU time]({os.path.basename(png)})\n")
    return "\n".join(lines) + "\n"


def section_part(name, spec, args, cmd, cold, rows, batches):
    """One section's text, markers included."""
    by = {r["name"]: r for r in rows}
    lines = [SECTION_BEGIN.format(name), f"## {spec['title']}\n"]
    lines.append(f"Generated by `{cmd}` on {time.strftime('%Y-%m-%d')}, a run of its own: the "
                 f"numbers of this section are comparable with each other, not with the tables "
                 f"above (the machine's load differs between runs).")
    lines.append(f"kwvk device: **{cold['device']}** ({cold['driver']}). PyTorch: "
                 f"{'the official code' if args.official else 'kwvk_py (bit-identical to the official code)'}, "
                 f"CPU, 2 threads, OPENBLAS_NUM_THREADS=1, BLAS {blas_name()}. kwvk: median of {args.runs} runs "
                 f"after a warm-up per batch size; PyTorch: median of {args.torch_runs} runs after two "
                 f"warm-ups; on both sides the models' timed runs alternate. Random weights (speed does "
                 f"not depend on them).\n")
    head = ["model", "params (M)"] + [f"kwvk b{b} ms" + (" (img/s)" if b > 1 else "") for b in batches]
    head += ["GPU ms b1: attention / assembly / conv / other", "device MiB (b1)"]
    head += [f"PyTorch b{b} ms" for b in batches]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for r in rows:
        g = r["gpu"]
        cells = [r["name"], f"{r['params'] / 1e6:.2f}"]
        for b in batches:
            ms = r["ms"].get(b)
            cells.append("-" if ms is None else f"{ms:.1f}" + (f" ({b * 1000.0 / ms:.2f})" if b > 1 else ""))
        cells.append(f"{g['attention']:.1f} / {g['assembly']:.1f} / {g['convolution']:.1f} / {g['other']:.1f}")
        cells.append(f"{r['mem'] / 1048576:.1f}")
        cells += [f"{r['torch'][b]:.1f}" if r["torch"].get(b) else "-" for b in batches]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("\n| ratio (within this run) | kwvk | PyTorch |")
    lines.append("|---|---|---|")
    for a, b, label in spec["pairs"]:
        if a not in by or b not in by:
            continue
        ra, rb = by[a], by[b]
        for n in batches:
            k = ra["ms"][n] / rb["ms"][n] if ra["ms"].get(n) and rb["ms"].get(n) else None
            t = ra["torch"][n] / rb["torch"][n] if ra["torch"].get(n) and rb["torch"].get(n) else None
            lines.append(f"| {label} ({a} / {b}), batch {n} | {fmt(k)} | {fmt(t)} |")
        lines.append(f"| {label}, device memory (b1: {ra['mem'] / 1048576:.1f} / {rb['mem'] / 1048576:.1f} MiB) "
                     f"| {fmt(ra['mem'] / rb['mem'])} | - |")
    lines.append(SECTION_END.format(name))
    return "\n".join(lines) + "\n"


def count_macs(name, size=224):
    """Multiply-adds per image of the official configuration `name` at size x size, counted
    from its PyTorch definition (kwvk_py.models) by running it once on zeros:
    direct - every convolution and linear layer at its textbook cost, plus a KW layer's mixing;
    run - 3x3 stride-1 convolutions by Winograd F(2x2, 3x3) where kwvk takes that path, and for a
          KW layer the cheapest of: mixing + direct convolution; mixing in the Winograd domain
          (16/9 of the mixing) + Winograd convolution; mixing + a per-sample kernel transform +
          Winograd convolution (kwvk does not use the last; it is the lowest count);
    mixing - the KW layers' alpha x warehouse products alone (rows x cells x cell size).
    The KW attention's linear layers count as linear layers."""
    import torch
    from torch import nn
    from kwvk_py import kw, models
    from kwvk_py.make_fixtures import OFFICIAL
    net = models.build_model(dict(OFFICIAL[name]))
    net.eval()
    tot = dict(direct=0.0, run=0.0, mixing=0.0)

    def conv_hook(mod, _inp, out):
        kw_layer = isinstance(mod, kw.KWConvNd)
        shape = mod.weight_shape if kw_layer else tuple(mod.weight.shape)
        o, cg = shape[0], shape[1]
        d = float(math.prod(shape) * out[0, 0].numel())
        wino = (shape[2:] == (3, 3) and all(v == 1 for v in mod.stride + mod.dilation)
                and mod.groups == 1 and cg >= WINO_MIN_CHANNELS and o >= WINO_MIN_CHANNELS)
        if not kw_layer:
            tot["direct"] += d
            tot["run"] += d / WINO_SAVING if wino else d
            return
        # mixture rows x cells x cell size
        mix = float(mod.attention.num_mixtures * math.prod(mod.cell_shape))
        tot["direct"] += d + mix
        tot["mixing"] += mix
        ways = [mix + d]
        if wino:
            ways += [mix * WINO_DOMAIN + d / WINO_SAVING, mix + WINO_TRANSFORM * o * cg + d / WINO_SAVING]
        tot["run"] += min(ways)

    def linear_hook(mod, _inp, out):
        d = float(mod.in_features * out.numel() / out.shape[0])
        tot["direct"] += d
        tot["run"] += d

    for m in net.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, kw.KWConvNd)):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, nn.Linear):
            m.register_forward_hook(linear_hook)
    with torch.no_grad():
        net(torch.zeros(1, 3, size, size))
    return tot


def count_part(cmd, spec):
    """The multiply-add section's text, markers included: counts only, nothing timed."""
    counts = {n: count_macs(n) for n in spec["models"]}
    lines = [SECTION_BEGIN.format("arithmetic"), f"## {spec['title']}\n"]
    lines.append(f"Generated by `{cmd}`: multiply-adds per 224x224 image, counted from the models' "
                 "PyTorch definitions (the same configurations as the tables above; nothing is timed). "
                 "*Direct*: every convolution and linear layer at its textbook cost, plus the KW "
                 "layers' mixing (alpha x warehouse: mixture rows x cells x cell size per sample). *As "
                 "run*: 3x3 stride-1 convolutions of at least 32 input and output channels by Winograd "
                 "F(2x2, 3x3), 2.25x fewer multiplies, as kwvk runs them; a KW layer there takes the "
                 "cheapest of its mixing plus a direct convolution, its mixing in the Winograd domain "
                 "(16/9 of the mixing) plus a Winograd convolution, or its mixing plus a per-sample "
                 "kernel transform (84 multiply-adds per 3x3 plane) plus a Winograd convolution (the "
                 "lowest count; kwvk does not use this one). A kernel mixed per sample cannot be "
                 "shared by the samples of a batch, so the per-image counts hold at every batch size.\n")
    lines.append("| model | direct (M) | as run (M) | of which KW mixing (M) |")
    lines.append("|---|---|---|---|")
    for n in spec["models"]:
        c = counts[n]
        lines.append(f"| {n} | {c['direct'] / 1e6:.0f} | {c['run'] / 1e6:.0f} | "
                     f"{c['mixing'] / 1e6:.0f} |")
    lines.append("\n| ratio of counts | direct | as run | target (of the timed ratio, main table) |")
    lines.append("|---|---|---|---|")
    for a, b, target in spec["pairs"]:
        ca, cb = counts[a], counts[b]
        lines.append(f"| {a} / {b} | {fmt(ca['direct'] / cb['direct'])} | {fmt(ca['run'] / cb['run'])} | "
                     f"{target or '-'} |")
    lines.append(SECTION_END.format("arithmetic"))
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--section", default=None, choices=sorted(SECTIONS),
                    help="measure only this section's models and rewrite only its part of --doc")
    ap.add_argument("--models", default=None, help="default: the main table's, or the section's")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--batches", default=None, help="default 1,8,32, or the section's (1,8)")
    ap.add_argument("--torch-runs", type=int, default=5)
    ap.add_argument("--official", default=None)
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--ncnn-src", default=None, help="ncnn source tree (scripts/bench-ncnn)")
    ap.add_argument("--ncnn-git-dir", default=None, help="bare ncnn mirror (scripts/bench-ncnn)")
    ap.add_argument("--ncnn-build", default=os.path.join(REPO, "build-ncnn"))
    ap.add_argument("--ncnn-loops", type=int, default=8)
    ap.add_argument("--doc", default=os.path.join(REPO, "docs", "benchmarks.md"))
    ap.add_argument("--baseline", default=None, metavar="BUILD",
                    help="a build directory of an earlier version, measured in the same run for a "
                         "before / after table (main part only)")
    ap.add_argument("--baseline-label", default=None, help="how the page names --baseline's version")
    args = ap.parse_args(argv)
    spec = SECTIONS[args.section] if args.section else None
    if spec and (args.ncnn_src or args.ncnn_git_dir):
        ap.error("--section runs no ncnn comparison; drop --ncnn-src / --ncnn-git-dir")
    notes_path = os.path.splitext(args.doc)[0] + ".notes.md"
    notes = ""
    if os.path.exists(notes_path):
        with open(notes_path) as f:
            notes = f.read()
    old = ""
    if os.path.exists(args.doc):
        with open(args.doc) as f:
            old = f.read()
    head, sections = split_page(old, notes)
    if spec and not head.strip():
        head = "# Benchmarks\n\nThe main table: `tools/bench` (not run yet).\n"
    if spec is COUNT_SECTION:  # counted, not timed: no model files, no runs
        part = count_part(command_line(argv), spec)
        with open(args.doc, "w") as f:
            f.write(join_page(head, replace_section(sections, args.section, part), notes))
        print(part)
        return 0
    names = (args.models or ",".join(spec["models"] if spec else MODELS)).split(",")
    batches_arg = args.batches or (spec["batches"] if spec else "1,8,32")
    batches = [int(b) for b in batches_arg.split(",")]
    out = args.out or os.path.join(args.build, "bench")

    paths = write_models(names, os.path.join(out, "models"))
    cache = os.path.join(out, "cache")
    shutil.rmtree(cache, ignore_errors=True)
    if args.baseline and not spec:  # the earlier version first, then this one, in the same run
        base_cold = run_kwvk(args.baseline, [paths[n] for n in names], args.runs, cache,
                             os.path.join(out, "baseline.json"), batches_arg)
        shutil.rmtree(cache, ignore_errors=True)
    cold = run_kwvk(args.build, [paths[n] for n in names], args.runs, cache, os.path.join(out, "cold.json"),
                    batches_arg)
    if spec:
        torch_ms = {} if args.skip_torch else time_torch(names, args.torch_runs, args.official, batches)
        rows = bench_rows(names, cold, torch_ms)
        part = section_part(args.section, spec, args, command_line(argv), cold, rows, batches)
        sections = replace_section(sections, args.section, part)
    else:
        start_models = [("fmnist_kw1x (shipped, 28x28)", SHIPPED_MODEL, "1,1,28,28", "<= 2x", "<= 200")]
        if "kw1x_resnet18" in paths:
            start_models.append(("kw1x_resnet18 (224x224)", paths["kw1x_resnet18"], "1,3,224,224", "", ""))

        def measure_starts(build):
            return [(label, pipeline_starts(build, model, os.path.join(out, "cache-starts"), shape), t, pt)
                    for label, model, shape, t, pt in start_models]

        base = None
        if args.baseline:
            base = dict(rows=bench_rows(names, base_cold, {}), label=args.baseline_label or "--baseline",
                        starts_before={label: v for label, v, _, _ in measure_starts(args.baseline)})
        starts = measure_starts(args.build)
        if base:
            base["starts"] = starts
        ncnn = run_ncnn(args, paths) if (args.ncnn_src or args.ncnn_git_dir) else {}
        torch_ms = {} if args.skip_torch else time_torch(names, args.torch_runs, args.official)
        rows = bench_rows(names, cold, torch_ms)
        part = head = main_part(args, command_line(argv), cold, rows, starts, ncnn, base)
    with open(args.doc, "w") as f:
        f.write(join_page(head, sections, notes))
    print(part)
    return 0


if __name__ == "__main__":
    sys.exit(main())
