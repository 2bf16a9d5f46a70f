"""modelfile.py - the kwvk model file, versions 1 and 2 (docs/model-format.md): writer, reader and
a small reference interpreter of the op list.

The writer is what kwvk-convert uses. The reader and the interpreter exist for tests: the
interpreter runs a model file on the CPU with plain PyTorch ops written from the format
page (not from kw.py), so comparing it with the PyTorch model checks the converter without
a GPU.

Layout written here (the format allows any order; this one is simple to inspect):
    0                      header (64 bytes)
    64                     meta (64 bytes + name + labels, padded to 8)
    ...                    tensor table (48 bytes per tensor)
    ...                    op table (160 bytes per op)
    ...                    tensor data, each tensor at a 64-byte-aligned offset
"""
import struct
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

MAGIC = b"KWVKMODL"
VERSION = 2          # written; the reader also takes version 1 (no interpolation field)
HEADER_BYTES = 64
META_FIXED = 64      # version 1
META_FIXED_V2 = 80   # version 2: + interpolation, 12 reserved bytes
INTERP_BILINEAR, INTERP_BICUBIC = 0, 1
TENSOR_REC = 48
OP_REC = 160
NONE = 0xFFFFFFFF
MAX_INPUTS, MAX_TENSORS, MAX_PARAMS = 3, 11, 24
DTYPE_F32 = 1

OP_CONV2D = 1
OP_KW_ATTENTION = 2
OP_KW_ASSEMBLE = 3
OP_MAXPOOL2D = 4
OP_AVGPOOL2D = 5
OP_GLOBAL_AVGPOOL = 6
OP_ADD = 7
OP_SOFTMAX = 8
OP_LAYERNORM = 9
OP_NAMES = {OP_LAYERNORM: "layernorm", OP_CONV2D: "conv2d", OP_KW_ATTENTION: "kw_attention", OP_KW_ASSEMBLE: "kw_assemble",
            OP_MAXPOOL2D: "maxpool2d", OP_AVGPOOL2D: "avgpool2d",
            OP_GLOBAL_AVGPOOL: "global_avgpool", OP_ADD: "add", OP_SOFTMAX: "softmax"}

ACT_NONE, ACT_RELU, ACT_RELU6, ACT_GELU = 0, 1, 2, 3
ATT_NORM_FOLDED, ATT_NORM_LAYERNORM = 0, 1    # kw_attention param 7: the hidden vector's norm


def f32_bits(value) -> int:
    """A float32 as the signed 32-bit integer of its bits (eps params)."""
    return struct.unpack("<i", struct.pack("<f", value))[0]


def bits_f32(bits) -> float:
    return struct.unpack("<f", struct.pack("<i", int(bits)))[0]


class ModelFormatError(ValueError):
    """A model file (or a model about to be written) breaks docs/model-format.md."""


@dataclass
class Meta:
    input_c: int
    input_h: int
    input_w: int
    num_classes: int
    mean: List[float] = field(default_factory=lambda: [0.0])
    std: List[float] = field(default_factory=lambda: [1.0])
    resize_short: int = 0
    crop: int = 0
    name: str = ""
    labels: Optional[List[str]] = None
    interpolation: int = INTERP_BILINEAR  # of the resize: 0 bilinear, 1 bicubic (Pillow filters)


@dataclass
class Op:
    type: int
    inputs: List[Optional[int]]          # value ids, None = absent (at most 3)
    tensors: List[Optional[int]] = field(default_factory=list)  # tensor ids (at most 11)
    params: List[int] = field(default_factory=list)             # at most 24


@dataclass
class Model:
    meta: Meta
    tensors: List[np.ndarray] = field(default_factory=list)  # float32, 1..4 dims
    ops: List[Op] = field(default_factory=list)

    def add_tensor(self, array) -> int:
        a = np.ascontiguousarray(np.asarray(array, dtype=np.float32))
        if a.ndim == 0:
            a = a.reshape(1)
        if not 1 <= a.ndim <= 4:
            raise ModelFormatError(f"tensor of {a.ndim} dims (1..4 allowed)")
        if a.size == 0:
            raise ModelFormatError(f"tensor of shape {a.shape} is empty")
        self.tensors.append(a)
        return len(self.tensors) - 1

    def add_op(self, type_, inputs, tensors=(), params=()) -> int:
        """Append an op; returns the value id it produces (op index + 1)."""
        self.ops.append(Op(type_, list(inputs), list(tensors), [int(p) for p in params]))
        return len(self.ops)


