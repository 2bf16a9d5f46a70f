"""models.py - the networks kwvk converts, with the module names of the official
KernelWarehouse code (so state_dicts load both ways), built from a config dict like the
official JSON configs:

    {"model": "kw_resnet18", "reduction": 0.0625, "cell_num_ratio": 1,
     "cell_inplane_ratio": 1, "cell_outplane_ratio": 1, "sharing_range": "layer_conv",
     "nonlocal_basis_ratio": 1, "num_classes": 1000}

Architectures (see ARCHS): resnet18, resnet50, mobilenetv2_050, mobilenetv2_100 (static);
kw_resnet18, kw_resnet50, kw_mobilenetv2_050, kw_mobilenetv2_100, kw1d2x_mobilenetv2_050,
kw1d2x_mobilenetv2_100, kw_convnext_tiny (KernelWarehouse); convnext_tiny (static);
convnext and kw_convnext (ConvNeXt of any "depths" / "dims" in the config, for small
tests); resnet_fm, kw_resnet_fm (small ResNets for
1x28x28 Fashion-MNIST); kw_probe (one or two KW layers, for op tests).

Dropout and drop-path are identity at eval and are left out (or kept as Dropout modules,
which have no parameters). No timm.
"""
import torch
import torch.nn as nn

from .kw import KWConvNd, KWLinear, WarehouseManager

KW_KEYS = ("reduction", "cell_num_ratio", "cell_inplane_ratio", "cell_outplane_ratio",
           "sharing_range", "nonlocal_basis_ratio", "spatial_partition")


class LayerMaker:
    """Creates convs and linears: KW ones through the warehouse manager when there is one
    (and the layer is enabled), plain PyTorch ones otherwise."""

    def __init__(self, manager=None):
        self.manager = manager

    def conv(self, cin, cout, k, stride=1, padding=0, groups=1, bias=False, dilation=1,
             warehouse=None, enabled=True):
        if self.manager is None or warehouse is None or not enabled:
            return nn.Conv2d(cin, cout, k, stride=stride, padding=padding, dilation=dilation,
                             groups=groups, bias=bias)
        return self.manager.reserve(cin, cout, k, stride, padding, dilation, groups, bias,
                                    warehouse_name=warehouse)

    def linear(self, cin, cout, bias=True, warehouse=None):
        if self.manager is None or warehouse is None:
            return nn.Linear(cin, cout, bias=bias)
        return self.manager.reserve(cin, cout, 1, bias=bias, warehouse_name=warehouse,
                                    layer_type="linear")


def _init_static(net):
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d,)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# ---------------------------------------------------------------------------------------
# ResNet (ImageNet and the small Fashion-MNIST variant)
# ---------------------------------------------------------------------------------------
# KW naming (docs/kw-math.md section 5): layers are named stage{s}_layer{l}_conv{c}; with sharing
# ("layer", "conv") there is one warehouse per stage. A stage's first block takes its
# conv1 from the previous stage's warehouse ("handover"), and so does a stride-2
# downsample. ResNet50's stage-0 conv1 and stride-1 downsample stay plain.

def _wname(stage, layer, conv):
    return f"stage{stage}_layer{layer}_conv{conv}"


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, make, inplanes, planes, stride, downsample, stage, layer, handover):
        super().__init__()
        c1_stage = max(stage - 1 if handover else stage, 0)
        self.conv1 = make.conv(inplanes, planes, 3, stride, 1,
                               warehouse=_wname(c1_stage, layer, 0))
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        l2 = 0 if handover else layer
        self.conv2 = make.conv(planes, planes, 3, 1, 1, warehouse=_wname(stage, l2, 1))
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample     # registered last: modules() order matters for KW

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        skip = x if self.downsample is None else self.downsample(x)
        return self.relu(skip + out)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, make, inplanes, planes, stride, downsample, stage, layer, handover):
        super().__init__()
        c1_stage = stage - 1 if handover else stage
        self.conv1 = make.conv(inplanes, planes, 1, warehouse=_wname(c1_stage, layer, 0),
                               enabled=c1_stage >= 0)
        self.bn1 = nn.BatchNorm2d(planes)
        l2 = 0 if handover else layer
        self.conv2 = make.conv(planes, planes, 3, stride, 1, warehouse=_wname(stage, l2, 1))
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = make.conv(planes, planes * 4, 1, warehouse=_wname(stage, l2, 2))
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        skip = x if self.downsample is None else self.downsample(x)
        return self.relu(skip + out)


