#!/usr/bin/python3
"""check_classify.py CLASSIFY SAMPLES WORKDIR - kwvk-classify on a folder as a user would:
the shipped sample images (models/samples, NN_name.png = class NN) copied into nested folders
(one as JPEG, one with an upper-case extension), plus a corrupt JPEG, an empty PNG and a
non-image file. Checks, with --batch 3 (so that the run takes several batches, the last one
partial):
  - --json: one JSON object per line on stdout and nothing else, each of the schema
    {"file": str, "top": [{"label": str, "index": int, "prob": float}, ...]} with --top 3
    entries in decreasing probability, and top-1 = the class in the file name;
  - every image of the folder (recursively, by extension) classified exactly once; the
    non-image file ignored; the corrupt files named on stderr with a reason; exit status 1;
  - a missing path among the arguments is reported and the rest still classified;
  - text mode: the same files and classes; a run without bad files exits 0.
(Both runs use batch 3: one set of GPU programs, compiled once, keeps the test short.)"""
import json
import os
import shutil
import subprocess
import sys

from PIL import Image

tool, samples, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
root = os.path.join(work, "photos")
names = sorted(n for n in os.listdir(samples) if n.endswith(".png"))
assert len(names) >= 6, names
expect = {}
for i, n in enumerate(names):
    sub = os.path.join(root, ["", "a", "a/b", "c"][i % 4])
    os.makedirs(sub, exist_ok=True)
    stem = n[:-4]
    if i == 1:  # a JPEG (quality 100: a 28x28 greyscale image keeps its class)
        dst = os.path.join(sub, stem + ".jpg")
        Image.open(os.path.join(samples, n)).save(dst, quality=100)
    elif i == 2:
        dst = os.path.join(sub, stem + ".PNG")
        shutil.copy(os.path.join(samples, n), dst)
    else:
        dst = os.path.join(sub, n)
        shutil.copy(os.path.join(samples, n), dst)
    expect[dst] = int(n.split("_")[0])
good_only = os.path.join(work, "good")
shutil.copytree(root, good_only)
bad = [os.path.join(root, "a", "broken.jpg"), os.path.join(root, "c", "empty.png")]
with open(bad[0], "wb") as f:
    f.write(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 3)
open(bad[1], "wb").close()
# a file name that is not UTF-8 (names are bytes): its JSON line must still parse, with U+FFFD
odd = os.path.join(root, "c", os.fsdecode(b"caf\xe9 \xff.png"))
shutil.copy(os.path.join(samples, names[0]), odd)
expect[odd] = int(names[0].split("_")[0])


def jname(path):
    """The name as the JSON lines carry it: invalid UTF-8 bytes replaced by U+FFFD."""
    return os.fsencode(path).decode("utf-8", "replace")


with open(os.path.join(root, "a", "notes.txt"), "w") as f:
    f.write("not an image\n")

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(args):
    r = subprocess.run([tool] + args, capture_output=True, text=True, timeout=600)
    return r.returncode, r.stdout, r.stderr


# --json, several batches, partial failure, a missing path
missing = os.path.join(work, "no-such-file.png")
rc, out, err = run(["--batch", "3", "--top", "3", "--json", root, missing])
print(err, end="")
check(rc == 1, f"exit status {rc} with two bad files (want 1)")
seen = {}
for line in out.splitlines():
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        check(False, f"stdout line is not JSON: {line!r}")
        continue
    ok = (isinstance(obj, dict) and set(obj) == {"file", "top"} and isinstance(obj["file"], str)
          and isinstance(obj["top"], list) and len(obj["top"]) == 3
          and all(isinstance(t, dict) and set(t) == {"label", "index", "prob"}
                  and isinstance(t["label"], str) and type(t["index"]) is int
                  and isinstance(t["prob"], float) and 0 <= t["prob"] <= 1 for t in obj["top"]))
    check(ok, f"JSON line does not follow the schema: {line}")
    if not ok:
        continue
    probs = [t["prob"] for t in obj["top"]]
    check(probs == sorted(probs, reverse=True), f"top not sorted by probability: {line}")
    check(obj["file"] not in seen, f"{obj['file']} printed twice")
    seen[obj["file"]] = obj["top"][0]["index"]
want = {jname(f): cls for f, cls in expect.items()}
check(set(seen) == set(want), f"classified {sorted(seen)}, want {sorted(want)}")
for f, cls in want.items():
    check(seen.get(f) == cls, f"{f}: class {seen.get(f)}, want {cls}")
for b in bad:
    check(any(line.startswith(f"kwvk-classify: {b}: ") and len(line) > len(b) + 20
              for line in err.splitlines()), f"no error line naming {b}")
check("notes.txt" not in out + err, "a non-image file was read")
check("batches of 3" in err, "stderr does not report the batch size")
check(any(line.startswith(f"kwvk-classify: {missing}: ") for line in err.splitlines()),
      "the missing path is not reported")

# text mode, only good files: exit 0, every file and its class
rc, out, err = run(["--batch", "3", good_only])
check(rc == 0, f"exit status {rc} without bad files (want 0)")
lines = out.splitlines()
files = [ln for ln in lines if not ln.startswith(" ")]
check(len(files) == len(expect) - 1, f"text mode printed {len(files)} files, want {len(expect)}")
check(not any(ln.startswith("model ") or "prepare" in ln for ln in lines), "timing or header lines on stdout")

print(f"{0 if failures else 1} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
