"""kwvk.Net and friends against the library's own tools and references."""
import os
import re
import subprocess
import threading
import time

import numpy as np
import pytest

import kwvk
from conftest import MODEL, PHOTOS, SAMPLES, SRC, STATIC_MODEL
from kwvk_py import modelfile


def kwvk_run(model, x, tmp_path, *extra):
    """Output of the kwvk-run tool for input x (a .f32 file in, a .f32 file out)."""
    inp, out = tmp_path / "in.f32", tmp_path / "out.f32"
    x.astype("<f4").tofile(inp)
    shape = ",".join(str(v) for v in x.shape)
    subprocess.run([os.environ["KWVK_RUN"], "--model", model, "--input", str(inp), "--shape", shape,
                    "--output", str(out), "--validation", *extra], check=True)
    return np.fromfile(out, "<f4")


def test_devices():
    names = kwvk.devices()
    assert names and all(isinstance(n, str) and n for n in names)
    details = kwvk.devices(details=True)
    assert [d["name"] for d in details] == names
    assert [d["index"] for d in details] == list(range(len(names)))


@pytest.mark.parametrize("model", [MODEL, STATIC_MODEL])
def test_run_equals_kwvk_run(model, tmp_path):
    x = np.random.default_rng(1).standard_normal((3, 1, 28, 28)).astype(np.float32)
    with kwvk.Net(model, validation=True) as n:
        y = n.run(x)
        assert y.shape == (3, 10) and y.dtype == np.float32
        ref = kwvk_run(model, x, tmp_path).reshape(3, 10)
        np.testing.assert_array_equal(y, ref)  # same library, same device, same shader path
        # float64 input is converted; a second run of the same shape replays the same plan
        np.testing.assert_array_equal(n.run(x.astype(np.float64)), y)
        assert n.validation_messages == 0


def test_run_fp16_equals_kwvk_run_fp16(tmp_path):
    x = np.random.default_rng(2).standard_normal((2, 1, 28, 28)).astype(np.float32)
    with kwvk.Net(MODEL, fp16=True, validation=True) as n:
        assert n.info["fp16"] is True
        np.testing.assert_array_equal(n.run(x), kwvk_run(MODEL, x, tmp_path, "--fp16").reshape(2, 10))


def test_run_matches_reference_interpreter(net):
    """The model file run by kwvk_py's float64 interpreter (PyTorch)."""
    pytest.importorskip("torch")
    x = np.random.default_rng(3).standard_normal((2, 1, 28, 28)).astype(np.float32)
    ref = modelfile.run_model(modelfile.read_model(MODEL), x).reshape(2, 10)
    y = net.run(x)
    assert np.abs(y - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())


def test_info(net):
    m = modelfile.read_model(MODEL)
    info = net.info
    assert info["architecture"] == m.meta.name
    assert info["input_size"] == (m.meta.input_c, m.meta.input_h, m.meta.input_w) == (1, 28, 28)
    assert info["num_classes"] == m.meta.num_classes == 10
    with open(os.path.join(SRC, "models", "fashion_mnist_classes.txt")) as f:
        assert info["labels"] == [line.strip() for line in f if line.strip()] == m.meta.labels
    assert info["parameters"] == sum(t.size for t in m.tensors)
    assert info["ops"] == len(m.ops)
    assert info["kw_layers"] == sum(op.type == modelfile.OP_KW_ATTENTION for op in m.ops) > 0
    assert np.allclose(info["mean"], m.meta.mean[:1]) and np.allclose(info["std"], m.meta.std[:1])
    assert info["device"] in kwvk.devices()
    assert info["interpolation"] == "bilinear"
    net.run(np.zeros((1, 1, 28, 28), np.float32))
    st = net.stats()
    assert st["plans"] >= 1 and st["weight_bytes"] >= 4 * info["parameters"] // 2 and "pipelines_created" in st


def test_classify_samples_labelled(net):
    """The shipped sample images are named after their class: every top-1 label matches."""
    res = net.classify(SAMPLES, top=3)
    assert len(res) == len(SAMPLES) == 10
    for path, top in zip(SAMPLES, res):
        want = re.sub(r"^\d+_", "", os.path.basename(path)[:-4]).replace("_", "")
        got = re.sub(r"[^a-z]", "", top[0][0].lower())
        assert got == want, (path, top)
        assert len(top) == 3


def test_classify_colour_photos_top5(net):
    assert len(PHOTOS) >= 3, "Debian's darknet package (its sample photos) is not installed"
    res = net.classify(PHOTOS, top=5, batch=2)
    assert len(res) == len(PHOTOS)
    for top in res:
        assert len(top) == 5
        labels = [lab for lab, _ in top]
        probs = [p for _, p in top]
        assert set(labels) <= set(net.labels) and len(set(labels)) == 5
        assert all(0.0 <= p <= 1.0 for p in probs) and sum(probs) <= 1.0 + 1e-5
        assert probs == sorted(probs, reverse=True)


