"""`bigocr batch` and `bigocr.detect_batch`: many scans, bad ones skipped, complete ones not redone."""

import json

import fsspec
import numpy as np
import pytest
import tifffile

import bigocr
from bigocr.api import detect_batch
from bigocr.engine.batch import out_names, read_list
from bigocr.cli import main
from bigocr.testing import FakeDetector, make_page


@pytest.fixture()
def scans(tmp_path):
    a, _ = make_page(300, 400, words=20, seed=1)
    b, _ = make_page(260, 380, words=20, seed=2)
    tifffile.imwrite(tmp_path / "a.tif", a, photometric="rgb")
    tifffile.imwrite(tmp_path / "pages.tif", np.stack([a, b[:300, :400] if b.shape[0] >= 300 else a[::-1].copy()]),
                     photometric="rgb")
    (tmp_path / "sub").mkdir()
    tifffile.imwrite(tmp_path / "sub" / "a.tif", b, photometric="rgb")
    (tmp_path / "bad.tif").write_bytes(b"II*\x00 not really a tiff")
    return tmp_path


def test_cli_batch_reports_skips_and_resumes(scans, random_weights, capsys):
    listing = scans / "more.txt"
    listing.write_text(f"# more scans\n{scans / 'sub' / 'a.tif'}\n\n{scans / 'bad.tif'}\n")
    out = scans / "out"
    argv = ["batch", str(scans / "a.tif"), str(scans / "pages.tif"), "--list", str(listing), "-o", str(out),
            "--weights", str(random_weights), "--device", "cpu", "--max-side", "256", "--no-preview"]
    assert main(argv) == 6  # one scan failed; the others are done
    captured = capsys.readouterr()
    table = captured.out
    assert "bad.tif" in captured.err and "1 of 5 scans failed" in captured.err
    assert table.count(" done ") == 4 and table.count(" failed ") == 1 and "4 done, 1 failed" in table
    names = out_names([str(scans / "a.tif"), str(scans / "pages.tif"), str(scans / "sub" / "a.tif"),
                       str(scans / "bad.tif")])
    assert names[1:] == ["pages", names[2], "bad"] and names[0] != names[2] and names[0].startswith("a-")
    for folder in (names[0], "pages/page-0001", "pages/page-0002", names[2]):
        doc = json.loads((out / folder / "words.json").read_text())
        assert doc["model"]["name"] == "random-init"
    assert json.loads((out / "pages" / "page-0002" / "words.json").read_text())["scan"]["page"] == 1
    summary = json.loads((out / "batch.json").read_text())
    assert [s["state"] for s in summary] == ["done", "done", "done", "done", "failed"]
    # Again: every good scan is already complete and skipped; the bad one still fails.
    stamp = (out / names[0] / "words.json").stat().st_mtime_ns
    assert main(argv) == 6
    assert capsys.readouterr().out.count(" complete ") == 4
    assert (out / names[0] / "words.json").stat().st_mtime_ns == stamp


def test_library_batch_into_an_fsspec_url(scans):
    items = detect_batch([scans / "a.tif", scans / "missing.tif"], "memory://batch-test/out",
                         detector=FakeDetector(), max_side=256, scheduler="synchronous", formats="json,alto")
    assert [(it.state, it.page) for it in items] == [("done", 1), ("failed", 1)]
    assert "no such file" in items[1].error
    fs = fsspec.filesystem("memory")
    assert fs.exists("/batch-test/out/a/words.json") and fs.exists("/batch-test/out/a/alto.xml")
    assert fs.exists("/batch-test/out/batch.json")
    again = bigocr.detect(scans / "a.tif", detector=FakeDetector(), max_side=256, scheduler="synchronous",
                          out="memory://batch-test/out/a")
    assert again.run["state"] == "complete" and len(again.words) == items[0].words


def test_batch_arguments(tmp_path):
    with pytest.raises(bigocr.ParameterError, match="no scans given"):
        detect_batch([], tmp_path / "out", detector=FakeDetector())
    (tmp_path / "list.txt").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(bigocr.ParameterError, match="not a text file"):
        read_list(tmp_path / "list.txt")
    with pytest.raises(bigocr.ParameterError, match="cannot read"):
        read_list(tmp_path / "nothing.txt")
