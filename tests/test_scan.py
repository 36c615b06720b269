"""Reading scans window by window as RGB uint8."""

import cv2
import numpy as np
import pytest
import tifffile

from bigocr.errors import ScanError
from bigocr.tiler.scan import open_scan, to_rgb8


@pytest.fixture(scope="module")
def rgb():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (301, 517, 3), dtype=np.uint8)


WINDOWS = [(0, 301, 0, 517), (10, 50, 20, 90), (200, 301, 400, 517), (7, 8, 9, 10)]


@pytest.mark.parametrize("kwargs", [
    dict(tile=(64, 64), compression="zlib"),
    dict(tile=(32, 48), compression="lzw"),
    dict(rowsperstrip=7, compression="lzw"),
    dict(rowsperstrip=301),
    dict(compression="jpeg", tile=(64, 64)),
    dict(bigtiff=True, tile=(128, 128), compression="zstd"),
    dict(planarconfig="separate", rowsperstrip=32),
    dict(rowsperstrip=1, compression="zlib"),
    dict(planarconfig="separate", rowsperstrip=301, compression="zlib"),
])
def test_tiff_windows(tmp_path, rgb, kwargs):
    path = tmp_path / "scan.tif"
    data = np.moveaxis(rgb, -1, 0) if kwargs.get("planarconfig") == "separate" else rgb
    tifffile.imwrite(path, data, photometric="rgb", **kwargs)
    scan = open_scan(path)
    assert scan.shape == (301, 517)
    whole = tifffile.imread(path)
    if whole.shape[0] == 3:
        whole = np.moveaxis(whole, 0, -1)
    for y0, y1, x0, x1 in WINDOWS:
        window = scan.read(y0, y1, x0, x1)
        assert window.shape == (y1 - y0, x1 - x0, 3) and window.dtype == np.uint8
        assert np.array_equal(window, whole[y0:y1, x0:x1])
    if kwargs.get("compression") != "jpeg":
        assert np.array_equal(whole, rgb)


def test_gray_16bit_bilevel_miniswhite_palette(tmp_path):
    gray = np.arange(200 * 300, dtype=np.uint32).reshape(200, 300) % 256
    tifffile.imwrite(tmp_path / "g.tif", gray.astype(np.uint8))
    assert np.array_equal(open_scan(tmp_path / "g.tif").read(0, 200, 0, 300), np.repeat(gray[..., None], 3, 2))

    tifffile.imwrite(tmp_path / "g16.tif", (gray * 257).astype(np.uint16), compression="zlib")
    assert np.array_equal(open_scan(tmp_path / "g16.tif").read(0, 200, 0, 300)[..., 0], gray)

    bits = gray > 127  # tifffile writes bool as bilevel MINISWHITE: a set bit is black ink
    tifffile.imwrite(tmp_path / "bw.tif", bits, compression="packbits")
    assert np.array_equal(open_scan(tmp_path / "bw.tif").read(0, 200, 0, 300)[..., 1], np.where(bits, 0, 255))

    tifffile.imwrite(tmp_path / "mw.tif", gray.astype(np.uint8), photometric="miniswhite")
    assert np.array_equal(open_scan(tmp_path / "mw.tif").read(0, 200, 0, 300)[..., 2], 255 - gray)

    cmap = np.zeros((3, 256), np.uint16)
    cmap[0] = np.arange(256) * 257
    cmap[2] = (255 - np.arange(256)) * 257
    tifffile.imwrite(tmp_path / "p.tif", gray.astype(np.uint8), photometric="palette", colormap=cmap)
    px = open_scan(tmp_path / "p.tif").read(0, 200, 0, 300)
    assert np.array_equal(px[..., 0], gray) and np.all(px[..., 1] == 0) and np.array_equal(px[..., 2], 255 - gray)


def test_rgba_and_cmyk(tmp_path):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, :15, 3] = 255  # left opaque red, right transparent
    tifffile.imwrite(tmp_path / "a.tif", rgba, photometric="rgb", extrasamples=["unassalpha"])
    px = open_scan(tmp_path / "a.tif").read(0, 20, 0, 30)
    assert tuple(px[0, 0]) == (200, 0, 0) and tuple(px[0, 29]) == (255, 255, 255)

    cmyk = np.zeros((20, 30, 4), np.uint8)
    cmyk[..., 3] = 255  # full black ink
    cmyk[:, 15:, 3] = 0
    cmyk[:, 15:, 1] = 255  # magenta only
    tifffile.imwrite(tmp_path / "c.tif", cmyk, photometric="separated")
    px = open_scan(tmp_path / "c.tif").read(0, 20, 0, 30)
    assert tuple(px[0, 0]) == (0, 0, 0) and tuple(px[0, 29]) == (255, 0, 255)


