"""Real clusters: `dask scheduler` and `dask worker` processes on loopback, workers that die."""

import os
import signal
import threading
import time

import numpy as np
import pytest
import tifffile

import bigocr
from bigocr.merge.stitch import done_tiles, open_maps
from bigocr.testing import FakeDetector, ScriptedDetector, make_page
from clusters import start_cluster as _start_cluster
from clusters import stop as _stop

pytestmark = pytest.mark.slow


def _words(result):
    return [w.to_dict() for w in result.words]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    address, client, procs = _start_cluster(tmp_path_factory.mktemp("cluster"),
                                            [["--name", "cpu"], ["--name", "gpu", "--resources", "GPU=1"]])
    yield address, client
    _stop(client, procs)


def test_run_on_a_running_cluster_to_a_file_url(tmp_path, cluster, tiled_scan):
    address, client = cluster
    path, clean = tiled_scan
    result = bigocr.detect(path, max_side=512, detector=FakeDetector(), scheduler=address,
                           out=f"file://{tmp_path}/out", formats="json,alto")
    assert _words(result) == _words(clean) and len(result.words) > 200
    assert (tmp_path / "out" / "words.json").exists() and (tmp_path / "out" / "alto.xml").exists()
    for name in ("region", "affinity"):
        assert np.array_equal(open_maps(tmp_path / "out" / "maps.zarr")[name][:],
                              open_maps(clean.out / "maps.zarr")[name][:])
    # Torch threads were set per worker (Dask starts them with OMP_NUM_THREADS=1): cores / 1 thread.
    threads = client.run(lambda: __import__("torch").get_num_threads())
    cores = client.run(lambda: len(os.sched_getaffinity(0)))
    assert threads == cores
    # The detector plugin is gone from the workers once the run is over.
    assert not any(any(n.startswith("bigocr") for n in names)
                   for names in client.run(lambda dask_worker: list(dask_worker.plugins)).values())


def test_the_environment_variable_names_the_cluster(tmp_path, cluster, tiled_scan, monkeypatch):
    address, _ = cluster
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", address)
    result = bigocr.detect(tiled_scan[0], max_side=512, detector=FakeDetector(), out=tmp_path / "out")
    assert _words(result) == _words(tiled_scan[1])


def test_the_model_is_loaded_once_per_worker(tmp_path, cluster, random_weights):
    """CRAFT weights: the plugin loads the network when it is installed; tiles reuse it."""
    address, client = cluster
    page, _ = make_page(700, 500, words=30, seed=5)
    result = bigocr.detect(page, max_side=256, detector=random_weights, scheduler=address, device="cpu")
    assert result.tiles["count"] > 4
    cached = client.run(lambda: len(__import__("bigocr.models.weights", fromlist=["_CACHE"])._CACHE))
    assert set(cached.values()) == {1}


def test_gpu_resources_go_to_the_gpu_worker_and_missing_ones_fail_fast(tmp_path, cluster, tiled_scan,
                                                                       random_weights):
    address, client = cluster
    result = bigocr.detect(tiled_scan[0], max_side=512, detector=ScriptedDetector(calls=str(tmp_path)),
                           scheduler=address, resources="GPU=1")
    assert _words(result) == _words(tiled_scan[1])
    t0 = time.perf_counter()
    with pytest.raises(bigocr.ClusterError, match="offers resources TPU=1.*--resources TPU=1"):
        bigocr.detect(tiled_scan[0], max_side=512, detector=FakeDetector(), scheduler=address, resources={"TPU": 1})
    assert time.perf_counter() - t0 < 10
    # --device cuda on a cluster asks for GPU=1 by default; the worker offering it has no CUDA here,
    # so loading the model there fails at once, naming the worker (the CPU worker is not asked to).
    t0 = time.perf_counter()
    with pytest.raises(bigocr.ClusterError, match="worker tcp://127.0.0.1:.*no CUDA GPU"):
        bigocr.detect(tiled_scan[0], max_side=512, detector=random_weights, scheduler=address, device="cuda")
    assert time.perf_counter() - t0 < 30


def test_an_unreachable_scheduler_is_named():
    with pytest.raises(bigocr.ParameterError, match="cannot reach the Dask scheduler"):
        bigocr.detect(np.zeros((64, 64), np.uint8), max_side=64, detector=FakeDetector(),
                      scheduler="tcp://127.0.0.1:9")


