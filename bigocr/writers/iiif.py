"""IIIF output: the words and lines as a W3C AnnotationPage (``--format iiif``: ``annotations.json``).

One annotation per line and one per word, in reading order (each line, then
its words), as the IIIF text-granularity extension has them: ``motivation``
``supplementing``, ``textGranularity`` ``line`` or ``word``, a
``TextualBody`` with the text, and as target the canvas with an ``xywh``
fragment in canvas coordinates (scan pixels scaled to the canvas's size).
Mirador and Universal Viewer show and search such pages.

The canvas is the manifest's (a IIIF input listed by a Presentation manifest:
``scan.iiif.canvas``); for a IIIF image without one, the image service itself
at its own size; for a local scan, its file URI at the scan's size.  The
page's ``id`` is ``scan.iiif.canvas.annotation_page`` when the batch gave it one
(``--base-url``), else where the file is written (the output folder's URI).
Checked against the Presentation 3 models of iiif-prezi3 (PyPI) in the tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["annotation_page", "canvas_of", "CONTEXT"]

#: The JSON-LD contexts: the text-granularity extension's, then Presentation 3's (which must come last).
CONTEXT = ["http://iiif.io/api/extension/text-granularity/context.json",
           "http://iiif.io/api/presentation/3/context.json"]


def canvas_of(scan: dict) -> tuple[str, float, float]:
    """``(canvas id, canvas width, canvas height)`` the result's annotations target."""
    iiif = scan.get("iiif") or {}
    canvas = iiif.get("canvas")
    if canvas:
        return str(canvas["id"]), float(canvas.get("width") or scan["width"]), float(canvas.get("height")
                                                                                    or scan["height"])
    if iiif.get("id"):
        return str(iiif["id"]), float(scan["width"]), float(scan["height"])
    path = scan.get("path")
    ident = Path(path).resolve().as_uri() if path and "://" not in str(path) else str(path or "urn:bigocr:array")
    return ident, float(scan["width"]), float(scan["height"])


def _where(result, canvas: str) -> str:
    """The page's own id where the batch gave none: where it is written (the OUT folder's URI), else beside
    the canvas."""
    out = result.out
    if out is not None:
        text = str(out)
        base = text.rstrip("/") if "://" in text else Path(text).resolve().as_uri()
        return f"{base}/annotations.json"
    return f"{canvas.rstrip('/')}/annotations.json"


def _xywh(points, sx: float, sy: float, cw: float, ch: float) -> str:
    """The box of ``points`` (scan pixels) on the canvas, whole canvas units, inside the canvas."""
    pts = np.asarray(points, float)
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    x, y = min(max(0, int(np.floor(x0 * sx))), int(cw) - 1), min(max(0, int(np.floor(y0 * sy))), int(ch) - 1)
    x1, y1 = min(int(np.ceil(x1 * sx)), int(cw)), min(int(np.ceil(y1 * sy)), int(ch))
    return f"xywh={x},{y},{max(1, x1 - x)},{max(1, y1 - y)}"


def annotation_page(result) -> bytes:
    """``annotations.json`` of ``result``: a W3C/IIIF AnnotationPage, one annotation per line and per word."""
    canvas, cw, ch = canvas_of(result.scan)
    sx, sy = cw / result.scan["width"], ch / result.scan["height"]
    iiif = result.scan.get("iiif") or {}
    page_id = (iiif.get("canvas") or {}).get("annotation_page") or _where(result, canvas)
    items = []

    def annotation(kind: str, k: int, text: str, points):
        entry = {"id": f"{page_id}#{kind}{k}", "type": "Annotation", "motivation": "supplementing",
                 "textGranularity": kind,
                 "body": {"type": "TextualBody", "value": text, "format": "text/plain"},
                 "target": f"{canvas}#{_xywh(points, sx, sy, cw, ch)}"}
        items.append(entry)

    word_number = 0
    for line_number, line in enumerate(result.layout.lines):
        words = [result.words[i] for i in line.words]
        text = " ".join(w.text for w in words if w.text)
        if text:  # boxes without text (--no-text) say nothing a viewer could show
            annotation("line", line_number, text, line.box)
        for word in words:
            if word.text:
                annotation("word", word_number, word.text, word.box)
            word_number += 1
    doc = {"@context": CONTEXT, "id": page_id, "type": "AnnotationPage", "items": items}
    return (json.dumps(doc, ensure_ascii=False, indent=1) + "\n").encode()
