"""Shared fixtures of the kwvk Python package tests. Run by CTest (tests/python/CMakeLists.txt)
with KWVK_LIBRARY_DIR pointing at the build directory and PYTHONPATH at the package source.
A skipped test, or no test at all (pytest's exit status 5), fails the run: CI shows zero skips."""
import glob
import os
import sys

import pytest

SRC = os.environ.get("KWVK_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL = os.path.join(SRC, "models", "fmnist_kw1x.kwvk")
STATIC_MODEL = os.path.join(SRC, "models", "fmnist_static.kwvk")
SAMPLES = sorted(glob.glob(os.path.join(SRC, "models", "samples", "*.png")))
# colour photos shipped by Debian's darknet package (tools/install-deps)
PHOTOS = sorted(glob.glob("/usr/share/darknet/data/*.jpg"))

sys.path.insert(0, os.path.join(SRC, "tools"))  # kwvk_py.modelfile (numpy only)


@pytest.fixture(scope="session")
def kwvk_mod():
    import kwvk
    return kwvk


@pytest.fixture(scope="module")
def net(kwvk_mod):
    """The shipped KW model with the validation layer on; no validation message allowed."""
    n = kwvk_mod.Net(MODEL, validation=True)
    yield n
    assert n.validation_messages == 0, "Vulkan validation messages (see the log above)"
    n.close()


def pytest_sessionfinish(session, exitstatus):
    rep = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(rep.stats.get("skipped", [])) if rep else 0
    if exitstatus == 5 or skipped:
        print(f"\nkwvk tests: {'no tests ran' if exitstatus == 5 else f'{skipped} skipped'}; "
              "CI requires every test to run", file=sys.stderr)
        session.exitstatus = 1