# ---------------------------------------------------------------------------------------
# Writer
# ---------------------------------------------------------------------------------------

def _align(n, a):
    return (n + a - 1) // a * a


def _ids(values, length, what):
    if len(values) > length:
        raise ModelFormatError(f"{len(values)} {what} (at most {length})")
    out = [NONE if v is None else int(v) for v in values]
    return out + [NONE] * (length - len(out))


def _meta_bytes(meta: Meta) -> bytes:
    if not 1 <= meta.input_c <= 4:
        raise ModelFormatError(f"meta: input channels {meta.input_c} out of range 1..4")
    mean = list(meta.mean) + [0.0] * (4 - len(meta.mean))
    std = list(meta.std) + [1.0] * (4 - len(meta.std))
    if len(mean) != 4 or len(std) != 4:
        raise ModelFormatError("meta: more than 4 mean/std entries")
    if any(s <= 0 for s in std[:meta.input_c]):
        raise ModelFormatError("meta: std must be > 0")
    name = meta.name.encode("utf-8")
    labels = b""
    if meta.labels is not None:
        if len(meta.labels) != meta.num_classes:
            raise ModelFormatError(f"meta: {len(meta.labels)} labels for {meta.num_classes} classes")
        for lab in meta.labels:
            if "\n" in lab or "\0" in lab:
                raise ModelFormatError(f"meta: label {lab!r} contains a newline or NUL")
        labels = "".join(lab + "\n" for lab in meta.labels).encode("utf-8")
    if b"\0" in name:
        raise ModelFormatError("meta: the name contains a NUL byte")
    fixed = struct.pack("<4I4f4f4I", meta.input_c, meta.input_h, meta.input_w, meta.num_classes,
                        *mean, *std, meta.resize_short, meta.crop, len(name), len(labels))
    assert len(fixed) == META_FIXED
    if meta.interpolation not in (INTERP_BILINEAR, INTERP_BICUBIC):
        raise ModelFormatError(f"meta: interpolation {meta.interpolation} unknown")
    fixed += struct.pack("<4I", meta.interpolation, 0, 0, 0)
    assert len(fixed) == META_FIXED_V2
    body = fixed + name + labels
    return body + b"\0" * (_align(len(body), 8) - len(body))


