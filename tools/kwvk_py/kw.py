"""kw.py - KernelWarehouse (Li & Yao, ICML 2024) layers for PyTorch, as kwvk runs them.

Reproduces the eval-mode forward of the official implementation and its state_dict key
names (the math: docs/kw-math.md); the code is kwvk's own.

    WarehouseManager   records KW layers (reserve), creates the warehouses (store) and
                       gives every layer its attention and first cell (allocate)
    KWConv1d/2d        dynamic convolutions whose kernel is mixed from warehouse cells
    KWLinear           a KW 1-d convolution with kernel 1 (keys under `<name>.conv.`)
    KWAttention        the per-sample mixing weights

Key names produced (per KW layer `<L>`):
    <L>.attention.fc1.weight, <L>.attention.norm1.{weight,bias,running_mean,running_var,
    num_batches_tracked} (BatchNorm1d hidden norm; with the LayerNorm hidden norm of KW
    ConvNeXt: <L>.attention.fc1.bias, <L>.attention.norm1.{weight,bias}), <L>.attention.fc2.weight, <L>.attention.fc2.bias (standard path)
    or <L>.attention.fc3.weight + <L>.attention.basis_bias (basis path), <L>.bias if any,
    and once per network warehouse_manager.weights.<id>.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

NORM_EPS = 1e-3          # attention normalisation: a = z / (sum |z| + NORM_EPS)
HIDDEN_NORMS = ("batchnorm", "layernorm")   # the attention's norm of its hidden vector


def per_warehouse(value, count, what="setting"):
    """A setting given once or once per warehouse, as a list of `count` entries."""
    if isinstance(value, (list, tuple)):
        if len(value) == 1:
            return [value[0]] * count
        if len(value) == count:
            return list(value)
        raise ValueError(f"{what}: {len(value)} values given for {count} warehouses "
                         f"(give 1 or {count})")
    return [value] * count


def _ntuple(v, n):
    if isinstance(v, (list, tuple)):
        if len(v) == 1:
            return tuple(int(v[0]) for _ in range(n))
        if len(v) != n:
            raise ValueError(f"expected {n} values, got {v}")
        return tuple(int(x) for x in v)
    return tuple(int(v) for _ in range(n))


def cells_claimed(num_mixtures, cell_num_ratio):
    """How many warehouse cells a layer with `num_mixtures` mixtures claims when the
    start indices are handed out (the temperature-init rule of the official code)."""
    if cell_num_ratio >= 1.0:
        return num_mixtures * int(cell_num_ratio)
    k = int(1.0 / cell_num_ratio)
    return sum(1 for r in range(num_mixtures) if r % k == (r // k) % k)


# ---------------------------------------------------------------------------------------
# Attention
# ---------------------------------------------------------------------------------------

class KWAttention(nn.Module):
    """Per-sample attention over the M cells of a warehouse plus one "zero" cell, for each
    of the layer's `num_mixtures` kernel pieces (docs/kw-math.md section 2).

    Standard path (num_basis == 0): fc2 gives all nlm x (M + 1) logits.
    Basis path (num_basis > 0): fc2 gives, per mixture, nlc local logits, nb basis
    coefficients and the zero logit; fc3 maps the basis coefficients onto the M - nlc cells
    of the other layers, which are placed around the local ones at start_cell_idx.
    hidden_norm "batchnorm" (fc1 without bias, BatchNorm1d) or "layernorm" (fc1 with bias,
    LayerNorm of eps 1e-5 over the hidden vector, as the official KW ConvNeXt builds it).
    """

    def __init__(self, in_planes, hidden, num_mixtures, num_cells, num_local_cells=0,
                 num_basis=0, start_cell_idx=0, hidden_norm="batchnorm"):
        super().__init__()
        self.in_planes = int(in_planes)
        self.hidden = int(hidden)
        self.num_mixtures = int(num_mixtures)
        self.num_cells = int(num_cells)
        self.num_local_cells = int(num_local_cells)
        self.num_basis = int(num_basis)
        self.start_cell_idx = int(start_cell_idx)
        width = self.num_cells + 1
        if hidden_norm not in HIDDEN_NORMS:
            raise ValueError(f"hidden_norm {hidden_norm!r} (known: {', '.join(HIDDEN_NORMS)})")
        self.hidden_norm = hidden_norm
        ln = hidden_norm == "layernorm"
        self.fc1 = nn.Linear(self.in_planes, self.hidden, bias=ln)
        self.norm1 = nn.LayerNorm(self.hidden) if ln else nn.BatchNorm1d(self.hidden)
        if self.num_basis == 0:
            self.fc2 = nn.Linear(self.hidden, self.num_mixtures * width, bias=True)
        else:
            if not 0 <= self.num_local_cells <= self.num_cells:
                raise ValueError(f"{self.num_local_cells} local cells in a warehouse of "
                                 f"{self.num_cells}")
            per_row = self.num_local_cells + self.num_basis + 1
            self.fc2 = nn.Linear(self.hidden, self.num_mixtures * per_row, bias=False)
            self.fc3 = nn.Linear(self.num_basis, self.num_cells - self.num_local_cells,
                                 bias=False)
            self.basis_bias = nn.Parameter(torch.zeros(self.num_mixtures * width))
        # training only: the attention is pulled towards temp_bias while temperature > 0
        self.register_buffer("temp_bias", torch.zeros(self.num_mixtures * width),
                             persistent=False)
        self.temperature = 0.0
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def init_temperature(self, start_cell_idx, cell_num_ratio):
        """Point temp_bias of each mixture at the cell it starts from (or, for ratios < 1,
        at the zero cell for the mixtures that get no cell of their own). Returns the cell
        index where the next layer of the warehouse starts."""
        width = self.num_cells + 1
        tb = torch.zeros(self.num_mixtures * width)
        idx = int(start_cell_idx)

        def mark(pos):
            if 0 <= pos < tb.numel():      # a valid warehouse never leaves the range
                tb[pos] = 1.0

        if cell_num_ratio >= 1.0:
            step = int(cell_num_ratio)
            for r in range(self.num_mixtures):
                mark(r * width + idx)
                idx += step
        else:
            k = int(1.0 / cell_num_ratio)
            for r in range(self.num_mixtures):
                if r % k == (r // k) % k:
                    mark(r * width + idx)
                    idx += 1
                else:
                    mark(r * width + width - 1)
        self.temp_bias.copy_(tb)
        return idx

    def _place_basis(self, z, batch):
        nlc, nb = self.num_local_cells, self.num_basis
        rows = z.reshape(-1, nlc + nb + 1)
        local = rows[:, :nlc]
        coeff = rows[:, nlc:nlc + nb]
        zero = rows[:, nlc + nb:]
        others = self.fc3(coeff)                       # [rows, M - nlc]
        s = self.start_cell_idx
        full = torch.cat([others[:, :s], local, others[:, s:], zero], dim=1)
        return full.reshape(batch, -1) + self.basis_bias.reshape(1, -1)

    def forward(self, x):
        batch = x.shape[0]
        g = x.reshape(batch, x.shape[1], -1).mean(dim=-1)      # global average, [N, C]
        h = F.relu(self.norm1(self.fc1(g)))
        z = self.fc2(h)
        if self.num_basis:
            z = self._place_basis(z, batch)
        width = self.num_cells + 1
        z = z.reshape(-1, width)
        z = z / (z.abs().sum(dim=1, keepdim=True) + NORM_EPS)
        t = float(self.temperature)
        if t != 0.0:
            z = ((1.0 - t) * z.reshape(batch, -1) + t * self.temp_bias.reshape(1, -1))
            z = z.reshape(-1, width)
        return z[:, :self.num_cells]                            # [N * nlm, M]


# ---------------------------------------------------------------------------------------
# KW convolutions
# ---------------------------------------------------------------------------------------

class KWConvNd(nn.Module):
    """A convolution whose kernel is assembled per sample from a shared warehouse.

    Geometry (docs/kw-math.md section 1): the kernel [O, C/G, *k] is cut into GO x GI x GS pieces
    of one cell [co, ci, *ck] each; piece (s, o, i) is mixture row (s*GO + o)*GI + i.
    """
    dims = 0
    conv_fn = None

    def __init__(self, in_planes, out_planes, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=False, warehouse_id=0, manager=None):
        super().__init__()
        d = self.dims
        self.in_planes = int(in_planes)
        self.out_planes = int(out_planes)
        self.kernel_size = _ntuple(kernel_size, d)
        self.stride = _ntuple(stride, d)
        self.padding = _ntuple(padding, d)
        self.dilation = _ntuple(dilation, d)
        self.groups = int(groups)
        if self.in_planes % self.groups or self.out_planes % self.groups:
            raise ValueError(f"groups {groups} do not divide {in_planes} -> {out_planes}")
        if bias:
            self.bias = nn.Parameter(torch.zeros(self.out_planes))
        else:
            self.register_parameter("bias", None)
        self.warehouse_id = int(warehouse_id)
        self._manager = (manager,)          # a tuple: the manager is not our child module
        self.cell_shape = None

    @property
    def weight_shape(self):
        return (self.out_planes, self.in_planes // self.groups) + self.kernel_size

    def split(self, cell_shape):
        """(GO, GI, GS) for a warehouse of cells `cell_shape` = [M, co, ci, *ck]."""
        co, ci, ck = cell_shape[1], cell_shape[2], tuple(cell_shape[3:])
        cg = self.in_planes // self.groups
        if len(ck) != self.dims or self.out_planes % co or cg % ci or any(
                k % c for k, c in zip(self.kernel_size, ck)):
            raise ValueError(f"cell {list(cell_shape[1:])} does not tile the kernel "
                             f"{list(self.weight_shape)}")
        gs = 1
        for k, c in zip(self.kernel_size, ck):
            gs *= k // c
        return self.out_planes // co, cg // ci, gs

    def num_mixtures(self, cell_shape):
        go, gi, gs = self.split(cell_shape)
        return go * gi * gs

    def bind(self, cell_shape, start_cell_idx, hidden, num_local_cells, num_basis,
             cell_num_ratio, hidden_norm="batchnorm"):
        """Create the attention for a warehouse of `cell_shape`; returns the end index."""
        self.cell_shape = tuple(int(s) for s in cell_shape)
        self.groups_out, self.groups_in, self.groups_spatial = self.split(self.cell_shape)
        nlm = self.groups_out * self.groups_in * self.groups_spatial
        self.attention = KWAttention(self.in_planes, hidden, nlm, self.cell_shape[0],
                                     num_local_cells, num_basis, start_cell_idx, hidden_norm)
        return self.attention.init_temperature(start_cell_idx, cell_num_ratio)

    def warehouse(self):
        return self._manager[0].weights[self.warehouse_id]

    def assemble(self, alpha, batch):
        """Mix the cells with alpha [N*nlm, M] -> kernels [N*O, C/G, *k]."""
        cells = self.warehouse()
        mixed = torch.mm(alpha, cells.reshape(cells.shape[0], -1))
        co, ci = self.cell_shape[1], self.cell_shape[2]
        ck = self.cell_shape[3:]
        pieces = mixed.reshape(batch, self.groups_spatial, self.groups_out, self.groups_in,
                               co, ci, *ck)
        # -> [N, GO, co, GI, ci, GS, *ck]: rows become output channels, then input
        # channels, then kernel taps
        spatial = tuple(range(6, 6 + self.dims))
        pieces = pieces.permute(0, 2, 4, 3, 5, 1, *spatial)
        return pieces.reshape(batch * self.out_planes, self.in_planes // self.groups,
                              *self.kernel_size)

    def forward(self, x):
        batch = x.shape[0]
        kernels = self.assemble(self.attention(x), batch)
        # one grouped convolution over the whole batch: sample j uses kernel j
        y = type(self).conv_fn(x.reshape(1, batch * self.in_planes, *x.shape[2:]), kernels,
                               None, self.stride, self.padding, self.dilation,
                               self.groups * batch)
        y = y.reshape(batch, self.out_planes, *y.shape[2:])
        if self.bias is not None:
            y = y + self.bias.reshape(1, -1, *([1] * self.dims))
        return y

    def extra_repr(self):
        return (f"{self.in_planes}, {self.out_planes}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"groups={self.groups}, warehouse={self.warehouse_id}, "
                f"cell={list(self.cell_shape) if self.cell_shape else None}")


class KWConv1d(KWConvNd):
    dims = 1
    conv_fn = staticmethod(F.conv1d)


class KWConv2d(KWConvNd):
    dims = 2
    conv_fn = staticmethod(F.conv2d)


class KWLinear(nn.Module):
    """A KW linear layer: a KW 1-d convolution with kernel 1 over x viewed as [N, C, L]
    (L = 1 for a plain [N, C] input). Parameters live under `conv.`."""

    def __init__(self, in_features, out_features, bias=True, warehouse_id=0, manager=None):
        super().__init__()
        self.conv = KWConv1d(in_features, out_features, 1, bias=bias,
                             warehouse_id=warehouse_id, manager=manager)

    def forward(self, x):
        shape = x.shape
        y = self.conv(x.reshape(shape[0], -1, shape[-1]).transpose(1, 2))
        return y.transpose(1, 2).reshape(*shape[:-1], -1)


# ---------------------------------------------------------------------------------------
# Warehouse manager
# ---------------------------------------------------------------------------------------

class WarehouseManager(nn.Module):
    """Collects the KW layers of a network and owns their warehouses.

    Use: create it first in the network's __init__ (so it is registered first), call
    reserve() for every conv/linear, then store() and allocate(network) at the end.

    reduction, cell_num_ratio, cell_inplane_ratio, cell_outplane_ratio, spatial_partition
    and nonlocal_basis_ratio take one value or one per warehouse (warehouse ids follow the
    order in which reserve() first sees each fused name). sharing_range is a list of name
    prefixes; a string is taken character by character, as the official code does.
    hidden_norm is the attention's norm of its hidden vector (KWAttention).
    """

    def __init__(self, reduction=0.0625, cell_num_ratio=1, cell_inplane_ratio=1,
                 cell_outplane_ratio=1, sharing_range=(), nonlocal_basis_ratio=1,
                 spatial_partition=True, hidden_norm="batchnorm"):
        super().__init__()
        self.hidden_norm = hidden_norm
        self.reduction = reduction
        self.cell_num_ratio = cell_num_ratio
        self.cell_inplane_ratio = cell_inplane_ratio
        self.cell_outplane_ratio = cell_outplane_ratio
        self.sharing_range = list(sharing_range) if sharing_range is not None else []
        self.nonlocal_basis_ratio = nonlocal_basis_ratio
        self.spatial_partition = spatial_partition
        self.warehouse_names = []       # fused names, in first-reserve order (= ids)
        self.layer_shapes = []          # per warehouse: weight shapes [O, C/G, *k]
        self.weights = None             # nn.ParameterList after store()

    # -- names ---------------------------------------------------------------------------
    def fuse_name(self, name):
        """Replace each '_'-separated part of `name` by the last sharing_range entry that it
        (as rewritten so far) starts with."""
        parts = []
        for part in name.split("_"):
            for key in self.sharing_range:
                if part.startswith(key):
                    part = key
            parts.append(part)
        return "_".join(parts)

    # -- reserve -------------------------------------------------------------------------
    def reserve(self, in_planes, out_planes, kernel_size=1, stride=1, padding=0, dilation=1,
                groups=1, bias=True, warehouse_name="default", enabled=True,
                layer_type="conv2d"):
        """A KW layer recorded in warehouse `warehouse_name` (after fusing), or a plain
        PyTorch layer when enabled is False."""
        if not enabled:
            if layer_type == "linear":
                return nn.Linear(in_planes, out_planes, bias=bias)
            plain = {"conv1d": nn.Conv1d, "conv2d": nn.Conv2d, "conv3d": nn.Conv3d}[layer_type]
            return plain(in_planes, out_planes, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, groups=groups, bias=bias)
        if self.weights is not None:
            raise RuntimeError("reserve() after store()")
        fused = self.fuse_name(warehouse_name)
        if fused not in self.warehouse_names:
            self.warehouse_names.append(fused)
            self.layer_shapes.append([])
        wid = self.warehouse_names.index(fused)
        if layer_type == "linear":
            layer = KWLinear(in_planes, out_planes, bias=bias, warehouse_id=wid, manager=self)
            shape = layer.conv.weight_shape
        else:
            cls = {"conv1d": KWConv1d, "conv2d": KWConv2d}[layer_type]
            layer = cls(in_planes, out_planes, kernel_size, stride, padding, dilation, groups,
                        bias, warehouse_id=wid, manager=self)
            shape = layer.weight_shape
        self.layer_shapes[wid].append(list(shape))
        return layer

    # -- store ---------------------------------------------------------------------------
    def settings(self):
        n = len(self.warehouse_names)
        return dict(
            reduction=per_warehouse(self.reduction, n, "reduction"),
            cell_num_ratio=per_warehouse(self.cell_num_ratio, n, "cell_num_ratio"),
            cell_inplane_ratio=per_warehouse(self.cell_inplane_ratio, n, "cell_inplane_ratio"),
            cell_outplane_ratio=per_warehouse(self.cell_outplane_ratio, n,
                                              "cell_outplane_ratio"),
            spatial_partition=per_warehouse(self.spatial_partition, n, "spatial_partition"),
            nonlocal_basis_ratio=per_warehouse(self.nonlocal_basis_ratio, n,
                                               "nonlocal_basis_ratio"))

    def plan(self, wid):
        """Cell shape [M, co, ci, *ck] of warehouse `wid` from its layers (docs/kw-math.md section 4)."""
        s = self.settings()
        shapes = self.layer_shapes[wid]
        dims = len(shapes[0]) - 2
        out_gcd, in_gcd = shapes[0][0], shapes[0][1]
        for sh in shapes:
            out_gcd = math.gcd(out_gcd, sh[0])
            in_gcd = math.gcd(in_gcd, sh[1])
        ci = max(int(in_gcd * s["cell_inplane_ratio"][wid]), 1)
        co = max(int(out_gcd * s["cell_outplane_ratio"][wid]), 1)
        if s["spatial_partition"][wid]:
            ck = [1] * dims
        else:
            ck = list(shapes[0][2:])
            for sh in shapes:
                if list(sh[2:]) != ck:
                    raise ValueError(f"warehouse {self.warehouse_names[wid]}: kernels "
                                     f"{ck} and {sh[2:]} differ without spatial partition")
        total = 0
        for sh in shapes:
            pieces = sh[0] // co * sh[1] // ci      # (O // co * Cg) // ci, as the official
            for d in range(dims):
                pieces = pieces * sh[2 + d] // ck[d]
            total += pieces
        cells = max(int(total * s["cell_num_ratio"][wid]), 1)
        return [cells, co, ci] + ck

    def store(self, cell_shapes=None):
        """Create the warehouses. cell_shapes {id: shape} overrides the planned shapes
        (the converter passes the checkpoint's)."""
        cell_shapes = cell_shapes or {}
        self.weights = nn.ParameterList()
        for wid in range(len(self.warehouse_names)):
            shape = list(cell_shapes.get(wid, self.plan(wid)))
            self.weights.append(nn.Parameter(torch.empty(shape)))

    # -- allocate ------------------------------------------------------------------------
    def kw_layers(self, network):
        """(name, layer) of this manager's KW convolutions, in network.modules() order."""
        return [(n, m) for n, m in network.named_modules()
                if isinstance(m, KWConvNd) and m._manager[0] is self]

    def allocate(self, network, layer_overrides=None, init_weights=True, strict=True):
        """Give every KW layer its attention and start cell, walking network.modules()
        (this order, not the reserve order, decides start_cell_idx).

        layer_overrides {layer name: {"hidden", "num_basis", "num_local_cells" or
        "num_nonlocal"}} replaces sizes computed from the settings (the converter passes the
        checkpoint's).
        Returns the end index of each warehouse; with strict, raises unless every warehouse
        is used exactly (as the official code asserts)."""
        s = self.settings()
        layer_overrides = layer_overrides or {}
        ends = [0] * len(self.weights)
        for name, layer in self.kw_layers(network):
            wid = layer.warehouse_id
            cells = self.weights[wid]
            M = cells.shape[0]
            ratio = float(s["cell_num_ratio"][wid])
            try:
                nlm = layer.num_mixtures(cells.shape)
            except ValueError as e:
                raise ValueError(f"{name} (warehouse_manager.weights.{wid}): {e}") from None
            over = layer_overrides.get(name, {})
            hidden = over.get("hidden", max(int(layer.in_planes * s["reduction"][wid]), 16))
            nlc = int(ratio * nlm)
            basis_ratio = float(s["nonlocal_basis_ratio"][wid])
            nb = max(int((M - nlc) * basis_ratio), 16) if basis_ratio < 1.0 else 0
            nb = over.get("num_basis", nb)
            if "num_local_cells" in over:
                nlc = over["num_local_cells"]
            elif "num_nonlocal" in over:            # fc3 rows = M - nlc
                nlc = M - over["num_nonlocal"]
            start = ends[wid]
            try:
                end = layer.bind(cells.shape, start, hidden, nlc, nb, ratio, self.hidden_norm)
            except ValueError as e:
                raise ValueError(f"{name} (warehouse_manager.weights.{wid}): {e}") from None
            if init_weights:
                self._init_cells(cells, start, end)
            ends[wid] = end
        self.last_ends = list(ends)
        if strict:
            for wid, end in enumerate(ends):
                M = self.weights[wid].shape[0]
                if end != M:
                    raise ValueError(f"warehouse {wid} ({self.warehouse_names[wid]}): its "
                                     f"layers claim {end} cells but it has {M}")
        return ends

    @torch.no_grad()
    def _init_cells(self, cells, start, end):
        if start == 0 and end == 0:
            return
        lo, hi = max(0, min(start, cells.shape[0])), max(0, min(end, cells.shape[0]))
        if hi > lo:
            view = cells[lo:hi].reshape(-1, *cells.shape[2:])
            nn.init.kaiming_normal_(view, mode="fan_out", nonlinearity="relu")

    def build(self, network, overrides=None):
        """store() + allocate() with the converter's overrides (or none). Cells not
        claimed by any layer keep a standard-normal init."""
        overrides = overrides or {}
        self.store(overrides.get("cells"))
        init = overrides.get("init_weights", True)
        if init:
            with torch.no_grad():
                for w in self.weights:
                    w.normal_()
        return self.allocate(network, overrides.get("layers"), init_weights=init,
                             strict=overrides.get("strict", True))


# ---------------------------------------------------------------------------------------
# Temperature (training)
# ---------------------------------------------------------------------------------------

def set_temperature(network, value):
    """Set the attention temperature of every KW layer (1 at the start of training,
    annealed to 0; inference uses 0)."""
    for m in network.modules():
        if isinstance(m, KWAttention):
            m.temperature = float(value)


def temperature_at(iteration, epoch, iters_per_epoch, temp_epochs, start=1.0, end=0.0):
    """Linear schedule of the official training script: `start` at the first step, `end`
    after temp_epochs epochs and from then on. `iteration` counts from 1 within the epoch
    (the official script passes the 0-based step + 1)."""
    total = iters_per_epoch * temp_epochs
    current = iters_per_epoch * epoch + iteration
    return end + max(0.0, (start - end) * ((total - current) / max(1.0, total)))


def kw_param_counts(network):
    """Parameter counts split into warehouse, attention and the rest."""
    counts = {"warehouse": 0, "attention": 0, "other": 0}
    for name, p in network.named_parameters():
        if name.startswith("warehouse_manager.") or ".warehouse_manager." in name:
            counts["warehouse"] += p.numel()
        elif ".attention." in name or name.startswith("attention."):
            counts["attention"] += p.numel()
        else:
            counts["other"] += p.numel()
    counts["total"] = sum(counts.values())
    return counts