def test_png_jpeg_and_arrays(tmp_path, rgb):
    cv2.imwrite(str(tmp_path / "s.png"), rgb[..., ::-1])
    assert np.array_equal(open_scan(tmp_path / "s.png").read(5, 60, 7, 99), rgb[5:60, 7:99])
    cv2.imwrite(str(tmp_path / "s16.png"), (rgb[..., 0].astype(np.uint16) * 257))
    assert np.array_equal(open_scan(tmp_path / "s16.png").read(0, 301, 0, 517)[..., 1], rgb[..., 0])
    cv2.imwrite(str(tmp_path / "s.jpg"), rgb[..., ::-1])
    assert open_scan(tmp_path / "s.jpg").read(0, 10, 0, 10).shape == (10, 10, 3)
    assert np.array_equal(open_scan(rgb).read(1, 3, 4, 9), rgb[1:3, 4:9])
    assert open_scan(np.zeros((5, 6), np.float32)).read(0, 5, 0, 6).max() == 0


@pytest.mark.parametrize("array,match", [
    (np.zeros((0, 5), np.uint8), "zero size"),
    (np.zeros((5, 5, 7), np.uint8), "expected shape"),
    (np.array([["a"]]), "unsupported dtype"),
])
def test_bad_arrays(array, match):
    with pytest.raises(ScanError, match=match):
        open_scan(array)


def test_nan_float_is_refused():
    with pytest.raises(ScanError, match="NaN"):
        to_rgb8(np.array([[np.nan, 0.5]], np.float32))


def test_header_that_claims_too_many_pixels_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "big.tif", np.zeros((1000, 1000), np.uint8))
    with pytest.raises(ScanError, match="more than max_pixels"):
        open_scan(tmp_path / "big.tif", max_pixels=10_000)


def test_wrong_source_type():
    with pytest.raises(ScanError, match="path or a numpy array"):
        open_scan(42)


@pytest.mark.parametrize("kwargs", [dict(rowsperstrip=301, compression="zlib"),
                                    dict(rowsperstrip=301, compression="zlib", planarconfig="separate"),
                                    dict(rowsperstrip=100, compression="lzw")])
def test_huge_strips_are_decoded_once_into_a_cache(tmp_path, rgb, kwargs, monkeypatch):
    """A scan stored as one compressed strip is decoded once, not once per tile."""
    import bigocr.tiler.scan as scan_module

    path = tmp_path / "scan.tif"
    data = np.moveaxis(rgb, -1, 0) if kwargs.get("planarconfig") == "separate" else rgb
    tifffile.imwrite(path, data, photometric="rgb", **kwargs)
    monkeypatch.setattr(scan_module, "SEGMENT_LIMIT", 1000)
    scan = open_scan(path)
    assert scan.needs_cache
    decodes = []  # strips read from the file (each is decoded once it is read)
    original = tifffile.FileHandle.read_segments

    def counting(self, *args, **kw):
        for item in original(self, *args, **kw):
            decodes.extend([1] * (len(item) if isinstance(item, list) else 1))
            yield item

    monkeypatch.setattr(tifffile.FileHandle, "read_segments", counting)
    cached = scan.cached(str(tmp_path / "cache.zarr"))
    strips = len(tifffile.TiffFile(path).pages[0].dataoffsets)
    assert len(decodes) == strips
    for y0, y1, x0, x1 in WINDOWS:
        assert np.array_equal(cached.read(y0, y1, x0, x1), rgb[y0:y1, x0:x1])
    assert len(decodes) == strips and cached.info() == scan.info() and not cached.needs_cache
    # A complete cache is reused, not decoded again.
    again = open_scan(path).cached(str(tmp_path / "cache.zarr"))
    assert len(decodes) == strips and np.array_equal(again.read(0, 301, 0, 517), rgb)


def test_uncompressed_tiffs_are_memory_mapped(tmp_path, rgb):
    tifffile.imwrite(tmp_path / "raw.tif", rgb, photometric="rgb", rowsperstrip=301)
    scan = open_scan(tmp_path / "raw.tif")
    assert scan._tiff.memmap and not scan.needs_cache
    for y0, y1, x0, x1 in WINDOWS:
        assert np.array_equal(scan.read(y0, y1, x0, x1), rgb[y0:y1, x0:x1])
