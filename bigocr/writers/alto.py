"""ALTO 4 (``MeasurementUnit`` pixel), valid against the ALTO 4.0 to 4.4 schemas.

``Page > PrintSpace > TextBlock > TextLine > String``; ``HPOS/VPOS/WIDTH/HEIGHT``
are whole scan pixels, ``CONTENT`` is the word's text (empty when the words were
not read) and ``WC`` the recognizer's confidence in [0, 1] (the detection score
when not read).  A word's polygon (``--poly``) or rotated box is a
``Shape/Polygon``.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from bigocr.writers._geometry import (baseline_points, extent, model_settings, numbered, outline, root, sub,
                                     word_confidence, word_outline)

__all__ = ["alto_tree", "alto_bytes", "ALTO_NS"]

ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
SCHEMA_LOCATION = f"{ALTO_NS} http://www.loc.gov/alto/v4/alto-4-4.xsd"


def _el(parent, tag: str, **attrs):
    return sub(parent, ALTO_NS, tag, **attrs)


def _position(el, points, width: int, height: int) -> None:
    for name, value in zip(("HPOS", "VPOS", "WIDTH", "HEIGHT"), extent(points, width, height)):
        el.set(name, str(value))


def alto_tree(result) -> etree._ElementTree:
    """The ALTO document of ``result`` as an lxml tree."""
    from bigocr.version import __version__

    width, height = int(result.scan["width"]), int(result.scan["height"])
    alto = root(ALTO_NS, "alto", SCHEMA_LOCATION)
    description = _el(alto, "Description")
    _el(description, "MeasurementUnit").text = "pixel"
    source = _el(description, "sourceImageInformation")
    _el(source, "fileName").text = Path(result.scan.get("path") or "array").name
    processing = _el(description, "Processing", ID="bigocr")
    _el(processing, "processingStepDescription").text = "text detection (CRAFT), tiled at full resolution"
    _el(processing, "processingStepSettings").text = model_settings(result)
    software = _el(processing, "processingSoftware")
    _el(software, "softwareName").text = "bigocr"
    _el(software, "softwareVersion").text = __version__

    layout = _el(alto, "Layout")
    page = _el(layout, "Page", ID="page_1", PHYSICAL_IMG_NR=int(result.scan.get("page", 0)) + 1,
               WIDTH=width, HEIGHT=height)
    space = _el(page, "PrintSpace", HPOS=0, VPOS=0, WIDTH=width, HEIGHT=height)
    for b, block, lines in numbered(result):
        block_el = _el(space, "TextBlock", ID=f"block_{b}")
        _position(block_el, block.box, width, height)
        for n_line, line, words in lines:
            line_el = _el(block_el, "TextLine", ID=f"line_{n_line}")
            _position(line_el, line.box, width, height)
            baseline = baseline_points(line, width, height)
            if baseline is not None:  # ALTO 4.2+: the baseline as a polyline
                line_el.set("BASELINE", " ".join(f"{x},{y}" for x, y in baseline))
            if line.boundary is not None:
                points = outline(line.boundary, width, height)
                _el(_el(line_el, "Shape"), "Polygon", POINTS=" ".join(f"{x},{y}" for x, y in points))
            for k, (n_word, word) in enumerate(words):
                if k:  # the space between two words, as readers that join a line's Strings expect
                    _el(line_el, "SP")
                string = _el(line_el, "String", ID=f"word_{n_word}")
                _position(string, word.box, width, height)
                string.set("CONTENT", word.text)
                string.set("WC", f"{word_confidence(word):.4f}")
                shape = word_outline(word)
                if shape is not None:
                    points = outline(shape, width, height)
                    _el(_el(string, "Shape"), "Polygon", POINTS=" ".join(f"{x},{y}" for x, y in points))
    return etree.ElementTree(alto)


def alto_bytes(result) -> bytes:
    """``alto.xml`` as UTF-8 bytes."""
    return etree.tostring(alto_tree(result), xml_declaration=True, encoding="UTF-8", pretty_print=True)
