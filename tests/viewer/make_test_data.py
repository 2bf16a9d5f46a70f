#!/usr/bin/python3
"""make_test_data.py - regenerate the recorded camera buffers in tests/viewer/data/.

No camera exists on CI machines, so the V4L2 pixel conversions are tested on buffers shaped
exactly like what a UVC webcam delivers:

  yuyv_64x48_s160.yuyv   YUYV 4:2:2, 64x48, 160-byte lines (32 bytes of driver padding)
  yuyv_64x48_s160.rgb    the RGB24 expected from it (BT.601 limited range, integer
                         arithmetic, computed here independently of the C code)
  mjpeg_64x48.jpg        a 4:2:2 baseline JPEG with its Huffman tables (DHT)
  mjpeg_64x48_nodht.mjpg the same frame with the DHT segment removed, as most UVC cameras
                         send MJPEG (the decoder must insert the standard tables)
  mjpeg_64x48.rgb        RGB24 of the frame as libjpeg (Pillow) decodes it

Needs Pillow (Debian python3-pil) only to run this script; the tests read the files.
Run:  /usr/bin/python3 tests/viewer/make_test_data.py
"""
import io
import os

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
W, H, STRIDE = 64, 48, 160


def scene(w, h):
    """A test picture with gradients, saturated colours and sharp edges."""
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // (w - 1)).astype(np.int32)
    g = (y * 255 // (h - 1)).astype(np.int32)
    b = ((x + y) * 4 % 256).astype(np.int32)
    img = np.stack([r, g, b], axis=-1)
    img[8:20, 10:30] = [255, 0, 0]
    img[24:40, 36:60] = [0, 0, 255]
    img[30:34, :] = [255, 255, 255]
    img[:, 5] = [0, 0, 0]
    return img.astype(np.uint8)


def rgb_to_yuyv(img, stride):
    """BT.601 limited range, chroma averaged over each pixel pair."""
    p = img.astype(np.int32)
    r, g, b = p[..., 0], p[..., 1], p[..., 2]
    y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
    u = (-38 * r - 74 * g + 112 * b + 32896) >> 8
    v = (112 * r - 94 * g - 18 * b + 32896) >> 8
    h, w = y.shape
    out = np.full((h, stride), 0xEE, dtype=np.uint8)  # padding bytes must be ignored
    out[:, 0:2 * w:4] = y[:, 0::2]
    out[:, 2:2 * w:4] = y[:, 1::2]
    out[:, 1:2 * w:4] = (u[:, 0::2] + u[:, 1::2] + 1) // 2
    out[:, 3:2 * w:4] = (v[:, 0::2] + v[:, 1::2] + 1) // 2
    return out


def yuyv_to_rgb(buf, w, h):
    """The expected conversion, written from the BT.601 integer formulas."""
    Y = np.empty((h, w), np.int64)
    Y[:, 0::2] = buf[:, 0:2 * w:4]
    Y[:, 1::2] = buf[:, 2:2 * w:4]
    U = np.repeat(buf[:, 1:2 * w:4].astype(np.int64), 2, axis=1)
    V = np.repeat(buf[:, 3:2 * w:4].astype(np.int64), 2, axis=1)
    c, d, e = Y - 16, U - 128, V - 128

    def fix(v):
        return np.clip(np.where(v < 0, 0, v) >> 8, 0, 255)

    rgb = np.stack([fix(298 * c + 409 * e + 128), fix(298 * c - 100 * d - 208 * e + 128),
                    fix(298 * c + 516 * d + 128)], axis=-1)
    return rgb.astype(np.uint8)


def strip_dht(jpeg):
    """Remove every DHT (FFC4) segment before the first scan."""
    out, p = bytearray(jpeg[:2]), 2
    while p < len(jpeg):
        assert jpeg[p] == 0xFF
        m = jpeg[p + 1]
        if m == 0xDA:
            out += jpeg[p:]
            break
        n = (jpeg[p + 2] << 8) | jpeg[p + 3]
        if m != 0xC4:
            out += jpeg[p:p + 2 + n]
        p += 2 + n
    return bytes(out)


def main():
    os.makedirs(OUT, exist_ok=True)
    img = scene(W, H)
    yuyv = rgb_to_yuyv(img, STRIDE)
    with open(os.path.join(OUT, "yuyv_64x48_s160.yuyv"), "wb") as f:
        f.write(yuyv.tobytes())
    with open(os.path.join(OUT, "yuyv_64x48_s160.rgb"), "wb") as f:
        f.write(yuyv_to_rgb(yuyv, W, H).tobytes())

    buf = io.BytesIO()
    # 4:2:2 like UVC cameras; standard (Annex K) tables: Pillow's default without optimize
    Image.fromarray(img).save(buf, "JPEG", quality=85, subsampling=1, optimize=False)
    jpeg = buf.getvalue()
    nodht = strip_dht(jpeg)
    assert b"\xff\xc4" in jpeg and len(nodht) < len(jpeg)
    with open(os.path.join(OUT, "mjpeg_64x48.jpg"), "wb") as f:
        f.write(jpeg)
    with open(os.path.join(OUT, "mjpeg_64x48_nodht.mjpg"), "wb") as f:
        f.write(nodht)
    dec = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
    with open(os.path.join(OUT, "mjpeg_64x48.rgb"), "wb") as f:
        f.write(dec.tobytes())
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
