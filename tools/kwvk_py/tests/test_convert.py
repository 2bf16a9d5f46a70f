"""The converter: converted graphs run by the reference interpreter (modelfile.run_model,
written from docs/model-format.md) equal the PyTorch models; BN folding; shapes read from
the checkpoint; one-line errors; hostile pickles refused."""
import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

import _util
from kwvk_py import convert, models
from kwvk_py import modelfile as mf
from kwvk_py.checkpoint import UnsafeCheckpoint, load_checkpoint
from kwvk_py.randomize import random_input, randomize_


def make_net(cfg, seed=0, hw=(9, 11), n_cal=4):
    torch.manual_seed(seed)
    net = models.build_model(cfg)
    c = net.input_channels if isinstance(net, models.KWProbe) else (
        net.conv1.in_channels if isinstance(net, models.ResNet) else 3)
    randomize_(net, seed, [n_cal, c, *hw])
    return net, c


class Tmp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.tmp = cls._tmp.name

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp, name)

    def save(self, name, obj):
        p = self.path(name)
        torch.save(obj, p)
        return p

    def config(self, name, cfg):
        p = self.path(name)
        with open(p, "w") as f:
            json.dump(cfg, f)
        return p


class InterpreterTest(Tmp):
    """PyTorch model == its converted model file run by the reference interpreter."""

    def roundtrip(self, name, cfg, hw, n=2, convert_cfg=None):
        net, c = make_net(cfg, hw=hw)
        ckpt = self.save(name + ".pth", net.state_dict())
        cpath = self.config(name + ".json", convert_cfg or cfg)
        out = self.path(name + ".kwvk")
        convert.convert_checkpoint(cfg["model"], cpath, ckpt, out, input_size=hw)
        m = mf.read_model(out)
        x = random_input([n, c, *hw], torch.Generator().manual_seed(3))
        with torch.no_grad():
            ref = net(x).numpy()
        got = mf.run_model(m, x.numpy()).reshape(ref.shape)
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * max(1, np.abs(ref).max()))
        return m, net

    def test_probes(self):
        cases = {
            "nostem": _util.probe_cfg(in_channels=3, out_channels=10),
            "r025_dil": _util.probe_cfg(in_channels=12, out_channels=10, padding=2,
                                        dilation=2, cell_num_ratio=0.25,
                                        cell_inplane_ratio=0.5, cell_outplane_ratio=0.5),
            "r4_s2": _util.probe_cfg(in_channels=9, out_channels=11, stride=2,
                                     cell_num_ratio=4, act="relu"),
            "nosp": _util.probe_cfg(in_channels=10, out_channels=12, spatial_partition=False,
                                    cell_num_ratio=2, cell_inplane_ratio=0.5,
                                    cell_outplane_ratio=0.5),
            "dw": _util.probe_cfg(in_channels=12, out_channels=12, groups=12, stride=2),
            "k5_bias": _util.probe_cfg(in_channels=14, out_channels=10, kernel_size=5,
                                       padding=2, cell_inplane_ratio=0.5,
                                       cell_outplane_ratio=0.5, bias=True, norm=False),
            "linear": _util.probe_cfg(layer_type="linear", in_channels=14, out_channels=12,
                                      bias=True, cell_num_ratio=0.5, cell_inplane_ratio=0.5,
                                      cell_outplane_ratio=0.5),
            "shared_basis": _util.probe_cfg(in_channels=8, out_channels=12,
                                            second_out_channels=12, cell_num_ratio=0.5,
                                            nonlocal_basis_ratio=0.5, act="relu"),
        }
        for name, cfg in cases.items():
            with self.subTest(name):
                m, net = self.roundtrip(name, cfg, (9, 11), n=3)
                atts = [op for op in m.ops if op.type == mf.OP_KW_ATTENTION]
                self.assertEqual(len(atts), 2 if "second_out_channels" in cfg else 1)
                if name == "shared_basis":
                    # second layer: basis path, start cell 9, fc2 without bias
                    self.assertEqual(atts[1].params[:7], [12, 16, 27, 22, 13, 16, 9])
                    self.assertIsNone(atts[1].tensors[3])
                    # both layers assemble from the same warehouse tensor
                    asm = [op for op in m.ops if op.type == mf.OP_KW_ASSEMBLE]
                    self.assertEqual(asm[0].tensors[0], asm[1].tensors[0])
                    self.assertEqual(list(m.tensors[asm[0].tensors[0]].shape), [22, 12, 4, 1])
                if name == "nosp":
                    asm = [op for op in m.ops if op.type == mf.OP_KW_ASSEMBLE][0]
                    self.assertEqual(asm.params[:9], [12, 10, 3, 3, 6, 5, 3, 3, 8])
                    self.assertEqual(list(m.tensors[asm.tensors[0]].shape), [8, 6, 5, 9])

    def test_small_resnets_and_bn_folding(self):
        m, net = self.roundtrip("resnet_fm", dict(model="resnet_fm"), (28, 28), n=3)
        types = [op.type for op in m.ops]
        self.assertEqual(set(types), {mf.OP_CONV2D, mf.OP_MAXPOOL2D, mf.OP_GLOBAL_AVGPOOL})
        n_convs = sum(isinstance(x, torch.nn.Conv2d) for x in net.modules()) + 1
        self.assertEqual(types.count(mf.OP_CONV2D), n_convs)   # BN folded, nothing extra
        for op in m.ops:
            if op.type == mf.OP_CONV2D:
                self.assertIsNone(op.tensors[1])                # no scale: folded
        self.assertEqual((m.meta.input_c, m.meta.input_h, m.meta.num_classes), (1, 28, 10))
        m, net = self.roundtrip("kw_resnet_fm_q", dict(
            model="kw_resnet_fm", sharing_range="layer_conv", cell_num_ratio=0.25,
            cell_inplane_ratio=0.5, cell_outplane_ratio=0.5), (28, 28), n=2)
        kw_convs = [op for op in m.ops if op.type == mf.OP_CONV2D and op.inputs[1] is not None]
        self.assertEqual(len(kw_convs), 8)      # 2 per stage + 2 stride-2 downsamples
        for op in kw_convs:
            self.assertIsNotNone(op.tensors[1])   # BN after a KW conv: scale + bias
            self.assertIsNotNone(op.tensors[2])
            self.assertIsNone(op.tensors[0])

    def test_mobilenets(self):
        # 64x64: at 32x32 the last stages run on 1x1 maps and a random KW MobileNetV2
        # amplifies float32 rounding beyond the tolerance
        self.roundtrip("kw_mbv2", dict(model="kw_mobilenetv2_050", num_classes=20), (64, 64))
        m, _ = self.roundtrip("kw1d2x", dict(model="kw1d2x_mobilenetv2_050", num_classes=30),
                              (64, 64))
        last = m.ops[-1]          # KWLinear classifier: conv2d on [N, C, 1, 1], bias only
        self.assertEqual(last.params[:3], [30, 1, 1])
        self.assertIsNone(last.tensors[1])
        self.assertIsNotNone(last.tensors[2])

    def test_shapes_come_from_the_checkpoint(self):
        # trained with reduction 0.25 and cell_num_ratio 2, converted with the defaults
        cfg = dict(model="kw_resnet_fm", sharing_range="layer_conv", reduction=0.25,
                   cell_num_ratio=2)
        self.roundtrip("kwfm_override", cfg, (28, 28),
                       convert_cfg=dict(model="kw_resnet_fm", sharing_range="layer_conv"))


