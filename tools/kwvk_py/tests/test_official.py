"""Parity with the official KernelWarehouse code (check_official.py) on two small configs.
Needs a clone of github.com/OSVAI/KernelWarehouse (a work tree or a bare repository) named
by $KWVK_OFFICIAL; skipped without it (CI sets it). The full table is in
docs/parity.md."""
import os
import unittest

import _util  # noqa: F401
from kwvk_py import check_official

MIRROR = os.environ.get("KWVK_OFFICIAL", "")


@unittest.skipUnless(MIRROR and os.path.exists(MIRROR),
                     "set KWVK_OFFICIAL to a clone of github.com/OSVAI/KernelWarehouse")
class OfficialParityTest(unittest.TestCase):
    def test_reduced_convnexts_match(self):
        """ConvNeXt and KW 1x ConvNeXt (the official classes with depths 1/1/2/1 and widths
        16/24/32/40, sharing "layer_pwconv"): the same state_dict and outputs."""
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            root = check_official.prepare_checkout(MIRROR, tmp)
            fns = check_official.load_official(root)
            small = dict(depths=[1, 1, 2, 1], dims=[16, 24, 32, 40])
            for cfg in (dict(model="convnext", **small),
                        dict(model="kw_convnext", sharing_range="layer_pwconv", **small)):
                with self.subTest(cfg["model"]):
                    r = check_official.compare(cfg["model"], "(reduced)", root, fns, 32, 0, cfg)
                    self.assertTrue(r["keys_equal"], r.get("key_problems"))
                    self.assertEqual(r["params_ours"], r["params_official"])
                    self.assertTrue(r["temp_bias_equal"])
                    for t in (0.0, 0.5):
                        self.assertLessEqual(r[f"diff_t{t}"], 1e-5 * max(1.0, r[f"scale_t{t}"]))
                    if cfg["model"] == "kw_convnext":
                        self.assertEqual(r["kw_layers"], 4 + 5 * 3)

    def test_small_configs_match(self):
        rc = check_official.main([MIRROR, "--size", "32", "--quiet",
                                  "--only", "KW 1/2x MobileNetV2 0.5", "KW 1/4x ResNet18"])
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    unittest.main()
