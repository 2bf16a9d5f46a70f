"""kwvk - KernelWarehouse and ConvNet inference on any Vulkan GPU, from Python.

    import kwvk
    net = kwvk.Net("models/fmnist_kw1x.kwvk")
    logits = net.run(x)                     # float32 [N, C, H, W] -> [N, classes]
    net.classify(["photo.jpg"], top=5)      # [[(label, probability), ...]] best first

A binding of the C library libkwvk (engine/include/kwvk.h) with ctypes: every library call
releases the GIL, so threads running their own nets overlap. Errors are raised as kwvk.Error
carrying the library's message. Scale-out over a Dask cluster: kwvk.distributed.
"""
import collections
import os
import threading
import weakref

import numpy as np

from . import _native

__version__ = "0.1.0"
__all__ = ["Error", "FileError", "Net", "devices", "__version__"]

DEVICE_TYPES = {0: "other", 1: "integrated GPU", 2: "discrete GPU", 3: "virtual GPU", 4: "CPU"}
INTERPOLATIONS = {0: "bilinear", 1: "bicubic"}


class Error(Exception):
    """A failure reported by libkwvk (message from kwvk_last_error) or by this package.
    `code` is the library's result name ("KWVK_ERROR_IO", ...) or None."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code

    def __reduce__(self):  # picklable with its code (Dask sends errors between processes)
        return (type(self), (str(self), self.code))


class FileError(collections.namedtuple("FileError", "source message")):
    """A per-image failure returned in place of a result (classify with on_error="return",
    and kwvk.distributed.classify): `source` is the path (or "array #i"), `message` why."""

    __slots__ = ()

    def __str__(self):
        return f"{self.source}: {self.message}"


def _check(r, what):
    if r != 0:
        L = _native.lib()
        msg = (L.kwvk_last_error() or b"").decode("utf-8", "replace")
        name = (L.kwvk_result_name(r) or b"?").decode()
        raise Error(f"{what}: {msg or name}", name)


def _device_dict(d, index):
    return {"index": index, "name": d.name.decode("utf-8", "replace"),
            "type": DEVICE_TYPES.get(d.device_type, "other"),
            "driver": d.driver_name.decode("utf-8", "replace"),
            "driver_info": d.driver_info.decode("utf-8", "replace"),
            "vendor_id": d.vendor_id, "device_id": d.device_id,
            "device_local_bytes": d.device_local_bytes, "subgroup_size": d.subgroup_size,
            "fp16_storage": bool(d.has_16bit_storage)}


def devices(details=False):
    """The Vulkan devices kwvk can use, in the order of their index (Net's device="0", ...):
    their names, or with details=True one dict each (name, type, driver, memory, ...)."""
    L = _native.lib()
    count = _native.c_u32(0)
    r = L.kwvk_enumerate_devices(None, count)
    if r == 4:  # KWVK_ERROR_NO_DEVICE: an empty list, not an error
        return []
    _check(r, "kwvk_enumerate_devices")
    infos = (_native.DeviceInfo * max(count.value, 1))()
    _check(L.kwvk_enumerate_devices(infos, count), "kwvk_enumerate_devices")
    out = [_device_dict(infos[i], i) for i in range(count.value)]
    return out if details else [d["name"] for d in out]


class _Context:
    """A kwvk_context (one Vulkan device), shared by the Nets of a process that ask for the
    same device and validation setting."""

    _cache = weakref.WeakValueDictionary()
    _cache_lock = threading.Lock()

    @classmethod
    def get(cls, device, validation):
        key = (device, bool(validation))
        with cls._cache_lock:
            ctx = cls._cache.get(key)
            if ctx is None:
                ctx = cls(device, validation)
                cls._cache[key] = ctx
            return ctx

    def __init__(self, device, validation):
        self._L = L = _native.lib()
        self.handle = None
        desc = _native.ContextDesc()
        if device is not None:
            desc.device = str(device).encode()
        desc.enable_validation = 1 if validation else 0
        h = _native.c_void_p()
        _check(L.kwvk_context_create(desc, h), "cannot create a kwvk context")
        self.handle = h
        info = _native.DeviceInfo()
        _check(L.kwvk_context_device_info(h, info), "kwvk_context_device_info")
        self.device = _device_dict(info, None)
        self.device_info = info

    def validation_messages(self):
        return int(self._L.kwvk_context_validation_messages(self.handle))

    def __del__(self):
        if getattr(self, "handle", None):
            self._L.kwvk_context_destroy(self.handle)
            self.handle = None


def _as_list(items):
    if isinstance(items, (str, bytes, os.PathLike, np.ndarray)):
        return [items]
    return list(items)


class Net:
    """A model loaded onto a device, ready to run.

    path        the model file (.kwvk; tools/kwvk-convert makes them from PyTorch checkpoints)
    device      a device index (0, "1") or a case-insensitive substring of its name
                ("NVIDIA", "llvmpipe"); None: $KWVK_DEVICE, else the first discrete GPU, else the
                first integrated GPU, else device 0
    fp16        store the static convolution weights as fp16 (half the memory, fp32 arithmetic)
                where the device supports it
    validation  enable the Vulkan validation layer (None: only when $KWVK_VALIDATION=1)

    A Net may be used from any thread, one call at a time (calls on one Net are serialised by a
    lock); Nets in different threads run concurrently. Nets of one process on the same device
    share one Vulkan context.
    """

    def __init__(self, path, device=None, fp16=False, validation=None):
        self._net = self._model = None
        self._L = L = _native.lib()
        self._lock = threading.Lock()
        self.path = os.fspath(path)
        model = _native.c_void_p()
        _check(L.kwvk_model_load_file(os.fsencode(self.path), model), f"cannot load {self.path}")
        self._model = model
        info = _native.ModelInfo()
        _check(L.kwvk_model_get_info(model, info), "kwvk_model_get_info")
        self._minfo = info
        self._ctx = _Context.get(None if device is None else str(device), validation)
        desc = _native.NetDesc()
        desc.fp16_weights = 1 if fp16 else 0
        net = _native.c_void_p()
        _check(L.kwvk_net_create(self._ctx.handle, model, desc, net), f"cannot create a net for {self.path}")
        self._net = net
        self.fp16 = bool(fp16)
        C = info.input_channels
        self._labels = [(L.kwvk_model_label(model, i) or b"").decode("utf-8", "replace")
                        for i in range(info.num_classes)]
        self._info = {
            "architecture": info.name.decode("utf-8", "replace") if info.name else "",
            "input_size": (C, info.input_height, info.input_width),
            "num_classes": info.num_classes,
            "labels": list(self._labels),
            "parameters": int(info.num_parameters),
            "kw_layers": info.num_kw_layers,
            "ops": info.num_ops,
            "mean": tuple(float(v) for v in info.mean[:C]),
            "std": tuple(float(v) for v in info.std[:C]),
            "resize_short": info.resize_short,
            "crop": info.crop,
            "interpolation": INTERPOLATIONS.get(info.interpolation, str(info.interpolation)),
            "device": self._ctx.device["name"],
            "fp16": self.fp16,
        }

    # -- lifetime -------------------------------------------------------------------------
    def close(self):
        """Free the net and the model now (also done when the object is collected)."""
        with self._lock:
            if self._net:
                self._L.kwvk_net_destroy(self._net)
                self._net = None
            if self._model:
                self._L.kwvk_model_destroy(self._model)
                self._model = None
            self._ctx = None

    def __del__(self):
        if getattr(self, "_L", None) is not None and getattr(self, "_lock", None) is not None:
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _handle(self):
        if not self._net:
            raise Error("the Net is closed")
        return self._net

    # -- facts ------------------------------------------------------------------------------
    @property
    def info(self):
        """The model and device: architecture, input_size (C, H, W), num_classes, labels,
        parameters, kw_layers, ops, preprocessing (mean, std, resize_short, crop,
        interpolation), device, fp16."""
        return dict(self._info, labels=list(self._labels))

    @property
    def labels(self):
        return list(self._labels)

    @property
    def validation_messages(self):
        """Validation-layer errors and warnings seen so far by this Net's context."""
        return self._ctx.validation_messages() if self._ctx else 0

    def stats(self):
        """Device memory and preparation costs (kwvk_net_get_stats) as a dict."""
        s = _native.NetStats()
        with self._lock:
            _check(self._L.kwvk_net_get_stats(self._handle(), s), "kwvk_net_get_stats")
        return {name: getattr(s, name) for name, _ in s._fields_}

    # -- inference --------------------------------------------------------------------------
    def output_shape(self, c, h, w):
        """Per-sample output shape (c, h, w) for an input of c x h x w."""
        out = (_native.c_u32 * 3)()
        with self._lock:
            _check(self._L.kwvk_net_output_shape(self._handle(), c, h, w, out), "kwvk_net_output_shape")
        return tuple(out)

    def run(self, x):
        """Run the network on float32 NCHW input `x`; returns float32 logits [N, classes] (or
        [N, C, H, W] for a model whose output is not 1 x 1)."""
        x = np.asarray(x)
        if x.ndim != 4:
            raise Error(f"Net.run: input must be [N, C, H, W], got shape {x.shape}", "KWVK_ERROR_INVALID_ARGUMENT")
        if x.dtype != np.float32:
            if not np.issubdtype(x.dtype, np.floating):
                raise Error(f"Net.run: input must be float32, got {x.dtype}", "KWVK_ERROR_INVALID_ARGUMENT")
            x = x.astype(np.float32)
        x = np.ascontiguousarray(x)
        n, c, h, w = (int(v) for v in x.shape)
        if min(c, h, w) < 1 or max(x.shape) > 0xFFFFFFFF:
            raise Error(f"Net.run: bad input shape {x.shape}", "KWVK_ERROR_INVALID_ARGUMENT")
        oc, oh, ow = self.output_shape(c, h, w)
        out = np.empty((n, oc * oh * ow), dtype=np.float32)
        if n:
            fp = _native.ctypes.POINTER(_native.c_float)
            with self._lock:
                _check(self._L.kwvk_net_run(self._handle(), x.ctypes.data_as(fp), n, c, h, w,
                                            out.ctypes.data_as(fp), out.size), "kwvk_net_run")
        return out if oh == ow == 1 else out.reshape(n, oc, oh, ow)

    def _input_size(self):
        i = self._minfo
        return int(i.input_channels), int(i.input_height), int(i.input_width)

    def preprocess(self, image):
        """The model's preprocessing of one image (a file path, the bytes of an image file, or
        an HxWx3 RGB / HxW grey uint8 array) on the CPU (kwvk_preprocess_images, the reference
        of the GPU preprocessing classify uses). Returns float32 [C, H, W]."""
        px = _images.to_pixels(image)
        imgs = _images.describe_pixels([px])
        out = np.empty(self._input_size(), dtype=np.float32)
        fp = _native.ctypes.POINTER(_native.c_float)
        if not self._model:
            raise Error("the Net is closed")
        try:
            _check(self._L.kwvk_preprocess_images(self._model, imgs, 1, out.ctypes.data_as(fp), out.size),
                   "kwvk_preprocess_images")
        except Error as e:
            if isinstance(image, (str, os.PathLike)):
                raise Error(f"{os.fspath(image)}: {e}", e.code) from None
            raise
        return out

    def run_images(self, images):
        """Logits [N, classes] for images (file paths, file bytes or uint8 arrays as classify
        takes them), preprocessed on the GPU (kwvk_net_run_images)."""
        return self._run_pixels([_images.to_pixels(im) for im in _as_list(images)])

    def _run_pixels(self, pixels):
        n = len(pixels)
        oc, oh, ow = self.output_shape(*self._input_size())
        out = np.empty((n, oc * oh * ow), dtype=np.float32)
        if n:
            imgs = _images.describe_pixels(pixels)
            fp = _native.ctypes.POINTER(_native.c_float)
            with self._lock:
                _check(self._L.kwvk_net_run_images(self._handle(), imgs, n, out.ctypes.data_as(fp), out.size),
                       "kwvk_net_run_images")
        return out

    def classify(self, images, top=5, batch=None, on_error="raise"):
        """Classify images: file paths, bytes of image files, or HxWx3 (RGB) / HxW (grey) uint8
        arrays, preprocessed as the model was trained (resize, centre crop, normalisation) on
        the GPU (kwvk_net_run_images). Returns one list per image of (label, probability)
        pairs, best first (softmax of the logits; a class without a label in the model is
        named "class N").

        top       pairs per image (at most the number of classes)
        batch     images per GPU run (None: min(16, number of images))
        on_error  "raise": the first image that cannot be read, decoded or preprocessed raises
                  kwvk.Error naming it; "return": a kwvk.FileError takes that image's place in
                  the result and the others are still classified
        """
        if on_error not in ("raise", "return"):
            raise ValueError('on_error must be "raise" or "return"')
        items = _as_list(images)
        K = self._minfo.num_classes
        top = int(top)
        if top < 1:
            raise Error("classify: top must be >= 1", "KWVK_ERROR_INVALID_ARGUMENT")
        top = min(top, K)
        batch = int(batch) if batch else max(1, min(16, len(items)))
        if batch < 1:
            raise Error("classify: batch must be >= 1", "KWVK_ERROR_INVALID_ARGUMENT")
        results = [None] * len(items)

        def fail(i, e):
            if on_error == "raise":
                src = items[i]
                if isinstance(src, (str, os.PathLike)) and not str(e).startswith(os.fspath(src)):
                    raise Error(f"{os.fspath(src)}: {e}", e.code) from None
                raise e
            msg = str(e)
            results[i] = FileError(_images.describe(items[i], i), msg)

        for start in range(0, len(items), batch):
            idx, pixels = [], []
            for i in range(start, min(start + batch, len(items))):
                try:
                    pixels.append(_images.to_pixels(items[i]))
                    idx.append(i)
                except Error as e:
                    fail(i, e)
            if not idx:
                continue
            try:
                logits = self._run_pixels(pixels)
            except Error as e:
                if len(idx) == 1:
                    fail(idx[0], e)
                    continue
                # find the image(s) the library refused (an extreme aspect ratio, ...)
                logits = np.zeros((len(idx), K), np.float32)
                keep = []
                for row, (i, px) in enumerate(zip(idx, pixels)):
                    try:
                        logits[row] = self._run_pixels([px])[0]
                        keep.append(row)
                    except Error as e1:
                        fail(i, e1)
                idx = [idx[r] for r in keep]
                logits = logits[keep]
            for row, i in enumerate(idx):
                results[i] = self._top(logits[row].reshape(-1), top)
        return results

    def _top(self, logits, top):
        scores = (_native.ClassScore * top)()
        logits = np.ascontiguousarray(logits, dtype=np.float32)
        fp = _native.ctypes.POINTER(_native.c_float)
        _check(self._L.kwvk_top_k(self._model, logits.ctypes.data_as(fp), logits.size, top,
                                  _native.SCORES_SOFTMAX, scores), "kwvk_top_k")
        return [((s.label or b"").decode("utf-8", "replace") or f"class {s.index}", float(s.score))
                for s in scores]

    def __repr__(self):
        i = self._info
        return (f"kwvk.Net({self.path!r}: {i['architecture']}, input {i['input_size']}, "
                f"{i['num_classes']} classes, on {i['device']})")


from . import _images  # noqa: E402  (uses Error)