class ErrorTest(Tmp):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        torch.manual_seed(0)
        net = models.build_model(dict(model="kw_resnet_fm", sharing_range="layer_conv"))
        cls.sd = net.state_dict()
        cls.good = os.path.join(cls.tmp, "good.pth")
        torch.save(cls.sd, cls.good)

    def run_cli(self, *args):
        p = subprocess.run([sys.executable, _util.CONVERT, *args], capture_output=True,
                           text=True, timeout=120)
        return p.returncode, p.stdout, p.stderr

    def assert_one_line_error(self, rc, err, *needles):
        self.assertNotEqual(rc, 0)
        self.assertNotIn("Traceback", err)
        lines = [ln for ln in err.strip().splitlines() if ln.startswith("kwvk-convert: error")]
        self.assertEqual(len(lines), 1, err)
        for n in needles:
            self.assertIn(n, lines[0])

    def test_missing_key(self):
        sd = dict(self.sd)
        del sd["layer2.0.conv2.attention.fc2.bias"]
        ck = self.save("missing.pth", sd)
        rc, out, err = self.run_cli("--arch", "kw_resnet_fm", "--checkpoint", ck, "--out",
                                    self.path("x.kwvk"))
        self.assert_one_line_error(rc, err, "layer2.0.conv2.attention.fc2.bias")
        self.assertFalse(os.path.exists(self.path("x.kwvk")))

    def test_wrong_shape(self):
        sd = dict(self.sd)
        sd["layer1.0.bn1.running_var"] = torch.ones(7)
        ck = self.save("shape.pth", sd)
        with self.assertRaisesRegex(convert.ConvertError, r"layer1\.0\.bn1\.running_var.*\[7\]"):
            convert.convert_checkpoint("kw_resnet_fm", None, ck, self.path("y.kwvk"))

    def test_bad_json(self):
        cfg = self.path("bad.json")
        with open(cfg, "w") as f:
            f.write('{"model": "kw_resnet_fm", "cell_num_ratio": 1,,}')
        rc, out, err = self.run_cli("--kw-config", cfg, "--checkpoint", self.good, "--out",
                                    self.path("z.kwvk"))
        self.assert_one_line_error(rc, err, "not valid JSON", "line 1")
        with open(cfg, "w") as f:
            f.write('[1, 2]')
        with self.assertRaisesRegex(convert.ConvertError, "JSON object"):
            convert.convert_checkpoint(None, cfg, self.good, self.path("z.kwvk"))

    def test_hostile_pickle_refused(self):
        marker = self.path("pwned")

        class Evil:
            def __reduce__(self):
                return (os.system, (f"touch {marker}",))

        ck = self.save("evil.pth", {"model": self.sd, "args": Evil()})
        rc, out, err = self.run_cli("--arch", "kw_resnet_fm", "--checkpoint", ck, "--out",
                                    self.path("e.kwvk"))
        self.assert_one_line_error(rc, err, "refusing", "system")
        self.assertFalse(os.path.exists(marker), "the pickled command ran")
        # the same with a plain (non-zip) pickle and with a pickled module
        legacy = self.path("evil_legacy.pth")
        with open(legacy, "wb") as f:
            pickle.dump({"model": Evil()}, f, protocol=2)
        with self.assertRaisesRegex(UnsafeCheckpoint, "refusing"):
            load_checkpoint(legacy)
        self.assertFalse(os.path.exists(marker))
        ck = self.save("module.pth", torch.nn.Linear(2, 2))
        with self.assertRaisesRegex(UnsafeCheckpoint, "torch.nn.modules.linear.Linear"):
            load_checkpoint(ck)

    def test_official_training_checkpoint(self):
        args = argparse.Namespace(model="kw_resnet_fm", sharing_range="layer_conv",
                                  reduction=None, cell_num_ratio=[1.0], lr=0.1, epochs=3)
        ck = self.save("official.pth", {
            "model": {"module." + k: v for k, v in self.sd.items()}, "epoch": 2,
            "optimizer": {"state": {0: {"momentum_buffer": torch.zeros(3)}},
                          "param_groups": [{"lr": 0.1, "params": [0]}]},
            "scaler": {"scale": 1024.0}, "args": args})
        labels = os.path.join(_util.REPO, "models", "fashion_mnist_classes.txt")
        rc, out, err = self.run_cli("--checkpoint", ck, "--out", self.path("o.kwvk"),
                                    "--labels", labels)
        self.assertEqual(rc, 0, err)
        m = mf.read_model(self.path("o.kwvk"))
        self.assertEqual(m.meta.name, "kw_resnet_fm")
        self.assertEqual(m.meta.labels[0], "T-shirt/top")
        self.assertEqual(len(m.meta.labels), 10)

    def test_other_errors(self):
        with self.assertRaisesRegex(convert.ConvertError, "unknown architecture 'nope'"):
            convert.convert_checkpoint("nope", None, self.good, self.path("n.kwvk"))
        with self.assertRaisesRegex(convert.ConvertError, "resnet_fm is a static network"):
            convert.convert_checkpoint("resnet_fm", None, self.good, self.path("n.kwvk"))
        sd = dict(self.sd)
        sd["layer9.bias"] = torch.zeros(3)
        ck = self.save("extra.pth", sd)
        with self.assertRaisesRegex(convert.ConvertError, "unexpected key 'layer9.bias'"):
            convert.convert_checkpoint("kw_resnet_fm", None, ck, self.path("n.kwvk"))
        lab = self.path("labels.txt")
        with open(lab, "w") as f:
            f.write("a\nb\n")
        with self.assertRaisesRegex(convert.ConvertError, "2 lines but the network has 10"):
            convert.convert_checkpoint("kw_resnet_fm", None, self.good, self.path("n.kwvk"),
                                       lab)
        with self.assertRaisesRegex(convert.ConvertError, "cannot read checkpoint"):
            convert.convert_checkpoint("kw_resnet_fm", None, self.path("absent.pth"),
                                       self.path("n.kwvk"))
        junk = self.path("junk.pth")
        with open(junk, "wb") as f:
            f.write(b"not a checkpoint at all")
        with self.assertRaisesRegex(convert.ConvertError, "junk.pth is not a PyTorch checkpoint"):
            convert.convert_checkpoint("kw_resnet_fm", None, junk, self.path("n.kwvk"))

    def test_basis_start_cells_need_matching_ratio(self):
        cfg = _util.probe_cfg(in_channels=8, out_channels=12, second_out_channels=12,
                              cell_num_ratio=0.5, nonlocal_basis_ratio=0.5)
        net, _ = make_net(cfg)
        ck = self.save("basis.pth", net.state_dict())
        wrong = self.config("basis_wrong.json", dict(cfg, cell_num_ratio=1))
        with self.assertRaisesRegex(convert.ConvertError, "warehouse_manager.weights.0"):
            convert.convert_checkpoint("kw_probe", wrong, ck, self.path("b.kwvk"))