def test_kill_9_of_a_dask_worker_mid_run(tmp_path, tiled_scan):
    """One of two worker processes is SIGKILLed while tiles run: the job completes, output identical."""
    address, client, procs = _start_cluster(tmp_path, [["--no-nanny"], ["--no-nanny"]])
    try:
        calls = tmp_path / "calls"
        calls.mkdir()
        pids = client.run(os.getpid)
        out = {}

        def run():
            out["result"] = bigocr.detect(tiled_scan[0], max_side=512, scheduler=address, out=tmp_path / "out",
                                          detector=ScriptedDetector(delay=0.15, calls=str(calls)))

        worker = threading.Thread(target=run)
        worker.start()
        deadline = time.time() + 60
        while len(os.listdir(calls)) < 6:
            assert time.time() < deadline and worker.is_alive()
            time.sleep(0.05)
        os.kill(next(iter(pids.values())), signal.SIGKILL)
        worker.join(120)
        assert not worker.is_alive()
        result = out["result"]
        assert _words(result) == _words(tiled_scan[1])
        assert len(client.scheduler_info()["workers"]) == 1
        for name in ("region", "affinity"):
            assert np.array_equal(open_maps(tmp_path / "out" / "maps.zarr")[name][:],
                                  open_maps(tiled_scan[1].out / "maps.zarr")[name][:])
    finally:
        _stop(client, procs)


def test_os_exit_inside_a_task_on_a_process_cluster(tmp_path, tiled_scan):
    """A worker process dies inside a tile (os._exit); Dask reruns the tile elsewhere; output identical."""
    from distributed import Client, LocalCluster

    marker = tmp_path / "crashed"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0") as lc, \
            Client(lc) as client:
        result = bigocr.detect(tiled_scan[0], max_side=512, scheduler=client, out=tmp_path / "out",
                               detector=ScriptedDetector(crash_marker=str(marker)))
    assert marker.exists(), "no worker died: the test did not test anything"
    assert _words(result) == _words(tiled_scan[1])
    group = open_maps(tmp_path / "out" / "maps.zarr")
    assert len(done_tiles(group)) == result.tiles["count"]
    for name in ("region", "affinity"):
        assert np.array_equal(group[name][:], open_maps(tiled_scan[1].out / "maps.zarr")[name][:])


def test_batch_on_a_cluster(tmp_path, cluster, tiled_scan):
    address, _ = cluster
    from bigocr.api import detect_batch

    page, _ = make_page(600, 500, words=40, seed=9)
    tifffile.imwrite(tmp_path / "two.tif", np.stack([page, page[::-1].copy()]), photometric="rgb")
    items = detect_batch([tiled_scan[0], tmp_path / "two.tif"], f"file://{tmp_path}/batch", scheduler=address,
                         detector=FakeDetector(), max_side=512, in_flight=3)
    assert [(it.page, it.state) for it in items] == [(1, "done"), (1, "done"), (2, "done")]
    assert items[0].words == len(tiled_scan[1].words)
    assert (tmp_path / "batch" / "two" / "page-0002" / "words.json").exists()


def test_a_decoded_scan_goes_to_the_cluster_once_not_with_every_task(tmp_path):
    """A PNG is decoded whole; its pixels are scattered once, not pickled into each tile's task (which made
    Dask warn on stderr about a large graph and copy the scan per task)."""
    import warnings

    import cv2

    page, _ = make_page(2200, 2000, words=200, seed=5)
    cv2.imwrite(str(tmp_path / "page.png"), page)  # 13 MB decoded: over Dask's 10 MB graph warning
    scan = bigocr.open_scan(tmp_path / "page.png")
    assert scan.in_memory and scan.path is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the warning would fail the run
        result = bigocr.detect(tmp_path / "page.png", max_side=1024, detector=FakeDetector(), threads=2)
    assert result.tiles["count"] > 2 and len(result.words) > 100


def test_a_cluster_left_without_workers_is_said_at_once():
    """The watch during a run checks with wait=0: that must not wait for ever (distributed reads 0 as none)."""
    from distributed import Client, LocalCluster

    from bigocr.engine.cluster import check_resources

    with LocalCluster(n_workers=0, processes=False, dashboard_address="127.0.0.1:0") as lc, Client(lc) as client:
        t0 = time.time()
        with pytest.raises(bigocr.ClusterError, match="has no workers"):
            check_resources(client, None, wait=0.0)
        assert time.time() - t0 < 5
