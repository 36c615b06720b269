"""Word boxes from files other tools (or an earlier run) wrote: words.json, PAGE XML, ALTO.

``bigocr recognize SCAN --boxes FILE`` reads the words of an existing layout,
for instance a PAGE file corrected by hand in Transkribus or eScriptorium.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bigocr.errors import ParameterError

__all__ = ["load_boxes"]


def _quad_from_points(points: np.ndarray) -> np.ndarray:
    """A polygon's minimum-area rectangle as 4 corners, clockwise from the top-left (as CRAFT's boxes)."""
    import cv2

    if len(points) == 4:
        quad = points.astype(np.float32)
    else:
        quad = cv2.boxPoints(cv2.minAreaRect(points.astype(np.float32))).astype(np.float32)
    start = int(np.argmin(quad.sum(axis=1)))
    quad = np.roll(quad, -start, axis=0)
    # clockwise in image coordinates (y down): the signed area is positive
    x, y = quad[:, 0], quad[:, 1]
    if np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y) < 0:
        quad = np.concatenate([quad[:1], quad[1:][::-1]])
    return quad


def load_boxes(path: str | Path) -> list[tuple[np.ndarray, float]]:
    """Word boxes ``(4, 2)`` (x, y, scan pixels, clockwise from the top-left) and their scores.

    Reads bigocr's ``words.json``, PAGE XML (``Word/Coords``; ``TextLine/Coords``
    where a line has no words) and ALTO (``String`` positions, or its
    ``Shape/Polygon``).

    Raises
    ------
    ParameterError
        The file is missing or is none of these.
    """
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"--boxes {path}: no such file")
    data = path.read_bytes()
    if data.lstrip()[:1] == b"{":
        try:
            doc = json.loads(data)
            return [(np.asarray(w["box"], np.float32).reshape(4, 2), float(w.get("score", 1.0)))
                    for w in doc["words"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ParameterError(f"--boxes {path}: not a bigocr words.json: {exc}") from None
    from lxml import etree

    try:
        root = etree.fromstring(data)
    except etree.XMLSyntaxError as exc:
        raise ParameterError(f"--boxes {path}: neither words.json nor XML: {exc}") from None
    tag = etree.QName(root).localname
    if tag == "PcGts":
        return _page_boxes(root)
    if tag == "alto":
        return _alto_boxes(root)
    raise ParameterError(f"--boxes {path}: an XML file, but not PAGE (PcGts) or ALTO (alto): <{tag}>")


def _points(text: str) -> np.ndarray:
    return np.array([[float(v) for v in pair.split(",")] for pair in text.split()], np.float32)


def _page_boxes(root) -> list[tuple[np.ndarray, float]]:
    out = []
    for line in root.iter("{*}TextLine"):
        words = [w for w in line if etree_name(w) == "Word"] or [line]
        for el in words:
            coords = next((c for c in el if etree_name(c) == "Coords"), None)
            if coords is not None and coords.get("points"):
                out.append((_quad_from_points(_points(coords.get("points"))), float(coords.get("conf", 1.0))))
    return out


def _alto_boxes(root) -> list[tuple[np.ndarray, float]]:
    out = []
    for string in root.iter("{*}String"):
        polygon = next(string.iter("{*}Polygon"), None)
        if polygon is not None and polygon.get("POINTS"):
            values = [float(v) for v in polygon.get("POINTS").replace(",", " ").split()]
            points = np.array(values, np.float32).reshape(-1, 2)
        else:
            x, y = float(string.get("HPOS", 0)), float(string.get("VPOS", 0))
            w, h = float(string.get("WIDTH", 0)), float(string.get("HEIGHT", 0))
            points = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)
        out.append((_quad_from_points(points), float(string.get("WC", 1.0))))
    return out


def etree_name(el) -> str:
    from lxml import etree

    return etree.QName(el).localname if isinstance(el.tag, str) else ""
