"""Line geometry for line-based tools (eScriptorium, kraken, Transkribus): a baseline and a boundary per line.

A line there is a *baseline*, the polyline its letters stand on (descenders
hang below it), and a *boundary* polygon around it.  Both are made here from
the line's words and the scan's ink:

- **Baseline.**  The line is turned level (its box gives the angle), and for
  each word the rows of its box are counted for ink (Otsu, as the join
  does).  The letters' bodies fill rows densely; descenders and ascenders are
  a few strokes.  The rows holding at least :data:`BODY_SHARE` of the densest
  row's ink bound the word's letters; within their lower two thirds, the row
  where the ink falls off most steeply is where the bodies end and only
  descenders go on: the word's baseline (where nothing falls off that much,
  the lowest of those rows).  A robust straight fit over the
  words (Theil-Sen slope, median offset) sets the line; a word whose own
  baseline is more than :data:`OUTLIER` x-heights off it (a superscript, a
  tall initial, a word of capitals that the ink misjudges) takes the fit's
  value instead.  The polyline runs through the words' centres, from the
  line's left end to its right end, so a curved line (a page that is not
  flat) is followed.
- **Boundary.**  The union of the words' boxes and of the quadrilaterals that
  bridge each word to the next (:mod:`shapely`): it holds every word and
  never reaches past the line's first and last word, so it never spans a
  column gutter that the layout did not join.

Windows are read through a :class:`~bigocr.tiler.bands.BandReader`, top to
bottom, so each TIFF tile is decoded once for all the lines in it.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from bigocr.document import Block, Layout, Line
from bigocr.tiler.bands import BandReader
from bigocr.words.join import ink

__all__ = ["line_shapes", "line_baseline", "line_boundary", "BODY_SHARE", "OUTLIER"]

#: A row of a word belongs to the letters' bodies when it holds at least this share of the word's densest row.
BODY_SHARE = 0.4
#: ... and its baseline is where the ink falls off by at least this share of that row at once (else its last row).
DROP = 0.25
#: ... and the rows below it hold less than this share of the ink of the rows above, on average.
THIN = 0.6
#: A word's own baseline further than this many x-heights from the line's fit gives way to the fit.
OUTLIER = 0.1
#: Angles below this (degrees) are read as level, without turning the window.
LEVEL = 0.3
#: The boundary lies this many pixels outside the words' boxes.
PAD = 1.5


def line_shapes(scan, words: list, layout: Layout) -> Layout:
    """``layout`` with every line's :attr:`~bigocr.document.Line.baseline` and ``boundary`` made.

    Parameters
    ----------
    scan : ScanSource
        Read window by window (the lines' windows, top to bottom).
    words : list of Word
        Boxes ``(4, 2)`` as ``(x, y)`` scan pixels, clockwise from the top-left.
    layout : Layout
        Lines index ``words``.
    """
    band = BandReader(scan)
    made = {}
    lines = [line for block in layout.blocks for line in block.lines]
    for line in sorted(lines, key=lambda ln: float(np.min(ln.box[:, 1]))):  # top to bottom: each band read once
        quads = [np.asarray(words[i].box, np.float64) for i in line.words]
        made[id(line)] = (line_baseline(band, scan.shape, quads, line.box), line_boundary(quads, scan.shape))
    blocks = tuple(Block(tuple(Line(line.words, line.box, *made[id(line)]) for line in block.lines), block.box)
                   for block in layout.blocks)
    return Layout(blocks, layout.skew)


def line_boundary(quads: list[np.ndarray], shape_hw: tuple[int, int] | None = None) -> np.ndarray:
    """The polygon ``(m, 2)`` around a line's word boxes and the gaps between them (whole scan pixels inside
    ``shape`` when given, clockwise on the screen from the top-left point).

    The polygon is simple (no edge crosses another) once rounded to whole pixels, as PAGE and ALTO store it;
    where rounding would make it cross itself, its convex hull is taken instead.
    """
    from shapely.geometry import MultiPolygon, Polygon
    from shapely.ops import unary_union

    parts = [Polygon(q) for q in quads]
    for a, b in zip(quads, quads[1:]):  # the gap from one word's right side to the next one's left side
        parts.append(Polygon([a[1], b[0], b[3], a[2]]))
    shape = unary_union([p if p.is_valid else p.buffer(0) for p in parts])
    if isinstance(shape, MultiPolygon) or shape.is_empty:
        shape = shape.convex_hull
    if shape.is_empty or shape.geom_type != "Polygon":  # words of no area (a box given as a point or a line)
        x0, y0 = np.min([q.min(axis=0) for q in quads], axis=0)
        x1, y1 = np.max([q.max(axis=0) for q in quads], axis=0)
        shape = Polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)]).buffer(0.5, join_style=2)
    shape = shape.buffer(PAD, join_style=2)  # the words stay inside once every point is rounded to a pixel
    points = np.asarray(shape.simplify(0.5).exterior.coords, np.float64)[:-1]
    if shape_hw is not None:
        points[:, 0] = np.clip(points[:, 0], 0, shape_hw[1])
        points[:, 1] = np.clip(points[:, 1], 0, shape_hw[0])
    points = np.rint(points)
    points = points[np.r_[True, np.any(np.diff(points, axis=0) != 0, axis=1)]]
    if len(points) < 3 or not Polygon(points).is_valid:
        hull = cv2.convexHull(points.astype(np.float32).reshape(-1, 1, 2))[:, 0, :]
        points = np.asarray(hull, np.float64)
    if _signed_area(points) < 0:  # y down: a positive area is clockwise on the screen
        points = points[::-1]
    start = int(np.argmin(points[:, 0] + points[:, 1]))
    return np.roll(points, -start, axis=0)


def _signed_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def line_baseline(band, shape: tuple[int, int], quads: list[np.ndarray], box: np.ndarray) -> np.ndarray:
    """The baseline ``(k, 2)`` of a line, left to right, in scan pixels.

    ``band`` reads the scan (``band.read(y0, y1, x0, x1)``), ``shape`` is the
    scan's ``(height, width)``, ``quads`` the line's word boxes in reading order,
    ``box`` the line's rectangle (it gives the angle).
    """
    height, width = shape
    angle = math.degrees(math.atan2(box[1, 1] - box[0, 1], box[1, 0] - box[0, 0]))
    pts = np.concatenate(quads)
    x0, y0 = max(0, int(pts[:, 0].min()) - 2), max(0, int(pts[:, 1].min()) - 2)
    x1, y1 = min(width, int(math.ceil(pts[:, 0].max())) + 2), min(height, int(math.ceil(pts[:, 1].max())) + 2)
    fallback = _level_line(box)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return fallback
    pixels = band.read(y0, y1, x0, x1)
    gray = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY) if pixels.ndim == 3 else pixels
    centre = ((x1 - x0) / 2.0, (y1 - y0) / 2.0)
    turn = cv2.getRotationMatrix2D(centre, angle, 1.0) if abs(angle) >= LEVEL else None  # level the line
    if turn is not None:
        gray = cv2.warpAffine(gray, turn, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderValue=255)
    dark = ink(gray)
    level = [_apply(turn, q - (x0, y0)) for q in quads]
    found = [_word_baseline(dark, q) for q in level]
    xs = np.array([f[0] for f in found if f is not None])
    if len(xs) == 0:
        return fallback
    ys = np.array([f[1] for f in found if f is not None])
    xheight = float(np.median([f[2] for f in found if f is not None]))
    slope = _theil_sen(xs, ys) if len(xs) >= 3 else 0.0
    offset = float(np.median(ys - slope * xs))
    points = []
    for q, f in zip(level, found):
        xc = float(q[:, 0].mean())
        fit = offset + slope * xc
        y = f[1] if f is not None and abs(f[1] - fit) <= OUTLIER * xheight else fit
        points.append((xc, y))
    left = float(min(q[:, 0].min() for q in level))
    right = float(max(q[:, 0].max() for q in level))
    points = [(left, points[0][1] + slope * (left - points[0][0]))] + points + \
             [(right, points[-1][1] + slope * (right - points[-1][0]))]
    inverse = None if turn is None else cv2.invertAffineTransform(turn)
    line = _apply(inverse, np.asarray(points, np.float64)) + (x0, y0)
    line[:, 0] = np.clip(line[:, 0], 0, width)
    line[:, 1] = np.clip(line[:, 1], 0, height)
    return _simplified(line)


def _word_baseline(dark: np.ndarray, quad: np.ndarray):
    """``(x centre, baseline y, x-height)`` of one word in the level window, or None where it holds no ink."""
    h, w = dark.shape
    wx0, wx1 = max(0, int(quad[:, 0].min())), min(w, int(math.ceil(quad[:, 0].max())))
    wy0, wy1 = max(0, int(quad[:, 1].min())), min(h, int(math.ceil(quad[:, 1].max())))
    if wx1 - wx0 < 2 or wy1 - wy0 < 3:
        return None
    rows = dark[wy0:wy1, wx0:wx1].sum(axis=1).astype(np.float64)
    if rows.max() == 0:
        return None
    body = np.flatnonzero(rows >= BODY_SHARE * rows.max())
    top, bottom = int(body[0]), int(body[-1]) + 1
    drops = rows[:-1] - rows[1:]  # drops[y]: how much less ink row y + 1 holds than row y
    low = top + max(2, (bottom - top) // 3)
    if bottom - 1 > low:  # where the bodies' bowls end (descenders go on, thinner): the steepest drop below
        base = low + int(np.argmax(drops[low:bottom - 1])) + 1
        thin = rows[base:bottom].mean() < THIN * rows[top:base].mean()  # below it, strokes only: descenders
        if drops[base - 1] >= DROP * rows[top:base].max() and thin:
            bottom = base
    return (wx0 + wx1) / 2.0, float(wy0 + bottom), float(max(1, bottom - top))


def _theil_sen(xs: np.ndarray, ys: np.ndarray) -> float:
    """The median of the slopes between pairs of points (a line through most of them, whatever a few do)."""
    i, j = np.triu_indices(len(xs), 1)
    dx = xs[j] - xs[i]
    keep = np.abs(dx) > 1e-6
    return float(np.median((ys[j] - ys[i])[keep] / dx[keep])) if keep.any() else 0.0


def _apply(matrix, points: np.ndarray) -> np.ndarray:
    if matrix is None:
        return np.asarray(points, np.float64)
    pts = np.asarray(points, np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def _level_line(box: np.ndarray) -> np.ndarray:
    """The bottom edge of a line's rectangle, left to right (where no ink says better)."""
    return np.asarray([box[3], box[2]], np.float64)


def _simplified(points: np.ndarray, tol: float = 0.5) -> np.ndarray:
    """``points`` without the inner ones that lie within ``tol`` pixels of the straight line of their
    neighbours (a level line needs two points)."""
    keep = [points[0]]
    for k in range(1, len(points) - 1):
        a, b, p = keep[-1], points[k + 1], points[k]
        d = b - a
        n = math.hypot(*d)
        dist = abs(d[0] * (p[1] - a[1]) - d[1] * (p[0] - a[0])) / n if n > 0 else math.hypot(*(p - a))
        if dist > tol:
            keep.append(p)
    keep.append(points[-1])
    return np.asarray(keep, np.float64)
