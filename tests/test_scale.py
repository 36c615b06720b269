"""--scale: resampling window by window, exact seams at any scale, boxes back in scan pixels, auto."""

import json

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bigocr
from bigocr.cli import main
from bigocr.merge.stitch import open_maps
from bigocr.testing import FakeDetector, PooledFakeDetector, make_page
from bigocr.tiler.scale import ScaledScan, axis_taps, scaled
from bigocr.tiler.scan import open_scan
from bigocr.tiler.textsize import BAND, MAX_AUTO, auto_scale, band_scale, text_height


@pytest.fixture(scope="module")
def page():
    return make_page(900, 700, words=150, seed=5)[0]


@pytest.mark.parametrize("scale", [0.3, 0.5, 0.77, 1.28, 2.0, 3.1])
def test_resampling_is_opencvs_area_and_linear(page, scale):
    """Whole-image resampling equals cv2.resize (INTER_AREA shrinking, INTER_LINEAR enlarging) to 1 grey level."""
    scaled = ScaledScan(open_scan(page), scale)
    mine = scaled.read(0, scaled.height, 0, scaled.width)
    ref = cv2.resize(page, (scaled.width, scaled.height),
                     interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    diff = np.abs(mine.astype(int) - ref.astype(int))
    assert mine.shape == ref.shape and diff.max() <= 1 and diff.mean() < 0.05  # rounding of halves


@settings(max_examples=40, deadline=None)
@given(scale=st.floats(0.2, 3.0), y=st.integers(0, 10**6), x=st.integers(0, 10**6), h=st.integers(1, 300),
       w=st.integers(1, 300))
def test_any_window_equals_the_same_pixels_of_the_whole(page, scale, y, x, h, w):
    scaled = ScaledScan(open_scan(page), scale)
    whole = scaled.read(0, scaled.height, 0, scaled.width)
    y0, x0 = y % scaled.height, x % scaled.width
    y1, x1 = min(scaled.height, y0 + h), min(scaled.width, x0 + w)
    assert np.array_equal(scaled.read(y0, y1, x0, x1), whole[y0:y1, x0:x1])


def test_taps_read_only_the_scan_pixels_under_the_window():
    first, weights, lo, hi = axis_taps(100, 200, 1000, 500)  # shrink by 2: pixel i covers 2i, 2i + 1
    assert lo == 200 and hi == 400 and np.allclose(weights.sum(1), 1)
    first, weights, lo, hi = axis_taps(0, 50, 100, 300)  # enlarge by 3
    assert lo == 0 and hi <= 18 and np.allclose(weights.sum(1), 1)


@pytest.mark.parametrize("scale", [0.6, 1.7])
@pytest.mark.parametrize("tiling", ["thirds", "grid"])
def test_scaled_tiles_stitch_exactly(tmp_path, page, scale, tiling):
    """A shift-variant detector on tiles of the resampled scan gives the untiled resampled maps bit for bit."""
    det = PooledFakeDetector()
    scaled = ScaledScan(open_scan(page), scale)
    region, affinity = det(scaled.read(0, scaled.height, 0, scaled.width))
    out = tmp_path / "out"
    tiled = bigocr.detect(page, max_side=384, detector=det, tiling=tiling, margin=64, scale=scale, out=out,
                          scheduler="synchronous")
    assert tiled.tiles["count"] > 3
    maps = open_maps(out / "maps.zarr")
    assert np.array_equal(maps["region"][:], region) and np.array_equal(maps["affinity"][:], affinity)
    assert maps.attrs["bigocr"]["scale"] == scale and maps.attrs["bigocr"]["map_scale"] == pytest.approx(2 / scale)
    whole = bigocr.detect(page, max_side=4096, detector=det, scale=scale, scheduler="synchronous")
    assert whole.tiles["count"] == 1
    assert [w.box.tolist() for w in whole.words] == [w.box.tolist() for w in tiled.words]


@pytest.mark.parametrize("scale", [0.5, 2.0])
def test_boxes_come_back_in_scan_pixels(scale):
    page = np.full((800, 600, 3), 255, np.uint8)
    drawn = [(40, 30, 160, 60), (300, 200, 500, 236), (100, 600, 260, 640)]  # x0, y0, x1, y1
    for x0, y0, x1, y1 in drawn:
        page[y0:y1, x0:x1] = 0
    result = bigocr.detect(page, max_side=512, detector=FakeDetector(), scheduler="synchronous", scale=scale)
    found = sorted((float(w.box[:, 0].min()), float(w.box[:, 1].min()), float(w.box[:, 0].max()),
                    float(w.box[:, 1].max())) for w in result.words)
    assert len(found) == len(drawn)
    for f, d in zip(found, sorted(drawn)):
        assert np.allclose(f, d, atol=6 / min(scale, 1) + 2), (f, d)  # the fake box grows a few px
    assert result.scan["width"] == 600 and result.params["scale"] == scale


def _text(height_px: int, inverted: bool = False) -> np.ndarray:
    page = np.full((1400, 1200), 255, np.uint8)
    font_scale = height_px / 22  # cv2's Hershey simplex: capital height ~22 px at scale 1
    thickness = max(1, round(font_scale * 2))
    for row, y in enumerate(range(int(3 * height_px), 1400 - height_px, int(2.2 * height_px))):
        cv2.putText(page, "Kalender Hoch 1827 Quittung No" if row % 2 else "THE RECEIPT total 42.10 paid",
                    (20, y), cv2.FONT_HERSHEY_SIMPLEX, font_scale, 0, thickness, cv2.LINE_AA)
    return 255 - page if inverted else page


@pytest.mark.parametrize("height", [10, 24, 60])
def test_text_height_is_measured_on_text_of_known_size(height):
    measured, letters = text_height(open_scan(_text(height)))
    assert letters > 100 and 0.75 * height <= measured <= 1.25 * height
    inverted, _ = text_height(open_scan(_text(height, inverted=True)))
    assert inverted == measured


def test_specks_on_a_big_page_do_not_shrink_the_measured_letters():
    """A small receipt on a big, dusty scan (real SROIE 281: 11 px measured, letters ~45 px): only letters in lines count."""
    page = np.full((4200, 3600), 255, np.uint8)
    page[1500:2900, 1200:2400] = _text(45)[:1400, :1200]
    rng = np.random.default_rng(0)
    for y, x in zip(rng.integers(0, 4190, 3000), rng.integers(0, 3590, 3000)):  # dust: lone 5-8 px blobs
        r = int(rng.integers(2, 4))
        cv2.circle(page, (int(x), int(y)), r, 0, -1)
    measured, letters = text_height(open_scan(page))
    assert letters >= 30 and 0.75 * 45 <= measured <= 1.25 * 45


def test_auto_scale_brings_letters_into_the_band_and_leaves_blank_pages_alone():
    low, high = BAND
    scale, info = auto_scale(open_scan(_text(60)))
    assert abs(scale * info["text_height"] - high) <= high / 16 + 1  # large letters shrunk to the band's top
    scale, info = auto_scale(open_scan(_text(11)))
    assert abs(scale * info["text_height"] - low) <= low / 16 + 1  # small ones enlarged to its bottom
    assert auto_scale(open_scan(_text(24)))[0] == 1.0
    assert band_scale(2) == MAX_AUTO and band_scale(25) == 1.0 and band_scale(9) == 2.0 and band_scale(64) == 0.5
    assert auto_scale(open_scan(np.full((500, 500), 255, np.uint8))) == (
        1.0, {"text_height": None, "letters": 0, "band": list(BAND)})


def test_cli_scale_option(tmp_path, capsys):
    import tifffile

    tifffile.imwrite(tmp_path / "s.tif", _text(40))
    assert main(["run", str(tmp_path / "s.tif"), "--scale", "0", "-o", str(tmp_path / "o")]) == 1
    assert "--scale" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "s.tif"), "--scale", "big", "-o", str(tmp_path / "o")]) == 1
    assert "auto" in capsys.readouterr().err
    assert main(["plan", str(tmp_path / "s.tif"), "--scale", "auto"]) == 0
    assert "scale" in capsys.readouterr().out
    result = bigocr.detect(tmp_path / "s.tif", detector=FakeDetector(), scheduler="synchronous", scale="auto",
                           out=tmp_path / "auto")
    doc = json.loads((tmp_path / "auto" / "words.json").read_text())
    assert doc["params"]["scale"] == result.params["scale"] < 1  # 40 px letters: above the band
    assert doc["params"]["scale_rule"]["rule"] == "auto" and doc["params"]["scale_rule"]["text_height"] > 30
    # The same OUT with another scale is another job.
    with pytest.raises(bigocr.OutputError, match="scale"):
        bigocr.detect(tmp_path / "s.tif", detector=FakeDetector(), scheduler="synchronous", scale=1.0,
                      out=tmp_path / "auto")


