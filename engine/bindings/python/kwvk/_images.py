"""Image input for Net.classify: files decoded by libkwvk_pyimage (stb_image), arrays checked,
then the model's preprocessing on the CPU (the tools' implementation, tools/common/tool_util.c:
Pillow-style antialiased bilinear resize of the shorter side, centre crop, mean/std)."""
import ctypes
import os

import numpy as np

from . import Error, _native


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


def to_rgb8(src):
    """A file path, the bytes of an image file, or an HxWx3 / HxW uint8 array -> HxWx3 uint8."""
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
        if src.ndim == 2:
            src = np.repeat(src[:, :, None], 3, axis=2)
        if src.ndim != 3 or src.shape[2] != 3:
            raise Error(f"image arrays must be HxWx3 (RGB) or HxW (grey), got shape {src.shape}",
                        "KWVK_ERROR_INVALID_ARGUMENT")
        if src.shape[0] < 1 or src.shape[1] < 1:
            raise Error("empty image array", "KWVK_ERROR_INVALID_ARGUMENT")
        return np.ascontiguousarray(src)
    raise Error(f"cannot classify a {type(src).__name__}: give file paths, file bytes or uint8 arrays",
                "KWVK_ERROR_INVALID_ARGUMENT")


def preprocess(rgb, minfo):
    """HxWx3 uint8 -> float32 [C, H, W] with the model's preprocessing."""
    if minfo.interpolation != 0:
        raise Error("this model resizes with bicubic interpolation, which the CPU preprocessing of "
                    "this build does not implement", "KWVK_ERROR_UNSUPPORTED")
    H = _native.pyimage()
    C = minfo.input_channels
    size = minfo.crop if minfo.resize_short and minfo.crop else 0
    ch, cw = (size, size) if size else (minfo.input_height, minfo.input_width)
    out = np.empty((C, ch, cw), dtype=np.float32)
    err = ctypes.c_char_p()
    r = H.kwvkpy_preprocess_rgb8(rgb.ctypes.data, rgb.shape[1], rgb.shape[0], minfo,
                                 out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), out.size, err)
    if r != 0:
        raise Error((err.value or b"preprocessing failed").decode("utf-8", "replace"),
                    "KWVK_ERROR_INVALID_ARGUMENT")
    return out
