"""End to end: tiling on Dask, stitching, global labeling, boxes, words.json, the CLI."""

import json
import os

import numpy as np
import torch
import pytest
import tifffile

import bigocr
from bigocr.cli import main
from bigocr.merge.reference import reference_words
from bigocr.merge.stitch import open_maps
from bigocr.testing import FakeDetector, PooledFakeDetector, make_page


def _key(word):
    return tuple(np.round(word.box, 4).ravel())


@pytest.fixture(scope="module")
def big_page():
    page, boxes = make_page(2600, 1500, words=900, seed=11, rotate=True)
    return page, boxes


def test_tiled_run_is_exact_at_seams(tmp_path, big_page):
    """Fake detector: stitched maps equal untiled maps bit for bit; boxes equal the single pass."""
    page, _ = big_page
    det = FakeDetector()
    result = bigocr.detect(page, max_side=512, detector=det, out=tmp_path / "out")
    assert result.tiles["depth"] >= 3 and result.tiles["count"] > 20

    region, affinity = det(page)
    maps = open_maps(tmp_path / "out" / "maps.zarr")
    assert np.array_equal(maps["region"][:], region)
    assert np.array_equal(maps["affinity"][:], affinity)
    assert maps.attrs["bigocr"]["complete"] is True
    assert maps.attrs["bigocr"]["map_scale"] == 2

    ref = reference_words(region, affinity)
    assert len(result.words) == len(ref) > 500
    assert sorted(map(_key, result.words)) == sorted(map(_key, ref))


def test_words_found_match_the_drawn_words(big_page):
    """With the fake detector, boxes land on the drawn words (a check of coordinates and scale)."""
    page, boxes = big_page
    page = page.copy()
    page[:, :] = 255
    truth = boxes[:40]
    for b in truth:
        page[b[0, 1]:b[2, 1] + 1, b[0, 0]:b[2, 0] + 1] = 0
    result = bigocr.detect(page, max_side=512, detector=FakeDetector(), scheduler="synchronous")
    assert len(result.words) == len(truth)
    found = sorted((w.box[:, 0].min(), w.box[:, 1].min()) for w in result.words)
    drawn = sorted((b[0, 0], b[0, 1]) for b in truth)
    for (fx, fy), (dx, dy) in zip(found, drawn):
        assert abs(fx - dx) <= 6 and abs(fy - dy) <= 6


def test_local_cluster_and_synchronous_agree(big_page):
    page, _ = big_page
    small = page[:1200, :900]
    a = bigocr.detect(small, max_side=512, detector=FakeDetector())
    b = bigocr.detect(small, max_side=512, detector=FakeDetector(), scheduler="synchronous")
    assert sorted(map(_key, a.words)) == sorted(map(_key, b.words))


def test_random_craft_tiled_agrees_with_untiled(tmp_path, random_weights):
    """Real CRAFT (random weights): owned regions equal the untiled maps (to float32 rounding)."""
    page, _ = make_page(2000, 320, words=80, seed=2)
    whole = bigocr.detect(page, max_side=2560, detector=random_weights, out=tmp_path / "whole", tiling="thirds",
                          scheduler="synchronous", device="cpu", precision="fp32", scale=1)  # (a grid cuts it in two)
    # random weights reach farther than the impulse measures on its page (42 px): a margin that covers their reach
    tiled = bigocr.detect(page, max_side=1040, detector=random_weights, out=tmp_path / "tiled", device="cpu",
                          precision="fp32", scale=1, margin=160)
    assert whole.tiles["count"] == 1 and tiled.tiles["count"] == 3
    a, b = open_maps(tmp_path / "whole" / "maps.zarr"), open_maps(tmp_path / "tiled" / "maps.zarr")
    for name in ("region", "affinity"):
        x, y = a[name][:], b[name][:]
        span = float(x.max() - x.min())
        assert span > 0
        assert np.abs(x - y).max() <= 1e-3 * span, name  # float32 rounding (was 2 % off the grid)
    doc = json.loads((tmp_path / "tiled" / "words.json").read_text())
    assert doc["model"]["name"] == "random-init" and len(doc["model"]["sha256"]) == 64


