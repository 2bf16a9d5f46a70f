"""randomize.py - seeded "nothing is identity" weights for parity checks and fixtures.

Biases, BatchNorm and LayerNorm affines, ConvNeXt's layer scales (gamma: the official init
1e-6 would make every block an identity) and the attention's fc2 bias / basis_bias get
random values; the
BatchNorm running statistics are then measured in one eval-mode pass over a random batch,
layer after layer (a pre-hook sets each BatchNorm's mean/var from the input it receives,
which was computed with the already-calibrated layers before it), and jittered. So every
BatchNorm is far from identity, yet activations stay O(1) through deep networks in eval
mode. Conv, linear and warehouse weights keep their (seeded) Kaiming init; the attention's
fc2 weights are scaled down (see randomize_).
"""
import torch
import torch.nn as nn


def random_input(shape, gen):
    """Random images with a per-sample scale and offset, so that samples (and hence the
    attention's global features) differ from each other."""
    n = shape[0]
    scale = torch.rand([n] + [1] * (len(shape) - 1), generator=gen) + 0.5
    offset = torch.randn([n] + [1] * (len(shape) - 1), generator=gen) * 0.5
    return torch.randn(shape, generator=gen) * scale + offset


@torch.no_grad()
def calibrate_bn_(model, x):
    """Set every BatchNorm's running stats from one eval-mode pass over x."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def hook(module, inputs):
        v = inputs[0]
        dims = [d for d in range(v.dim()) if d != 1]
        mean = v.mean(dim=dims)
        if v.dim() == 2:
            # BatchNorm1d of a KW attention: its inputs are global averages, which differ
            # little between samples; normalising by that small spread would make the
            # attention (and the whole net) hypersensitive to the input. Centre halfway
            # and scale by the spread around that centre instead.
            mean = 0.5 * mean
        var = ((v - mean.reshape([1, -1] + [1] * (v.dim() - 2))) ** 2).mean(dim=dims)
        module.running_mean.copy_(mean)
        # floor: with few samples (or 1x1 maps) some channels show almost no spread, and
        # dividing by it would make the net hypersensitive to its input
        module.running_var.copy_(var + 0.1 * var.mean() + 1e-5)

    handles = [m.register_forward_pre_hook(hook) for m in norms]
    model.eval()
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return norms


@torch.no_grad()
def randomize_(model, seed, input_shape, attention_gain=0.02):
    """Randomise `model` in place (deterministic for a seed); input_shape [N, C, H, W] is
    the calibration batch (N >= 2; 8 or more for deep nets: with too few samples some
    BatchNorm channels see almost no spread and the net becomes ill-conditioned). Leaves
    the model in eval mode.

    attention_gain scales the attention's fc2 weights. A random KW network is chaotic:
    each layer's attention reacts to global features that the previous layer's attention
    already changed, so with gain 1 a 1e-4 change of the input moves the output of a random
    KW MobileNetV2 0.5 by ~70%, and float32 rounding becomes visible in the output. At 0.02
    float32 stays within ~2e-5 (relative) of float64 while the attention still differs by
    10-15% between samples."""
    gen = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if name.endswith("attention.fc2.weight"):
            p.mul_(attention_gain)

    def rnd(shape, scale=1.0):
        return torch.randn(shape, generator=gen) * scale

    def uni(shape, lo, hi):
        return torch.rand(shape, generator=gen) * (hi - lo) + lo

    for name, p in model.named_parameters():
        if name.endswith(".bias") or name.endswith("basis_bias"):
            p.copy_(rnd(p.shape, 0.1))
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.weight.copy_(uni(m.weight.shape, 0.5, 1.5))
            m.bias.copy_(rnd(m.bias.shape, 0.2))
        elif isinstance(m, nn.LayerNorm) or type(m).__name__ == "LayerNorm2d":
            m.weight.copy_(uni(m.weight.shape, 0.5, 1.5))
            m.bias.copy_(rnd(m.bias.shape, 0.2))
    for name, p in model.named_parameters():
        if name == "gamma" or name.endswith(".gamma"):
            # layer scale: a block's branch is ~0.05 of its input at the trunc-normal(0.02)
            # init; gammas of 2..6 make every block change the residual stream by O(10%)
            p.copy_(uni(p.shape, 2.0, 6.0))
    norms = calibrate_bn_(model, random_input(list(input_shape), gen))
    for m in norms:   # a little jitter so the stats are not exactly the batch's
        m.running_var.mul_(uni(m.running_var.shape, 0.8, 1.25))
        m.running_mean.add_(rnd(m.running_mean.shape, 0.05) * m.running_var.sqrt())
        m.num_batches_tracked.fill_(0)
    model.eval()
    return model
