#!/usr/bin/env python3
"""Writes the camera-style frames of the Java binding's test and their manifest.

From the shipped Fashion-MNIST samples (models/samples/NN_<class>.png) and one synthetic
colour picture it writes raw frames in the layouts a camera or a window delivers (RGBA, NV21
and the other kwvk pixel formats; padded row strides; frames stored rotated, to be turned
upright by the run's rotation) and a manifest, one frame per line:

    name format width height stride rotation flags expect file

stride 0 means packed rows (NV12/NV21: Y rows of width bytes, chroma rows of ceil(width/2)
pairs, the Java binding's rule); format and flags are kwvk's values (kwvk_pixel_format, KWVK_IMAGE_YUV_FULL_RANGE); expect
is the class the frame must get (-1: no expectation) and file is relative to the manifest.
"""
import argparse
import glob
import os

import numpy as np
from PIL import Image

RGBA8, BGRA8, RGB8, GRAY8, NV12, NV21, YUYV = 1, 2, 3, 4, 5, 6, 7
FULL_RANGE = 1


def yuv(rgb, full):
    """BT.601 Y, U, V planes (float) of an RGB uint8 array, full or limited range."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = (b - y) / 1.772
    v = (r - y) / 1.402
    if full:
        return y, u + 128, v + 128
    return 16 + y * 219 / 255, 128 + u * 224 / 255, 128 + v * 224 / 255


def u8(x):
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def pad_rows(rows, stride):
    """rows: [h, row_bytes] uint8 -> bytes with each row padded to stride (last row too)."""
    h, n = rows.shape
    out = np.full((h, stride), 0xA5, np.uint8)  # padding bytes that would show if read
    out[:, :n] = rows
    return out


def encode(rgb, fmt, stride, full):
    """Frame bytes of an RGB uint8 image [h, w, 3] in format fmt with the given row stride
    (0: packed)."""
    h, w, _ = rgb.shape
    if fmt in (RGBA8, BGRA8, RGB8, GRAY8):
        if fmt == RGBA8:
            px = np.concatenate([rgb, np.full((h, w, 1), 255, np.uint8)], axis=2)
        elif fmt == BGRA8:
            px = np.concatenate([rgb[..., ::-1], np.full((h, w, 1), 200, np.uint8)], axis=2)
        elif fmt == RGB8:
            px = rgb
        else:
            px = u8(yuv(rgb, True)[0])[..., None]
        rows = px.reshape(h, -1)
        return pad_rows(rows, stride or rows.shape[1]).tobytes()
    y, u, v = yuv(rgb, full)
    if fmt == YUYV:
        wp = (w + 1) // 2 * 2
        ye = np.pad(y, ((0, 0), (0, wp - w)), mode="edge")
        ue = np.pad(u, ((0, 0), (0, wp - w)), mode="edge")
        ve = np.pad(v, ((0, 0), (0, wp - w)), mode="edge")
        out = np.empty((h, wp // 2, 4))
        out[..., 0] = ye[:, 0::2]
        out[..., 1] = (ue[:, 0::2] + ue[:, 1::2]) / 2
        out[..., 2] = ye[:, 1::2]
        out[..., 3] = (ve[:, 0::2] + ve[:, 1::2]) / 2
        rows = u8(out).reshape(h, -1)
        return pad_rows(rows, stride or rows.shape[1]).tobytes()
    # NV12 / NV21: chroma averaged over 2x2 blocks (edge-extended for odd sizes)
    hp, wp = (h + 1) // 2 * 2, (w + 1) // 2 * 2
    ue = np.pad(u, ((0, hp - h), (0, wp - w)), mode="edge")
    ve = np.pad(v, ((0, hp - h), (0, wp - w)), mode="edge")
    uc = (ue[0::2, 0::2] + ue[0::2, 1::2] + ue[1::2, 0::2] + ue[1::2, 1::2]) / 4
    vc = (ve[0::2, 0::2] + ve[0::2, 1::2] + ve[1::2, 0::2] + ve[1::2, 1::2]) / 4
    uv = np.empty((hp // 2, wp // 2, 2))
    uv[..., 0], uv[..., 1] = (vc, uc) if fmt == NV21 else (uc, vc)
    # packed (stride 0): Y rows of w bytes, chroma rows of ceil(w/2) pairs
    return pad_rows(u8(y), stride or w).tobytes() + pad_rows(u8(uv).reshape(hp // 2, -1), stride or wp).tobytes()


def stored(img, rotation):
    """The frame as a camera would store it, so that rotating it clockwise by `rotation`
    degrees gives `img` back (PIL's rotate turns counter-clockwise)."""
    return img.rotate(rotation, expand=True) if rotation else img


def colour_picture(w, h):
    """A synthetic colour scene: gradients, a disc and a bar (no file needed)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * xx / (w - 1)
    g = 255 * yy / (h - 1)
    b = 128 + 100 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    disc = (xx - 0.6 * w) ** 2 + (yy - 0.45 * h) ** 2 < (0.25 * h) ** 2
    r[disc], g[disc], b[disc] = 250, 240, 30
    bar = (np.abs(xx - 0.25 * w) < 0.06 * w) & (yy > 0.2 * h)
    r[bar], g[bar], b[bar] = 20, 20, 200
    return Image.fromarray(u8(np.stack([r, g, b], axis=2)), "RGB")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", required=True, help="directory of NN_<class>.png images")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    lines = []

    def add(name, img, fmt, rotation=0, stride=0, full=True, expect=-1):
        img = stored(img.convert("RGB"), rotation)
        rgb = np.asarray(img)
        h, w, _ = rgb.shape
        data = encode(rgb, fmt, stride, full)
        fname = name + ".raw"
        with open(os.path.join(args.out, fname), "wb") as f:
            f.write(data)
        flags = FULL_RANGE if full and fmt in (NV12, NV21, YUYV) else 0
        lines.append(f"{name} {fmt} {w} {h} {stride} {rotation} {flags} {expect} {fname}")

    samples = sorted(glob.glob(os.path.join(args.samples, "[0-9][0-9]_*.png")))
    if len(samples) != 10:
        raise SystemExit(f"make_frames.py: expected 10 samples in {args.samples}, found {len(samples)}")
    for i, path in enumerate(samples):
        cls = int(os.path.basename(path)[:2])
        img = Image.open(path)
        rot = (0, 90, 180, 270)[i % 4]
        # the sample as is (grey 28x28), as RGBA and as Android's NV21: exact pixels, so the
        # class the model gives the PNG is expected
        add(f"s{cls}_rgba", img, RGBA8, expect=cls)
        add(f"s{cls}_nv21", img, NV21, expect=cls)
        # stored rotated (turned upright by the run), rows padded: still exact pixels
        add(f"s{cls}_rgba_r{rot}", img, RGBA8, rotation=rot, stride=28 * 4 + 12, expect=cls)
        add(f"s{cls}_nv21_r{rot}", img, NV21, rotation=rot, stride=32, expect=cls)
        # a larger camera-like frame (the sample upscaled, bordered with its black
        # background to 4:3): resized back down by the model's preprocessing
        big = Image.new("L", (80, 60))
        big.paste(img.resize((56, 56), Image.BILINEAR), (12, 2))
        add(f"s{cls}_nv21_80x60_r{(rot + 90) % 360}", big, NV21, rotation=(rot + 90) % 360)
    # the other pixel formats, limited-range YUV, odd sizes, on two samples
    for path in samples[3:5]:
        cls = int(os.path.basename(path)[:2])
        img = Image.open(path)
        add(f"s{cls}_bgra_r90", img, BGRA8, rotation=90, expect=cls)
        add(f"s{cls}_rgb_s", img, RGB8, stride=28 * 3 + 5, expect=cls)
        add(f"s{cls}_gray_r270", img, GRAY8, rotation=270, expect=cls)
        add(f"s{cls}_nv12_limited", img, NV12, full=False)
        add(f"s{cls}_yuyv_r180", img, YUYV, rotation=180)
        odd = Image.new("L", (31, 29))
        odd.paste(img, (1, 0))
        add(f"s{cls}_rgba_31x29", odd, RGBA8)
        add(f"s{cls}_nv21_31x29", odd, NV21)
        add(f"s{cls}_nv21_31x29_s", odd, NV21, stride=40)
    # a colour picture: the labels mean nothing for a grey-clothes model, but must agree
    pic = colour_picture(96, 72)
    add("colour_rgba", pic, RGBA8)
    add("colour_nv21_r90", pic, NV21, rotation=90)
    add("colour_nv21_limited_r180_s", pic, NV21, rotation=180, stride=104, full=False)
    with open(os.path.join(args.out, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"make_frames.py: {len(lines)} frames in {args.out}")


if __name__ == "__main__":
    main()