def test_a_half_input_craft_gets_its_tiles_halved_from_the_scan_and_tiles_still_agree(tmp_path):
    """Half-input layout at scale 2: tiles are read at half resolution straight from the scan (no working pixels),
    the maps keep the half-resolution contract, and tiled maps equal the untiled ones."""
    from bigocr.detector import CRAFT, save_weights
    from bigocr.dev.train.distill import _half_input

    torch.manual_seed(0)
    path = save_weights(_half_input(CRAFT(0.25)), tmp_path / "half.safetensors", name="half").path
    page, _ = make_page(1100, 240, words=40, seed=4)
    whole = bigocr.detect(page, max_side=4096, detector=path, out=tmp_path / "whole", tiling="thirds",
                          scheduler="synchronous", device="cpu", precision="fp32", scale=2, coarse=0)
    # (random weights reach far: a margin that covers them; off the 64 px grid the seams were 1 % off)
    tiled = bigocr.detect(page, max_side=900, detector=path, out=tmp_path / "tiled", device="cpu",
                          precision="fp32", scale=2, coarse=0, margin=384)
    # max_side caps what the network sees: the working tiles may be twice as long, and start on its 64 px grid
    assert whole.tiles["count"] == 1 and tiled.tiles["max_side"] == 1800 and tiled.tiles["count"] == 3
    from bigocr.tiler.plan import make_plan

    assert tiled.params["align"] == 64
    origins = [t.window[0] for t in make_plan(2200, 480, 1800, "grid", 384, 64).tiles]
    assert len(origins) == 3 and all(y % 64 == 0 for y in origins)
    a, b = open_maps(tmp_path / "whole" / "maps.zarr"), open_maps(tmp_path / "tiled" / "maps.zarr")
    assert a["region"].shape == (1100, 240)  # half of the 2200 x 480 working pixels
    for name in ("region", "affinity"):
        x, y = a[name][:], b[name][:]
        assert float(x.max() - x.min()) > 0
        assert np.abs(x - y).max() <= 1e-3 * float(x.max() - x.min()), name


def test_tiles_start_on_the_networks_grid_so_pooling_sees_what_the_whole_scan_sees(tmp_path):
    """A strided network is not shift invariant: tiles must start on its 32 px grid.

    Trained CRAFT gave maps up to 0.2 off the whole-scan maps, everywhere in a
    tile that started 14 px off the grid.  The pooled fake detector has the
    same property; with aligned tile origins its stitched maps equal the
    untiled maps bit for bit, for both tilings.
    """
    page, _ = make_page(1500, 1100, words=150, seed=6)
    det = PooledFakeDetector()
    region, affinity = det(page)
    for tiling in ("thirds", "grid"):
        out = tmp_path / tiling
        bigocr.detect(page, max_side=512, detector=det, tiling=tiling, out=out, scheduler="synchronous", margin=64)
        maps = open_maps(out / "maps.zarr")
        assert np.array_equal(maps["region"][:], region) and np.array_equal(maps["affinity"][:], affinity), tiling
    # The detector really is shift variant: a window 14 px off the grid sees other maps.
    off = det(page[334:846])[0]
    assert not np.array_equal(off[32:224], region[167 + 32:167 + 224])


def test_words_json_document(tmp_path, big_page):
    page, _ = big_page
    tifffile.imwrite(tmp_path / "scan.tif", page[:900, :700], tile=(256, 256), compression="zlib")
    result = bigocr.detect(tmp_path / "scan.tif", max_side=512, detector=FakeDetector(), out=tmp_path / "out",
                           poly=True, scheduler="synchronous")
    doc = json.loads((tmp_path / "out" / "words.json").read_text())
    assert doc["scan"] == {"path": str(tmp_path / "scan.tif"), "width": 700, "height": 900, "page": 0, "pages": 1,
                           "dpi": None}
    assert doc["model"] == {"name": "fake-darkness", "sha256": None}
    assert doc["params"]["text_threshold"] == 0.7 and doc["params"]["poly"] is True
    assert doc["tiles"]["count"] == result.tiles["count"] and doc["tiles"]["pixels"] > 900 * 700
    assert set(doc["timings"]) >= {"tiles", "label", "boxes", "layout", "join", "lines", "total"}
    stages = sum(doc["timings"][k] for k in ("open", "tiles", "label", "boxes", "coarse", "layout", "join", "lines"))
    assert stages <= doc["timings"]["total"] + 0.01  # the stages are parts of the whole, none counted twice
    assert len(doc["words"]) == len(result.words) > 50
    word = doc["words"][0]
    assert set(word) == {"box", "score", "polygon", "text"} and word["text"] == ""
    # Every word in exactly one line, lines in blocks, words listed in reading order.
    listed = [i for block in doc["blocks"] for line in block["lines"] for i in line["words"]]
    assert listed == list(range(len(doc["words"])))
    assert len(word["box"]) == 4 and all(len(p) == 2 for p in word["box"])
    assert doc == result.to_dict()