def to_bytes(model: Model) -> bytes:
    """Serialise a model; raises ModelFormatError for anything the format does not allow."""
    if not 1 <= len(model.ops) <= 65536:
        raise ModelFormatError(f"{len(model.ops)} ops (1..65536 allowed)")
    if len(model.tensors) > 65536:
        raise ModelFormatError(f"{len(model.tensors)} tensors (at most 65536)")
    meta = _meta_bytes(model.meta)
    meta_off = HEADER_BYTES
    t_off = _align(meta_off + len(meta), 8)
    o_off = _align(t_off + TENSOR_REC * len(model.tensors), 8)
    pos = o_off + OP_REC * len(model.ops)

    table = bytearray()
    placed = []
    for i, t in enumerate(model.tensors):
        if t.dtype != np.float32 or not 1 <= t.ndim <= 4 or t.size == 0:
            raise ModelFormatError(f"tensor {i}: must be non-empty float32 with 1..4 dims")
        if t.size > (1 << 29):
            raise ModelFormatError(f"tensor {i}: {t.size} elements (at most 2^29)")
        if not np.all(np.isfinite(t)):
            raise ModelFormatError(f"tensor {i}: contains NaN or Inf")
        pos = _align(pos, 64)
        dims = list(t.shape) + [1] * (4 - t.ndim)
        table += struct.pack("<II4IQQQ", DTYPE_F32, t.ndim, *dims, pos, t.nbytes, 0)
        placed.append(pos)
        pos += t.nbytes
    file_bytes = _align(pos, 64) if model.tensors else pos

    ops = bytearray()
    for k, op in enumerate(model.ops):
        ins = _ids(op.inputs, MAX_INPUTS, "inputs")
        present = sum(v != NONE for v in ins)
        for v in ins:
            if v != NONE and v > k:
                raise ModelFormatError(f"op {k}: input value {v} is not computed before it")
        tens = _ids(op.tensors, MAX_TENSORS, "tensors")
        for t in tens:
            if t != NONE and t >= len(model.tensors):
                raise ModelFormatError(f"op {k}: tensor id {t} out of range")
        if len(op.params) > MAX_PARAMS:
            raise ModelFormatError(f"op {k}: {len(op.params)} params (at most {MAX_PARAMS})")
        params = list(op.params) + [0] * (MAX_PARAMS - len(op.params))
        ops += struct.pack("<II3I11I24i", op.type, present, *ins, *tens, *params)

    header = struct.pack("<8sIIQIIQQQII", MAGIC, VERSION, HEADER_BYTES, file_bytes,
                         len(model.tensors), len(model.ops), t_off, o_off, meta_off,
                         len(meta), 0)
    assert len(header) == HEADER_BYTES
    out = bytearray(file_bytes)
    out[0:HEADER_BYTES] = header
    out[meta_off:meta_off + len(meta)] = meta
    out[t_off:t_off + len(table)] = table
    out[o_off:o_off + len(ops)] = ops
    for t, off in zip(model.tensors, placed):
        out[off:off + t.nbytes] = t.astype("<f4", copy=False).tobytes()
    return bytes(out)


def write_model(path, model: Model) -> int:
    data = to_bytes(model)
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


# ---------------------------------------------------------------------------------------
# Reader
# ---------------------------------------------------------------------------------------

def from_bytes(data: bytes) -> Model:
    """Parse a model file. Checks the structure (enough for tests and tools); the C loader
    is the strict validator."""
    if len(data) < HEADER_BYTES or data[:8] != MAGIC:
        raise ModelFormatError("not a kwvk model (bad magic or too short)")
    (_, version, hbytes, file_bytes, n_t, n_o, t_off, o_off, meta_off, meta_bytes,
     reserved) = struct.unpack_from("<8sIIQIIQQQII", data, 0)
    if version not in (1, 2) or hbytes != HEADER_BYTES or reserved != 0:
        raise ModelFormatError(f"header: version {version}, header_bytes {hbytes}")
    if file_bytes != len(data):
        raise ModelFormatError(f"header says {file_bytes} bytes, file has {len(data)}")
    fixed = META_FIXED_V2 if version >= 2 else META_FIXED
    if meta_bytes < fixed or meta_off + meta_bytes > len(data):
        raise ModelFormatError("meta outside the file")
    v = struct.unpack_from("<4I4f4f4I", data, meta_off)
    name_b, labels_b = v[14], v[15]
    interpolation = struct.unpack_from("<I", data, meta_off + 64)[0] if version >= 2 else INTERP_BILINEAR
    if fixed + name_b + labels_b > meta_bytes:
        raise ModelFormatError("meta: name and labels overrun the meta section")
    p = meta_off + fixed
    name = data[p:p + name_b].decode("utf-8")
    labels = None
    if labels_b:
        text = data[p + name_b:p + name_b + labels_b].decode("utf-8")
        labels = text[:-1].split("\n") if text.endswith("\n") else text.split("\n")
    meta = Meta(v[0], v[1], v[2], v[3], list(v[4:8]), list(v[8:12]), v[12], v[13], name, labels,
                interpolation)

    model = Model(meta)
    for i in range(n_t):
        dtype, ndim, d0, d1, d2, d3, off, nbytes, res = struct.unpack_from(
            "<II4IQQQ", data, t_off + TENSOR_REC * i)
        dims = [d0, d1, d2, d3]
        if dtype != DTYPE_F32 or not 1 <= ndim <= 4 or res != 0 or off % 64:
            raise ModelFormatError(f"tensor {i}: bad record")
        count = int(np.prod(dims))
        if nbytes != 4 * count or off + nbytes > len(data):
            raise ModelFormatError(f"tensor {i}: bad size or offset")
        arr = np.frombuffer(data, dtype="<f4", count=count, offset=off).reshape(dims[:ndim])
        model.tensors.append(arr.astype(np.float32))
    for k in range(n_o):
        rec = struct.unpack_from("<II3I11I24i", data, o_off + OP_REC * k)
        type_, n_in = rec[0], rec[1]
        ins = [None if x == NONE else x for x in rec[2:5]]
        tens = [None if x == NONE else x for x in rec[5:16]]
        if n_in != sum(x is not None for x in ins):
            raise ModelFormatError(f"op {k}: n_inputs {n_in} does not match its inputs")
        model.ops.append(Op(type_, ins, tens, list(rec[16:40])))
    return model


