"""Make docs/sample-preview.png, the picture in the README.

    python examples/make_preview.py

It runs the whole pipeline on examples/sample.tif and shrinks the preview.png
it writes.  bigocr ships no trained weights yet, so the detector here is the
test detector (``bigocr.testing.FakeDetector``: a darkness filter, not CRAFT):
the picture shows what ``preview.png`` looks like (words red, lines green,
blocks blue and numbered in reading order), not how well CRAFT detects.
"""

import sys
import tempfile
from pathlib import Path

import cv2

import bigocr
from bigocr.testing import FakeDetector


def main(out="docs/sample-preview.png", width=1000):
    with tempfile.TemporaryDirectory() as tmp:
        bigocr.detect("examples/sample.tif", detector=FakeDetector(), max_side=1024, out=tmp, preview=True)
        preview = cv2.imread(str(Path(tmp) / "preview.png"))
    h, w = preview.shape[:2]
    small = cv2.resize(preview, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
    cv2.imwrite(out, small, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
