#!/usr/bin/python3
"""check_convert.py KWVK_CONVERT SOURCE_DIR WORKDIR - kwvk-convert on files that are not
PyTorch checkpoints: each must fail with exit status 1 and one line that names what the file
is (no traceback, no raw torch message such as "invalid load key"); --help lists the
architectures; a real checkpoint still converts. (Three cases run the command; the others
call its loader, tools/kwvk_py/checkpoint.py, in this process: each start of the command
imports torch, seconds on a loaded 2-core machine.)"""
import os
import shutil
import subprocess
import sys

tool, src, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
models = os.path.join(src, "models")
pth = os.path.join(models, "fmnist_static.pth")
with open(pth, "rb") as f:
    good = f.read()
cases = {  # file name: (bytes, expected words in the error)
    "model.kwvk": (open(os.path.join(models, "fmnist_static.kwvk"), "rb").read(), "kwvk model file"),
    "photo.jpg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(100), "JPEG image"),
    "picture.png": (open(os.path.join(models, "samples", "00_t_shirt_top.png"), "rb").read(), "PNG image"),
    "truncated.pth": (good[: len(good) // 2], "truncated zip"),
    "zeros.pth": (bytes(64), "not a PyTorch checkpoint"),
    "config.pth": (b'{"model": "resnet18"}\n', "JSON file"),
    "empty.pth": (b"", "empty"),
}
sys.path.insert(0, os.path.join(src, "tools"))
from kwvk_py.checkpoint import CheckpointError, load_checkpoint  # noqa: E402

fails = 0
for name, (data, want) in cases.items():
    path = os.path.join(work, name)
    with open(path, "wb") as f:
        f.write(data)
    if name in ("model.kwvk", "truncated.pth", "zeros.pth"):
        r = subprocess.run([tool, "--arch", "resnet_fm", "--checkpoint", path, "--out",
                            os.path.join(work, "out.kwvk")], capture_output=True, text=True)
        err, rc = r.stderr.strip(), r.returncode
    else:
        try:
            load_checkpoint(path)
            err, rc = "loaded", 0
        except CheckpointError as e:
            err, rc = f"kwvk-convert: error: {e}", 1
    ok = (rc == 1 and len(err.splitlines()) == 1 and want in err and path in err
          and "Traceback" not in err and "load key" not in err)
    print(f"{'ok  ' if ok else 'FAIL'} {name}: exit {rc}: {err}")
    fails += not ok
r = subprocess.run([tool, "--help"], capture_output=True, text=True)
ok = r.returncode == 0 and "kw_resnet18" in r.stdout and "(see --help)" not in r.stdout
print(f"{'ok  ' if ok else 'FAIL'} --help lists the architectures")
fails += not ok
r = subprocess.run([tool, "--arch", "resnet_fm", "--checkpoint", pth, "--out",
                    os.path.join(work, "good.kwvk"), "--labels",
                    os.path.join(models, "fashion_mnist_classes.txt")], capture_output=True, text=True)
ok = r.returncode == 0 and os.path.getsize(os.path.join(work, "good.kwvk")) > 1000
print(f"{'ok  ' if ok else 'FAIL'} a real checkpoint converts: {r.stdout.strip()} {r.stderr.strip()}")
fails += not ok
print(f"{int(fails == 0)} passed, {fails} failed")
sys.exit(1 if fails else 0)
