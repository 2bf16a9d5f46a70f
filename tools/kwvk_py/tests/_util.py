"""Shared helpers for the kwvk_py tests (run with
/usr/bin/python3 -m unittest discover -s tools/kwvk_py/tests)."""
import os
import sys

TESTS = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.dirname(os.path.dirname(TESTS))
REPO = os.path.dirname(TOOLS)
CONVERT = os.path.join(TOOLS, "kwvk-convert")
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

import torch  # noqa: E402

torch.set_num_threads(2)


def probe_cfg(**kw):
    cfg = dict(model="kw_probe", kernel_size=3, stride=1, padding=1, dilation=1, groups=1,
               norm=True, act="none", input_size=[9, 11])
    cfg.update(kw)
    return cfg