def read_model(path) -> Model:
    with open(path, "rb") as f:
        return from_bytes(f.read())


# ---------------------------------------------------------------------------------------
# Reference interpreter (tests): written from docs/model-format.md, independent of kw.py
# ---------------------------------------------------------------------------------------

def _act(y, code):
    import torch
    if code == ACT_RELU:
        return torch.relu(y)
    if code == ACT_RELU6:
        return torch.clamp(y, 0.0, 6.0)
    if code == ACT_GELU:
        return 0.5 * y * (1.0 + torch.erf(y / np.sqrt(2.0)))
    return y


def _layernorm(x, w, b, eps):
    """LayerNorm over the channels (dim 1) of [N, C, H, W]."""
    mean = x.mean(dim=1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=1, keepdim=True)
    return (x - mean) / (var + eps).sqrt() * w.reshape(1, -1, 1, 1) + b.reshape(1, -1, 1, 1)


def _attention(op, T, x):
    """kw_attention: [N, C, H, W] -> [N, nlm*M, 1, 1] (docs/kw-math.md section 2)."""
    import torch
    C, hid, nlm, M, nlc, nb, start = op.params[:7]
    n = x.shape[0]
    g = x.double().reshape(n, C, -1).mean(dim=2)
    if op.params[7] == ATT_NORM_LAYERNORM:     # tensor 1: [3, hid] fc1 bias, LN weight, bias
        b1 = T(1).reshape(3, hid)
        h = _layernorm((g @ T(0).T + b1[0]).reshape(n, hid, 1, 1), b1[1], b1[2],
                       bits_f32(op.params[8])).reshape(n, hid)
    else:
        h = g @ T(0).T + T(1)
    h = torch.relu(h)
    z = h @ T(2).T
    if nb == 0:
        z = (z + T(3)).reshape(n * nlm, M + 1)
    else:
        rows = z.reshape(n * nlm, nlc + nb + 1)
        local, basis, zero = rows[:, :nlc], rows[:, nlc:nlc + nb], rows[:, nlc + nb:]
        far = basis @ T(4).T if M - nlc > 0 else rows[:, :0]
        z = torch.cat([far[:, :start], local, far[:, start:], zero], dim=1)
        z = (z.reshape(n, -1) + T(5)).reshape(n * nlm, M + 1)
    a = z / (z.abs().sum(dim=1, keepdim=True) + 1e-3)
    return a[:, :M].reshape(n, nlm * M, 1, 1)


