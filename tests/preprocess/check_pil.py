#!/usr/bin/python3
"""check_pil.py DUMP_INPUT WORKDIR - compare kwvk's CPU image preprocessing
(kwvk_preprocess_images) with the official evaluation transform (Pillow Resize(256) +
CenterCrop(224), as torchvision does it), bilinear and bicubic, on synthetic photos of several
sizes and aspect ratios. kwvk computes Pillow's 8-bit fixed-point filters, so every value
must be equal; the GPU path is compared with the same CPU reference by test_image."""
import os
import subprocess
import sys

import numpy as np
from PIL import Image

tool, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
rng = np.random.default_rng(0)
ok = True
for i, (w, h) in enumerate([(640, 480), (333, 500), (1024, 768), (300, 300), (257, 913), (2000, 1500), (200, 150)]):
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([128 + 100 * np.sin(xx / 17.0 + c) * np.cos(yy / 23.0 - c) for c in range(3)], -1)
    img = np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)
    src = os.path.join(work, f"img{i}.png")
    Image.fromarray(img).save(src)
    if w <= h:
        nw, nh = 256, int(256 * h / w)
    else:
        nw, nh = int(256 * w / h), 256
    top, left = int(round((nh - 224) / 2.0)), int(round((nw - 224) / 2.0))
    for name, filt in (("bilinear", Image.BILINEAR), ("bicubic", Image.BICUBIC)):
        dst = os.path.join(work, f"img{i}_{name}.f32")
        subprocess.run([tool, src, dst, name], check=True)
        ours = np.fromfile(dst, np.float32).reshape(3, 224, 224)
        r = Image.fromarray(img).resize((nw, nh), filt)
        ref = np.asarray(r.crop((left, top, left + 224, top + 224)), np.float32).transpose(2, 0, 1)
        d = np.abs(ours - ref)
        frac = float((d > 0.5).mean())
        good = d.max() <= 1e-3
        ok &= good
        print(f"{'ok  ' if good else 'FAIL'} {w}x{h} {name}: max |kwvk - PIL| = {d.max():.0f}/255, "
              f"{100 * frac:.3f}% of values differ")
print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
sys.exit(0 if ok else 1)