class ResNet(nn.Module):
    """ResNet with official module names. stem "imagenet": 7x7/2 conv + 3x3/2 max pool;
    stem "small": 3x3/1 conv + 3x3/2 max pool (for 28x28 inputs). Stage s > 0 has stride 2.
    kw: dict of WarehouseManager settings, or None for the static network."""

    def __init__(self, block, layers, widths=(64, 128, 256, 512), num_classes=1000,
                 in_chans=3, stem="imagenet", stem_width=None, kw=None, kw_overrides=None):
        super().__init__()
        if kw is not None:
            self.warehouse_manager = WarehouseManager(**kw)
            make = LayerMaker(self.warehouse_manager)
        else:
            make = LayerMaker(None)
        self.block = block
        self.stem = stem
        stem_width = stem_width or widths[0]
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_chans, stem_width, 7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_chans, stem_width, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.inplanes = stem_width
        self._layer_idx = 0
        for s, (w, n) in enumerate(zip(widths, layers)):
            stage = self._make_stage(make, block, w, n, 1 if s == 0 else 2, s)
            setattr(self, f"layer{s + 1}", stage)
        self.num_stages = len(widths)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        if kw is not None:
            self.dropout = nn.Dropout(0.0)
        self.fc = nn.Linear(widths[-1] * block.expansion, num_classes)
        _init_static(self)
        if kw is not None:
            self.warehouse_manager.build(self, kw_overrides)

    def _make_stage(self, make, block, planes, blocks, stride, stage):
        downsample = None
        out = planes * block.expansion
        if stride != 1 or self.inplanes != out:
            downsample = nn.Sequential(
                make.conv(self.inplanes, out, 1, stride, 0,
                          warehouse=_wname(stage - 1, self._layer_idx + 1, 0),
                          enabled=stride != 1),
                nn.BatchNorm2d(out))
        seq = [block(make, self.inplanes, planes, stride, downsample, stage, self._layer_idx,
                     True)]
        self._layer_idx = 1
        self.inplanes = out
        for _ in range(1, blocks):
            seq.append(block(make, self.inplanes, planes, 1, None, stage, self._layer_idx,
                             False))
            self._layer_idx += 1
        return nn.Sequential(*seq)

    def stages(self):
        return [getattr(self, f"layer{s + 1}") for s in range(self.num_stages)]

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage in self.stages():
            x = stage(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


# ---------------------------------------------------------------------------------------
# MobileNetV2
# ---------------------------------------------------------------------------------------

MBV2_SETTING = [  # expansion t, channels c, blocks n, stride s
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
MBV2_KW_STAGE = [1, 2, 3, 4, 5, 6, 6]   # KW stage of each row above


def make_divisible(v, divisor=8):
    """MobileNet channel rounding: nearest multiple of divisor, never 10% below v."""
    out = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if out < 0.9 * v:
        out += divisor
    return out


class ConvBNReLU(nn.Sequential):
    def __init__(self, make, cin, cout, k=3, stride=1, groups=1, warehouse=None, enabled=True):
        super().__init__(
            make.conv(cin, cout, k, stride, (k - 1) // 2, groups=groups, warehouse=warehouse,
                      enabled=enabled),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, make, inp, oup, stride, expand, stage, layer, pw_enabled=True):
        super().__init__()
        hidden = int(round(inp * expand))
        self.use_res_connect = stride == 1 and inp == oup
        name = f"stage{stage}_layer{layer}_"
        seq = []
        if expand != 1:
            seq.append(ConvBNReLU(make, inp, hidden, 1, warehouse=name + "pwconv0",
                                  enabled=pw_enabled))
        seq += [ConvBNReLU(make, hidden, hidden, 3, stride, groups=hidden,
                           warehouse=name + "dwconv0"),
                make.conv(hidden, oup, 1, warehouse=name + "pwconv1", enabled=pw_enabled),
                nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*seq)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


KW1D2X_SETTINGS = dict(   # fixed by kw1d2x_mobilenetv2 (one entry per warehouse)
    reduction=0.03125,
    cell_num_ratio=(1, 1, 1, 1, 1, 1, 0.5, 1, 0.5, 0.5),
    cell_inplane_ratio=(1, 1, 1, 1, 1, 1, 0.5, 1, 0.5, 0.025),
    cell_outplane_ratio=(1, 1, 1, 1, 1, 1, 0.5, 1, 0.5, 1),
    sharing_range=tuple("layer"))
KW1D2X_PW_ENABLED = [False, False, False, False, False, True, True]   # per KW stage - 1


class MobileNetV2(nn.Module):
    """variant "static" (classifier.1 = Linear), "kw" (everything KW but the classifier,
    which is `classifier` itself) or "kw1d2x" (1x1 convs plain outside stage 6, classifier.1
    a KWLinear with bias)."""

    def __init__(self, width_mult=1.0, num_classes=1000, variant="static", kw=None,
                 kw_overrides=None, in_chans=3):
        super().__init__()
        self.variant = variant
        if variant != "static":
            self.warehouse_manager = WarehouseManager(**kw)
            make = LayerMaker(self.warehouse_manager)
        else:
            make = LayerMaker(None)
        pw_on = KW1D2X_PW_ENABLED if variant == "kw1d2x" else [True] * 7
        cin = make_divisible(32 * width_mult)
        self.last_channel = make_divisible(1280 * max(1.0, width_mult))
        feats = [ConvBNReLU(make, in_chans, cin, 3, 2, warehouse="stage0_conv0")]
        layer = 0
        for row, (t, c, n, s) in enumerate(MBV2_SETTING):
            cout = make_divisible(c * width_mult)
            for i in range(n):
                handover = i == 0 and row > 0 and MBV2_KW_STAGE[row] != MBV2_KW_STAGE[row - 1]
                stage = MBV2_KW_STAGE[row] - 1 if handover else MBV2_KW_STAGE[row]
                feats.append(InvertedResidual(make, cin, cout, s if i == 0 else 1, t, stage,
                                              layer, pw_enabled=pw_on[stage - 1]))
                cin = cout
                layer = 0 if handover else layer + 1
        feats.append(ConvBNReLU(make, cin, self.last_channel, 1,
                                warehouse=f"stage{MBV2_KW_STAGE[-1]}_layer{layer}_pwconv1"))
        self.features = nn.Sequential(*feats)
        if variant == "kw":
            self.dropout = nn.Identity()
            self.classifier = nn.Linear(self.last_channel, num_classes)
        elif variant == "kw1d2x":
            self.classifier = nn.Sequential(
                nn.Dropout(0.1), make.linear(self.last_channel, num_classes, bias=True,
                                             warehouse="classifier"))
        else:
            self.classifier = nn.Sequential(nn.Dropout(0.0),
                                            nn.Linear(self.last_channel, num_classes))
        _init_static(self)
        if variant != "static":
            self.warehouse_manager.build(self, kw_overrides)

    def forward(self, x):
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, 1).reshape(x.shape[0], -1)
        return self.classifier(x)


# ---------------------------------------------------------------------------------------
# ConvNeXt
# ---------------------------------------------------------------------------------------
# Stem: 4x4 stride-4 conv + channels-first LayerNorm; stages i > 0 start with a
# channels-first LayerNorm + 2x2 stride-2 conv. A block: depthwise 7x7 -> LayerNorm over
# the channels -> pointwise 4x (GELU) -> pointwise back -> layer scale gamma -> residual.
# Static blocks hold the pointwise convs as nn.Linear on channels-last maps and gamma as
# [C]; KW blocks hold KW 1x1 convs and gamma as [1, C, 1, 1] (the official layouts). KW
# warehouse names: stage{i}_layer{j}_dwconv0 / _pwconv1 / _pwconv2, stage{i}_layerds_conv0
# for the downsampling convs and stagestem_conv0 for the stem; all convs have a bias.

CONVNEXT_TINY = dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768))


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of an NCHW map (the official channels_first LayerNorm:
    parameters `weight` and `bias`)."""

    def __init__(self, channels, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = nn.functional.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    def __init__(self, make, dim, stage, layer, kw):
        super().__init__()
        name = f"stage{stage}_layer{layer}_"
        self.kw = kw
        self.dwconv = make.conv(dim, dim, 7, 1, 3, groups=dim, bias=True,
                                warehouse=name + "dwconv0")
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        if kw:
            self.pwconv1 = make.conv(dim, 4 * dim, 1, bias=True, warehouse=name + "pwconv1")
        else:
            self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        if kw:
            self.pwconv2 = make.conv(4 * dim, dim, 1, bias=True, warehouse=name + "pwconv2")
            self.gamma = nn.Parameter(torch.full((1, dim, 1, 1), 1e-6))
        else:
            self.pwconv2 = nn.Linear(4 * dim, dim)
            self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x):
        inp = x
        x = self.dwconv(x).permute(0, 2, 3, 1)
        x = self.norm(x)
        if self.kw:
            x = x.permute(0, 3, 1, 2)
            x = self.gamma * self.pwconv2(self.act(self.pwconv1(x)))
        else:
            x = (self.gamma * self.pwconv2(self.act(self.pwconv1(x)))).permute(0, 3, 1, 2)
        return inp + x


class ConvNeXt(nn.Module):
    """ConvNeXt with the official module names; kw: WarehouseManager settings (the
    attention's hidden norm is LayerNorm, as in the official KW ConvNeXt) or None."""

    def __init__(self, depths=(3, 3, 9, 3), dims=(96, 192, 384, 768), num_classes=1000,
                 in_chans=3, kw=None, kw_overrides=None):
        super().__init__()
        if len(depths) != len(dims) or not depths:
            raise ValueError(f"depths {list(depths)} and dims {list(dims)} differ in length")
        if kw is not None:
            self.warehouse_manager = WarehouseManager(hidden_norm="layernorm", **kw)
            make = LayerMaker(self.warehouse_manager)
        else:
            make = LayerMaker(None)
        self.is_kw = kw is not None
        self.downsample_layers = nn.ModuleList()
        self.downsample_layers.append(nn.Sequential(
            make.conv(in_chans, dims[0], 4, 4, 0, bias=True, warehouse="stagestem_conv0"),
            LayerNorm2d(dims[0])))
        for i in range(len(dims) - 1):
            self.downsample_layers.append(nn.Sequential(
                LayerNorm2d(dims[i]),
                make.conv(dims[i], dims[i + 1], 2, 2, 0, bias=True,
                          warehouse=f"stage{i}_layerds_conv0")))
        self.stages = nn.ModuleList(
            nn.Sequential(*[ConvNeXtBlock(make, dims[i], i, j, self.is_kw)
                            for j in range(depths[i])]) for i in range(len(dims)))
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], num_classes)
        for m in self.modules():      # (the KW attentions are created later, by build)
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        if kw is not None:
            self.warehouse_manager.build(self, kw_overrides)

    def forward(self, x):
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))
        return self.head(self.norm(x.mean(dim=(2, 3))))


