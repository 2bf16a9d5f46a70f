"""convert.py - PyTorch checkpoint -> kwvk model file (docs/model-format.md).

    convert_checkpoint(arch, config_path, checkpoint_path, out_path, labels_path=None)

is what tools/kwvk-convert runs. Steps:
  1. load the checkpoint safely (checkpoint.py) and take its state_dict (the `model` entry
     of an official training checkpoint, or a plain state_dict; a DataParallel `module.`
     prefix is dropped, timm's MobileNetV2 key names are mapped to the official ones, which
     are also torchvision's); training-only entries (num_batches_tracked, temp) are dropped;
     without --kw-config the `args` an official checkpoint stores serve as the config;
  2. build our PyTorch network (models.py) with every size read from the checkpoint
     tensors: the number of classes, the warehouse cell shapes, the attention hidden sizes
     and basis sizes. The config supplies only what tensors cannot tell (sharing_range,
     cell_num_ratio for start_cell_idx, ...; reduction defaults to 0.0625);
  3. check that every key exists with the right shape (one-line error otherwise), load it;
  4. walk the module tree and emit ops:
       static conv (+ BatchNorm2d folded into weight and bias, ReLU/ReLU6, residual add)
       KW conv -> kw_attention (BatchNorm1d folded into fc1) -> kw_assemble (warehouse as
                  [M, co, ci, ckh*ckw]) -> conv2d with the kernel as value input 1 and the
                  following BatchNorm2d as per-channel scale / bias
       max pool, global average pool, classifier as a 1x1 conv2d on [N, C, 1, 1]
       (KWLinear: the same three KW ops on [N, C, 1, 1]);
       ConvNeXt: LayerNorm over the channels as `layernorm` ops, GELU as the activation of
       pwconv1, layer scale gamma as pwconv2's epilogue scale (bias gamma*b) with the
       residual; the KW attention's LayerNorm hidden norm as kw_attention's norm mode.
"""
import json
import re

import numpy as np
import torch
import torch.nn as nn

from . import modelfile as mf
from .checkpoint import CheckpointError, load_checkpoint
from .kw import KWConv1d, KWConv2d, KWConvNd, KWLinear
from .models import (ARCHS, FM_MEAN, FM_STD, BasicBlock, Bottleneck, ConvBNReLU, ConvNeXt,
                     InvertedResidual, KWProbe, LayerNorm2d, MobileNetV2, ResNet, build_model,
                     is_kw_arch)

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
TRAINING_ONLY = ("num_batches_tracked", "temp_bias", "temp_value", "temp")
CONFIG_KEYS = ("model", "num_classes", "reduction", "cell_num_ratio", "cell_inplane_ratio",
               "cell_outplane_ratio", "sharing_range", "nonlocal_basis_ratio",
               "spatial_partition")


class ConvertError(Exception):
    """A problem with the user's input; the message is one line."""


# ---------------------------------------------------------------------------------------
# Inputs: config, checkpoint, labels
# ---------------------------------------------------------------------------------------

