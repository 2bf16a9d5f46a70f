#!/usr/bin/python3
"""check_pil.py DUMP_INPUT WORKDIR - compare kwvk's image preprocessing with the official
evaluation transform (PIL bilinear Resize(256) + CenterCrop(224), as torchvision does it) on
synthetic photos of several sizes and aspect ratios, and the same with bicubic resizing (the
model file's interpolation field) on three of them. Pass: every value within 1/255 and at
most 1% of values differing at all (Pillow rounds fixed-point, kwvk double)."""
import os
import subprocess
import sys

import numpy as np
from PIL import Image

tool, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
rng = np.random.default_rng(0)
ok = True
cases = [(640, 480), (333, 500), (1024, 768), (300, 300), (257, 913), (2000, 1500)]
for i, (w, h, interp) in enumerate([(w, h, "bilinear") for w, h in cases] +
                                   [(640, 480, "bicubic"), (257, 913, "bicubic"), (200, 150, "bicubic")]):
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([128 + 100 * np.sin(xx / 17.0 + c) * np.cos(yy / 23.0 - c) for c in range(3)], -1)
    img = np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)
    src, dst = os.path.join(work, f"img{i}.png"), os.path.join(work, f"img{i}.f32")
    Image.fromarray(img).save(src)
    subprocess.run([tool, src, dst] + (["bicubic"] if interp == "bicubic" else []), check=True)
    ours = np.fromfile(dst, np.float32).reshape(3, 224, 224)
    if w <= h:
        nw, nh = 256, int(256 * h / w)
    else:
        nw, nh = int(256 * w / h), 256
    r = Image.fromarray(img).resize((nw, nh), Image.BICUBIC if interp == "bicubic" else Image.BILINEAR)
    top, left = int(round((nh - 224) / 2.0)), int(round((nw - 224) / 2.0))
    ref = np.asarray(r.crop((left, top, left + 224, top + 224)), np.float32).transpose(2, 0, 1)
    d = np.abs(ours - ref)
    frac = float((d > 0.5).mean())
    good = d.max() <= 1.0 + 1e-3 and frac <= 0.01
    ok &= good
    print(f"{'ok  ' if good else 'FAIL'} {w}x{h} {interp}: max |kwvk - PIL| = {d.max():.0f}/255, "
          f"{100 * frac:.3f}% of values differ")
print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
sys.exit(0 if ok else 1)
