"""What the XML writers share: integer pixel geometry and element helpers."""

from __future__ import annotations

import math

import numpy as np
from lxml import etree

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


def root(ns: str, tag: str, schema_location: str | None = None, **nsmap):
    """A root element in namespace ``ns`` (the default one), with ``xsi:schemaLocation`` if given."""
    extra = {"xsi": XSI_NS} if schema_location else {}
    el = etree.Element(f"{{{ns}}}{tag}", nsmap={None: ns, **extra, **nsmap})
    if schema_location:
        el.set(f"{{{XSI_NS}}}schemaLocation", schema_location)
    return el


def sub(parent, ns: str, tag: str, **attrs):
    """``etree.SubElement`` in namespace ``ns``; attribute values made strings, a trailing ``_`` dropped."""
    return etree.SubElement(parent, f"{{{ns}}}{tag}", {k.rstrip("_"): str(v) for k, v in attrs.items()})


def numbered(result):
    """Blocks, lines and words with 1-based numbers in reading order.

    Returns ``[(b, block, [(l, line, [(w, word), ...]), ...]), ...]``; line and
    word numbers run on across blocks, so they are ids unique in the document.
    """
    out, n_line, n_word = [], 0, 0
    for b, block in enumerate(result.layout.blocks, 1):
        lines = []
        for line in block.lines:
            n_line += 1
            words = []
            for i in line.words:
                n_word += 1
                words.append((n_word, result.words[i]))
            lines.append((n_line, line, words))
        out.append((b, block, lines))
    return out


def unit(score: float) -> float:
    """A score clipped to [0, 1]."""
    return min(1.0, max(0.0, float(score)))


def extent(points: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """``(x, y, w, h)``: the whole-pixel rectangle around ``points`` ``(n, 2)``, inside the scan."""
    pts = np.asarray(points, dtype=np.float64)
    x0 = min(max(0, math.floor(pts[:, 0].min())), width - 1)
    y0 = min(max(0, math.floor(pts[:, 1].min())), height - 1)
    x1 = max(min(width, math.ceil(pts[:, 0].max())), x0 + 1)
    y1 = max(min(height, math.ceil(pts[:, 1].max())), y0 + 1)
    return x0, y0, x1 - x0, y1 - y0


def int_points(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Points rounded to whole pixels inside the scan, ``(n, 2)`` int64; repeats dropped."""
    pts = np.rint(np.asarray(points, dtype=np.float64))
    pts[:, 0] = np.clip(pts[:, 0], 0, width)
    pts[:, 1] = np.clip(pts[:, 1], 0, height)
    pts = pts.astype(np.int64)
    keep = [0] + [i for i in range(1, len(pts)) if not np.array_equal(pts[i], pts[i - 1])]
    pts = pts[keep]
    if len(pts) > 1 and np.array_equal(pts[0], pts[-1]):
        pts = pts[:-1]
    return pts


def outline(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """A polygon of at least 3 distinct whole-pixel points (a degenerate one becomes its rectangle)."""
    pts = int_points(points, width, height)
    if len(np.unique(pts, axis=0)) >= 3:
        return pts
    x, y, w, h = extent(points, width, height)
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.int64)


def is_axis_aligned(quad: np.ndarray, tol: float = 0.5) -> bool:
    q = np.asarray(quad, dtype=np.float64)
    return (abs(q[0, 1] - q[1, 1]) <= tol and abs(q[2, 1] - q[3, 1]) <= tol
            and abs(q[0, 0] - q[3, 0]) <= tol and abs(q[1, 0] - q[2, 0]) <= tol)


def word_outline(word) -> np.ndarray | None:
    """The word's polygon, or its quad when that is rotated; None for an upright rectangle."""
    if word.polygon is not None:
        return word.polygon
    if not is_axis_aligned(word.box):
        return word.box
    return None


def model_settings(result) -> str:
    """The detector, its settings and the recognizer in one line, for the XML outputs' metadata.

    ``model=craft_mlt_25k sha256=4a5e... precision=bf16 scale=1 max_side=2560 tiling=thirds
    recognizer=bigocr-documents:13da...,bigocr-historical:84c8...``
    """
    model = result.model or {}
    params = result.params or {}
    parts = [f"model={model.get('name')}", f"sha256={model.get('sha256')}"]
    parts += [f"{key}={model[key]}" for key in ("width", "precision") if key in model]
    parts += [f"{key}={params[key]}" for key in ("scale", "max_side", "tiling", "text_threshold", "link_threshold",
                                                 "low_text") if key in params]
    reader = model.get("recognizer")
    if reader:  # the recognizer (each candidate of "auto"): name and sha256, no spaces
        readers = reader.get("candidates") or [reader]
        parts.append("recognizer=" + ",".join(f"{r.get('name')}:{r.get('sha256')}" for r in readers))
    return " ".join(parts)


def line_outline(line) -> np.ndarray:
    """A line's polygon: its boundary where made, else its rectangle."""
    return line.box if line.boundary is None else line.boundary


def region_outline(block) -> np.ndarray:
    """A block's polygon: its rectangle, grown to hold its lines' boundaries (the convex hull of both)."""
    boundaries = [line.boundary for line in block.lines if line.boundary is not None]
    if not boundaries:
        return block.box
    import cv2

    points = np.concatenate([np.asarray(block.box, np.float64), *boundaries]).astype(np.float32)
    return cv2.convexHull(points)[:, 0, :].astype(np.float64)


def baseline_points(line, width: int, height: int) -> np.ndarray | None:
    """A line's baseline as whole pixels inside the scan (at least two points), or None."""
    if line.baseline is None:
        return None
    pts = int_points(line.baseline, width, height)
    return pts if len(pts) >= 2 else None


def word_confidence(word) -> float:
    """What a format's word confidence holds: the recognizer's where the word was read, else the detection score."""
    return unit(word.score if word.confidence is None else word.confidence)


def line_text(line, words) -> str:
    """The text of a line: the line's own where it was read (``Line.text``), else (or with ``line`` None) its
    words' text in reading order, one space between."""
    if line is not None and line.text is not None:
        return line.text
    return " ".join(word.text for _, word in words if word.text)
