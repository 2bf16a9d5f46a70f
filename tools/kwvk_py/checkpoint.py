"""checkpoint.py - load PyTorch checkpoints without running pickled code.

A .pth file is a pickle: unpickling may call any Python function the file names (a hostile
file can run `os.system`). load_checkpoint() first tries torch.load(weights_only=True); if
that refuses only because of harmless extra objects (the official training script stores
its argparse.Namespace next to the weights), it loads again through an unpickler that
resolves nothing but an allowlist of constructors for tensors and plain data. Anything
else (os.system, builtins.eval, a pickled nn.Module class, ...) is refused with
UnsafeCheckpoint naming the global; TorchScript archives are refused before torch.load
would hand them to torch.jit.load. The second load drives torch's own zip / legacy readers
(torch.serialization._load / _legacy_load) with our unpickler, because torch.load ignores
a custom pickle_module in torch 1.13.
"""
import argparse
import codecs
import collections
import io
import pathlib
import pickle
import types
import zipfile

import torch


class CheckpointError(Exception):
    """The checkpoint cannot be read (message is one line)."""


class UnsafeCheckpoint(CheckpointError):
    """The checkpoint names a Python global outside the allowlist."""


def _allowed_globals():
    allowed = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch", "Size"): torch.Size,
        ("torch", "device"): torch.device,
        ("torch", "Tensor"): torch.Tensor,
        ("torch.nn.parameter", "Parameter"): torch.nn.Parameter,
        ("argparse", "Namespace"): argparse.Namespace,
        ("_codecs", "encode"): codecs.encode,        # bytes in protocol-2 pickles
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "slice"): slice,
        ("builtins", "complex"): complex,
        ("builtins", "bytearray"): bytearray,
        ("pathlib", "PosixPath"): pathlib.PosixPath,
        ("pathlib", "WindowsPath"): pathlib.PureWindowsPath,
    }
    import torch._utils as tu
    for fn in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter",
               "_rebuild_parameter_with_state"):
        if hasattr(tu, fn):
            allowed[("torch._utils", fn)] = getattr(tu, fn)
    import torch._tensor as tt
    if hasattr(tt, "_rebuild_from_type_v2"):
        allowed[("torch._tensor", "_rebuild_from_type_v2")] = tt._rebuild_from_type_v2
    try:   # numpy scalars / arrays that training scripts sometimes store (e.g. metrics)
        import numpy as np
        allowed[("numpy", "dtype")] = np.dtype
        allowed[("numpy", "ndarray")] = np.ndarray
        for modname in ("numpy.core.multiarray", "numpy._core.multiarray"):
            allowed[(modname, "scalar")] = np.core.multiarray.scalar
            allowed[(modname, "_reconstruct")] = np.core.multiarray._reconstruct
    except Exception:  # pragma: no cover - numpy is optional here
        pass
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only allowlisted globals (exact module + name)."""
    _allowed = None

    def find_class(self, module, name):
        if RestrictedUnpickler._allowed is None:
            RestrictedUnpickler._allowed = _allowed_globals()
        fn = RestrictedUnpickler._allowed.get((module, name))
        if fn is not None:
            return fn
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        raise UnsafeCheckpoint(f"it needs the Python global '{module}.{name}', which is not "
                               "allowed (a checkpoint should hold only tensors and plain "
                               "data; this file may be malicious)")


def _restricted_module():
    mod = types.ModuleType("kwvk_restricted_pickle")
    mod.Unpickler = RestrictedUnpickler

    def load(f, **kwargs):
        return RestrictedUnpickler(f, **kwargs).load()
    mod.load = load
    mod.__version__ = "1"
    return mod


def _is_torchscript(path):
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _restricted_load(path):
    """torch.load's file handling with our unpickler. (torch.load itself cannot be used:
    torch 1.13 replaces any pickle_module by the standard pickle when weights_only is
    False, which would run the file's code.)"""
    ser = torch.serialization
    needed = ("_is_zipfile", "_open_zipfile_reader", "_load", "_legacy_load",
              "_is_torchscript_zip")
    if not all(hasattr(ser, n) for n in needed):
        raise CheckpointError("this torch version cannot load checkpoints that hold more "
                              "than tensors safely; save model.state_dict() alone")
    restricted = _restricted_module()
    with open(path, "rb") as f:
        if ser._is_zipfile(f):
            with ser._open_zipfile_reader(f) as zf:
                if ser._is_torchscript_zip(zf):
                    raise CheckpointError("a TorchScript archive; save model.state_dict()")
                return ser._load(zf, "cpu", restricted, encoding="utf-8")
        return ser._legacy_load(f, "cpu", restricted, encoding="utf-8")


# Files people pass by mistake, by their first bytes: (prefix, what it is).
_NOT_CHECKPOINTS = (
    (b"KWVKMODL", "a kwvk model file (already converted; run it with kwvk-run or kwvk-classify)"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x89PNG", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip file (decompress it first)"),
    (b"\x08\x01\x12", "an ONNX model (export the PyTorch state_dict with torch.save instead)"),
    (b"{", "a JSON file (a --kw-config goes with --kw-config, not --checkpoint)"),
)


def _file_type_problem(path, head):
    """A one-line reason why `path` (first bytes `head`) is not a PyTorch checkpoint, or
    None when it may be one: torch.save writes a zip archive (torch >= 1.6) or, in the
    legacy format, a pickle (protocol 2+ starts with 0x80)."""
    for prefix, what in _NOT_CHECKPOINTS:
        if head.startswith(prefix):
            return f"{path} is {what}, not a PyTorch checkpoint"
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (1 << 30):
        return (f"{path} looks like a safetensors file, not a PyTorch checkpoint (load it with "
                "safetensors and torch.save the state_dict)")
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            return f"{path} is a damaged or truncated zip archive ({e}); save the checkpoint again"
        if bad is not None:
            return f"{path} is a damaged zip archive (member {bad} fails its CRC check)"
        return None
    if head[:1] == b"\x80":
        return None
    return (f"{path} is not a PyTorch checkpoint (torch.save writes a zip archive or a pickle; "
            f"this file starts with {head[:8]!r})")


def load_checkpoint(path):
    """Load a checkpoint safely; returns whatever it holds (dict / state_dict)."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e.strerror}") from None
    if not head:
        raise CheckpointError(f"checkpoint {path} is empty")
    problem = _file_type_problem(path, head)
    if problem:
        raise CheckpointError(problem)
    if _is_torchscript(path):
        raise CheckpointError(f"{path} is a TorchScript archive; save model.state_dict() with "
                              "torch.save instead")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        pass   # retry with our allowlist, which also knows argparse.Namespace & co.
    try:
        return _restricted_load(path)
    except UnsafeCheckpoint as e:
        raise UnsafeCheckpoint(f"refusing to load checkpoint {path}: {e}") from None
    except Exception as e:
        cause = e
        while cause.__cause__ is not None or cause.__context__ is not None:
            nxt = cause.__cause__ or cause.__context__
            if isinstance(nxt, UnsafeCheckpoint):
                raise UnsafeCheckpoint(f"refusing to load checkpoint {path}: {nxt}") from None
            cause = nxt
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"cannot load checkpoint {path}: {msg}") from None


def loads_for_test(data: bytes):
    """Unpickle raw pickle bytes with the restricted unpickler (tests)."""
    return RestrictedUnpickler(io.BytesIO(data)).load()
