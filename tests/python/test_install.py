"""`pip install .` at the repository root into a fresh `python3 -m venv --system-site-packages`,
with no package index: once with --no-index, once plainly with the index pointed at a closed
local port (any download attempt would fail). The build backend reuses this build directory
(KWVK_CMAKE_BUILD_DIR) so that the test takes seconds; the installed package then works from
the venv alone (no KWVK_LIBRARY_DIR, no source tree on sys.path)."""
import os
import shutil
import subprocess
import sys

import pytest

SRC = os.environ.get("KWVK_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("KWVK_TEST_BUILD_DIR")
PYTHON = os.environ.get("KWVK_TEST_PYTHON", sys.executable)

CHECK = r"""
import os, sys, kwvk, kwvk._native, kwvk.distributed
venv = sys.argv[1]
assert kwvk.__file__.startswith(venv), kwvk.__file__
assert kwvk._native.library_path().startswith(venv), kwvk._native.library_path()
net = kwvk.Net(sys.argv[2])
res = net.classify([sys.argv[3]], top=2)
print(res[0][0][0])
"""


def _env(index_url=None):
    env = {k: v for k, v in os.environ.items()
           if k not in ("KWVK_LIBRARY_DIR", "PYTHONPATH", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL",
                        "PIP_FIND_LINKS", "PIP_NO_INDEX")}
    env["KWVK_CMAKE_BUILD_DIR"] = BUILD
    env["PIP_CONFIG_FILE"] = os.devnull  # no find-links or index of this machine's pip.conf
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_CACHE_DIR"] = "1"
    env["PIP_RETRIES"] = "0"
    env["PIP_TIMEOUT"] = "5"
    if index_url:
        env["PIP_INDEX_URL"] = index_url
    return env


@pytest.mark.parametrize("mode", ["no-index", "closed-index"])
def test_pip_install_offline(mode, tmp_path):
    assert BUILD and os.path.exists(os.path.join(BUILD, "CMakeCache.txt")), "KWVK_TEST_BUILD_DIR"
    venv = str(tmp_path / "venv")
    subprocess.run([PYTHON, "-m", "venv", "--system-site-packages", venv], check=True)
    vpy = os.path.join(venv, "bin", "python")
    cmd = [vpy, "-m", "pip", "install", "-v", SRC]
    if mode == "no-index":
        env = _env()
        cmd.insert(4, "--no-index")
    else:
        env = _env("http://127.0.0.1:9/simple")
    r = subprocess.run(cmd, env=env, cwd=str(tmp_path), capture_output=True, text=True)
    print(r.stdout[-4000:], r.stderr[-4000:])
    assert r.returncode == 0
    assert "Successfully installed kwvk-0.1.0" in r.stdout
    sample = os.path.join(SRC, "models", "samples", "01_trouser.png")
    model = os.path.join(SRC, "models", "fmnist_kw1x.kwvk")
    r = subprocess.run([vpy, "-c", CHECK, venv, model, sample], env=_env(), cwd=str(tmp_path),
                       capture_output=True, text=True)
    print(r.stdout, r.stderr)
    assert r.returncode == 0 and r.stdout.strip() == "Trouser"
    shutil.rmtree(venv)
