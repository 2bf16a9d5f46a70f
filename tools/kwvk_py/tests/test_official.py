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
    def test_small_configs_match(self):
        rc = check_official.main([MIRROR, "--size", "32", "--quiet",
                                  "--only", "KW 1/2x MobileNetV2 0.5", "KW 1/4x ResNet18"])
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    unittest.main()
