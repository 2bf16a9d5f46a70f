"""randomize.py - seeded "nothing is identity" weights for parity checks and fixtures.

Biases, BatchNorm affines, the attention's fc2 bias / basis_bias get random values; then the
BatchNorm running statistics are measured on random inputs (train-mode passes with a
cumulative average), so that activations stay O(1) through deep networks while mean/var
are far from 0/1. Conv, linear and warehouse weights keep their (seeded) Kaiming init.
"""
import torch
import torch.nn as nn


@torch.no_grad()
def randomize_(model, seed, input_shape, calib_batches=2):
    """Randomise `model` in place (deterministic for a seed); input_shape [N, C, H, W] is
    used for the calibration passes (N >= 2). Leaves the model in eval mode."""
    gen = torch.Generator().manual_seed(seed)

    def rnd(shape, scale=1.0, offset=0.0):
        return torch.randn(shape, generator=gen) * scale + offset

    def uni(shape, lo, hi):
        return torch.rand(shape, generator=gen) * (hi - lo) + lo

    for name, p in model.named_parameters():
        if name.endswith(".bias") or name.endswith("basis_bias"):
            p.copy_(rnd(p.shape, 0.1))
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.weight.copy_(uni(m.weight.shape, 0.5, 1.5))
        m.bias.copy_(rnd(m.bias.shape, 0.2))
        m.reset_running_stats()
        m.momentum = None                      # cumulative average over the passes
    model.train()
    for _ in range(calib_batches):
        model(rnd(input_shape))
    for m in norms:
        m.momentum = 0.1
        # a little jitter so the stats are not exactly what the data gives
        m.running_var.mul_(uni(m.running_var.shape, 0.8, 1.25))
        m.running_mean.add_(rnd(m.running_mean.shape, 0.05))
        m.num_batches_tracked.fill_(0)
    model.eval()
    return model
