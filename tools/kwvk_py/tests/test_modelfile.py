"""The model file writer/reader against docs/model-format.md."""
import struct
import unittest

import numpy as np

import _util  # noqa: F401
from kwvk_py import modelfile as mf


def small_model():
    m = mf.Model(mf.Meta(3, 5, 7, 4, [0.1, 0.2, 0.3], [0.5, 0.6, 0.7], 8, 6, "tiny",
                         ["a", "b c", "d", "é"]))
    w = m.add_tensor(np.arange(4 * 3 * 3 * 3, dtype=np.float32).reshape(4, 3, 3, 3) / 100)
    b = m.add_tensor(np.array([1, -2, 3, -4], dtype=np.float32))
    v1 = m.add_op(mf.OP_CONV2D, [0, None, None], [w, None, b],
                  [4, 3, 3, 1, 1, 1, 1, 1, 1, 1, mf.ACT_RELU, 3])
    v2 = m.add_op(mf.OP_MAXPOOL2D, [v1], [], [3, 3, 2, 2, 1, 1, 0, 0])
    m.add_op(mf.OP_GLOBAL_AVGPOOL, [v2])
    return m


class ModelFileTest(unittest.TestCase):
    def test_round_trip(self):
        m = small_model()
        data = mf.to_bytes(m)
        r = mf.from_bytes(data)
        for f in ("input_c", "input_h", "input_w", "num_classes", "resize_short", "crop",
                  "name", "labels"):
            self.assertEqual(getattr(r.meta, f), getattr(m.meta, f), f)
        np.testing.assert_allclose(r.meta.mean, [0.1, 0.2, 0.3, 0.0], rtol=1e-6)
        np.testing.assert_allclose(r.meta.std, [0.5, 0.6, 0.7, 1.0], rtol=1e-6)
        self.assertEqual(len(r.tensors), 2)
        for a, b in zip(r.tensors, m.tensors):
            np.testing.assert_array_equal(a, b)
        self.assertEqual([(o.type, o.inputs, o.tensors[:3]) for o in r.ops],
                         [(1, [0, None, None], [0, None, 1]), (4, [1, None, None], [None] * 3),
                          (6, [2, None, None], [None] * 3)])
        self.assertEqual(r.ops[0].params[:12], [4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3])

    def test_layout_bytes(self):
        data = mf.to_bytes(small_model())
        self.assertEqual(data[:8], b"KWVKMODL")
        version, hbytes, fbytes, nt, no, toff, ooff, moff, mbytes, res = struct.unpack_from(
            "<IIQIIQQQII", data, 8)
        self.assertEqual((version, hbytes, fbytes, nt, no, res), (2, 64, len(data), 2, 3, 0))
        for off in (toff, ooff, moff):
            self.assertEqual(off % 8, 0)
        self.assertGreaterEqual(mbytes, 80)
        # meta
        c, h, w, nc = struct.unpack_from("<4I", data, moff)
        self.assertEqual((c, h, w, nc), (3, 5, 7, 4))
        mean = struct.unpack_from("<4f", data, moff + 16)
        std = struct.unpack_from("<4f", data, moff + 32)
        self.assertAlmostEqual(mean[3], 0.0)
        self.assertAlmostEqual(std[3], 1.0)
        resize, crop, nb, lb = struct.unpack_from("<4I", data, moff + 48)
        self.assertEqual((resize, crop, nb), (8, 6, 4))
        self.assertEqual(struct.unpack_from("<4I", data, moff + 64), (mf.INTERP_BILINEAR, 0, 0, 0))
        self.assertEqual(data[moff + 80:moff + 84], b"tiny")
        self.assertEqual(data[moff + 84:moff + 84 + lb].decode(), "a\nb c\nd\né\n")
        # tensor table: dims, offset (64-aligned), nbytes, reserved 0
        dtype, ndim, *dims = struct.unpack_from("<II4I", data, toff)
        off, nbytes, reserved = struct.unpack_from("<QQQ", data, toff + 24)
        self.assertEqual((dtype, ndim, dims, nbytes, reserved), (1, 4, [4, 3, 3, 3], 432, 0))
        self.assertEqual(off % 64, 0)
        self.assertEqual(np.frombuffer(data, "<f4", 3, off).tolist(),
                         [0.0, np.float32(0.01), np.float32(0.02)])
        dtype, ndim, *dims = struct.unpack_from("<II4I", data, toff + 48)
        self.assertEqual((ndim, dims), (1, [4, 1, 1, 1]))
        # op 1: maxpool, n_inputs 1, unused slots 0xFFFFFFFF
        rec = struct.unpack_from("<II3I11I24i", data, ooff + 160)
        self.assertEqual(rec[:5], (4, 1, 1, 0xFFFFFFFF, 0xFFFFFFFF))
        self.assertTrue(all(t == 0xFFFFFFFF for t in rec[5:16]))
        self.assertEqual(rec[16:24], (3, 3, 2, 2, 1, 1, 0, 0))
        # sections and tensors do not overlap
        self.assertLessEqual(moff + mbytes, toff)
        self.assertLessEqual(toff + 2 * 48, ooff)
        self.assertLessEqual(ooff + 3 * 160, off)

    def test_writer_refuses_bad_models(self):
        m = small_model()
        m.tensors[1][0] = np.nan
        with self.assertRaisesRegex(mf.ModelFormatError, "NaN"):
            mf.to_bytes(m)
        m = small_model()
        m.meta.input_c = 5
        with self.assertRaisesRegex(mf.ModelFormatError, "input channels"):
            mf.to_bytes(m)
        m = small_model()
        m.meta.labels = ["x"]
        with self.assertRaisesRegex(mf.ModelFormatError, "labels"):
            mf.to_bytes(m)
        m = small_model()
        m.ops[0].inputs = [2, None, None]
        with self.assertRaisesRegex(mf.ModelFormatError, "not computed before"):
            mf.to_bytes(m)

    def test_reader_rejects_truncation(self):
        data = mf.to_bytes(small_model())
        with self.assertRaises(mf.ModelFormatError):
            mf.from_bytes(data[:-8])
        with self.assertRaises(mf.ModelFormatError):
            mf.from_bytes(b"XXXXMODL" + data[8:])

    def test_interpreter_conv_pool(self):
        import torch
        import torch.nn.functional as F
        m = small_model()
        x = np.random.default_rng(0).standard_normal((2, 3, 5, 7)).astype(np.float32)
        got = mf.run_model(m, x)
        t = torch.from_numpy(x)
        y = F.relu(F.conv2d(t, torch.from_numpy(m.tensors[0]), torch.from_numpy(m.tensors[1]),
                            padding=1))
        y = F.max_pool2d(y, 3, 2, 1).mean(dim=(2, 3), keepdim=True)
        np.testing.assert_allclose(got, y.numpy(), rtol=1e-5, atol=1e-5)


if __name__ == "__main__":
    unittest.main()