def test_classify_equals_softmax_of_run_images(net):
    """classify = kwvk_net_run_images (GPU preprocessing), softmax, top-k; batch size does not
    matter; the GPU preprocessing agrees with the CPU reference (Net.preprocess + Net.run)."""
    imgs = SAMPLES[:4] + PHOTOS[:2]
    logits = net.run_images(imgs).astype(np.float64)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    for i, top in enumerate(net.classify(imgs, top=10, batch=4)):
        assert [lab for lab, _ in top] == [net.labels[k] for k in np.argsort(-p[i], kind="stable")]
        np.testing.assert_allclose([q for _, q in top], np.sort(p[i])[::-1], rtol=0, atol=1e-5)
    cpu = net.run(np.stack([net.preprocess(im) for im in imgs]))
    # GPU preprocessing is within 1/255 of the normalised range of the CPU reference
    assert np.abs(cpu - logits).max() <= 0.05 * max(1.0, np.abs(cpu).max()), np.abs(cpu - logits).max()
    assert (cpu.argmax(1) == logits.argmax(1)).all()


def test_classify_matches_kwvk_classify(net):
    """Percentages printed by the kwvk-classify tool (its own CPU preprocessing) for the same
    28x28 sample images (no resize: the two preprocessings agree)."""
    out = subprocess.run([os.environ["KWVK_CLASSIFY"], "--model", MODEL, "--top", "3", *SAMPLES[2:4]],
                         check=True, capture_output=True, text=True).stdout
    printed = re.findall(r"^\s+([\d.]+)%\s+(.+?)\s*\(class \d+\)$", out, re.M)
    assert len(printed) == 6, out
    ours = [pair for top in net.classify(SAMPLES[2:4], top=3) for pair in top]
    for (pct, label), (lab, p) in zip(printed, ours):
        assert label == lab and abs(float(pct) - 100 * p) <= 0.006, (printed, ours)


def test_arrays_equal_files(net):
    """A decoded PNG as an HxWx3 array (and as grey HxW) gives the file's result."""
    Image = pytest.importorskip("PIL.Image")
    rgb = np.asarray(Image.open(SAMPLES[0]).convert("RGB"))
    np.testing.assert_array_equal(net.preprocess(rgb), net.preprocess(SAMPLES[0]))
    with open(SAMPLES[0], "rb") as f:
        np.testing.assert_array_equal(net.preprocess(f.read()), net.preprocess(SAMPLES[0]))
    grey = rgb[:, :, 0].copy()
    np.testing.assert_array_equal(net.preprocess(grey), net.preprocess(np.repeat(grey[:, :, None], 3, 2)))
    a, b = net.classify([rgb, SAMPLES[0]])
    assert a == b


def test_missing_file_raises(net):
    with pytest.raises(kwvk.Error, match=r"no-such-photo\.jpg: No such file") as e:
        net.classify([SAMPLES[0], "no-such-photo.jpg"])
    assert e.value.code == "KWVK_ERROR_IO"


def test_missing_model_raises():
    with pytest.raises(kwvk.Error, match="no-such-model.kwvk") as e:
        kwvk.Net("no-such-model.kwvk")
    assert e.value.code == "KWVK_ERROR_IO"


def test_bad_inputs_raise(net, tmp_path):
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    with pytest.raises(kwvk.Error, match="corrupt.jpg"):
        net.classify([str(bad)])
    res = net.classify([str(bad), SAMPLES[1]], on_error="return")
    assert isinstance(res[0], kwvk.FileError) and res[0].source == str(bad)
    assert isinstance(res[1], list) and res[1][0][0] == "Trouser"
    for arr in (np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 2), np.uint8), np.zeros((0, 5), np.uint8),
                np.zeros((1, 8, 8, 3), np.uint8)):
        with pytest.raises(kwvk.Error):
            net.classify([arr])
    with pytest.raises(kwvk.Error):
        net.classify([42])
    with pytest.raises(kwvk.Error, match="channels|input"):  # the library's message
        net.run(np.zeros((1, 3, 28, 28), np.float32))
    with pytest.raises(kwvk.Error):
        net.run(np.zeros((1, 28, 28), np.float32))
    with pytest.raises(kwvk.Error):
        net.classify(SAMPLES[:1], top=0)
    not_model = tmp_path / "x.kwvk"
    not_model.write_bytes(b"KWVK" + bytes(60))
    with pytest.raises(kwvk.Error) as e:
        kwvk.Net(str(not_model))
    assert e.value.code == "KWVK_ERROR_MODEL_FORMAT"


