"""fmnist.py - Fashion-MNIST from Debian's dataset-fashion-mnist: the IDX .gz reader, the
class names and the normalisation the shipped models use.

    images, labels = load("test")     # uint8 [10000, 28, 28], uint8 [10000]
"""
import gzip
import os
import struct

import numpy as np

DATA_DIR = "/usr/share/datasets/fashion-mnist"
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
# mean and std of the training set's pixels in [0, 1] (models.FM_MEAN / FM_STD; checked by
# train_stats() in the unit tests)
MEAN, STD = 0.2860, 0.3530

IDX_UBYTE = 0x08


def read_idx(path):
    """An IDX file (gzip-compressed or not) of unsigned bytes -> numpy uint8 array."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file")
    dtype, ndim = raw[2], raw[3]
    if dtype != IDX_UBYTE:
        raise ValueError(f"{path}: IDX type 0x{dtype:02x}, only unsigned bytes are supported")
    if ndim < 1 or ndim > 4 or len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{path}: bad IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    count = int(np.prod(dims))
    body = raw[4 + 4 * ndim:]
    if len(body) != count:
        raise ValueError(f"{path}: {len(body)} data bytes for dims {dims}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def load(split, data_dir=None):
    """(images uint8 [N, 28, 28], labels uint8 [N]) of the "train" or "test" split."""
    data_dir = data_dir or os.environ.get("KWVK_FMNIST_DIR", DATA_DIR)
    img_name, lab_name = FILES[split]
    images = read_idx(os.path.join(data_dir, img_name))
    labels = read_idx(os.path.join(data_dir, lab_name))
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"{split}: images {images.shape} and labels {labels.shape} differ")
    if labels.max() >= len(CLASSES):
        raise ValueError(f"{split}: label {labels.max()} out of range")
    return images, labels


def normalise(images_u8):
    """uint8 [N, 28, 28] -> float32 [N, 1, 28, 28] as the models take them:
    (x / 255 - MEAN) / STD, computed in float32 exactly as kwvk-eval does."""
    x = images_u8.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(MEAN)) / np.float32(STD)
    return x.reshape(images_u8.shape[0], 1, *images_u8.shape[1:])


def train_stats(data_dir=None):
    """Mean and std of the training pixels in [0, 1]."""
    images, _ = load("train", data_dir)
    x = images.astype(np.float64) / 255.0
    return float(x.mean()), float(x.std())


def slug(name):
    """A file-name-safe form of a class name ("Ankle boot" -> "ankle_boot")."""
    out = "".join(c.lower() if c.isalnum() else "_" for c in name)
    while "__" in out:
        out = out.replace("__", "_")
    return out.strip("_")
