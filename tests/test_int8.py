"""--precision int8: the default detector's int8 twin in ONNX Runtime, checked, really detecting, and made
from the shipped weights by ``python -m bigocr.dev.quantize``."""

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from bigocr.cli import main  # noqa: E402
from bigocr.detector.infer import CraftDetector  # noqa: E402
from bigocr.dev.evaluate import match  # noqa: E402
from bigocr.dev.synth import write_sample  # noqa: E402
from bigocr.errors import ParameterError, WeightsError  # noqa: E402
from bigocr.models import int8  # noqa: E402
from bigocr.models.registry import resolve_named  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def article(tmp_path_factory):
    tif, gt = write_sample(tmp_path_factory.mktemp("article") / "page.tif", 1400, 1000, seed=3, layout="article",
                           dpi=300)
    return tif, json.loads(gt.read_text())


def _boxes(folder):
    return [np.asarray(w["box"]) for w in json.loads((folder / "words.json").read_text())["words"]]


def test_the_int8_detector_finds_the_words_the_float_one_finds(tmp_path, article):
    tif, doc = article
    runs = {}
    for precision in ("int8", "fp32"):
        out = tmp_path / precision
        assert main(["run", str(tif), "-o", str(out), "-q", "--no-text", "--precision", precision]) == 0
        runs[precision] = _boxes(out)
        model = json.loads((out / "words.json").read_text())["model"]
        assert model["precision"] == precision
    truth = doc["words"]
    ignore = [bool(w.get("ignore")) for w in truth]
    found = match(runs["int8"], [np.asarray(w["box"]) for w in truth], ignore)
    assert found.truth > 50 and found.hmean >= 0.9, found.to_dict()
    same = match(runs["int8"], runs["fp32"], [False] * len(runs["fp32"]))
    assert same.hmean >= 0.97, same.to_dict()


def test_int8_maps_are_the_float_maps_to_within_its_rounding(article):
    from bigocr.tiler.scan import open_scan

    scan = open_scan(article[0])
    tile = scan.read(0, 768, 0, 1000)
    tile = np.repeat(tile[..., None], 3, 2) if tile.ndim == 2 else tile[..., :3]
    path = resolve_named("craft-fast")
    q = CraftDetector.from_files(path, device="cpu", precision="int8")
    f = CraftDetector.from_files(path, device="cpu", precision="fp32")
    assert q.max_input == int8.MAX_INPUT and f.max_input is None
    for a, b in zip(q(tile), f(tile)):
        assert a.shape == b.shape == (384, 500) and a.dtype == np.float32
        assert not np.array_equal(a, b)  # the twin really ran
        assert np.abs(a - b).max() < 0.3 and np.abs(a - b).mean() < 0.01


def test_int8_caps_the_tiles_and_keeps_the_float_networks_margin(article):
    from bigocr.config import Params
    from bigocr.detector.infer import measured_margin
    from bigocr.engine.setup import with_tiling

    path = resolve_named("craft-fast")
    q = CraftDetector.from_files(path, device="cpu", precision="int8")
    f = CraftDetector.from_files(path, device="cpu", precision="fp32")
    assert measured_margin(q) == measured_margin(f)
    params = with_tiling(Params(), q)
    assert params.max_side == int8.MAX_INPUT and params.tile_side == 2 * int8.MAX_INPUT
    assert with_tiling(Params(max_side=1024), q).max_side == 1024  # a smaller cap given stays
    assert with_tiling(Params(), f).max_side == Params().max_side


def test_int8_refuses_what_it_cannot_run(tmp_path, article, capsys, monkeypatch):
    with pytest.raises(ParameterError, match="craft-doc.*has no int8 model"):
        CraftDetector.from_files(resolve_named("craft-doc"), device="cpu", precision="int8")
    assert main(["run", str(article[0]), "-o", str(tmp_path / "o"), "-q", "--no-text", "--precision", "int8",
                 "--weights", "craft-doc"]) == 1
    err = capsys.readouterr().err.strip()
    assert "has no int8 model" in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()
    from bigocr.models.device import resolve_precision

    with pytest.raises(ParameterError, match="int8 runs on the CPU"):
        resolve_precision("int8", "cuda", int8=True)
    assert resolve_precision("int8", "cpu") == resolve_precision("auto", "cpu")  # the readers: as auto
    monkeypatch.setattr(int8, "available", lambda: False)
    with pytest.raises(ParameterError, match=r"pip install 'bigocr\[int8\]'"):
        CraftDetector.from_files(resolve_named("craft-fast"), device="cpu", precision="int8")


def test_a_twin_that_fails_its_sha256_is_refused(monkeypatch):
    sha = next(iter(int8.TWINS))
    relative, _ = int8.TWINS[sha]
    monkeypatch.setitem(int8.TWINS, sha, (relative, "0" * 64))
    with pytest.raises(WeightsError, match="is damaged and was not used"):
        int8.twin_path(sha)


@pytest.mark.skipif(not (SHARED / "train" / "vdsbb").is_dir(), reason="no shared/data/train here")
def test_the_shipped_twin_is_what_quantize_makes_from_the_shipped_weights(tmp_path):
    """``python -m bigocr.dev.quantize`` remade here gives the shipped file's weights and scales (the
    calibration's float sums may round differently on another CPU: compared to within a step)."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    from bigocr.dev.quantize import main as quantize

    assert quantize(["craft-fast", "--out", str(tmp_path / "twin.onnx")]) == 0
    shipped = int8.twin_path(next(iter(int8.TWINS)))

    def tensors(path):
        return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}

    made, ship = tensors(tmp_path / "twin.onnx"), tensors(shipped)
    assert made.keys() == ship.keys() and len(made) > 50
    for name, a in ship.items():
        b = made[name]
        assert a.dtype == b.dtype and a.shape == b.shape, name
        if a.dtype.kind in "iu":
            assert np.abs(a.astype(np.int32) - b.astype(np.int32)).max() <= 1, name
        else:
            assert np.allclose(a, b, rtol=1e-3, atol=1e-6), name
