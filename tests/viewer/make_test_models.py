#!/usr/bin/python3
"""make_test_models.py OUT_DIR - small kwvk models and images for the viewer tests.

Models (random weights, fixed seeds; what matters is that kwvk-classify and the viewer
agree, not that the labels are right):
  grey28.kwvk     1x28x28, no resize, Fashion-MNIST labels and normalisation
  rgb_crop.kwvk   3x32x32 after resize_short 40 + centre crop 32, ImageNet mean/std,
                  12 labels of which some are longer than the overlay shows
  rgb_direct.kwvk 3x24x32 resized straight (aspect not kept), no labels ("class N")
  wide1000.kwvk   3x224x224 after resize_short 256 + crop 224, 1000 classes
  rgb_bicubic.kwvk rgb_crop's network and labels, but its resize is bicubic (the viewer must
                  preprocess it bicubic, as the model records)
Images:
  grey/*.png      four Fashion-MNIST test images (28x28 grey), as models/samples has
  rgb/*.png       RGB pictures of several sizes and aspect ratios
"""
import os
import struct
import sys
import zlib

import numpy as np

from kwvk_py import modelfile as mf

FMNIST = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def write_png(path, img):
    """Minimal PNG writer: uint8 [h, w] (grey) or [h, w, 3] (RGB)."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    h, w = img.shape[:2]
    ctype = 0 if img.ndim == 2 else 2
    raw = b"".join(b"\0" + img[y].tobytes() for y in range(h))

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def conv(model, x, cin, cout, k, stride, pad, act, rng, scale=1.0):
    w = model.add_tensor(rng.standard_normal((cout, cin, k, k)) * scale / np.sqrt(cin * k * k))
    b = model.add_tensor(rng.standard_normal(cout) * 0.1)
    return model.add_op(mf.OP_CONV2D, [x, None, None], [w, None, b],
                        [cout, k, k, stride, stride, pad, pad, 1, 1, 1, act, cin])


def classifier(meta, seed, widths=(8, 16)):
    rng = np.random.default_rng(seed)
    m = mf.Model(meta)
    x, c = 0, meta.input_c
    for w in widths:
        x = conv(m, x, c, w, 3, 2, 1, mf.ACT_RELU, rng)
        c = w
    x = m.add_op(mf.OP_GLOBAL_AVGPOOL, [x])
    conv(m, x, c, meta.num_classes, 1, 1, 0, mf.ACT_NONE, rng, scale=4.0)
    return m


def picture(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1),
                    (x * 7 + y * 3) % 256], axis=-1).astype(np.uint8)
    for _ in range(6):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        img[y0:y0 + h // 4, x0:x0 + w // 4] = rng.integers(0, 256, 3)
    return img


def main():
    out = sys.argv[1]
    for d in ("", "grey", "rgb"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    mean, std = 0.2860, 0.3530
    mf.write_model(os.path.join(out, "grey28.kwvk"), classifier(
        mf.Meta(1, 28, 28, 10, [mean], [std], name="viewer_test_grey", labels=FMNIST), 1))
    labels = ["red fox", "grey wolf", "tabby cat",
              "great white shark, white shark, man-eater, Carcharodon carcharias",
              "goldfish", "hen", "ostrich, Struthio camelus", "tree frog", "loggerhead turtle",
              "common newt, Triturus vulgaris", "axolotl", "king penguin"]
    imean, istd = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    mf.write_model(os.path.join(out, "rgb_crop.kwvk"), classifier(
        mf.Meta(3, 32, 32, len(labels), imean, istd, resize_short=40, crop=32,
                name="viewer_test_rgb", labels=labels), 2))
    mf.write_model(os.path.join(out, "rgb_bicubic.kwvk"), classifier(
        mf.Meta(3, 32, 32, len(labels), imean, istd, resize_short=40, crop=32, name="viewer_test_rgb",
                labels=labels, interpolation=mf.INTERP_BICUBIC), 2))
    mf.write_model(os.path.join(out, "rgb_direct.kwvk"), classifier(
        mf.Meta(3, 24, 32, 7, [0.5, 0.5, 0.5], [0.25, 0.25, 0.25], name="viewer_test_direct"), 3))
    rng = np.random.default_rng(4)
    m = mf.Model(mf.Meta(3, 224, 224, 1000, imean, istd, resize_short=256, crop=224, name="viewer_test_1000",
                         labels=[f"synthetic class {i}" for i in range(1000)]))
    x = m.add_op(mf.OP_AVGPOOL2D, [0], [], [8, 8, 8, 8, 0, 0, 0, 1])
    x = conv(m, x, 3, 8, 3, 2, 1, mf.ACT_RELU, rng)
    x = m.add_op(mf.OP_GLOBAL_AVGPOOL, [x])
    conv(m, x, 8, 1000, 1, 1, 0, mf.ACT_NONE, rng, scale=4.0)
    mf.write_model(os.path.join(out, "wide1000.kwvk"), m)

    try:
        from kwvk_py import fmnist
        images, _ = fmnist.load("test")
        grey = [images[i] for i in (0, 1, 2, 3)]
    except (OSError, ValueError):  # no dataset: drawn stand-ins
        grey = [picture(28, 28, 10 + i)[..., i % 3] for i in range(4)]
    for i, g in enumerate(grey):
        write_png(os.path.join(out, "grey", f"sample_{i}.png"), g)
    for i, (w, h) in enumerate([(64, 48), (300, 200), (37, 53), (640, 480)]):
        write_png(os.path.join(out, "rgb", f"picture_{i}_{w}x{h}.png"), picture(w, h, 20 + i))
    print("viewer test models and images in", out)


if __name__ == "__main__":
    main()
