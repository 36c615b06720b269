"""Make docs/sample-preview.png, the picture in the README.

    python examples/make_preview.py

It runs the whole pipeline with the default models (``craft-student`` at
``--scale auto`` with the headline pass, then the ``auto`` recognizer) on examples/sample.tif and
shrinks the preview.png it writes: words red, lines green, blocks blue and
numbered in reading order.  It also prints the first lines of text read.
"""

import sys
import tempfile
from pathlib import Path

import cv2

import bigocr


def main(out="docs/sample-preview.png", width=1000):
    with tempfile.TemporaryDirectory() as tmp:
        result = bigocr.detect("examples/sample.tif", out=tmp, preview=True, text=True, formats="json,txt")
        preview = cv2.imread(str(Path(tmp) / "preview.png"))
        text = (Path(tmp) / "text.txt").read_text()
    h, w = preview.shape[:2]
    small = cv2.resize(preview, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
    cv2.imwrite(out, small, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {out}: {len(result.words)} words at scale {result.params['scale']}")
    print("\n".join(text.splitlines()[:8]))


if __name__ == "__main__":
    main(*sys.argv[1:])
