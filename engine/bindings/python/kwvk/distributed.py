"""Batch classification spread over a Dask cluster (dask.distributed).

    from dask.distributed import Client, LocalCluster
    import kwvk.distributed
    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster) as client:
        results = kwvk.distributed.classify(client, "model.kwvk", paths, top=5, batch=8)

The paths are cut into chunks of `batch` images; each chunk is one task. A worker process
loads the model once (one kwvk context and Net per worker process, kept in a per-process cache
and reused by every later task) and classifies its chunks with the model's own preprocessing.
The files must be readable by the workers under the same paths (a shared file system).

Device choice, made by each worker for itself:
  1. KWVK_DEVICE in the worker's environment (an index or a name substring), if set;
  2. else, among the worker's Vulkan devices of the best kind present (discrete GPUs, else
     integrated GPUs, else all), number (rank mod count), where rank is the worker's position
     among the cluster's workers on the same host, ordered by address, as the scheduler listed
     them when classify() was called. Two workers on a machine with two GPUs thus take one
     each; a worker that joined later (not in that list) takes rank 0.
"""
import os
import threading

from . import Error, FileError, Net, devices

__all__ = ["classify", "worker_device", "worker_stats", "FileError"]

_cache = {}
_cache_lock = threading.Lock()
_stats = {"nets_created": 0, "tasks": 0}


def _host(address):
    """'tcp://10.0.0.5:40123' -> '10.0.0.5'"""
    a = address.split("://", 1)[-1]
    return a.rsplit(":", 1)[0] if ":" in a else a


def _ranks(workers):
    """{worker address: position among the workers of its host, ordered by address}"""
    by_host = {}
    for addr in workers:
        by_host.setdefault(_host(addr), []).append(addr)
    return {a: i for addrs in by_host.values() for i, a in enumerate(sorted(addrs))}


def worker_device(rank):
    """The device this process uses as worker number `rank` on its host: None (let the library
    read $KWVK_DEVICE) when KWVK_DEVICE is set or no device is found, else a device index."""
    if os.environ.get("KWVK_DEVICE"):
        return None
    found = devices(details=True)
    for kind in ("discrete GPU", "integrated GPU"):
        best = [d for d in found if d["type"] == kind]
        if best:
            break
    else:
        best = found
    if not best:
        return None
    return str(best[rank % len(best)]["index"])


def _net(model_path, ranks, fp16):
    """The Net of this worker process for model_path, created on first use."""
    try:
        from distributed import get_worker
        address = get_worker().address
    except (ImportError, ValueError):
        address = None
    rank = ranks.get(address, 0)
    key = (model_path, fp16)
    with _cache_lock:
        net = _cache.get(key)
        if net is None:
            net = Net(model_path, device=worker_device(rank), fp16=fp16)
            _cache[key] = net
            _stats["nets_created"] += 1
        return net


def _classify_chunk(paths, model_path, top, ranks, fp16):
    """Runs on a worker: one result per path, a FileError for a path that failed."""
    _stats["tasks"] += 1
    try:
        net = _net(model_path, ranks, fp16)
    except Error as e:
        return [FileError(p, f"cannot load the model on worker: {e}") for p in paths]
    return net.classify(paths, top=top, batch=len(paths), on_error="return")


def worker_stats():
    """This process's counters (for client.run(kwvk.distributed.worker_stats)): nets created,
    tasks run, and validation messages of the cached nets' contexts."""
    with _cache_lock:
        msgs = sum(n.validation_messages for n in _cache.values())
        return dict(_stats, validation_messages=msgs, devices=sorted({n.info["device"] for n in _cache.values()}))


def classify(client, model_path, paths, top=5, batch=8, fp16=False):
    """Classify image files on the workers of a dask.distributed Client.

    Returns one entry per path, in input order: a list of (label, probability) pairs, best
    first, or a kwvk.FileError(source, message) where that file could not be read, decoded or
    run. model_path and the paths must be valid on the workers."""
    paths = [os.fspath(p) for p in paths]
    batch = int(batch)
    if batch < 1:
        raise ValueError("batch must be >= 1")
    if not paths:
        return []
    ranks = _ranks(client.scheduler_info().get("workers", {}))
    model_path = os.fspath(model_path)
    chunks = [paths[i:i + batch] for i in range(0, len(paths), batch)]
    futures = client.map(_classify_chunk, chunks, model_path=model_path, top=int(top), ranks=ranks,
                         fp16=bool(fp16), pure=False)
    out = []
    for chunk, fut in zip(chunks, futures):
        try:
            out.extend(fut.result())
        except Exception as e:  # a worker died or the task failed as a whole
            out.extend(FileError(p, f"task failed: {type(e).__name__}: {e}") for p in chunk)
    return out