def test_error_pickles():
    import pickle
    e = pickle.loads(pickle.dumps(kwvk.Error("msg", "KWVK_ERROR_IO")))
    assert str(e) == "msg" and e.code == "KWVK_ERROR_IO"
    f = pickle.loads(pickle.dumps(kwvk.FileError("a.jpg", "bad")))
    assert f == ("a.jpg", "bad")


def test_preprocess_resize_crop_matches_pil(tmp_path):
    """An ImageNet-style model (resize the shorter side to 64, centre crop 56, mean/std): the
    package's preprocessing against Pillow + torchvision's rules, and the net (a global
    average pool) returns the channel means of it, from the CPU and the GPU preprocessing."""
    Image = pytest.importorskip("PIL.Image")
    m = modelfile.Model(modelfile.Meta(3, 56, 56, 3, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225],
                                       resize_short=64, crop=56, name="gap", labels=["r", "g", "b"]))
    m.add_op(modelfile.OP_GLOBAL_AVGPOOL, [0])
    path = tmp_path / "gap.kwvk"
    modelfile.write_model(path, m)
    rng = np.random.default_rng(4)
    with kwvk.Net(str(path), validation=True) as n:
        for w, h in [(120, 90), (71, 133), (64, 64)]:
            yy, xx = np.mgrid[0:h, 0:w]
            img = np.stack([128 + 100 * np.sin(xx / 7.0 + c) * np.cos(yy / 9.0 - c) for c in range(3)], -1)
            img = np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)
            nw, nh = (64, int(64 * h / w)) if w <= h else (int(64 * w / h), 64)
            r = np.asarray(Image.fromarray(img).resize((nw, nh), Image.BILINEAR), dtype=np.float32)
            top, left = int(round((nh - 56) / 2.0)), int(round((nw - 56) / 2.0))
            r = r[top:top + 56, left:left + 56].transpose(2, 0, 1) / 255.0
            mean, std = (np.array(v, np.float32)[:, None, None] for v in (m.meta.mean, m.meta.std))
            ref = (r - mean) / std
            ours = n.preprocess(img)
            assert ours.shape == (3, 56, 56)
            diff = np.abs(ours - ref) * np.array(m.meta.std)[:, None, None] * 255  # in 8-bit steps
            assert diff.max() <= 1e-2  # the library reproduces Pillow bit for bit (docs/app-api.md)
            out = n.run(ours[None])
            np.testing.assert_allclose(out[0], ours.mean(axis=(1, 2)), rtol=0, atol=1e-4)
            # on the GPU: within 1/255 of the normalised range per pixel, so the means too
            gpu = n.run_images([img])
            assert np.abs(gpu[0] - out[0]).max() <= 1 / 255 / min(m.meta.std) + 1e-4
        assert n.validation_messages == 0


def test_threads_overlap():
    """Two threads, each with its own Net, run at the same time: ctypes releases the GIL
    during kwvk_net_run, so the calls overlap (they would alternate if it did not)."""
    nets = [kwvk.Net(MODEL, validation=True) for _ in range(2)]
    x = np.random.default_rng(5).standard_normal((16, 1, 28, 28)).astype(np.float32)
    want = nets[0].run(x)
    spans = [[], []]
    errors = []
    go = threading.Barrier(2)

    def work(k):
        try:
            go.wait()
            for _ in range(6):
                t0 = time.perf_counter()
                y = nets[k].run(x)
                spans[k].append((t0, time.perf_counter()))
                np.testing.assert_array_equal(y, want)
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    overlaps = sum(1 for a0, a1 in spans[0] for b0, b1 in spans[1] if a0 < b1 and b0 < a1)
    assert overlaps > 0, spans
    assert all(n.validation_messages == 0 for n in nets)


def test_gil_released_during_run(net):
    """A pure-Python thread keeps counting while the main thread waits in kwvk_net_run."""
    x = np.random.default_rng(6).standard_normal((32, 1, 28, 28)).astype(np.float32)
    net.run(x)  # plan recorded, shaders compiled
    stop = threading.Event()
    count = [0]

    def spin():
        while not stop.is_set():
            count[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        t0 = time.perf_counter()
        c0 = count[0]
        net.run(x)
        c1 = count[0]
        elapsed = time.perf_counter() - t0
    finally:
        stop.set()
        t.join()
    # with the GIL held for the whole call, the counter could only move by one switch interval
    assert c1 - c0 > 1000, (c1 - c0, elapsed)


def test_closed_net_raises():
    n = kwvk.Net(MODEL)
    n.close()
    with pytest.raises(kwvk.Error, match="closed"):
        n.run(np.zeros((1, 1, 28, 28), np.float32))
    n.close()  # twice is fine
