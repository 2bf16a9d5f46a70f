"""kwvk.distributed.classify on a 2-worker LocalCluster (processes, one thread each) against
one process: same labels and probabilities, input order, per-file errors."""
import os

import pytest

import kwvk
import kwvk.distributed as kd
from conftest import MODEL, PHOTOS, SAMPLES


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    # the workers (spawned processes) inherit this environment: validation layer on
    os.environ["KWVK_VALIDATION"] = "1"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  worker_dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            c.wait_for_workers(2, timeout=120)
            yield c
    os.environ.pop("KWVK_VALIDATION", None)


def test_distributed_equals_one_process(client, tmp_path):
    assert len(PHOTOS) >= 3
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    # photos, samples, a corrupt file and a missing one, interleaved; 3 images per task
    paths = PHOTOS[:3] + [str(corrupt)] + SAMPLES + [str(tmp_path / "missing.jpg")] + PHOTOS[3:]
    got = kd.classify(client, MODEL, paths, top=5, batch=3)
    with kwvk.Net(MODEL, validation=True) as net:
        want = net.classify(paths, top=5, batch=len(paths), on_error="return")
        assert net.validation_messages == 0
    assert len(got) == len(paths)
    for path, g, w in zip(paths, got, want):
        if isinstance(w, kwvk.FileError):
            assert isinstance(g, kwvk.FileError) and g.source == path, (path, g)
            continue
        assert [lab for lab, _ in g] == [lab for lab, _ in w], path
        assert max(abs(a - b) for (_, a), (_, b) in zip(g, w)) <= 1e-5, (path, g, w)
    assert isinstance(got[3], kwvk.FileError) and "corrupt.png" in got[3].source
    assert isinstance(got[-1 - len(PHOTOS[3:])], kwvk.FileError)
    assert sum(isinstance(r, kwvk.FileError) for r in got) == 2
    # the samples are named after their class: input order is kept
    for path, r in zip(SAMPLES, got[4:4 + len(SAMPLES)]):
        assert r[0][0].lower().replace("-", "").replace("/", "").replace(" ", "") == \
            os.path.basename(path)[3:-4].replace("_", ""), (path, r)

    # one Net per worker process, created once and reused across that worker's tasks
    stats = client.run(kd.worker_stats)
    assert len(stats) == 2
    tasks = sum(s["tasks"] for s in stats.values())
    assert tasks == -(-len(paths) // 3)
    for s in stats.values():
        assert s["nets_created"] == (1 if s["tasks"] else 0), stats
        assert s["validation_messages"] == 0, stats
    # a second call reuses the cached nets
    # (batch 1 against the batch above: the engine may pick another algorithm per batch size,
    # so the probabilities agree to rounding, not bit for bit)
    again = kd.classify(client, MODEL, PHOTOS[:2], top=2, batch=1)
    assert [r[0][0] for r in again] == [w[0][0] for w in want[:2]]
    assert max(abs(r[0][1] - w[0][1]) for r, w in zip(again, want[:2])) <= 1e-5, (again, want[:2])
    stats2 = client.run(kd.worker_stats)
    assert all(stats2[a]["nets_created"] <= 1 for a in stats2)


def test_bad_model_is_per_file_error(client):
    res = kd.classify(client, "no-such-model.kwvk", SAMPLES[:2], batch=1)
    assert all(isinstance(r, kwvk.FileError) and "no-such-model.kwvk" in r.message for r in res)


def test_worker_device_rule(monkeypatch):
    """rank modulo the devices of the best kind present; KWVK_DEVICE wins."""
    fake = [{"index": 0, "type": "CPU"}, {"index": 1, "type": "discrete GPU"},
            {"index": 2, "type": "integrated GPU"}, {"index": 3, "type": "discrete GPU"}]
    monkeypatch.delenv("KWVK_DEVICE", raising=False)
    monkeypatch.setattr(kd, "devices", lambda details=False: fake)
    assert [kd.worker_device(r) for r in range(4)] == ["1", "3", "1", "3"]
    monkeypatch.setattr(kd, "devices", lambda details=False: fake[:1] + fake[2:3])
    assert [kd.worker_device(r) for r in range(3)] == ["2", "2", "2"]
    monkeypatch.setattr(kd, "devices", lambda details=False: fake[:1])
    assert kd.worker_device(5) == "0"
    monkeypatch.setenv("KWVK_DEVICE", "llvmpipe")
    assert kd.worker_device(1) is None
    ranks = kd._ranks(["tcp://10.0.0.2:4001", "tcp://10.0.0.1:4000", "tcp://10.0.0.2:3999", "tcp://10.0.0.2:4100"])
    assert ranks == {"tcp://10.0.0.2:3999": 0, "tcp://10.0.0.2:4001": 1, "tcp://10.0.0.2:4100": 2,
                     "tcp://10.0.0.1:4000": 0}
