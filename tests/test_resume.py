"""Resume after a kill, re-runs of complete jobs, refusing another job's OUT, idempotent tiles."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tifffile

import bigocr
from bigocr.cli import main
from bigocr.engine.cluster import run_tile
from bigocr.merge.stitch import DONE, create_maps, done_tiles, open_maps
from bigocr.testing import FakeDetector, ScriptedDetector, make_page
from bigocr.tiler.plan import plan_tiles
from bigocr.tiler.scan import open_scan


def _words(result):
    return [w.to_dict() for w in result.words]


def _default_sigint():
    """In the child: Ctrl-C as in a shell, whatever state the test process left SIGINT in."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])


def _interrupted_run(path, out, calls, sig, scheduler, after=6):
    """Start a run in a separate process and send it ``sig`` once ``after`` tiles were computed."""
    code = textwrap.dedent(f"""
        import bigocr
        from bigocr.testing import ScriptedDetector
        bigocr.detect({str(path)!r}, max_side=512, out={str(out)!r}, scheduler={scheduler!r}, threads=2,
                      detector=ScriptedDetector(delay=0.2, calls={str(calls)!r}), formats="json,alto")
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=_default_sigint)
    deadline = time.time() + 120
    while len(os.listdir(calls)) < after:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(sig)
    proc.wait(60)
    return proc.returncode


@pytest.mark.parametrize("sig,scheduler", [(signal.SIGKILL, "synchronous"), (signal.SIGINT, None)])
def test_a_killed_run_resumes_and_recomputes_only_missing_tiles(tmp_path, tiled_scan, sig, scheduler):
    path, clean = tiled_scan
    out = tmp_path / "out"
    first, second = tmp_path / "calls1", tmp_path / "calls2"
    first.mkdir()
    second.mkdir()
    code = _interrupted_run(path, out, first, sig, scheduler)
    assert code != 0
    assert not (out / "words.json").exists()
    done = done_tiles(open_maps(out / "maps.zarr"))
    total = clean.tiles["count"]
    assert 0 < len(done) < total
    result = bigocr.detect(path, max_side=512, out=out, scheduler=scheduler, formats="json,alto",
                           detector=ScriptedDetector(calls=str(second)))
    assert result.run == {"state": "resumed", "tiles_run": total - len(done), "tiles_skipped": len(done)}
    assert len(os.listdir(second)) == total - len(done)  # nothing recorded as done was computed again
    assert _words(result) == _words(clean)
    assert (out / "alto.xml").read_bytes() == (clean.out / "alto.xml").read_bytes()
    for name in ("region", "affinity"):
        assert np.array_equal(open_maps(out / "maps.zarr")[name][:], open_maps(clean.out / "maps.zarr")[name][:])


def test_a_complete_job_changes_nothing_and_says_so(tmp_path, random_weights, capsys):
    page, _ = make_page(300, 400, words=20, seed=4)
    tifffile.imwrite(tmp_path / "page.tif", page)
    out = tmp_path / "page.bigocr"
    argv = ["run", str(tmp_path / "page.tif"), "-o", str(out), "--weights", str(random_weights), "--device", "cpu",
            "--max-side", "256"]
    assert main(argv) == 0
    capsys.readouterr()
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir() if p.is_file()}
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert "already complete" in said and "nothing to do" in said
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir() if p.is_file()} == before
    # Asking for another format of a complete job writes just that file.
    assert main(argv + ["--format", "json,page"]) == 0
    assert "added page.xml" in capsys.readouterr().out
    assert (out / "page.xml").exists() and (out / "words.json").read_bytes() == before["words.json"][1]
    # Another model or other parameters: refused, then redone with --force.
    assert main(argv[:-1] + ["320"]) == 5
    err = capsys.readouterr().err
    assert "another job" in err and "max_side 256 -> 320" in err and "--force" in err
    assert main(argv[:-1] + ["320", "--force"]) == 0
    assert json.loads((out / "words.json").read_text())["params"]["max_side"] == 320
    # Other arithmetic gives other maps: not mixed into this job either (auto is recorded as resolved).
    from bigocr.models.device import resolve_precision

    used = resolve_precision("auto", "cpu")
    other = "fp32" if used == "bf16" else "bf16"
    assert json.loads((out / "words.json").read_text())["model"]["precision"] == used
    assert main(argv[:-1] + ["320", "--precision", other]) == 5
    assert f"model precision '{used}' -> '{other}'" in capsys.readouterr().err


def test_a_changed_scan_is_not_resumed(tmp_path, tiled_scan):
    path, _ = tiled_scan
    copy = tmp_path / "scan.tif"
    copy.write_bytes(path.read_bytes())
    bigocr.detect(copy, max_side=512, detector=FakeDetector(), out=tmp_path / "out", scheduler="synchronous")
    page, _ = make_page(1500, 1100, words=300, seed=9)
    tifffile.imwrite(copy, page, tile=(256, 256), compression="zlib")
    with pytest.raises(bigocr.OutputError, match="changed since"):
        bigocr.detect(copy, max_side=512, detector=FakeDetector(), out=tmp_path / "out", scheduler="synchronous")


def test_files_that_are_not_a_run_are_not_touched(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "words.json").write_text("my own notes")
    with pytest.raises(bigocr.OutputError, match="words.json, which bigocr did not write"):
        bigocr.detect(np.zeros((64, 64), np.uint8), max_side=64, detector=FakeDetector(), out=out)
    assert (out / "words.json").read_text() == "my own notes"


def test_tiles_are_idempotent_and_a_torn_flag_is_not_done(tmp_path):
    page, _ = make_page(700, 600, words=60, seed=2)
    scan_ = open_scan(page)
    plan = plan_tiles(*page.shape[:2], max_side=256)
    path = tmp_path / "maps.zarr"
    create_maps(str(path), plan, {})
    for tile in plan.tiles:
        run_tile(scan_, tile, FakeDetector(), str(path))
    chunks = {p: p.read_bytes() for p in path.rglob("*") if p.is_file() and "/c/" in str(p)}
    for tile in plan.tiles[::2]:  # Dask reruns the tasks of a dead worker
        run_tile(scan_, tile, FakeDetector(), str(path))
    assert {p: p.read_bytes() for p in path.rglob("*") if p.is_file() and "/c/" in str(p)} == chunks
    assert done_tiles(open_maps(path)) == {t.index for t in plan.tiles}
    flag = path / DONE / "c" / "0" / "1"
    flag.write_bytes(b"")  # a kill while the flag was written
    assert done_tiles(open_maps(path)) == {t.index for t in plan.tiles} - {(0, 1)}


def test_ctrl_c_swallowed_by_a_finalizer_still_stops_the_run():
    from bigocr.engine.cluster import _ctrl_c_checks

    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a fresh process
    unblocked = signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    try:
        _check_swallowed_ctrl_c(_ctrl_c_checks)
    finally:
        signal.signal(signal.SIGINT, before)
        signal.pthread_sigmask(signal.SIG_SETMASK, unblocked)


def _check_swallowed_ctrl_c(_ctrl_c_checks):
    before = signal.getsignal(signal.SIGINT)
    with _ctrl_c_checks() as check:
        check()  # nothing yet
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)
        except KeyboardInterrupt:
            pass  # what CPython does to an exception raised in a __del__: print it and go on
        with pytest.raises(KeyboardInterrupt):
            check()
    assert signal.getsignal(signal.SIGINT) is before
