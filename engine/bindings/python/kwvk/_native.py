"""ctypes declarations of libkwvk's public API (engine/include/kwvk.h) and of the package's
image decoder (libkwvk_pyimage). Internal: use the classes of the kwvk package.

The libraries are looked for in $KWVK_LIBRARY_DIR (a CMake build directory, for development
and the tests), else next to this file (an installed wheel carries both). ctypes releases the
GIL for the duration of every foreign call, so a Python thread blocked in kwvk_net_run does
not stop the others.
"""
import ctypes
import os
import threading

c_u32, c_u64, c_int, c_size, c_float = (ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int,
                                         ctypes.c_size_t, ctypes.c_float)
c_char_p, c_void_p = ctypes.c_char_p, ctypes.c_void_p

LOG_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_char_p)


class ContextDesc(ctypes.Structure):
    _fields_ = [("device", c_char_p), ("enable_validation", c_int), ("cache_dir", c_char_p),
                ("log", LOG_FN), ("log_user", c_void_p), ("device_memory_budget", c_u64),
                ("timeout_ms", c_u32), ("instance_extensions", ctypes.POINTER(c_char_p)),
                ("instance_extension_count", c_u32), ("device_extensions", ctypes.POINTER(c_char_p)),
                ("device_extension_count", c_u32)]


class DeviceInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * 256), ("driver_name", ctypes.c_char * 256),
                ("driver_info", ctypes.c_char * 256), ("vendor_id", c_u32), ("device_id", c_u32),
                ("api_version", c_u32), ("driver_version", c_u32), ("device_type", c_int),
                ("subgroup_size", c_u32), ("max_compute_workgroup_invocations", c_u32),
                ("max_compute_workgroup_count", c_u32 * 3), ("max_storage_buffer_range", c_u64),
                ("max_texel_buffer_elements", c_u64), ("device_local_bytes", c_u64),
                ("timestamp_period_ns", c_float), ("has_timestamps", c_int),
                ("has_subgroup_arithmetic", c_int), ("has_16bit_storage", c_int),
                ("has_host_visible_device_local", c_int), ("has_texel_buffers", c_int),
                ("max_storage_buffers_per_stage", c_u32)]


class ModelInfo(ctypes.Structure):
    _fields_ = [("name", c_char_p), ("input_channels", c_u32), ("input_height", c_u32),
                ("input_width", c_u32), ("num_classes", c_u32), ("mean", c_float * 4),
                ("std", c_float * 4), ("resize_short", c_u32), ("crop", c_u32), ("num_ops", c_u32),
                ("num_kw_layers", c_u32), ("num_parameters", c_u64), ("interpolation", c_u32)]


class NetDesc(ctypes.Structure):
    _fields_ = [("enable_profiling", c_int), ("fp16_weights", c_int), ("max_in_flight", c_u32)]


class Image(ctypes.Structure):
    _fields_ = [("format", c_u32), ("width", c_u32), ("height", c_u32), ("stride", c_u32),
                ("data", c_void_p), ("uv", c_void_p), ("uv_stride", c_u32), ("rotation", c_u32),
                ("flags", c_u32)]


class ClassScore(ctypes.Structure):
    _fields_ = [("index", c_u32), ("score", c_float), ("label", c_char_p)]


PIXEL_RGB8, PIXEL_GRAY8 = 3, 4
SCORES_SOFTMAX = 1


class NetStats(ctypes.Structure):
    _fields_ = [("weight_bytes", c_u64), ("activation_bytes", c_u64), ("peak_device_bytes", c_u64),
                ("pipeline_ms", ctypes.c_double), ("record_ms", ctypes.c_double), ("plans", c_u32),
                ("fp16_tensors", c_u32), ("pipelines_created", c_u32), ("pipeline_cache_loaded", c_int)]


P = ctypes.POINTER
_f32p = P(c_float)

