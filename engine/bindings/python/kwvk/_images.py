"""Image input for Net.classify and Net.preprocess: files decoded to RGB8 by libkwvk_pyimage
(stb_image, as the command-line tools decode them), arrays checked; both handed to the library
as kwvk_image descriptions (kwvk_net_run_images preprocesses them on the GPU,
kwvk_preprocess_images on the CPU)."""
import ctypes
import os

import numpy as np

from . import Error, _native

_FORMATS = {2: _native.PIXEL_GRAY8, 3: _native.PIXEL_RGB8, 4: 1}  # 4 channels: KWVK_PIXEL_RGBA8


def describe(src, i):
    if isinstance(src, (str, os.PathLike)):
        return os.fspath(src)
    return f"array #{i}" if isinstance(src, np.ndarray) else f"image #{i}"


def _decode(data, name):
    H = _native.pyimage()
    w, h, err = ctypes.c_int(), ctypes.c_int(), ctypes.c_char_p()
    px = H.kwvkpy_decode(data, len(data), w, h, err)
    if not px:
        msg = (err.value or b"cannot decode the image").decode("utf-8", "replace")
        raise Error(f"{name}: {msg}", "KWVK_ERROR_INVALID_ARGUMENT")
    try:
        buf = (ctypes.c_uint8 * (w.value * h.value * 3)).from_address(px)
        return np.frombuffer(buf, dtype=np.uint8).reshape(h.value, w.value, 3).copy()
    finally:
        H.kwvkpy_free(px)


def to_pixels(src):
    """A file path, the bytes of an image file, or an HxWx3 (RGB) / HxW (grey) / HxWx4 (RGBA)
    uint8 array -> a C-contiguous uint8 array of one of those layouts."""
    if isinstance(src, (str, os.PathLike)):
        path = os.fspath(src)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise Error(f"{path}: {e.strerror or e}", "KWVK_ERROR_IO") from None
        return _decode(data, path)
    if isinstance(src, (bytes, bytearray, memoryview)):
        return _decode(bytes(src), "image bytes")
    if isinstance(src, np.ndarray):
        if src.dtype != np.uint8:
            raise Error(f"image arrays must be uint8 (RGB or grey photos), got {src.dtype}",
                        "KWVK_ERROR_INVALID_ARGUMENT")
        if not (src.ndim == 2 or (src.ndim == 3 and src.shape[2] in (3, 4))):
            raise Error(f"image arrays must be HxWx3 (RGB), HxW (grey) or HxWx4 (RGBA), got shape {src.shape}",
                        "KWVK_ERROR_INVALID_ARGUMENT")
        if src.shape[0] < 1 or src.shape[1] < 1:
            raise Error("empty image array", "KWVK_ERROR_INVALID_ARGUMENT")
        return np.ascontiguousarray(src)
    raise Error(f"cannot classify a {type(src).__name__}: give file paths, file bytes or uint8 arrays",
                "KWVK_ERROR_INVALID_ARGUMENT")


def describe_pixels(arrays):
    """kwvk_image structs for pixel arrays from to_pixels (the arrays must stay alive while
    the structs are used)."""
    imgs = (_native.Image * len(arrays))()
    for img, a in zip(imgs, arrays):
        img.format = _FORMATS[a.ndim if a.ndim == 2 else a.shape[2]]
        img.width, img.height = a.shape[1], a.shape[0]
        img.stride = a.strides[0]
        img.data = a.ctypes.data
    return imgs