def read_config(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConvertError(f"cannot read config {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConvertError(f"config {path} is not UTF-8 text") from None
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConvertError(f"config {path} is not valid JSON: {e.msg} at line {e.lineno} "
                           f"column {e.colno}") from None
    if not isinstance(cfg, dict):
        raise ConvertError(f"config {path} must be a JSON object, got {type(cfg).__name__}")
    return cfg


def read_labels(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConvertError(f"cannot read labels {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConvertError(f"labels {path} are not UTF-8 text") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln.rstrip("\r") for ln in lines]


def _is_state_dict(obj):
    return isinstance(obj, dict) and obj and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def extract_state_dict(obj, path):
    """The state_dict inside a checkpoint object, and the training args if present."""
    args = None
    if isinstance(obj, dict) and "args" in obj and not isinstance(obj["args"], torch.Tensor):
        args = obj["args"]
    if _is_state_dict(obj):
        sd = obj
    elif isinstance(obj, dict):
        sd = None
        for key in ("model", "state_dict", "model_state_dict", "model_ema"):
            if key in obj and _is_state_dict(obj[key]):
                sd = obj[key]
                break
        if sd is None:
            keys = ", ".join(list(map(str, obj))[:6])
            raise ConvertError(f"checkpoint {path} holds no state_dict (looked for a 'model' "
                               f"entry or a dict of tensors; top-level keys: {keys})")
    else:
        raise ConvertError(f"checkpoint {path} holds a {type(obj).__name__}, not a state_dict")
    return sd, args


def clean_state_dict(sd):
    """Drop training-only entries and a DataParallel 'module.' prefix; float32 tensors."""
    keys = list(sd)
    if keys and all(k.startswith("module.") for k in keys):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    out = {}
    for k, v in sd.items():
        if k.rsplit(".", 1)[-1] in TRAINING_ONLY:
            continue
        if not v.is_floating_point():
            raise ConvertError(f"key '{k}' holds {v.dtype} values, expected floating point")
        out[k] = v.detach().to(torch.float32)
    return out


def map_timm_mobilenetv2(sd):
    """timm's mobilenetv2_* key names -> the official/torchvision ones."""
    if "conv_stem.weight" not in sd:
        return sd
    out = {}
    block_ids = sorted({tuple(map(int, m.groups())) for k in sd
                        for m in [re.match(r"blocks\.(\d+)\.(\d+)\.", k)] if m})
    flat = {bid: i + 1 for i, bid in enumerate(block_ids)}
    last = len(block_ids) + 1
    for k, v in sd.items():
        m = re.match(r"blocks\.(\d+)\.(\d+)\.(\w+)\.(.+)$", k)
        if k.startswith("conv_stem."):
            nk = "features.0.0." + k[len("conv_stem."):]
        elif k.startswith("bn1."):
            nk = "features.0.1." + k[len("bn1."):]
        elif k.startswith("conv_head."):
            nk = f"features.{last}.0." + k[len("conv_head."):]
        elif k.startswith("bn2."):
            nk = f"features.{last}.1." + k[len("bn2."):]
        elif k.startswith("classifier."):
            nk = "classifier.1." + k[len("classifier."):]
        elif m:
            f = flat[(int(m.group(1)), int(m.group(2)))]
            first = int(m.group(1)) == 0          # depthwise-separable block: no expansion
            part = m.group(3)
            table = ({"conv_dw": "conv.0.0", "bn1": "conv.0.1", "conv_pw": "conv.1",
                      "bn2": "conv.2"} if first else
                     {"conv_pw": "conv.0.0", "bn1": "conv.0.1", "conv_dw": "conv.1.0",
                      "bn2": "conv.1.1", "conv_pwl": "conv.2", "bn3": "conv.3"})
            if part not in table:
                raise ConvertError(f"unexpected timm key '{k}'")
            nk = f"features.{f}.{table[part]}.{m.group(4)}"
        else:
            raise ConvertError(f"unexpected timm key '{k}'")
        out[nk] = v
    return out


def _namespace_config(args):
    """Config entries from the argparse.Namespace an official checkpoint stores."""
    cfg = {}
    d = vars(args) if hasattr(args, "__dict__") else (args if isinstance(args, dict) else {})
    for k in CONFIG_KEYS:
        if k in d and d[k] is not None and k != "num_classes":
            cfg[k] = d[k]
    return cfg


# ---------------------------------------------------------------------------------------
# Shapes from the checkpoint
# ---------------------------------------------------------------------------------------

def _need(sd, key, arch):
    if key not in sd:
        raise ConvertError(f"checkpoint has no key '{key}' (needed by {arch})")
    return sd[key]


def shapes_from_checkpoint(arch, cfg, sd):
    """Fill in what the architecture takes from tensors: num_classes and, for the small
    ResNets, input channels / widths / blocks per stage."""
    family = ARCHS[arch][0]
    cfg = dict(cfg)
    if family in ("resnet", "kw_resnet", "resnet_fm"):
        cfg["num_classes"] = _need(sd, "fc.weight", arch).shape[0]
    elif family == "convnext":
        cfg["num_classes"] = _need(sd, "head.weight", arch).shape[0]
        cfg["in_chans"] = _stem_in_chans(sd, arch)
        if not arch.endswith("_tiny"):      # depths / dims of a free-size ConvNeXt
            dims, depths = [], []
            while f"stages.{len(dims)}.0.norm.weight" in sd:
                s = len(dims)
                dims.append(sd[f"stages.{s}.0.norm.weight"].shape[0])
                n = 0
                while f"stages.{s}.{n}.norm.weight" in sd:
                    n += 1
                depths.append(n)
            if not dims:
                raise ConvertError(f"checkpoint has no key 'stages.0.0.norm.weight' "
                                   f"(needed by {arch})")
            cfg["dims"], cfg["depths"] = dims, depths
    elif family == "mobilenetv2":
        variant = ARCHS[arch][1]["variant"]
        key = {"kw1d2x": "classifier.1.conv.bias", "kw": "classifier.weight",
               "static": "classifier.1.weight"}[variant]
        cfg["num_classes"] = _need(sd, key, arch).shape[0]
    if family == "resnet_fm":
        cfg["in_chans"] = _need(sd, "conv1.weight", arch).shape[1]
        widths, blocks = [], []
        s = 1
        while f"layer{s}.0.bn2.weight" in sd:
            widths.append(sd[f"layer{s}.0.bn2.weight"].shape[0])
            n = 0
            while f"layer{s}.{n}.bn2.weight" in sd:
                n += 1
            blocks.append(n)
            s += 1
        if not widths:
            raise ConvertError(f"checkpoint has no key 'layer1.0.bn2.weight' (needed by {arch})")
        cfg["widths"], cfg["blocks"] = widths, blocks
    return cfg


def _stem_in_chans(sd, arch):
    if "downsample_layers.0.0.weight" in sd:                 # static stem conv
        return sd["downsample_layers.0.0.weight"].shape[1]
    return _need(sd, "downsample_layers.0.0.attention.fc1.weight", arch).shape[1]


def kw_overrides_from_checkpoint(sd):
    """Warehouse cell shapes and per-layer attention sizes as stored in the checkpoint."""
    cells = {}
    layers = {}
    for k, v in sd.items():
        m = re.fullmatch(r"warehouse_manager\.weights\.(\d+)", k)
        if m:
            cells[int(m.group(1))] = list(v.shape)
            continue
        m = re.fullmatch(r"(.+)\.attention\.(fc1\.weight|fc2\.bias|fc3\.weight)", k)
        if m:
            over = layers.setdefault(m.group(1), {})
            if m.group(2) == "fc1.weight":
                over["hidden"] = v.shape[0]
            elif m.group(2) == "fc2.bias":
                over["num_basis"] = 0
            else:
                over["num_basis"] = v.shape[1]
                over["num_nonlocal"] = v.shape[0]
    return {"cells": cells, "layers": layers, "init_weights": False, "strict": False}


def build_for_checkpoint(arch, cfg, sd):
    """Our network for `cfg`, with KW sizes taken from the checkpoint's tensors."""
    overrides = kw_overrides_from_checkpoint(sd) if is_kw_arch(arch) else None
    try:
        return build_model(cfg, kw_overrides=overrides)
    except (ValueError, IndexError, RuntimeError, KeyError, TypeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConvertError(f"cannot build {arch} from this checkpoint: {msg}") from None


def check_keys(model, sd, arch):
    """Every expected key present with its shape, nothing unexpected."""
    expected = {k: v for k, v in model.state_dict().items()
                if k.rsplit(".", 1)[-1] not in TRAINING_ONLY}
    missing = [k for k in expected if k not in sd]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ConvertError(f"checkpoint has no key '{missing[0]}'{more} (needed by {arch})")
    for k, v in expected.items():
        if tuple(sd[k].shape) != tuple(v.shape):
            raise ConvertError(f"key '{k}' has shape {list(sd[k].shape)}, {arch} needs "
                               f"{list(v.shape)}")
    extra = [k for k in sd if k not in expected]
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise ConvertError(f"unexpected key '{extra[0]}'{more} in the checkpoint for {arch} "
                           "(wrong --arch or sharing_range?)")


# ---------------------------------------------------------------------------------------
# Graph emission
# ---------------------------------------------------------------------------------------

def _f64(t):
    return t.detach().double()


def _bn_scale_shift(bn):
    s = _f64(bn.weight) / torch.sqrt(_f64(bn.running_var) + bn.eps)
    return s, _f64(bn.bias) - _f64(bn.running_mean) * s


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class Emitter:
    """Appends ops for modules to a modelfile.Model; each method returns the value id."""

    def __init__(self, model: mf.Model):
        self.m = model
        self.warehouse_tensor = {}    # (id(manager), warehouse id) -> tensor id

    def tensor(self, t):
        return self.m.add_tensor(t.detach().cpu().double().numpy().astype(np.float32))

    # -- convolutions --------------------------------------------------------------------
    def conv(self, x, layer, bn=None, act=mf.ACT_NONE, residual=None, gamma=None):
        """gamma: a per-output-channel scale of the conv's output (ConvNeXt's layer
        scale), applied in the epilogue: y = gamma * (conv + b), never folded into W."""
        if isinstance(layer, KWLinear):
            return self.kw(x, layer.conv, bn, act, residual, gamma)
        if isinstance(layer, KWConvNd):
            return self.kw(x, layer, bn, act, residual, gamma)
        if isinstance(layer, nn.Linear):
            w = _f64(layer.weight).reshape(layer.out_features, layer.in_features, 1, 1)
            geo = dict(O=layer.out_features, C=layer.in_features, k=(1, 1), s=(1, 1),
                       p=(0, 0), d=(1, 1), g=1)
            b = _f64(layer.bias) if layer.bias is not None else None
        elif isinstance(layer, nn.Conv2d):
            if isinstance(layer.padding, str) or layer.padding_mode != "zeros":
                raise ConvertError(f"conv padding {layer.padding!r}/{layer.padding_mode} is "
                                   "not supported")
            w = _f64(layer.weight)
            geo = dict(O=layer.out_channels, C=layer.in_channels, k=layer.kernel_size,
                       s=layer.stride, p=layer.padding, d=layer.dilation, g=layer.groups)
            b = _f64(layer.bias) if layer.bias is not None else None
        else:
            raise ConvertError(f"cannot convert a {type(layer).__name__}")
        if bn is not None:
            s, shift = _bn_scale_shift(bn)
            w = w * s.reshape(-1, 1, 1, 1)
            b = shift if b is None else b * s + shift
        ts = None
        if gamma is not None:
            g = _f64(gamma).reshape(-1)
            if bn is not None or g.numel() != geo["O"]:
                raise ConvertError("a layer scale needs a conv without BatchNorm and one "
                                   "value per output channel")
            ts = self.tensor(g)
            if b is not None:
                b = b * g
        tw = self.tensor(w)
        tb = self.tensor(b) if b is not None else None
        return self.m.add_op(mf.OP_CONV2D, [x, None, residual], [tw, ts, tb],
                             self._conv_params(geo, act))

    def layernorm(self, x, norm):
        """LayerNorm over the channels of [N, C, H, W] (nn.LayerNorm over the last dim of
        a channels-last map, or LayerNorm2d)."""
        if isinstance(norm, nn.LayerNorm):
            if len(norm.normalized_shape) != 1 or not norm.elementwise_affine:
                raise ConvertError("only an affine LayerNorm over one dimension converts")
        elif not isinstance(norm, LayerNorm2d):
            raise ConvertError(f"cannot convert a {type(norm).__name__}")
        return self.m.add_op(mf.OP_LAYERNORM, [x],
                             [self.tensor(torch.stack([norm.weight, norm.bias]))],
                             [norm.weight.numel(), mf.f32_bits(norm.eps)])

    @staticmethod
    def _conv_params(geo, act):
        kh, kw = geo["k"]
        return [geo["O"], kh, kw, *geo["s"], *geo["p"], *geo["d"], geo["g"], act, geo["C"]]

    def kw(self, x, layer, bn, act, residual, gamma=None):
        a = layer.attention
        M, co, ci = layer.cell_shape[0], layer.cell_shape[1], layer.cell_shape[2]
        ck = tuple(layer.cell_shape[3:])
        if isinstance(layer, KWConv2d):
            k, s, p, d, ckk = (layer.kernel_size, layer.stride, layer.padding,
                               layer.dilation, ck)
        elif isinstance(layer, KWConv1d):      # as a conv2d of height 1
            k, s, p, d, ckk = ((1,) + layer.kernel_size, (1,) + layer.stride,
                               (0,) + layer.padding, (1,) + layer.dilation, (1,) + ck)
        else:
            raise ConvertError(f"cannot convert a {type(layer).__name__}")
        if isinstance(a.norm1, nn.LayerNorm):
            # LayerNorm cannot be folded: kw_attention normalises the hidden vector itself;
            # tensor 1 holds [3, hidden]: fc1's bias, the LayerNorm's weight and bias
            fc1_w = self.tensor(a.fc1.weight)
            b1 = a.fc1.bias if a.fc1.bias is not None else torch.zeros(a.hidden)
            fc1_b = self.tensor(torch.stack([b1, a.norm1.weight, a.norm1.bias]))
            norm_params = [mf.ATT_NORM_LAYERNORM, mf.f32_bits(a.norm1.eps)]
        else:
            # attention: BatchNorm1d folded into fc1
            s1, shift1 = _bn_scale_shift(a.norm1)
            fc1_w = self.tensor(_f64(a.fc1.weight) * s1.reshape(-1, 1))
            fc1_b = self.tensor(shift1 if a.fc1.bias is None else
                                _f64(a.fc1.bias) * s1 + shift1)
            norm_params = []
        fc2_w = self.tensor(a.fc2.weight)
        if a.num_basis == 0:
            tens = [fc1_w, fc1_b, fc2_w, self.tensor(a.fc2.bias), None, None]
            nlc, nb, start = 0, 0, 0
        else:
            nlc, nb = a.num_local_cells, a.num_basis
            start = min(a.start_cell_idx, M - nlc)     # same placement as the slicing
            fc3 = self.tensor(a.fc3.weight) if M - nlc > 0 else None
            tens = [fc1_w, fc1_b, fc2_w, None, fc3, self.tensor(a.basis_bias)]
        att = self.m.add_op(mf.OP_KW_ATTENTION, [x], tens,
                            [a.in_planes, a.hidden, a.num_mixtures, M, nlc, nb, start]
                            + norm_params)
        key = (id(layer._manager[0]), layer.warehouse_id)
        if key not in self.warehouse_tensor:
            cells = layer.warehouse()
            self.warehouse_tensor[key] = self.tensor(
                cells.reshape(M, co, ci, int(np.prod(ck))))
        cg = layer.in_planes // layer.groups
        asm = self.m.add_op(mf.OP_KW_ASSEMBLE, [att], [self.warehouse_tensor[key]],
                            [layer.out_planes, cg, k[0], k[1], co, ci, ckk[0], ckk[1], M])
        scale = shift = None
        if bn is not None:
            scale, shift = _bn_scale_shift(bn)
            if layer.bias is not None:
                shift = shift + _f64(layer.bias) * scale
        elif layer.bias is not None:
            shift = _f64(layer.bias)
        if gamma is not None:
            g = _f64(gamma).reshape(-1)
            if bn is not None or g.numel() != layer.out_planes:
                raise ConvertError("a layer scale needs a conv without BatchNorm and one "
                                   "value per output channel")
            scale = g
            shift = shift * g if shift is not None else None
        geo = dict(O=layer.out_planes, C=layer.in_planes, k=k, s=s, p=p, d=d, g=layer.groups)
        return self.m.add_op(mf.OP_CONV2D, [x, asm, residual],
                             [None, self.tensor(scale) if scale is not None else None,
                              self.tensor(shift) if shift is not None else None],
                             self._conv_params(geo, act))

    # -- the rest ------------------------------------------------------------------------
    def maxpool(self, x, pool):
        k, s, p = _pair(pool.kernel_size), _pair(pool.stride or pool.kernel_size), \
            _pair(pool.padding)
        if _pair(pool.dilation) != (1, 1):
            raise ConvertError("dilated max pooling is not supported")
        return self.m.add_op(mf.OP_MAXPOOL2D, [x], [],
                             [*k, *s, *p, int(pool.ceil_mode), 0])

    def global_avgpool(self, x):
        return self.m.add_op(mf.OP_GLOBAL_AVGPOOL, [x])


def emit_resnet(E, net, x):
    x = E.conv(x, net.conv1, net.bn1, mf.ACT_RELU)
    x = E.maxpool(x, net.maxpool)
    for stage in net.stages():
        for blk in stage:
            skip = x
            if blk.downsample is not None:
                skip = E.conv(x, blk.downsample[0], blk.downsample[1])
            if isinstance(blk, BasicBlock):
                h = E.conv(x, blk.conv1, blk.bn1, mf.ACT_RELU)
                x = E.conv(h, blk.conv2, blk.bn2, mf.ACT_RELU, residual=skip)
            elif isinstance(blk, Bottleneck):
                h = E.conv(x, blk.conv1, blk.bn1, mf.ACT_RELU)
                h = E.conv(h, blk.conv2, blk.bn2, mf.ACT_RELU)
                x = E.conv(h, blk.conv3, blk.bn3, mf.ACT_RELU, residual=skip)
            else:
                raise ConvertError(f"unknown block {type(blk).__name__}")
    x = E.global_avgpool(x)
    return E.conv(x, net.fc)


def emit_mobilenetv2(E, net, x):
    for f in net.features:
        if isinstance(f, ConvBNReLU):
            x = E.conv(x, f[0], f[1], mf.ACT_RELU6)
        elif isinstance(f, InvertedResidual):
            inp = x
            seq = list(f.conv)
            for item in seq[:-2]:
                x = E.conv(x, item[0], item[1], mf.ACT_RELU6)
            x = E.conv(x, seq[-2], seq[-1], mf.ACT_NONE,
                       residual=inp if f.use_res_connect else None)
        else:
            raise ConvertError(f"unknown feature module {type(f).__name__}")
    x = E.global_avgpool(x)
    head = net.classifier
    if isinstance(head, nn.Sequential):
        head = [m for m in head if not isinstance(m, (nn.Dropout, nn.Identity))]
        if len(head) != 1:
            raise ConvertError("unexpected classifier layout")
        head = head[0]
    return E.conv(x, head)


def emit_convnext(E, net, x):
    for i, (down, stage) in enumerate(zip(net.downsample_layers, net.stages)):
        if i == 0:      # stem: conv, LayerNorm
            x = E.layernorm(E.conv(x, down[0]), down[1])
        else:           # LayerNorm, conv
            x = E.conv(E.layernorm(x, down[0]), down[1])
        for blk in stage:
            h = E.layernorm(E.conv(x, blk.dwconv), blk.norm)
            h = E.conv(h, blk.pwconv1, act=mf.ACT_GELU)
            x = E.conv(h, blk.pwconv2, residual=x, gamma=blk.gamma)
    x = E.layernorm(E.global_avgpool(x), net.norm)
    return E.conv(x, net.head)


def emit_probe(E, net, x):
    act = mf.ACT_RELU if net.act == "relu" else mf.ACT_NONE
    if net.stem is not None:
        x = E.conv(x, net.stem, None, mf.ACT_RELU)
    if net.layer_type == "linear":
        x = E.global_avgpool(x)
        return E.conv(x, net.layer, None, mf.ACT_NONE)
    x = E.conv(x, net.layer, net.bn, act)
    if net.layer2 is not None:
        x = E.conv(x, net.layer2, net.bn2, act)
    return x


def to_modelfile(net, meta: mf.Meta) -> mf.Model:
    out = mf.Model(meta)
    E = Emitter(out)
    if isinstance(net, ResNet):
        emit_resnet(E, net, 0)
    elif isinstance(net, MobileNetV2):
        emit_mobilenetv2(E, net, 0)
    elif isinstance(net, KWProbe):
        emit_probe(E, net, 0)
    elif isinstance(net, ConvNeXt):
        emit_convnext(E, net, 0)
    else:
        raise ConvertError(f"no converter for {type(net).__name__}")
    return out


def make_meta(arch, cfg, net, num_outputs, labels=None, input_size=None, name=None):
    family = ARCHS[arch][0]
    if family == "probe":
        h, w = cfg.get("input_size", (9, 11))
        if input_size:
            h, w = input_size
        c = net.input_channels
        return mf.Meta(c, int(h), int(w), num_outputs, [0.0] * c, [1.0] * c, 0, 0,
                       name or arch, labels)
    if family == "resnet_fm":
        c = net.conv1.in_channels
        h, w = input_size or (28, 28)
        return mf.Meta(c, h, w, num_outputs, [FM_MEAN] * c, [FM_STD] * c, 0, 0,
                       name or arch, labels)
    h, w = input_size or (224, 224)
    if family == "convnext":
        # the official eval transform of this family: bicubic resize of the short side to
        # int(size / 0.875), centre crop; from 384 on a bicubic warp to size x size
        c = net.downsample_layers[0][0]
        c = c.in_channels if isinstance(c, nn.Conv2d) else c.in_planes
        if h == w and h >= 384:
            short, crop = 0, 0
        else:
            short, crop = int(min(h, w) / (224 / 256)), (h if h == w else 0)
        return mf.Meta(c, h, w, num_outputs, IMAGENET_MEAN[:c], IMAGENET_STD[:c], short, crop,
                       name or arch, labels, mf.INTERP_BICUBIC)
    short = int(round(min(h, w) * 256 / 224))
    return mf.Meta(3, h, w, num_outputs, IMAGENET_MEAN, IMAGENET_STD, short,
                   h if h == w else 0, name or arch, labels)


# ---------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------

def prepare(arch=None, config_path=None, checkpoint_path=None, config=None, state=None):
    """Load and check everything; returns (arch, cfg, net) with the checkpoint loaded."""
    cfg = {}
    if config_path:
        cfg = read_config(config_path)
    if config:
        cfg.update(config)
    if state is None:
        try:
            obj = load_checkpoint(checkpoint_path)
        except CheckpointError as e:
            raise ConvertError(str(e)) from None
        sd, args = extract_state_dict(obj, checkpoint_path)
    else:
        sd, args = state, None
    if args is not None and not config_path:
        cfg = dict(_namespace_config(args), **cfg)
    cfg_model = cfg.get("model")
    if arch is None:
        arch = cfg_model
        if arch is None:
            raise ConvertError("no architecture: give --arch, or a --kw-config with 'model'")
    elif cfg_model is not None and cfg_model != arch and config_path:
        raise ConvertError(f"--arch {arch} does not match the config's model {cfg_model}")
    if arch not in ARCHS:
        raise ConvertError(f"unknown architecture '{arch}' (known: {', '.join(ARCHS)})")
    cfg["model"] = arch
    sd = clean_state_dict(sd)
    if ARCHS[arch][0] == "mobilenetv2":
        sd = map_timm_mobilenetv2(sd)
    is_kw = is_kw_arch(arch)
    has_wh = any(k.startswith("warehouse_manager.") for k in sd)
    if has_wh and not is_kw:
        raise ConvertError(f"the checkpoint holds KernelWarehouse weights "
                           f"(warehouse_manager.*) but {arch} is a static network")
    if is_kw and not has_wh:
        raise ConvertError(f"the checkpoint has no warehouse_manager.* keys: not a "
                           f"KernelWarehouse {arch} checkpoint (wrong --arch?)")
    cfg = shapes_from_checkpoint(arch, cfg, sd)
    torch.manual_seed(0)
    net = build_for_checkpoint(arch, cfg, sd)
    check_keys(net, sd, arch)
    mgr = getattr(net, "warehouse_manager", None)
    if mgr is not None:
        _check_basis_walk(net, mgr)
    net.load_state_dict(sd, strict=False)   # checked above; num_batches_tracked absent
    net.eval()
    return arch, cfg, net


def _check_basis_walk(net, mgr):
    ends = getattr(mgr, "last_ends", None)
    if ends is None:
        return
    for _, layer in mgr.kw_layers(net):
        wid = layer.warehouse_id
        M = mgr.weights[wid].shape[0]
        if layer.attention.num_basis and ends[wid] != M:
            raise ConvertError(
                f"warehouse_manager.weights.{wid}: with the config's cell_num_ratio its layers "
                f"claim {ends[wid]} of its {M} cells, so the basis-path start cells are "
                "unknown (check cell_num_ratio)")


def convert_checkpoint(arch, config_path, checkpoint_path, out_path, labels_path=None,
                       input_size=None, name=None, config=None):
    """The whole conversion; returns (modelfile.Model, PyTorch net)."""
    arch, cfg, net = prepare(arch, config_path, checkpoint_path, config)
    num_outputs = output_channels(net)
    labels = read_labels(labels_path) if labels_path else None
    if labels is not None and len(labels) != num_outputs:
        raise ConvertError(f"labels file {labels_path} has {len(labels)} lines but the "
                           f"network has {num_outputs} classes")
    meta = make_meta(arch, cfg, net, num_outputs, labels, input_size, name)
    model = to_modelfile(net, meta)
    try:
        mf.write_model(out_path, model)
    except mf.ModelFormatError as e:
        raise ConvertError(f"cannot write {out_path}: {e}") from None
    except OSError as e:
        raise ConvertError(f"cannot write {out_path}: {e.strerror}") from None
    return model, net


def output_channels(net):
    """Channels of the network output (classes, or a probe's feature maps)."""
    def width(layer):
        if isinstance(layer, KWLinear):
            return layer.conv.out_planes
        if isinstance(layer, KWConvNd):
            return layer.out_planes
        if isinstance(layer, nn.Linear):
            return layer.out_features
        return layer.out_channels
    if isinstance(net, ResNet):
        return width(net.fc)
    if isinstance(net, MobileNetV2):
        head = net.classifier
        return width(head[-1] if isinstance(head, nn.Sequential) else head)
    if isinstance(net, KWProbe):
        return width(net.layer2 if net.layer2 is not None else net.layer)
    if isinstance(net, ConvNeXt):
        return width(net.head)
    raise ConvertError(f"no converter for {type(net).__name__}")
