"""Parity with the official KernelWarehouse code (check_official.py) on two small configs.
Needs a copy of github.com/OSVAI/KernelWarehouse: $KWVK_OFFICIAL, or the mirror this
project was developed with; skipped when neither exists. The full table is in
docs/parity.md."""
import os
import unittest

import _util  # noqa: F401
from kwvk_py import check_official

MIRROR = os.environ.get("KWVK_OFFICIAL", "/work/.mirror/OSVAI+KernelWarehouse/repo")


@unittest.skipUnless(os.path.exists(MIRROR), "no official KernelWarehouse checkout")
class OfficialParityTest(unittest.TestCase):
    def test_small_configs_match(self):
        rc = check_official.main([MIRROR, "--size", "32", "--quiet",
                                  "--only", "KW 1/2x MobileNetV2 0.5", "KW 1/4x ResNet18"])
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    unittest.main()