# ---------------------------------------------------------------------------------------
# Probe: one (or two) KW layers for op-level tests
# ---------------------------------------------------------------------------------------

class KWProbe(nn.Module):
    """input [N, input_channels, H, W] -> [stem: plain 3x3 conv + ReLU to C channels, when
    input_channels != C (kwvk model inputs have at most 4 channels)] -> KW layer
    (`layer`, conv2d or linear) -> [bn] -> [act] -> [second KW conv `layer2` in the same
    warehouse -> [bn2] -> [act]]. A linear probe global-average-pools first and outputs
    [N, O] (the converter emits it as [N, O, 1, 1])."""

    def __init__(self, cfg, kw_overrides=None):
        super().__init__()
        C, O = int(cfg["in_channels"]), int(cfg["out_channels"])
        self.layer_type = cfg.get("layer_type", "conv2d")
        self.input_channels = int(cfg.get("input_channels", C if C <= 4 else 3))
        self.act = cfg.get("act", "none")
        kw = {k: cfg[k] for k in KW_KEYS if k in cfg}
        self.warehouse_manager = WarehouseManager(**kw)
        make = LayerMaker(self.warehouse_manager)
        if self.input_channels != C:
            self.stem = nn.Conv2d(self.input_channels, C, 3, padding=1, bias=True)
        else:
            self.stem = None
        wname = cfg.get("warehouse", "probe_conv0")
        if self.layer_type == "linear":
            self.layer = make.linear(C, O, bias=bool(cfg.get("bias", True)), warehouse=wname)
            self.bn = None
        else:
            self.layer = make.conv(C, O, cfg.get("kernel_size", 3), cfg.get("stride", 1),
                                   cfg.get("padding", 0), groups=cfg.get("groups", 1),
                                   bias=bool(cfg.get("bias", False)),
                                   dilation=cfg.get("dilation", 1), warehouse=wname)
            self.bn = nn.BatchNorm2d(O) if cfg.get("norm", True) else None
        O2 = int(cfg.get("second_out_channels", 0))
        if O2:
            if self.layer_type == "linear":
                raise ValueError("kw_probe: a second layer needs layer_type conv2d")
            k2 = int(cfg.get("second_kernel_size", 3))
            self.layer2 = make.conv(O, O2, k2, 1, (k2 - 1) // 2, warehouse=wname)
            self.bn2 = nn.BatchNorm2d(O2) if cfg.get("norm", True) else None
        else:
            self.layer2 = None
            self.bn2 = None
        self.warehouse_manager.build(self, kw_overrides)

    def _act(self, x):
        return torch.relu(x) if self.act == "relu" else x

    def forward(self, x):
        if self.stem is not None:
            x = torch.relu(self.stem(x))
        if self.layer_type == "linear":
            return self.layer(x.mean(dim=(2, 3)))
        x = self.layer(x)
        if self.bn is not None:
            x = self.bn(x)
        x = self._act(x)
        if self.layer2 is not None:
            x = self.layer2(x)
            if self.bn2 is not None:
                x = self.bn2(x)
            x = self._act(x)
        return x


# ---------------------------------------------------------------------------------------
# Registry and builder
# ---------------------------------------------------------------------------------------

FM_WIDTHS = (32, 64, 128)     # resnet_fm defaults (see docs/parity.md for the param counts)
FM_BLOCKS = (1, 1, 1)
FM_MEAN, FM_STD = 0.2860, 0.3530   # Fashion-MNIST training set, pixels in [0, 1]

ARCHS = {
    # name: (family, defaults)
    "resnet18": ("resnet", dict(block="basic", layers=(2, 2, 2, 2))),
    "resnet50": ("resnet", dict(block="bottleneck", layers=(3, 4, 6, 3))),
    "kw_resnet18": ("kw_resnet", dict(block="basic", layers=(2, 2, 2, 2))),
    "kw_resnet50": ("kw_resnet", dict(block="bottleneck", layers=(3, 4, 6, 3))),
    "mobilenetv2_050": ("mobilenetv2", dict(width_mult=0.5, variant="static")),
    "mobilenetv2_100": ("mobilenetv2", dict(width_mult=1.0, variant="static")),
    "kw_mobilenetv2_050": ("mobilenetv2", dict(width_mult=0.5, variant="kw")),
    "kw_mobilenetv2_100": ("mobilenetv2", dict(width_mult=1.0, variant="kw")),
    "kw1d2x_mobilenetv2_050": ("mobilenetv2", dict(width_mult=0.5, variant="kw1d2x")),
    "kw1d2x_mobilenetv2_100": ("mobilenetv2", dict(width_mult=1.0, variant="kw1d2x")),
    "convnext_tiny": ("convnext", dict(kw=False, **CONVNEXT_TINY)),
    "kw_convnext_tiny": ("convnext", dict(kw=True, **CONVNEXT_TINY)),
    "convnext": ("convnext", dict(kw=False, **CONVNEXT_TINY)),
    "kw_convnext": ("convnext", dict(kw=True, **CONVNEXT_TINY)),
    "resnet_fm": ("resnet_fm", dict(kw=False)),
    "kw_resnet_fm": ("resnet_fm", dict(kw=True)),
    "kw_probe": ("probe", dict()),
}

IMAGENET_ARCHS = [a for a, (fam, _) in ARCHS.items() if fam in ("resnet", "kw_resnet",
                                                                    "mobilenetv2")] + \
    ["convnext_tiny", "kw_convnext_tiny"]


def kw_settings(cfg, default_sharing):
    """WarehouseManager settings from a config; absent (or None) keys take the model's
    defaults (reduction 0.0625, ratios 1, sharing `default_sharing`)."""
    out = {"sharing_range": default_sharing}
    for k in KW_KEYS:
        if cfg.get(k) is not None:
            out[k] = cfg[k]
    return out


def build_model(cfg, kw_overrides=None):
    """Build an architecture from a config dict (see module docstring). kw_overrides (from
    the converter) fixes warehouse and attention sizes to a checkpoint's."""
    name = cfg.get("model")
    if name not in ARCHS:
        raise ValueError(f"unknown architecture {name!r} (known: {', '.join(ARCHS)})")
    family, d = ARCHS[name]
    nc = int(cfg.get("num_classes", 10 if family == "resnet_fm" else 1000))
    if family in ("resnet", "kw_resnet"):
        block = BasicBlock if d["block"] == "basic" else Bottleneck
        kw = kw_settings(cfg, ("layer", "conv")) if family == "kw_resnet" else None
        return ResNet(block, d["layers"], num_classes=nc, kw=kw, kw_overrides=kw_overrides)
    if family == "mobilenetv2":
        if d["variant"] == "kw1d2x":
            kw = dict(KW1D2X_SETTINGS)      # the official model ignores the config here
        elif d["variant"] == "kw":
            kw = kw_settings(cfg, ("layer", "pwconv"))
        else:
            kw = None
        return MobileNetV2(d["width_mult"], nc, d["variant"], kw, kw_overrides)
    if family == "convnext":
        kw = kw_settings(cfg, ("layer", "pwconv")) if d["kw"] else None
        depths = d["depths"] if name.endswith("_tiny") else cfg.get("depths", d["depths"])
        dims = d["dims"] if name.endswith("_tiny") else cfg.get("dims", d["dims"])
        return ConvNeXt(tuple(depths), tuple(dims), num_classes=nc,
                        in_chans=int(cfg.get("in_chans", 3)), kw=kw, kw_overrides=kw_overrides)
    if family == "resnet_fm":
        kw = kw_settings(cfg, "layer_conv") if d["kw"] else None
        return ResNet(BasicBlock, tuple(cfg.get("blocks", FM_BLOCKS)),
                      widths=tuple(cfg.get("widths", FM_WIDTHS)), num_classes=nc,
                      in_chans=int(cfg.get("in_chans", 1)), stem="small", kw=kw,
                      kw_overrides=kw_overrides)
    if family == "probe":
        return KWProbe(cfg, kw_overrides)
    raise AssertionError(family)


def is_kw_arch(name):
    family, d = ARCHS[name]
    return family in ("kw_resnet", "probe") or bool(d.get("kw")) or \
        d.get("variant", "static") != "static"


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def has_kw(model):
    return any(isinstance(m, (KWConvNd, KWLinear)) for m in model.modules())
