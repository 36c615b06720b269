"""A user's files are never lost, and bad input gets one line and the documented exit code.

Every case runs the real ``bigocr`` process (``python -m bigocr``) and compares
the files before and after by checksum.  The cases are those a hostile or
careless user tried: ``--force`` over the scan and over the user's own files,
``recognize`` over its own ``--boxes``, URLs for ``-o``, two runs into one OUT,
a killed run's lock, path spellings, pipes, write failures, damaged JPEGs and
PNGs, float TIFFs in 0..255, thresholds out of range, Ctrl-C, symlink loops,
pickles that ask to run code, and the ``--max-side`` a message quotes.
"""

import hashlib
import json
import os
import pickle
import resource
import signal
import subprocess
import sys
import textwrap
import time

import cv2
import numpy as np
import pytest
import tifffile

from bigocr.dev.synth import render_page
from bigocr.tiler.scan import open_scan


def _bigocr(*args, cwd=None, timeout=300, preexec_fn=None):
    return subprocess.run([sys.executable, "-m", "bigocr", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, preexec_fn=preexec_fn)


def _sums(folder) -> dict:
    """Every file under ``folder``, by relative path, with its SHA-256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_error_line(run, code, *words):
    assert run.returncode == code, (run.returncode, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bigocr: error: "), run.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def text_page(tmp_path_factory):
    """A small rendered page of real text (so the default detector finds words), as PNG and tiled TIFF."""
    folder = tmp_path_factory.mktemp("page")
    image = render_page(480, 640, seed=5, layout="article", dpi=200).image
    cv2.imwrite(str(folder / "page.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    tifffile.imwrite(folder / "page.tif", image, photometric="rgb", tile=(256, 256), compression="zlib")
    return folder, image


# -- data loss ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("force", [False, True])
def test_no_flag_makes_bigocr_write_over_the_scan_it_reads(tmp_path, text_page, force):
    folder, _ = text_page
    out = tmp_path / "D"
    out.mkdir()
    (out / "preview.png").write_bytes((folder / "page.png").read_bytes())
    before = _sums(out)
    run = _bigocr("run", out / "preview.png", "-o", out, "--no-text", *(["--force"] if force else []))
    _one_error_line(run, 5, "preview.png", "the scan being read")
    assert _sums(out) == before


def test_force_removes_only_what_a_bigocr_job_wrote(tmp_path, text_page):
    folder, _ = text_page
    mine = tmp_path / "mine"
    mine.mkdir()
    for name, text in {"text.txt": "my transcription\n", "page.xml": "<PcGts/>\n", "notes.txt": "notes\n"}.items():
        (mine / name).write_text(text)
    before = _sums(mine)
    run = _bigocr("run", folder / "page.tif", "-o", mine, "--force", "--format", "json,txt,page", "--no-text")
    _one_error_line(run, 5, "text.txt", "page.xml", "did not write")
    assert _sums(mine) == before

    # A bigocr OUT is bigocr's to replace with --force, but not a file of it that the user changed since.
    out = tmp_path / "out"
    assert _bigocr("run", folder / "page.tif", "-o", out, "--format", "json,page", "--no-text").returncode == 0
    (out / "page.xml").write_text((out / "page.xml").read_text().replace("<Page ", "<Page custom=\"fixed\" "))
    edited = _sums(out)
    run = _bigocr("run", folder / "page.tif", "-o", out, "--force", "--format", "json,page", "--no-text",
                  "--text-threshold", "0.6")
    _one_error_line(run, 5, "page.xml", "changed since")
    assert _sums(out) == edited
    (out / "page.xml").unlink()  # the user takes their file away: now --force may redo the job
    run = _bigocr("run", folder / "page.tif", "-o", out, "--force", "--format", "json,page", "--no-text",
                  "--text-threshold", "0.6")
    assert run.returncode == 0, run.stderr
    assert json.loads((out / "words.json").read_text())["params"]["text_threshold"] == 0.6


def test_recognize_never_writes_over_its_boxes_nor_the_users_files(tmp_path, text_page):
    folder, _ = text_page
    made = tmp_path / "made"
    assert _bigocr("run", folder / "page.tif", "-o", made, "--format", "json,page", "--no-text").returncode == 0
    work = tmp_path / "D"
    work.mkdir()
    (work / "page.xml").write_bytes((made / "page.xml").read_bytes())  # a layout corrected by hand
    (work / "text.txt").write_text("the user's own text\n")
    before = _sums(work)
    for force in ([], ["--force"]):
        run = _bigocr("recognize", folder / "page.tif", "--boxes", work / "page.xml", "-o", work,
                      "--format", "json,page,txt", *force)
        _one_error_line(run, 5, "page.xml")
        assert _sums(work) == before
    # Into a folder of its own it reads them; a second time it follows run's rules.
    other = tmp_path / "E"
    run = _bigocr("recognize", folder / "page.tif", "--boxes", work / "page.xml", "-o", other, "--format", "json,txt")
    assert run.returncode == 0, run.stderr
    first = _sums(other)
    _one_error_line(_bigocr("recognize", folder / "page.tif", "--boxes", work / "page.xml", "-o", other),
                    5, "already holds")
    assert _sums(other) == first
    run = _bigocr("recognize", folder / "page.tif", "--boxes", work / "page.xml", "-o", other, "--force",
                  "--format", "json")
    assert run.returncode == 0, run.stderr
    assert not (other / "text.txt").exists()  # the earlier job's file went with --force
    assert _sums(work) == before


def test_a_url_for_out_is_a_url_never_a_local_folder(tmp_path, text_page):
    folder, _ = text_page
    cases = ["foo://bucket/out", "ftp://127.0.0.1:1/out"]
    try:
        import s3fs  # noqa: F401
    except ImportError:
        cases.append("s3://bucket/out")
    for url in cases:
        run = _bigocr("run", folder / "page.tif", "-o", url, "--no-text", cwd=tmp_path)
        _one_error_line(run, 5, url)
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(":")], url  # no ./s3:/bucket/out
    if "s3://bucket/out" in cases:
        assert "s3fs" in run.stderr


# -- concurrency and resume -----------------------------------------------------------------------------------

def _slow_run(path, out, calls, wait=False):
    code = textwrap.dedent(f"""
        import bigocr
        from bigocr.testing import ScriptedDetector
        r = bigocr.detect({str(path)!r}, max_side=256, out={str(out)!r}, scheduler="synchronous", wait={wait},
                          detector=ScriptedDetector(delay=0.25, calls={str(calls)!r}))
        print(r.run["state"])
    """)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_until(proc, condition, seconds=120):
    deadline = time.time() + seconds
    while not condition():
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < deadline
        time.sleep(0.05)


def test_a_second_run_into_an_out_in_use_is_refused_or_waits(tmp_path, text_page):
    folder, _ = text_page
    out, calls = tmp_path / "out", tmp_path / "calls"
    calls.mkdir()
    first = _slow_run(folder / "page.tif", out, calls)
    _wait_until(first, lambda: os.listdir(calls))  # it holds the lock once its first tile ran
    run = _bigocr("run", folder / "page.tif", "-o", out, "--no-text")
    _one_error_line(run, 5, f"in use by another bigocr run (pid {first.pid})")
    waiter = _slow_run(folder / "page.tif", out, tmp_path, wait=True)  # same job: waits, then finds it done
    assert first.wait(120) == 0, first.stderr.read()
    assert waiter.wait(120) == 0, waiter.stderr.read()
    assert first.stdout.read().strip() == "done"
    assert waiter.stdout.read().strip() == "complete"
    assert not (out / ".bigocr.lock").exists()


def test_the_lock_of_a_killed_run_never_blocks(tmp_path, text_page):
    folder, _ = text_page
    out, calls = tmp_path / "out", tmp_path / "calls"
    calls.mkdir()
    victim = _slow_run(folder / "page.tif", out, calls)
    _wait_until(victim, lambda: len(os.listdir(calls)) >= 2)
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)
    assert (out / ".bigocr.lock").exists()  # left behind, and locked by nobody
    rerun = _slow_run(folder / "page.tif", out, tmp_path)
    assert rerun.wait(120) == 0, rerun.stderr.read()
    assert rerun.stdout.read().strip() == "resumed"


def test_a_job_is_its_file_however_its_path_is_spelled(tmp_path, text_page):
    folder, _ = text_page
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.tif").write_bytes((folder / "page.tif").read_bytes())
    (tmp_path / "a" / "b").mkdir(parents=True)
    out = tmp_path / "out"
    assert _bigocr("run", "../../in/x.tif", "-o", out, "--no-text", cwd=tmp_path / "a" / "b").returncode == 0
    run = _bigocr("run", tmp_path / "in" / "x.tif", "-o", out, "--no-text")
    assert run.returncode == 0, run.stderr
    assert "already complete" in run.stdout


# -- exit codes and messages ----------------------------------------------------------------------------------

def test_a_named_pipe_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "f.tif")
    _one_error_line(_bigocr("run", tmp_path / "f.tif", timeout=120), 2, "f.tif", "named pipe")


def _limit_file_size(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_write_failures_are_exit_5_with_the_path_and_the_reason(tmp_path, text_page):
    folder, _ = text_page
    out = tmp_path / "out"
    # The disk fills while the run writes its maps and outputs.
    run = _bigocr("run", folder / "page.tif", "-o", out, "--no-text", preexec_fn=_limit_file_size(600))
    _one_error_line(run, 5, str(out), "cannot write", "File too large")
    assert not (out / "words.json").exists()
    # A complete job asked for more formats where nothing more can be written.
    done = tmp_path / "done"
    assert _bigocr("run", folder / "page.tif", "-o", done, "--no-text").returncode == 0
    before = _sums(done)
    run = _bigocr("run", folder / "page.tif", "-o", done, "--no-text", "--format", "json,alto,txt",
                  preexec_fn=_limit_file_size(64))
    _one_error_line(run, 5, str(done), "cannot write")
    assert _sums(done) == before


def test_a_jpeg_with_corrupt_scan_data_is_refused(tmp_path, text_page):
    _, image = text_page
    ok, data = cv2.imencode(".jpg", image)
    data = bytearray(data.tobytes())
    middle = len(data) // 2
    data[middle:middle + 300] = bytes(300)  # the end-of-image marker stays
    (tmp_path / "corrupt.jpg").write_bytes(bytes(data))
    _one_error_line(_bigocr("run", tmp_path / "corrupt.jpg", "-o", tmp_path / "out"), 2, "corrupt.jpg",
                    "corrupt image data")
    assert not (tmp_path / "out").exists()


def test_damaged_pngs_get_bigocrs_line_only(tmp_path, text_page):
    folder, _ = text_page
    data = (folder / "page.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    broken = bytearray(data)
    broken[len(data) // 2: len(data) // 2 + 64] = bytes(64)
    (tmp_path / "corrupt.png").write_bytes(bytes(broken))
    for name in ("truncated.png", "corrupt.png"):
        _one_error_line(_bigocr("run", tmp_path / name, "-o", tmp_path / f"out-{name}"), 2, name)
        assert not (tmp_path / f"out-{name}").exists()


def test_a_float_tiff_in_0_255_reads_as_the_integer_one(tmp_path, text_page):
    folder, image = text_page
    tifffile.imwrite(tmp_path / "float255.tif", image.astype(np.float32), photometric="rgb")
    tifffile.imwrite(tmp_path / "float1.tif", image.astype(np.float32) / 255, photometric="rgb")
    tifffile.imwrite(tmp_path / "float-huge.tif", image.astype(np.float32) * 1000, photometric="rgb")
    for name in ("float255.tif", "float1.tif"):
        assert np.array_equal(open_scan(tmp_path / name).read(0, 480, 0, 640), image)
    counts = []
    for name in ("page.tif", "float255.tif"):
        source = folder / name if name == "page.tif" else tmp_path / name
        run = _bigocr("run", source, "-o", tmp_path / f"out-{name}", "--no-text", "--no-preview")
        assert run.returncode == 0, run.stderr
        counts.append(len(json.loads((tmp_path / f"out-{name}" / "words.json").read_text())["words"]))
    assert counts[0] > 20 and counts[1] == counts[0]
    _one_error_line(_bigocr("run", tmp_path / "float-huge.tif", "-o", tmp_path / "huge"), 2, "float-huge.tif",
                    "0..1, 0..255 or 0..65535")


@pytest.mark.parametrize("option,value", [("--text-threshold", "2"), ("--low-text", "5"),
                                          ("--link-threshold", "-1"), ("--low-text", "nan"),
                                          ("--text-threshold", "0")])
def test_thresholds_out_of_range_are_refused(tmp_path, text_page, option, value):
    folder, _ = text_page
    run = _bigocr("run", folder / "page.tif", "-o", tmp_path / "out", option, value)
    assert run.returncode == 1, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and option in run.stderr and "between 0 and 1" in run.stderr
    assert not (tmp_path / "out").exists()


def test_library_thresholds_out_of_range_are_refused():
    import bigocr

    with pytest.raises(bigocr.ParameterError, match="low_text must be between 0 and 1"):
        bigocr.detect(np.zeros((64, 64), np.uint8), low_text=5)


def test_ctrl_c_prints_only_interrupted(tmp_path):
    image = render_page(2400, 1800, seed=2, layout="article", dpi=300).image
    tifffile.imwrite(tmp_path / "big.tif", image, photometric="rgb", tile=(256, 256), compression="zlib")
    for n, delay in enumerate((0.5, 1.5)):
        out = tmp_path / f"out{n}"
        proc = subprocess.Popen([sys.executable, "-m", "bigocr", "run", str(tmp_path / "big.tif"), "-o", str(out),
                                 "--max-side", "512"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        _wait_until(proc, (out / "maps.zarr").exists)  # the job is under way
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 130, stderr
        assert stderr == "bigocr: interrupted\n", stderr


def test_messages_say_what_happened(tmp_path, text_page):
    folder, _ = text_page
    os.symlink(tmp_path / "loop-b.tif", tmp_path / "loop-a.tif")
    os.symlink(tmp_path / "loop-a.tif", tmp_path / "loop-b.tif")
    _one_error_line(_bigocr("run", tmp_path / "loop-a.tif"), 2, "loop-a.tif", "loop of symbolic links")

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    (tmp_path / "evil.pth").write_bytes(pickle.dumps({"w": Payload()}))
    line = _one_error_line(_bigocr("run", folder / "page.tif", "-o", tmp_path / "o1", "--weights",
                                   tmp_path / "evil.pth"), 3, "evil.pth", "run code")
    assert "weights_only=False" not in line
    assert not (tmp_path / "ran").exists()

    out = tmp_path / "o2"
    assert _bigocr("run", folder / "page.tif", "-o", out, "--no-text").returncode == 0
    _one_error_line(_bigocr("run", folder / "page.tif", "-o", out, "--no-text", "--max-side", "1024"), 5,
                    "max_side 2560 -> 1024")