# name: (restype, argtypes)
_KWVK = {
    "kwvk_result_name": (c_char_p, [c_int]),
    "kwvk_last_error": (c_char_p, []),
    "kwvk_context_create": (c_int, [P(ContextDesc), P(c_void_p)]),
    "kwvk_context_destroy": (None, [c_void_p]),
    "kwvk_context_device_info": (c_int, [c_void_p, P(DeviceInfo)]),
    "kwvk_context_validation_messages": (c_u32, [c_void_p]),
    "kwvk_enumerate_devices": (c_int, [P(DeviceInfo), P(c_u32)]),
    "kwvk_model_load_file": (c_int, [c_char_p, P(c_void_p)]),
    "kwvk_model_load_memory": (c_int, [c_void_p, c_size, P(c_void_p)]),
    "kwvk_model_destroy": (None, [c_void_p]),
    "kwvk_model_get_info": (c_int, [c_void_p, P(ModelInfo)]),
    "kwvk_model_label": (c_char_p, [c_void_p, c_u32]),
    "kwvk_net_create": (c_int, [c_void_p, c_void_p, P(NetDesc), P(c_void_p)]),
    "kwvk_net_destroy": (None, [c_void_p]),
    "kwvk_net_prepare": (c_int, [c_void_p, c_u32, c_u32, c_u32, c_u32]),
    "kwvk_net_run": (c_int, [c_void_p, _f32p, c_u32, c_u32, c_u32, c_u32, _f32p, c_size]),
    "kwvk_net_output_shape": (c_int, [c_void_p, c_u32, c_u32, c_u32, P(c_u32 * 3)]),
    "kwvk_net_get_stats": (c_int, [c_void_p, P(NetStats)]),
    "kwvk_preprocess_images": (c_int, [c_void_p, P(Image), c_u32, _f32p, c_size]),
    "kwvk_net_run_images": (c_int, [c_void_p, P(Image), c_u32, _f32p, c_size]),
    "kwvk_top_k": (c_int, [c_void_p, _f32p, c_u32, c_u32, c_u32, P(ClassScore)]),
}

_PYIMAGE = {
    "kwvkpy_abi_version": (c_int, []),
    "kwvkpy_decode": (c_void_p, [c_char_p, c_size, P(c_int), P(c_int), P(c_char_p)]),
    "kwvkpy_free": (None, [c_void_p]),
}

PYIMAGE_ABI = 2

_lock = threading.Lock()
_libs = {}


def _candidates(stem, sonames):
    here = os.path.dirname(os.path.abspath(__file__))
    dirs = []
    env = os.environ.get("KWVK_LIBRARY_DIR")
    if env:
        dirs.append(env)
    dirs.append(here)
    return [os.path.join(d, n) for d in dirs for n in sonames], dirs


def _load(key, sonames, table):
    with _lock:
        if key in _libs:
            return _libs[key]
        paths, dirs = _candidates(key, sonames)
        path = next((p for p in paths if os.path.exists(p)), None)
        if path is None:
            from . import Error
            raise Error(f"cannot find {sonames[0]} in {', '.join(dirs)} (install the package with "
                        "`pip install .`, or set KWVK_LIBRARY_DIR to a CMake build directory)")
        lib = ctypes.CDLL(path)
        for name, (res, args) in table.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        _libs[key] = lib
        return lib


def lib():
    """libkwvk (the shared library of the C API)."""
    return _load("kwvk", ["libkwvk.so", "libkwvk.so.0", "libkwvk.dylib", "kwvk.dll"], _KWVK)


def pyimage():
    """The image decoder (stb_image, as the command-line tools use it)."""
    h = _load("kwvk_pyimage", ["libkwvk_pyimage.so", "libkwvk_pyimage.dylib", "kwvk_pyimage.dll"], _PYIMAGE)
    if h.kwvkpy_abi_version() != PYIMAGE_ABI:
        from . import Error
        raise Error("libkwvk_pyimage has another interface version than this package")
    return h


def library_path():
    """File the libkwvk in use was loaded from."""
    return lib()._name