def test_cli_run_with_weights(tmp_path, random_weights, capsys):
    page, _ = make_page(300, 400, words=20, seed=4)
    import cv2

    cv2.imwrite(str(tmp_path / "page.png"), page)
    out = tmp_path / "page.bigocr"
    assert main(["run", str(tmp_path / "page.png"), "-o", str(out), "--weights", str(random_weights),
                 "--device", "cpu", "--invert", "both", "--max-side", "256"]) == 0
    doc = json.loads((out / "words.json").read_text())
    assert doc["params"]["invert"] == "both" and doc["model"]["name"] == "random-init"
    assert "words" in capsys.readouterr().out
    # Results already there are not overwritten unasked...
    assert main(["run", str(tmp_path / "page.png"), "-o", str(out), "--weights", str(random_weights)]) == 5
    assert "--force" in capsys.readouterr().err
    # ...but are with --force.
    assert main(["run", str(tmp_path / "page.png"), "-o", str(out), "--weights", str(random_weights),
                 "--device", "cpu", "--force", "-q", "--max-side", "256"]) == 0


def test_wrong_weights_exit_3(tmp_path, capsys):
    page = np.full((100, 100, 3), 255, np.uint8)
    tifffile.imwrite(tmp_path / "scan.tif", page)
    (tmp_path / "w.pth").write_bytes(b"garbage")
    assert main(["run", str(tmp_path / "scan.tif"), "-o", str(tmp_path / "o"), "--weights", str(tmp_path / "w.pth")]) == 3
    assert str(tmp_path / "w.pth") in capsys.readouterr().err
    assert not (tmp_path / "o" / "words.json").exists()


def test_a_failing_tile_leaves_no_words_json(tmp_path, big_page):
    page, _ = big_page

    def broken(tile):
        if tile.shape[0] < 600:
            raise RuntimeError("detector exploded")
        return FakeDetector()(tile)

    with pytest.raises(RuntimeError, match="detector exploded"):
        bigocr.detect(page[:1500, :1000], max_side=512, detector=broken, out=tmp_path / "out")
    assert not (tmp_path / "out" / "words.json").exists()
    assert open_maps(tmp_path / "out" / "maps.zarr").attrs["bigocr"]["complete"] is False


def test_detector_returning_wrong_shapes_is_named():
    with pytest.raises(bigocr.ParameterError, match="must return maps of shape"):
        bigocr.detect(np.zeros((64, 64), np.uint8), max_side=64,
                      detector=lambda t: (np.zeros((3, 3)), np.zeros((3, 3))), scheduler="synchronous")


def test_plan_command_prints_the_seed_figures(tmp_path, capsys):
    path = tmp_path / "seed.tif"
    # A header-only-sized file would do; tifffile writes a real (blank, compressed) one quickly.
    tifffile.imwrite(path, np.zeros((13483, 7256), np.uint8), compression="zlib", tile=(1024, 1024))
    assert main(["plan", str(path), "--max-side", "2560", "--tiling", "thirds", "--weights", "craft-doc"]) == 0
    out = capsys.readouterr().out
    assert "243 leaves" in out and "105 distinct" in out and "3.32x" in out and "7.70x" in out
    assert main(["plan", str(path), "--max-side", "2560", "--weights", "craft-doc", "--margin", "256"]) == 0
    out = capsys.readouterr().out  # full CRAFT on the grid with a 256 px margin
    assert "28 distinct" in out and "1.49x the scan" in out
    assert main(["plan", str(path), "--max-side", "2560"]) == 0  # as run: craft-fast sees tiles halved
    out = capsys.readouterr().out
    assert "craft-fast" in out and "half-input" in out and "8 distinct" in out and "1.24x the scan" in out