@pytest.mark.parametrize("scale", [2.0, 2.25, 1.5, 0.6875, 1.0])
def test_read_halved_is_the_halved_working_window_without_making_it(scale):
    from bigocr.tiler.scale import halve
    from bigocr.tiler.scale import read_halved

    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (203, 157, 3), dtype=np.uint8)
    scan = scaled(open_scan(pixels), scale)
    h, w = scan.height, scan.width
    for window in ((0, h, 0, w), (32, min(h, 161), 64, min(w, 133)), (h - 61 - (h - 61) % 2, h, 0, 33)):
        expected = halve(scan.read(*window))
        got = read_halved(scan, window)
        assert got.shape == expected.shape and got.dtype == np.uint8
        assert np.abs(got.astype(int) - expected).max() <= 1  # one rounding instead of two
    with pytest.raises(ValueError, match="even"):
        read_halved(ScaledScan(open_scan(pixels), 2.0), (1, 9, 0, 8))


def test_resampling_reads_in_bands_and_gives_the_whole_windows_pixels(monkeypatch):
    """A window is resampled band by band (each read about BAND_ROWS scan rows: a headline-pass tile is a
    290 MP window; each band made float32 BAND_COLUMNS at a time), to the bit what one read of the whole
    window gives."""
    import bigocr.tiler.scale as scale_module
    from bigocr.tiler.scale import ScaledScan, read_halved

    rng = np.random.default_rng(5)
    scan = open_scan(rng.integers(0, 256, (1500, 900, 3), np.uint8))
    rows_read = []

    class Counting:
        shape, height, width = scan.shape, scan.height, scan.width

        def read(self, y0, y1, x0, x1):
            rows_read.append(y1 - y0)
            return scan.read(y0, y1, x0, x1)

    for factor in (0.25, 0.6, 1.75):
        monkeypatch.setattr(scale_module, "BAND_ROWS", 10**9)
        monkeypatch.setattr(scale_module, "BAND_COLUMNS", 10**9)
        whole = ScaledScan(scan, factor)
        reference = whole.read(0, whole.height, 0, whole.width), read_halved(whole, (0, whole.height // 2 * 2, 0,
                                                                                   whole.width // 2 * 2))
        monkeypatch.setattr(scale_module, "BAND_ROWS", 64)
        monkeypatch.setattr(scale_module, "BAND_COLUMNS", 97)
        rows_read.clear()
        banded = ScaledScan(Counting(), factor)
        assert np.array_equal(banded.read(0, banded.height, 0, banded.width), reference[0])
        assert np.array_equal(read_halved(banded, (0, banded.height // 2 * 2, 0, banded.width // 2 * 2)), reference[1])
        assert len(rows_read) > 4 and max(rows_read) <= 64 + 8, (factor, rows_read[:5])
