"""KW modules: state_dict key names and shapes (docs/kw-math.md section 6), warehouse planning,
name fusing, start cells, temperature."""
import unittest

import torch

import _util
from kwvk_py import kw, models


class KeyNamesTest(unittest.TestCase):
    def test_conv_layer_keys_standard_path(self):
        net = models.build_model(_util.probe_cfg(in_channels=20, out_channels=12))
        sd = net.state_dict()
        # one layer, ci = 20, co = 12, 3x3 -> nlm 9, M 9; hidden = max(int(20/16), 16)
        expect = {
            "layer.attention.fc1.weight": [16, 20],
            "layer.attention.norm1.weight": [16],
            "layer.attention.norm1.bias": [16],
            "layer.attention.norm1.running_mean": [16],
            "layer.attention.norm1.running_var": [16],
            "layer.attention.norm1.num_batches_tracked": [],
            "layer.attention.fc2.weight": [9 * 10, 16],
            "layer.attention.fc2.bias": [9 * 10],
            "warehouse_manager.weights.0": [9, 12, 20, 1, 1],
        }
        for k, shape in expect.items():
            self.assertIn(k, sd)
            self.assertEqual(list(sd[k].shape), shape, k)
        self.assertFalse([k for k in sd if "temp" in k], "temp_bias must not be saved")
        self.assertFalse([k for k in sd if "fc3" in k or "basis" in k])
        self.assertNotIn("layer.attention.fc1.bias", sd)

    def test_basis_path_keys(self):
        net = models.build_model(_util.probe_cfg(in_channels=8, out_channels=12,
                                                 second_out_channels=12, cell_num_ratio=0.5,
                                                 nonlocal_basis_ratio=0.5))
        sd = net.state_dict()
        # M = int(45 * 0.5) = 22; layer: nlm 18, nlc 9, nb max(int(13 * .5), 16) = 16
        self.assertEqual(list(sd["warehouse_manager.weights.0"].shape), [22, 12, 4, 1, 1])
        self.assertEqual(list(sd["layer.attention.fc2.weight"].shape), [18 * (9 + 16 + 1), 16])
        self.assertNotIn("layer.attention.fc2.bias", sd)
        self.assertEqual(list(sd["layer.attention.fc3.weight"].shape), [22 - 9, 16])
        self.assertEqual(list(sd["layer.attention.basis_bias"].shape), [18 * 23])
        self.assertEqual(list(sd["layer2.attention.fc3.weight"].shape), [22 - 13, 16])
        self.assertEqual(net.layer.attention.start_cell_idx, 0)
        self.assertEqual(net.layer2.attention.start_cell_idx, 9)   # 18 mixtures claim 9

    def test_kwlinear_keys(self):
        net = models.build_model(dict(model="kw1d2x_mobilenetv2_050", num_classes=10))
        sd = net.state_dict()
        self.assertIn("classifier.1.conv.bias", sd)
        self.assertIn("classifier.1.conv.attention.fc1.weight", sd)
        wid = net.classifier[1].conv.warehouse_id
        # co = 10, ci = int(1280 * 0.025) = 32, kernel 1 -> nlm 40, M int(40 * .5) = 20
        self.assertEqual(list(sd[f"warehouse_manager.weights.{wid}"].shape), [20, 10, 32, 1])
        self.assertEqual(list(sd["classifier.1.conv.attention.fc1.weight"].shape), [40, 1280])

    def test_official_param_counts(self):
        # numbers of the official README / docs/kw-math.md section 7
        for cfg, params in [
                (dict(model="kw_resnet18", sharing_range="layer_conv"), 11932148),
                (dict(model="kw_mobilenetv2_050", sharing_range=["layer", "pwconv"]), 2854522),
                (dict(model="kw1d2x_mobilenetv2_050"), 1466888)]:
            self.assertEqual(models.count_params(models.build_model(cfg)), params)


