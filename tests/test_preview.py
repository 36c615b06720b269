"""Pictures are made band by band, never from a whole full-resolution array."""

import cv2
import numpy as np
import tifffile

import bigocr
from bigocr.writers.preview import downscale, preview_size
from bigocr.testing import FakeDetector, make_page


def test_downscale_reads_bounded_bands_and_averages():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (3000, 1000, 3), dtype=np.uint8)
    bands = []

    def read_rows(y0, y1):
        bands.append(y1 - y0)
        return image[y0:y1]

    small = downscale(read_rows, 3000, (300, 100), row_bytes=(64 << 20) // 250, align=50)
    assert max(bands) <= 250 and sum(bands) == 3000 and all(b % 50 == 0 for b in bands[:-1])
    whole = cv2.resize(image, (100, 300), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - whole.astype(int)).max() <= 1
    assert preview_size(13483, 7256) == (4000, 2153) and preview_size(100, 50) == (100, 50)


def test_preview_and_heatmaps_of_a_tiff(tmp_path):
    page, _ = make_page(900, 700, words=60, seed=3)
    tifffile.imwrite(tmp_path / "scan.tif", page, tile=(128, 128), compression="zlib")
    result = bigocr.detect(tmp_path / "scan.tif", detector=FakeDetector(), max_side=512, out=tmp_path / "out",
                           scheduler="synchronous", preview=True, heatmap=True)
    preview = cv2.imread(str(tmp_path / "out" / "preview.png"))[..., ::-1]
    assert preview.shape == (900, 700, 3)
    # Words are drawn in red over the scan; elsewhere it is the scan itself.
    red = (preview[..., 0] > 150) & (preview[..., 1] < 120) & (preview[..., 2] < 120)
    word = result.words[result.layout.lines[0].words[1]]  # not first in its line: its left edge is inside
    x, y = np.round((word.box[0] + word.box[3]) / 2).astype(int)
    assert red[y - 2:y + 3, x - 2:x + 3].any()
    assert red.mean() < 0.2
    heat = cv2.imread(str(tmp_path / "out" / "heatmap-region.png"))
    assert heat.shape == (450, 350, 3) and heat.std() > 10
