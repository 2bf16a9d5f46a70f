#!/usr/bin/python3
"""check_eval_folder.py KWVK_EVAL SOURCE_DIR WORKDIR [PER_CLASS] - kwvk-eval --images on a
class-per-folder data set (torchvision's ImageFolder layout): PER_CLASS (default 20)
Fashion-MNIST test images of each class written as PNG files into folders named after the
model's labels ("T-shirt/top" -> "T-shirt_top", some nested a level deeper). PyTorch runs
the shipped checkpoint (models/fmnist_kw1x.pth) on the same PNG files decoded with Pillow;
kwvk-eval must print the same top-1 accuracy and agree with PyTorch's top-1 on every image
given as --reference. A folder that names no class must be refused."""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import torch
from PIL import Image

tool, src, work = sys.argv[1:4]
per_class = int(sys.argv[4]) if len(sys.argv) > 4 else 20
sys.path.insert(0, os.path.join(src, "tools"))
from kwvk_py import convert, fmnist, train  # noqa: E402

torch.set_num_threads(1)
shutil.rmtree(work, ignore_errors=True)
root = os.path.join(work, "images")
images, labels = fmnist.load("test")
names = open(os.path.join(src, "models", "fashion_mnist_classes.txt")).read().split("\n")[:10]
paths, truth = [], []
for c in range(10):
    idx = np.nonzero(labels == c)[0][:per_class]
    folder = os.path.join(root, re.sub(r"[^A-Za-z0-9]+", "_", names[c]))
    for k, i in enumerate(idx):
        d = os.path.join(folder, "more") if k % 5 == 4 else folder
        os.makedirs(d, exist_ok=True)
        p = os.path.join(d, f"{i:05d}.png")
        Image.fromarray(images[i]).save(p)
        paths.append(p)
        truth.append(c)

# PyTorch on the PNG files as Pillow decodes them
_, net = convert.convert_checkpoint(None, os.path.join(src, "models", "fmnist_kw1x.config.json"),
                                    os.path.join(src, "models", "fmnist_kw1x.pth"),
                                    os.path.join(work, "check.kwvk"))
pixels = np.stack([np.asarray(Image.open(p).convert("L")) for p in paths])
pred, _ = train.predict(net, pixels)
torch_acc = 100.0 * float(np.mean(pred == np.array(truth)))
with open(os.path.join(work, "reference.txt"), "w") as f:
    for p, c in zip(paths, pred):
        f.write(f"{os.path.relpath(p, root)} {int(c)}\n")

r = subprocess.run([tool, "--model", os.path.join(src, "models", "fmnist_kw1x.kwvk"), "--images", root,
                    "--reference", os.path.join(work, "reference.txt"), "--batch", "64"],
                   capture_output=True, text=True, timeout=900)
print(r.stdout + r.stderr, end="")
m = re.search(r"top-1 ([0-9.]+)% \((\d+) of (\d+)\)", r.stdout)
fails = 0
ok = r.returncode == 0 and m and int(m.group(3)) == len(paths) and abs(float(m.group(1)) - torch_acc) < 0.005
print(f"{'ok  ' if ok else 'FAIL'} kwvk-eval top-1 {m.group(1) if m else '?'}%, PyTorch {torch_acc:.2f}% "
      f"on the same {len(paths)} images")
fails += not ok
ok = "agreement with the reference top-1: 100.00%" in r.stdout
print(f"{'ok  ' if ok else 'FAIL'} every image agrees with PyTorch's top-1")
fails += not ok

os.makedirs(os.path.join(root, "Sweater"))
Image.fromarray(images[0]).save(os.path.join(root, "Sweater", "x.png"))
r = subprocess.run([tool, "--model", os.path.join(src, "models", "fmnist_kw1x.kwvk"), "--images", root],
                   capture_output=True, text=True, timeout=300)
ok = r.returncode == 1 and "folder 'Sweater' is neither a class label" in r.stderr
print(f"{'ok  ' if ok else 'FAIL'} an unknown class folder is refused: {r.stderr.strip()}")
fails += not ok
print(f"{int(fails == 0)} passed, {fails} failed")
sys.exit(1 if fails else 0)