class WarehouseTest(unittest.TestCase):
    def test_fuse_name_string_is_walked_per_character(self):
        s = kw.WarehouseManager(sharing_range="layer_conv")
        t = kw.WarehouseManager(sharing_range=("layer", "conv"))
        names = ["stage1_layer2_conv0", "stage1_layer0_conv1", "stage0_layer3_conv0",
                 "stage2_layer1_conv2", "stage3_layer0_conv1"]
        self.assertEqual(s.fuse_name("stage1_layer2_conv0"), "stage1_l_c")
        self.assertEqual(t.fuse_name("stage1_layer2_conv0"), "stage1_layer_conv")
        group = lambda m: [sorted(n for n in names if m.fuse_name(n) == m.fuse_name(x))
                           for x in names]
        self.assertEqual(group(s), group(t))
        m = kw.WarehouseManager(sharing_range=["layer", "pwconv"])
        self.assertEqual(m.fuse_name("stage3_layer2_pwconv0"), "stage3_layer_pwconv")
        self.assertEqual(m.fuse_name("stage3_layer2_dwconv0"), "stage3_layer_dwconv0")

    def test_per_warehouse_ratios(self):
        self.assertEqual(kw.per_warehouse(0.5, 3), [0.5] * 3)
        self.assertEqual(kw.per_warehouse([2], 3), [2] * 3)
        self.assertEqual(kw.per_warehouse((1, 2, 3), 3), [1, 2, 3])
        with self.assertRaises(ValueError):
            kw.per_warehouse((1, 2), 3)

    def test_start_cells_follow_module_order(self):
        net = models.build_model(dict(model="kw_resnet18", sharing_range="layer_conv",
                                      cell_num_ratio=0.25, cell_inplane_ratio=0.5,
                                      cell_outplane_ratio=0.5))
        mgr = net.warehouse_manager
        self.assertEqual(len(mgr.weights), 4)
        ends = [0] * 4
        order = []
        for name, layer in mgr.kw_layers(net):
            a = layer.attention
            self.assertEqual(a.start_cell_idx, ends[layer.warehouse_id], name)
            ends[layer.warehouse_id] += kw.cells_claimed(a.num_mixtures, 0.25)
            order.append(name)
        self.assertEqual(ends, [w.shape[0] for w in mgr.weights])
        # the downsample is reserved before its block's convs but comes after them here
        i = order.index("layer2.0.downsample.0")
        self.assertEqual(order[i - 2:i], ["layer2.0.conv1", "layer2.0.conv2"])
        self.assertEqual(net.layer2[0].downsample[0].warehouse_id, 0)   # handover
        self.assertEqual(net.layer2[0].conv1.warehouse_id, 0)
        self.assertEqual(net.layer2[0].conv2.warehouse_id, 1)

    def test_plain_layers(self):
        net = models.build_model(dict(model="kw_resnet50", sharing_range="layer_conv"))
        self.assertIsInstance(net.layer1[0].conv1, torch.nn.Conv2d)
        self.assertIsInstance(net.layer1[0].downsample[0], torch.nn.Conv2d)
        self.assertIsInstance(net.layer2[0].downsample[0], kw.KWConv2d)
        self.assertIsInstance(net.conv1, torch.nn.Conv2d)
        self.assertIsInstance(net.fc, torch.nn.Linear)


class AttentionTest(unittest.TestCase):
    def test_normalisation_and_zero_cell(self):
        a = kw.KWAttention(6, 16, 2, 3).eval()
        with torch.no_grad():
            a.fc2.weight.zero_()
            a.fc2.bias.copy_(torch.tensor([1.0, -2.0, 0.5, 0.5, 0.0, 0.0, 0.0, 3.0]))
        out = a(torch.randn(2, 6, 4, 4))
        row0 = torch.tensor([1.0, -2.0, 0.5]) / (4.0 + 1e-3)
        row1 = torch.tensor([0.0, 0.0, 0.0]) / (3.0 + 1e-3)
        torch.testing.assert_close(out[0], row0)
        torch.testing.assert_close(out[1], row1)
        self.assertEqual(list(out.shape), [4, 3])

    def test_temperature(self):
        net = models.build_model(_util.probe_cfg(in_channels=12, out_channels=10,
                                                 cell_num_ratio=0.25, cell_inplane_ratio=0.5,
                                                 cell_outplane_ratio=0.5)).eval()
        a = net.layer.attention
        M = a.num_cells
        kw.set_temperature(net, 1.0)
        out = a(torch.randn(3, 12, 9, 11))
        torch.testing.assert_close(out, a.temp_bias.reshape(-1, M + 1)[:, :M].repeat(3, 1))
        # ratio 1/4: mixture r gets its own cell iff r % 4 == (r // 4) % 4, else the zero cell
        tb = a.temp_bias.reshape(-1, M + 1)
        own = [r for r in range(a.num_mixtures) if r % 4 == (r // 4) % 4]
        self.assertEqual(int(tb[:, :M].sum()), len(own))
        self.assertEqual(int(tb[:, M].sum()), a.num_mixtures - len(own))
        self.assertEqual(kw.temperature_at(1, 0, 100, 10), 1.0 - 1 / 1000)
        self.assertEqual(kw.temperature_at(0, 10, 100, 10), 0.0)
        self.assertEqual(kw.temperature_at(5, 20, 100, 10), 0.0)


if __name__ == "__main__":
    unittest.main()
