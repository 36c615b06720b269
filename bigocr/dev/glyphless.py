"""Build the glyphless TrueType font of the searchable-PDF text layer (``bigocr/writers/files/glyphless.ttf``).

Two glyphs, ``.notdef`` and ``blank``, both without outlines, 500 units wide
on a 1000-unit em (ascender 800, descender -200): every character of the
invisible text layer maps to ``blank`` (the PDF's CIDToGIDMap), and its
Unicode comes from the font's ToUnicode map, so any script copies out right
while nothing is drawn.  The same idea as Tesseract's and OCRmyPDF's
glyphless fonts, built here with fontTools so the bytes are reproducible:
``python -m bigocr.dev.glyphless`` rewrites the file, and a test checks the
committed one is what this builds.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

__all__ = ["build", "FONT_PATH", "ADVANCE", "ASCENT", "DESCENT"]

FONT_PATH = Path(__file__).resolve().parents[1] / "writers" / "files" / "glyphless.ttf"
UNITS_PER_EM = 1000
ADVANCE = 500
ASCENT = 800
DESCENT = -200
#: A fixed time stamp (2026-01-01) so the bytes do not change from build to build.
TIMESTAMP = 3849984000


def build() -> bytes:
    """The font's bytes."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    glyphs = [".notdef", "blank"]
    fb = FontBuilder(UNITS_PER_EM, isTTF=True)
    fb.setupGlyphOrder(glyphs)
    fb.setupCharacterMap({0x20: "blank"})
    empty = TTGlyphPen(None).glyph()
    fb.setupGlyf({name: empty for name in glyphs})
    fb.setupHorizontalMetrics({name: (ADVANCE, 0) for name in glyphs})
    fb.setupHorizontalHeader(ascent=ASCENT, descent=DESCENT)
    fb.setupNameTable({"familyName": "BigOCRGlyphless", "styleName": "Regular",
                       "uniqueFontIdentifier": "bigocr:glyphless:1", "fullName": "BigOCR Glyphless",
                       "version": "Version 1.0", "psName": "BigOCRGlyphless"})
    fb.setupOS2(sTypoAscender=ASCENT, sTypoDescender=DESCENT, usWinAscent=ASCENT, usWinDescent=-DESCENT,
                fsType=0, achVendID="BOCR")
    fb.setupPost()
    fb.setupHead(unitsPerEm=UNITS_PER_EM, created=TIMESTAMP, modified=TIMESTAMP)
    fb.font.recalcTimestamp = False
    fb.font["head"].flags |= 1 << 11  # the font data is lossless-modifiable: nothing to protect
    out = io.BytesIO()
    fb.font.save(out, reorderTables=True)
    return out.getvalue()


def main() -> int:
    FONT_PATH.parent.mkdir(parents=True, exist_ok=True)
    FONT_PATH.write_bytes(build())
    print(f"wrote {FONT_PATH} ({FONT_PATH.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
