"""PAGE XML 2019-07-15 (PRImA), valid against ``pagecontent.xsd``.

``Page > TextRegion > TextLine > Word``, each with ``Coords`` in whole scan
pixels (a line's are its boundary polygon, and its ``Baseline`` the polyline
its letters stand on: what eScriptorium and kraken read); the detection score
is the word's ``Coords/@conf``.  Read words carry
``TextEquiv/Unicode`` with the recognizer's ``@conf``; lines and regions carry
their words' text (one space between words, a newline between lines).  The reading order
is an ``OrderedGroup`` of the regions; the page skew is each region's
``orientation``; the scan's resolution, when known, is on ``Page``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from lxml import etree

from bigocr.writers._geometry import (baseline_points, line_outline, line_text, model_settings, numbered, outline,
                                     region_outline, root, sub, unit, word_confidence, word_outline)

__all__ = ["page_tree", "page_bytes", "PAGE_NS"]

PAGE_NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
SCHEMA_LOCATION = f"{PAGE_NS} {PAGE_NS}/pagecontent.xsd"


def _el(parent, tag: str, **attrs):
    return sub(parent, PAGE_NS, tag, **attrs)


def _coords(parent, points, width: int, height: int, conf: float | None = None):
    pts = outline(points, width, height)
    el = _el(parent, "Coords", points=" ".join(f"{x},{y}" for x, y in pts))
    if conf is not None:
        el.set("conf", f"{unit(conf):.4f}")
    return el


def page_tree(result) -> etree._ElementTree:
    """The PAGE document of ``result`` as an lxml tree."""
    from bigocr.version import __version__

    width, height = int(result.scan["width"]), int(result.scan["height"])
    pcgts = root(PAGE_NS, "PcGts", SCHEMA_LOCATION)
    meta = _el(pcgts, "Metadata")
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    _el(meta, "Creator").text = f"bigocr {__version__}"
    _el(meta, "Created").text = now
    _el(meta, "LastChange").text = now
    _el(meta, "MetadataItem", type="processingStep", name="text detection (CRAFT)", value=model_settings(result))
    page = _el(pcgts, "Page", imageFilename=Path(result.scan.get("path") or "array").name,
               imageWidth=width, imageHeight=height)
    dpi = result.scan.get("dpi")
    if dpi:
        page.set("imageXResolution", f"{float(dpi[0]):g}")
        page.set("imageYResolution", f"{float(dpi[1]):g}")
        page.set("imageResolutionUnit", "PPI")
    blocks = result.layout.blocks
    if blocks:
        group = _el(_el(page, "ReadingOrder"), "OrderedGroup", id="reading_order")
        for b in range(1, len(blocks) + 1):
            _el(group, "RegionRefIndexed", index=b - 1, regionRef=f"block_{b}")
    orientation = f"{-float(result.layout.skew):.3f}"
    reading = any(word.confidence is not None for word in result.words)  # the words were read
    for b, block, lines in numbered(result):
        region = _el(page, "TextRegion", id=f"block_{b}", orientation=orientation, type="paragraph")
        _coords(region, region_outline(block), width, height)
        for n_line, line, words in lines:
            line_el = _el(region, "TextLine", id=f"line_{n_line}")
            _coords(line_el, line_outline(line), width, height)
            baseline = baseline_points(line, width, height)
            if baseline is not None:
                _el(line_el, "Baseline", points=" ".join(f"{x},{y}" for x, y in baseline))
            for n_word, word in words:
                word_el = _el(line_el, "Word", id=f"word_{n_word}")
                shape = word_outline(word)
                _coords(word_el, word.box if shape is None else shape, width, height, conf=word.score)
                if word.confidence is not None:
                    _text_equiv(word_el, word.text, word_confidence(word))
            if reading:
                _text_equiv(line_el, line_text(None, words))  # PAGE: a line's text is its words'
        if reading:
            _text_equiv(region, "\n".join(line_text(None, words) for _, _, words in lines))
    return etree.ElementTree(pcgts)


def _text_equiv(parent, text: str, conf: float | None = None) -> None:
    equiv = _el(parent, "TextEquiv")
    if conf is not None:
        equiv.set("conf", f"{conf:.4f}")
    _el(equiv, "Unicode").text = text


def page_bytes(result) -> bytes:
    """``page.xml`` as UTF-8 bytes."""
    return etree.tostring(page_tree(result), xml_declaration=True, encoding="UTF-8", pretty_print=True)