def _assemble(op, T, alpha):
    """kw_assemble by the format page's index rule: kernel element (oc, ic, ky, kx) reads
    mixture row r = (s*GO + o)*GI + i and cell element (c, c', ky%ckh, kx%ckw)."""
    import torch
    O, Cg, kh, kw, co, ci, ckh, ckw, M = op.params[:9]
    GO, GI, GS = O // co, Cg // ci, (kh // ckh) * (kw // ckw)
    nlm = GO * GI * GS
    n = alpha.shape[0]
    E = T(0).reshape(M, co * ci * ckh * ckw)
    mixed = alpha.double().reshape(n, nlm, M) @ E          # [n, nlm, cell elements]
    oc, ic, ky, kx = np.meshgrid(np.arange(O), np.arange(Cg), np.arange(kh), np.arange(kw),
                                 indexing="ij")
    o, c, i, cc = oc // co, oc % co, ic // ci, ic % ci
    s = (ky // ckh) * (kw // ckw) + kx // ckw
    row = (s * GO + o) * GI + i
    elem = ((c * ci + cc) * ckh + ky % ckh) * ckw + kx % ckw
    flat = torch.from_numpy((row * (co * ci * ckh * ckw) + elem).reshape(-1))
    w = mixed.reshape(n, -1)[:, flat]
    return w.reshape(n, O * Cg * kh * kw, 1, 1)


def _conv2d(op, T, x, wv, res):
    import torch
    import torch.nn.functional as F
    O, kh, kw, sh, sw, ph, pw, dh, dw, G, act, C = op.params[:12]
    kwargs = dict(stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=G)
    if wv is None:
        y = F.conv2d(x.double(), T(0), **kwargs)
    else:   # one kernel per sample
        ws = wv.reshape(x.shape[0], O, C // G, kh, kw)
        y = torch.cat([F.conv2d(x[j:j + 1].double(), ws[j].double(), **kwargs)
                       for j in range(x.shape[0])])
    if op.tensors[1] is not None:
        y = y * T(1).reshape(1, -1, 1, 1)
    if op.tensors[2] is not None:
        y = y + T(2).reshape(1, -1, 1, 1)
    if res is not None:
        y = y + res
    return _act(y, act)


def run_model(model: Model, x) -> np.ndarray:
    """Run a model on input x [N, C, H, W] (float64 internally); returns the output as a
    float32 numpy array [N, C, H, W]."""
    import torch
    import torch.nn.functional as F
    values = [torch.as_tensor(np.asarray(x, dtype=np.float64))]
    for op in model.ops:
        def T(slot, op=op):
            return torch.from_numpy(model.tensors[op.tensors[slot]].astype(np.float64))
        ins = [None if v is None else values[v] for v in op.inputs + [None] * 3]
        p = op.params
        if op.type == OP_CONV2D:
            y = _conv2d(op, T, ins[0], ins[1], ins[2])
        elif op.type == OP_KW_ATTENTION:
            y = _attention(op, T, ins[0])
        elif op.type == OP_KW_ASSEMBLE:
            y = _assemble(op, T, ins[0])
        elif op.type == OP_MAXPOOL2D:
            y = F.max_pool2d(ins[0], (p[0], p[1]), (p[2], p[3]), (p[4], p[5]),
                             ceil_mode=bool(p[6]))
        elif op.type == OP_AVGPOOL2D:
            y = F.avg_pool2d(ins[0], (p[0], p[1]), (p[2], p[3]), (p[4], p[5]),
                             ceil_mode=bool(p[6]), count_include_pad=bool(p[7]))
        elif op.type == OP_GLOBAL_AVGPOOL:
            y = ins[0].mean(dim=(2, 3), keepdim=True)
        elif op.type == OP_ADD:
            y = _act(ins[0] + ins[1], p[0])
        elif op.type == OP_SOFTMAX:
            y = torch.softmax(ins[0], dim=1)
        elif op.type == OP_LAYERNORM:
            w = T(0).reshape(2, -1)
            y = _layernorm(ins[0], w[0], w[1], bits_f32(p[1]))
        else:
            raise ModelFormatError(f"unknown op type {op.type}")
        values.append(y)
    return values[-1].float().numpy()


def summary(model: Model) -> str:
    """A short human-readable listing of the op list (for debugging)."""
    lines = [f"{model.meta.name}: input {model.meta.input_c}x{model.meta.input_h}x"
             f"{model.meta.input_w}, {model.meta.num_classes} classes, "
             f"{len(model.tensors)} tensors "
             f"({sum(t.size for t in model.tensors)} floats), {len(model.ops)} ops"]
    for k, op in enumerate(model.ops):
        name = OP_NAMES.get(op.type, str(op.type))
        lines.append(f"  v{k + 1} = {name}({', '.join('-' if v is None else f'v{v}' for v in op.inputs)})"
                     f" params={op.params[:12]}")
    return "\n".join(lines)
