"""A lost worker loses nothing: batches on real `dask scheduler` / `dask worker` processes (127.0.0.1), a
worker SIGKILLed during tiles, during reading and between scans, and the scheduler killed mid-batch.

Every scan's words.json must equal that of a run without the kill.  The scans are PNGs: decoded whole,
they go to the cluster scattered, so a worker that dies can take a scan's only copy with it.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import cv2
import pytest

from bigocr.api import detect_batch
from bigocr.testing import FakeDetector, ScriptedDetector, ScriptedReader, make_page
from clusters import start_cluster, stop

pytestmark = pytest.mark.slow

SCANS = 10


def _doc(path):
    doc = json.loads(path.read_text())
    doc.pop("timings")
    return doc


def _outputs(folder, scans):
    return {s.stem: _doc(folder / s.stem / "words.json") for s in scans}


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """Ten PNG pages and their words from an undisturbed run (fake detector, scripted reader, in this process)."""
    folder = tmp_path_factory.mktemp("scans")
    paths = []
    for i in range(SCANS):
        page, _ = make_page(900, 700, words=80, seed=20 + i)
        cv2.imwrite(str(folder / f"page{i:02d}.png"), page)
        paths.append(folder / f"page{i:02d}.png")
    clean = folder / "clean"
    items = detect_batch(paths, clean, scheduler="synchronous", detector=FakeDetector(), max_side=512, text=True,
                         recognizer=ScriptedReader())
    assert all(it.state == "done" for it in items)
    return paths, _outputs(clean, paths)


def _wait(condition, thread, seconds=120):
    deadline = time.time() + seconds
    while not condition():
        assert thread.is_alive(), "the batch ended before the fault"
        assert time.time() < deadline
        time.sleep(0.05)


def _batch_with_a_kill(tmp_path, scans, when, victim, *, tile_delay=0.05, read_delay=0.0):
    """Run the batch on a two-worker cluster; once ``when(calls)`` holds, SIGKILL ``victim(client, pids)``."""
    paths, clean = scans
    address, client, procs = start_cluster(tmp_path, [["--no-nanny"], ["--no-nanny"]])
    try:
        pids = client.run(os.getpid)
        calls = {"tiles": tmp_path / "tile-calls", "reads": tmp_path / "read-calls", "out": tmp_path / "out"}
        calls["tiles"].mkdir()
        calls["reads"].mkdir()
        result = {}

        def run():
            result["items"] = detect_batch(
                paths, calls["out"], scheduler=address, max_side=512, in_flight=2, text=True,
                detector=ScriptedDetector(delay=tile_delay, calls=str(calls["tiles"])),
                recognizer=ScriptedReader(delay=read_delay, calls=str(calls["reads"])))

        thread = threading.Thread(target=run)
        thread.start()
        _wait(lambda: when(calls), thread)
        killed = victim(client, pids)
        os.kill(pids[killed], signal.SIGKILL)
        thread.join(300)
        assert not thread.is_alive()
        items = result["items"]
        assert [it.state for it in items] == ["done"] * SCANS, [it.error for it in items]
        assert _outputs(calls["out"], paths) == clean
        assert "1 lost" in items.cluster, items.cluster
        return items, client, killed
    finally:
        stop(client, procs)


def _any_worker(client, pids):
    return next(iter(pids))


def _holder_of_a_scan(client, pids):
    """The worker holding a scattered scan (its only copy) right now, else any."""
    for key, where in client.who_has().items():
        if str(key).startswith("Scan-") and where:
            return where[0]
    return next(iter(pids))


def test_a_worker_killed_during_tiles(tmp_path, scans):
    _batch_with_a_kill(tmp_path, scans, lambda c: len(os.listdir(c["tiles"])) >= 6, _any_worker)


def test_a_worker_killed_during_reading_takes_a_scattered_scan_with_it(tmp_path, scans):
    items, _, _ = _batch_with_a_kill(tmp_path, scans, lambda c: len(os.listdir(c["reads"])) >= 2,
                                     _holder_of_a_scan, tile_delay=0.0, read_delay=0.4)
    assert "0 task(s) sent again" not in items.cluster  # the reads that lost their scan were sent again


def test_a_worker_killed_between_scans(tmp_path, scans):
    _batch_with_a_kill(tmp_path, scans,
                       lambda c: len([p for p in c["out"].glob("*/words.json")]) >= 3 if c["out"].exists() else False,
                       _any_worker)


def test_the_scheduler_killed_mid_batch_stops_with_exit_4_and_the_rerun_resumes(tmp_path, scans):
    paths, _ = scans
    common = ["--no-text", "--max-side", "512", "--scale", "1", "--coarse", "0", "--no-preview", "-q"]
    address, client, procs = start_cluster(tmp_path, [["--no-nanny"], ["--no-nanny"]])
    try:
        clean = subprocess.run([sys.executable, "-m", "bigocr", "batch", *map(str, paths), "-o",
                                str(tmp_path / "clean"), "--scheduler", address, *common],
                               capture_output=True, text=True, timeout=600)
        assert clean.returncode == 0, clean.stderr
        out = tmp_path / "out"
        batch = subprocess.Popen([sys.executable, "-m", "bigocr", "batch", *map(str, paths), "-o", str(out),
                                  "--scheduler", address, "--in-flight", "1", *common],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 300
        while not list(out.glob("*/words.json")):
            assert batch.poll() is None, batch.communicate()
            assert time.time() < deadline
            time.sleep(0.05)
        procs[0].send_signal(signal.SIGKILL)  # the scheduler
        _, stderr = batch.communicate(timeout=300)
    finally:
        stop(client, procs)
    assert batch.returncode == 4, stderr
    lines = stderr.strip().splitlines()
    done = len(list(out.glob("*/words.json")))
    assert 0 < done < SCANS
    assert len(lines) == SCANS - done + 1, stderr  # one line per scan still open, and the summary
    assert all(line.startswith("bigocr: error: ") and "not finished" in line for line in lines), stderr
    assert "run the same command again to resume" in lines[-1]
    (tmp_path / "again").mkdir()
    address, client, procs = start_cluster(tmp_path / "again", [["--no-nanny"]])  # the scheduler restarted
    try:
        rerun = subprocess.run([sys.executable, "-m", "bigocr", "batch", *map(str, paths), "-o", str(out),
                                "--scheduler", address, *common], capture_output=True, text=True, timeout=600)
    finally:
        stop(client, procs)
    assert rerun.returncode == 0, rerun.stderr
    assert _outputs(out, paths) == _outputs(tmp_path / "clean", paths)