class ConvNeXtTest(Tmp):
    """ConvNeXt and KW ConvNeXt: converted graphs equal PyTorch; LayerNorm, GELU, layer scale
    and the attention's LayerNorm hidden norm appear as the format page says; the official
    Tiny configurations convert with the README's parameter counts."""

    KW_TINY_CFG = {"model": "kw_convnext_tiny", "reduction": 0.0625, "cell_num_ratio": 1,
                   "cell_inplane_ratio": 1, "cell_outplane_ratio": 1,
                   "sharing_range": "layer_pwconv", "drop_path": 0.3, "model_ema": True,
                   "model_ema_eval": True}      # configs/convnext/kw1x_convnext_tiny.json

    def roundtrip(self, name, cfg, hw, n=2):
        net, c = make_net(cfg, hw=hw, n_cal=2)
        ckpt = self.save(name + ".pth", net.state_dict())
        out = self.path(name + ".kwvk")
        convert.convert_checkpoint(cfg["model"], self.config(name + ".json", cfg), ckpt, out,
                                   input_size=hw)
        m = mf.read_model(out)
        x = random_input([n, c, *hw], torch.Generator().manual_seed(3))
        with torch.no_grad():
            ref = net(x).numpy()
        got = mf.run_model(m, x.numpy()).reshape(ref.shape)
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5 * max(1, np.abs(ref).max()))
        return m, net

    def test_small_convnext(self):
        m, net = self.roundtrip("cnx", dict(model="convnext", depths=[1, 2, 1],
                                            dims=[8, 12, 20], num_classes=7), (32, 32))
        types = [op.type for op in m.ops]
        # stem LN, 2 downsampling LNs, one per block, the final one on [N, C, 1, 1]
        self.assertEqual(types.count(mf.OP_LAYERNORM), 1 + 2 + 4 + 1)
        self.assertEqual(types[-3:], [mf.OP_GLOBAL_AVGPOOL, mf.OP_LAYERNORM, mf.OP_CONV2D])
        ln = m.ops[types.index(mf.OP_LAYERNORM)]
        self.assertEqual(ln.params[0], 8)
        self.assertAlmostEqual(mf.bits_f32(ln.params[1]), 1e-6, delta=1e-12)
        gelu = [op for op in m.ops if op.type == mf.OP_CONV2D and op.params[10] == mf.ACT_GELU]
        self.assertEqual(len(gelu), 4)
        scaled = [op for op in m.ops if op.type == mf.OP_CONV2D and op.tensors[1] is not None]
        self.assertEqual(len(scaled), 4)          # pwconv2: gamma in the epilogue
        blk = net.stages[0][0]
        op = scaled[0]
        np.testing.assert_array_equal(m.tensors[op.tensors[1]], blk.gamma.detach().numpy())
        np.testing.assert_allclose(m.tensors[op.tensors[2]],
                                   (blk.gamma * blk.pwconv2.bias).detach().numpy(), rtol=1e-6)
        self.assertIsNotNone(op.inputs[2])        # the residual
        self.assertEqual((m.meta.interpolation, m.meta.resize_short, m.meta.crop),
                         (mf.INTERP_BICUBIC, 36, 32))

    def test_small_kw_convnext(self):
        m, net = self.roundtrip("kwcnx", dict(model="kw_convnext", depths=[2, 1, 2],
                                              dims=[8, 12, 16], num_classes=9,
                                              sharing_range="layer_pwconv"), (32, 32))
        atts = [op for op in m.ops if op.type == mf.OP_KW_ATTENTION]
        self.assertEqual(len(atts), 3 + 5 * 3)    # stem, 2 downsamplings, 3 per block
        for op in atts:
            self.assertEqual(op.params[7], mf.ATT_NORM_LAYERNORM)
            self.assertAlmostEqual(mf.bits_f32(op.params[8]), 1e-5, delta=1e-11)
            self.assertEqual(list(m.tensors[op.tensors[1]].shape), [3, op.params[1]])
            self.assertIsNone(op.tensors[6])
        # depthwise 7x7 assembled from cells of one input channel: [M, C, 1, 1]
        asm = [op for op in m.ops if op.type == mf.OP_KW_ASSEMBLE]
        dw = [op for op in asm if op.params[1:4] == [1, 7, 7]]
        self.assertEqual(len(dw), 5)
        # stage 0's two dwconvs share one warehouse of 2 x 49 cells [8, 1]
        self.assertEqual(dw[0].tensors[0], dw[1].tensors[0])
        self.assertEqual(list(m.tensors[dw[0].tensors[0]].shape), [98, 8, 1, 1])
        # pwconv1 and pwconv2 of a stage share one warehouse, the stem and the
        # downsamplings have their own: 3 + 3 * 2 warehouses
        self.assertEqual(len({op.tensors[0] for op in asm}), 3 + 3 * 2)

    def test_tiny_parameter_counts(self):
        """The official Tiny configurations through the command-line converter: the printed
        parameter count is the README's (28.59M, 39.37M)."""
        tool = os.path.join(_util.REPO, "tools", "kwvk-convert")
        for cfg, want in ((dict(model="convnext_tiny"), 28.59), (self.KW_TINY_CFG, 39.37)):
            with self.subTest(cfg["model"]):
                torch.manual_seed(0)
                net = models.build_model(dict(cfg))
                ckpt = self.save("tiny.pth", {"model": net.state_dict(), "epoch": 1})
                out = self.path("tiny.kwvk")
                cmd = [sys.executable, tool, "--checkpoint", ckpt, "--out", out]
                if cfg["model"].startswith("kw_"):
                    cmd += ["--kw-config", self.config("tiny.json", cfg)]
                else:
                    cmd += ["--arch", cfg["model"]]
                r = subprocess.run(cmd, capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stderr)
                n = int(r.stdout.split(" parameters")[0].rsplit(" ", 1)[1])
                self.assertEqual(n, models.count_params(net))
                self.assertEqual(round(n / 1e6, 2), want)
                self.assertIn(f" parameters ({want:.2f}M)", r.stdout)
                os.remove(ckpt)
                os.remove(out)


if __name__ == "__main__":
    unittest.main()