@pytest.mark.parametrize("kwargs,match", [
    (dict(threads=0), "threads must be a positive integer"),
    (dict(max_side=10), "max_side must be an integer >= 64"),
    (dict(invert="sometimes"), "invert must be one of"),
    (dict(detector=42), "detector must be None, a weights path or a callable"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(bigocr.ParameterError, match=match):
        bigocr.detect(np.zeros((64, 64), np.uint8), **{"detector": FakeDetector(), **kwargs})


def test_the_command_is_quiet_and_exits_right(tmp_path, random_weights):
    """As a user runs it: a separate process, nothing on stderr with -q, usage errors exit 1."""
    import subprocess
    import sys

    tifffile.imwrite(tmp_path / "small.tif", np.full((150, 200), 255, np.uint8))
    run = subprocess.run([sys.executable, "-m", "bigocr", "run", str(tmp_path / "small.tif"), "-q", "--device", "cpu",
                          "--weights", str(random_weights), "-o", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stderr == "" and run.stdout == ""
    assert (tmp_path / "out" / "words.json").exists()
    usage = subprocess.run([sys.executable, "-m", "bigocr", "run"], capture_output=True, text=True, timeout=300)
    assert usage.returncode == 1 and "required: SCAN" in usage.stderr


def test_a_line_across_the_whole_page_is_one_word():
    """A rule across the whole width crosses every tile seam and map chunk: one word, as in a single pass."""
    page = np.full((700, 3000, 3), 255, np.uint8)
    page[300:316, 5:2995] = 0
    page[500:514, 100:400] = 0
    det = FakeDetector()
    result = bigocr.detect(page, max_side=512, detector=det, scheduler="synchronous")
    assert result.tiles["grid"][1] >= 7
    ref = reference_words(*det(page))
    assert len(result.words) == len(ref) == 2
    assert sorted(map(_key, result.words)) == sorted(map(_key, ref))
    assert max(w.box[:, 0].max() - w.box[:, 0].min() for w in result.words) > 2900


def test_grid_tiling_gives_the_same_words_with_fewer_pixels(tmp_path, big_page):
    """--tiling grid: the margin is measured from the detector; maps equal the untiled maps exactly."""
    from bigocr.detector.infer import context_margin

    page, _ = big_page
    det = FakeDetector()
    assert context_margin(det) == 8  # 5 x 5 region and 11 x 3 link boxes: 5 px each way, in whole map pixels
    grid = bigocr.detect(page, max_side=512, detector=det, tiling="grid", out=tmp_path / "grid")
    thirds = bigocr.detect(page, max_side=512, detector=det, scheduler="synchronous")
    assert grid.tiles["scheme"] == "grid" and grid.params["margin"] == 8
    assert grid.tiles["count"] < thirds.tiles["count"] / 2 and grid.tiles["pixels"] < 0.6 * thirds.tiles["pixels"]
    region, affinity = det(page)
    maps = open_maps(tmp_path / "grid" / "maps.zarr")
    assert np.array_equal(maps["region"][:], region) and np.array_equal(maps["affinity"][:], affinity)
    assert sorted(map(_key, grid.words)) == sorted(map(_key, thirds.words))
    with pytest.raises(bigocr.ParameterError, match="leaves no core"):
        bigocr.detect(page, max_side=128, detector=det, tiling="grid", margin=60)


class _CountingDetector(FakeDetector):
    """FakeDetector that names weights (so its margin may be remembered) and counts its calls."""

    def __init__(self, sha256="0" * 64):
        self.model_info = {"name": "fake-counting", "sha256": sha256}
        self.calls = 0

    def __call__(self, tile):
        self.calls += 1
        return super().__call__(tile)


def test_the_measured_margin_is_remembered_per_weights(tmp_path, monkeypatch):
    from bigocr.detector import infer

    monkeypatch.setenv("BIGOCR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(infer, "_MARGINS", {})
    det = _CountingDetector()
    assert infer.measured_margin(det) == 8 and det.calls == 2  # the page and the page with the impulse
    assert infer.measured_margin(det) == 8 and det.calls == 2  # remembered in this process
    stored = json.loads((tmp_path / "cache" / "margins.json").read_text())
    assert list(stored.values()) == [8] and "fake-counting" in next(iter(stored))
    monkeypatch.setattr(infer, "_MARGINS", {})  # a new process: read from the file
    assert infer.measured_margin(det) == 8 and det.calls == 2
    other = _CountingDetector("1" * 64)  # other weights: measured again
    assert infer.measured_margin(other) == 8 and other.calls == 2
    (tmp_path / "cache" / "margins.json").write_text("{not json")  # a damaged cache is measured around
    monkeypatch.setattr(infer, "_MARGINS", {})
    assert infer.measured_margin(det) == 8 and det.calls == 4
    unnamed = FakeDetector()  # no weights to name it by: measured every time, nothing stored
    assert infer.measured_margin(unnamed) == 8
    assert len(json.loads((tmp_path / "cache" / "margins.json").read_text())) == 1


def test_margins_measured_by_two_processes_at_once_are_both_kept(tmp_path, monkeypatch):
    """Another run stores its margin while this one measures: the file keeps both."""
    from bigocr.detector import infer

    cache = tmp_path / "cache" / "margins.json"
    monkeypatch.setenv("BIGOCR_CACHE", str(cache.parent))
    monkeypatch.setattr(infer, "_MARGINS", {})

    class Meanwhile(_CountingDetector):
        def __call__(self, tile):
            if self.calls == 0:  # the other process finishes first
                cache.parent.mkdir(parents=True, exist_ok=True)
                cache.write_text(json.dumps({"the other run's weights": 12}))
            return super().__call__(tile)

    assert infer.measured_margin(Meanwhile()) == 8
    stored = json.loads(cache.read_text())
    assert len(stored) == 2 and stored["the other run's weights"] == 12
    assert not [p.name for p in cache.parent.iterdir() if p.name.endswith(".tmp")]


def test_the_default_tiling_is_the_grid_for_craft_weights_and_the_thirds_for_callables(random_weights):
    from bigocr.config import Params
    from bigocr.detector.infer import CraftDetector, InvertBoth
    from bigocr.engine.setup import with_tiling

    craft = CraftDetector.from_files(random_weights, device="cpu")
    grid = with_tiling(Params(), craft)
    # measured, not assumed: random weights' trimmed margin hangs on the arithmetic (the quarter-width
    # fixture: 42 px in float32, 244 px in bfloat16, which auto picks on a CPU with AMX); the impulse never
    # reaches past VGG16's 244 px
    assert grid.tiling == "grid" and 2 <= grid.margin <= 244 and grid.margin % 2 == 0
    assert with_tiling(Params(), InvertBoth(craft)).tiling == "grid"
    small = 2 * (-(-grid.margin // 32) * 32) + 16  # the margin on both sides leaves an 8 px core: too small
    assert with_tiling(Params(max_side=small), craft).tiling == "thirds"  # no core left inside the margin
    with pytest.raises(bigocr.ParameterError, match="leaves no core"):
        bigocr.detect(np.full((600, 600, 3), 255, np.uint8), max_side=small, detector=craft, tiling="grid",
                      scheduler="synchronous")
    assert with_tiling(Params(), FakeDetector()) == Params(tiling="thirds")
    assert with_tiling(Params(margin=16), FakeDetector()) == Params(tiling="grid", margin=16)
    assert with_tiling(Params(tiling="thirds"), craft) == Params(tiling="thirds")


def test_a_local_run_leaves_the_callers_torch_threads_alone():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        page, _ = make_page(300, 300, words=10)
        cores = len(os.sched_getaffinity(0))
        bigocr.detect(page, max_side=256, detector=FakeDetector(), threads=max(2, cores))  # tiles: 1 thread each
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_run_without_json_is_complete_the_second_time(tmp_path):
    page, _ = make_page(300, 400, words=20, seed=4)
    out = tmp_path / "out"
    first = bigocr.detect(page, max_side=256, detector=FakeDetector(), scheduler="synchronous", out=out,
                          formats="page")
    again = bigocr.detect(page, max_side=256, detector=FakeDetector(), scheduler="synchronous", out=out,
                          formats="page,txt")
    assert not (out / "words.json").exists()
    assert again.run["state"] == "complete" and again.run["tiles_run"] == 0
    assert [w.to_dict() for w in again.words] == [w.to_dict() for w in first.words]
    assert (out / "text.txt").exists()  # the format asked for now is added from the kept result


def test_resources_on_the_local_cluster_are_said_to_be_ignored(caplog):
    page, _ = make_page(200, 200, words=5, seed=1)
    with caplog.at_level("WARNING", logger="bigocr"):
        bigocr.detect(page, max_side=256, detector=FakeDetector(), resources="GPU=1", threads=1)
    assert any("GPU=1 applies to a Dask cluster" in r.getMessage() for r in caplog.records)


def test_verbose_goes_before_the_development_commands_too(tmp_path, capsys):
    assert main(["-v", "train", "--help"]) == 0
    assert main(["-v", "eval", "--data", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert "no such folder" in err and "unrecognized arguments" not in err
