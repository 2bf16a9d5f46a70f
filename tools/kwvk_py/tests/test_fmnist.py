"""Fashion-MNIST: the IDX reader, the training schedules, and the shipped models/ files
(models, PyTorch top-1 files, sample images) checked against each other without a GPU."""
import gzip
import json
import os
import struct
import tempfile
import unittest
import zlib

import numpy as np

import _util
from kwvk_py import fmnist, kw, modelfile, models, train
from kwvk_py.checkpoint import load_checkpoint

MODELS = os.path.join(_util.REPO, "models")
SHIPPED = ("fmnist_kw1x", "fmnist_static")


def read_png_gray(path):
    """Decode the 8-bit greyscale PNGs that train.write_png_gray writes."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", None
    while pos < len(data):
        n, tag = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if tag == b"IHDR":
            w, h, depth, color = struct.unpack(">IIBB", body[:10])
            assert (depth, color) == (8, 0)
            size = (h, w)
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    h, w = size
    rows = [raw[y * (w + 1):(y + 1) * (w + 1)] for y in range(h)]
    assert all(r[0] == 0 for r in rows)         # filter type "none"
    return np.frombuffer(b"".join(r[1:] for r in rows), dtype=np.uint8).reshape(h, w)


class IdxTest(unittest.TestCase):
    def test_test_split(self):
        x, y = fmnist.load("test")
        self.assertEqual(x.shape, (10000, 28, 28))
        self.assertEqual(x.dtype, np.uint8)
        self.assertEqual(np.bincount(y).tolist(), [1000] * 10)

    def test_gzip_and_plain_agree_and_bad_files_fail(self):
        with tempfile.TemporaryDirectory() as d:
            body = bytes(range(6))
            raw = b"\x00\x00\x08\x02" + struct.pack(">II", 2, 3) + body
            with open(os.path.join(d, "a"), "wb") as f:
                f.write(raw)
            with open(os.path.join(d, "a.gz"), "wb") as f:
                f.write(gzip.compress(raw))
            a = fmnist.read_idx(os.path.join(d, "a"))
            b = fmnist.read_idx(os.path.join(d, "a.gz"))
            self.assertEqual(a.tolist(), [[0, 1, 2], [3, 4, 5]])
            self.assertEqual(b.tolist(), a.tolist())
            for bad in (raw[:-1], b"\x00\x00\x0d\x02" + raw[4:], b"\x01" + raw[1:]):
                with open(os.path.join(d, "bad"), "wb") as f:
                    f.write(bad)
                with self.assertRaises(ValueError):
                    fmnist.read_idx(os.path.join(d, "bad"))

    def test_normalisation_constants(self):
        mean, std = fmnist.train_stats()
        self.assertAlmostEqual(mean, fmnist.MEAN, places=3)
        self.assertAlmostEqual(std, fmnist.STD, places=3)
        self.assertEqual((fmnist.MEAN, fmnist.STD), (models.FM_MEAN, models.FM_STD))
        x = fmnist.normalise(np.array([[[0, 255]]], dtype=np.uint8))
        self.assertEqual(x.shape, (1, 1, 1, 2))
        self.assertAlmostEqual(float(x[0, 0, 0, 0]), -fmnist.MEAN / fmnist.STD, places=6)
        self.assertAlmostEqual(float(x[0, 0, 0, 1]), (1 - fmnist.MEAN) / fmnist.STD, places=6)


class ScheduleTest(unittest.TestCase):
    def test_lr(self):
        lrs = [train.lr_at(s, 100, 10, 1.0, 0.01) for s in range(100)]
        self.assertAlmostEqual(lrs[0], 0.1)
        self.assertAlmostEqual(lrs[9], 1.0)
        self.assertAlmostEqual(lrs[10], 1.0)
        self.assertTrue(all(a >= b for a, b in zip(lrs[10:], lrs[11:])))
        self.assertLess(lrs[-1], 0.02)

    def test_temperature(self):
        # official engine.py: 1 at the first step, 0 after temp_epochs epochs
        self.assertAlmostEqual(kw.temperature_at(1, 0, 100, 1), 0.99)
        self.assertAlmostEqual(kw.temperature_at(50, 0, 100, 1), 0.5)
        self.assertEqual(kw.temperature_at(100, 0, 100, 1), 0.0)
        self.assertEqual(kw.temperature_at(1, 2, 100, 1), 0.0)

    def test_weight_decay_groups(self):
        net = models.build_model(train.VARIANTS["kw1x"][1])
        decay, no_decay = train.param_groups(net, 0.05)
        names = {id(p): n for n, p in net.named_parameters()}
        self.assertTrue(any(names[id(p)].startswith("warehouse_manager.")
                            for p in decay["params"]))
        self.assertTrue(all(p.ndim >= 2 for p in decay["params"]))
        self.assertTrue(all(p.ndim == 1 for p in no_decay["params"]))


class PngTest(unittest.TestCase):
    def test_round_trip(self):
        img = (np.arange(28 * 28) % 251).astype(np.uint8).reshape(28, 28)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "x.png")
            train.write_png_gray(path, img)
            self.assertTrue(np.array_equal(read_png_gray(path), img))


class ShippedModelsTest(unittest.TestCase):
    """The files in models/ agree with each other and with the test set."""

    @classmethod
    def setUpClass(cls):
        cls.x, cls.y = fmnist.load("test")

    def top1(self, stem):
        t = np.fromfile(os.path.join(MODELS, stem + ".torch-top1.u8"), dtype=np.uint8)
        self.assertEqual(t.shape, (10000,))
        return t

    def test_model_files_match_pytorch_top1(self):
        """The reference interpreter (modelfile.run_model, written from the format page) runs
        each shipped file on 300 test images and gets PyTorch's top-1 on all of them."""
        for stem in SHIPPED:
            m = modelfile.read_model(os.path.join(MODELS, stem + ".kwvk"))
            self.assertEqual((m.meta.input_c, m.meta.input_h, m.meta.input_w), (1, 28, 28))
            self.assertEqual(m.meta.labels, fmnist.CLASSES)
            self.assertAlmostEqual(m.meta.mean[0], fmnist.MEAN, places=6)
            self.assertAlmostEqual(m.meta.std[0], fmnist.STD, places=6)
            idx = np.arange(0, 10000, 10000 // 300)[:300]
            logits = modelfile.run_model(m, fmnist.normalise(self.x[idx])).reshape(len(idx), -1)
            self.assertEqual(logits.argmax(1).tolist(), self.top1(stem)[idx].tolist(), stem)

    def test_checkpoints_reproduce_top1(self):
        """The shipped PyTorch checkpoints, rebuilt with kw.py / models.py from their configs,
        give the top-1 files' classes (first 500 test images)."""
        for stem in SHIPPED:
            with open(os.path.join(MODELS, stem + ".config.json")) as f:
                cfg = json.load(f)
            net = models.build_model(cfg)
            ckpt = load_checkpoint(os.path.join(MODELS, stem + ".pth"))   # no pickled code
            net.load_state_dict(ckpt["model"])
            top1, _ = train.predict(net, self.x[:500])
            self.assertEqual(top1.tolist(), self.top1(stem)[:500].tolist(), stem)

    def test_records(self):
        with open(os.path.join(MODELS, "fmnist_records.json")) as f:
            records = {r["variant"]: r for r in json.load(f)}
        for stem in SHIPPED:
            variant = stem.split("_", 1)[1]
            acc = 100.0 * float((self.top1(stem) == self.y).mean())
            self.assertAlmostEqual(records[variant]["test_accuracy"], acc, places=2)
        self.assertGreater(records["kw1x"]["test_accuracy"], 85.0)

    def test_samples(self):
        d = os.path.join(MODELS, "samples")
        files = sorted(f for f in os.listdir(d) if f.endswith(".png"))
        self.assertEqual(len(files), 10)
        top1 = self.top1("fmnist_kw1x")
        for c, name in enumerate(files):
            self.assertEqual(name, f"{c:02d}_{fmnist.slug(fmnist.CLASSES[c])}.png")
            img = read_png_gray(os.path.join(d, name))
            hits = np.nonzero((self.x == img).all(axis=(1, 2)))[0]
            self.assertTrue(len(hits) > 0, f"{name} is not a test-set image")
            self.assertTrue(any(self.y[i] == c and top1[i] == c for i in hits), name)


if __name__ == "__main__":
    unittest.main()
