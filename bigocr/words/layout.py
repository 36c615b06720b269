"""Words into lines, lines into blocks, blocks into reading order.

ALTO and PAGE want ``TextBlock -> TextLine -> String`` (``TextRegion ->
TextLine -> Word``).  Detection gives loose word boxes; this module groups them
with geometry only:

1. **Skew.** The page's skew is the median angle of the long edges of the
   words that are clearly wider than tall; every box is rotated by it, so the
   rules below work on an upright page.
2. **Lines.** Words are taken left to right; a word continues the line whose
   last word it overlaps vertically by at least half the smaller height, with a
   horizontal gap of at most ``gap`` times the larger height.  Comparing with
   the *last* word (not the whole line) follows slightly curved lines and
   lets words of different heights (initials, small print) join.  A wider
   gap (justified text) joins unless it is a column gutter: crossed by no
   word of the lines around, with their text aligned along it.  Lines of small marks
   found apart (accents, dots) fold into the line (twice as tall) they sit on.
3. **Blocks.** A line links to the nearest line below it that overlaps it
   horizontally, has a similar height and is close; links are kept only
   where both lines choose each other, so a line spanning two columns does
   not glue the columns together.  Linked lines form a block (a paragraph or
   a column piece); a block whose centre lies inside a larger one joins it.
4. **Reading order.** Recursive XY-cut on the block boxes: columns (vertical
   cuts) left to right first, else bands (horizontal cuts) top to bottom; a
   heading across the columns is a band above them.

All coordinates are ``(x, y)`` in scan pixels.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from bigocr.document import Block, Layout, Line
from bigocr.words.segments import split_segments

__all__ = ["analyse_layout", "chained_lines", "estimate_skew", "connected"]


def _rotation(degrees: float) -> np.ndarray:
    """Matrix taking page coordinates to upright (deskewed) coordinates."""
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, s], [-s, c]])


def estimate_skew(boxes: np.ndarray, *, min_aspect: float = 1.5, max_degrees: float = 30.0) -> float:
    """Median angle of the long edges of elongated word boxes, in degrees.

    Parameters
    ----------
    boxes : ndarray, shape (n, 4, 2)
        Word quads ``(x, y)`` in scan pixels.
    min_aspect : float
        Only boxes at least this much wider than tall vote.
    max_degrees : float
        Votes steeper than this (vertical text) are ignored.

    Returns
    -------
    float
        The skew in degrees; 0 when no box votes.
    """
    if len(boxes) == 0:
        return 0.0
    top = boxes[:, 1] - boxes[:, 0]
    side = boxes[:, 2] - boxes[:, 1]
    top_len = np.hypot(top[:, 0], top[:, 1])
    side_len = np.hypot(side[:, 0], side[:, 1])
    edge = np.where((side_len > top_len)[:, None], side, top)  # the longer edge
    aspect = np.maximum(top_len, side_len) / np.maximum(np.minimum(top_len, side_len), 1e-6)
    angle = np.degrees(np.arctan2(edge[:, 1], edge[:, 0]))
    angle = (angle + 90.0) % 180.0 - 90.0  # (-90, 90]: an edge and its reverse agree
    keep = (aspect >= min_aspect) & (np.abs(angle) <= max_degrees)
    if not np.any(keep):
        return 0.0
    return float(np.median(angle[keep]))


def _rect_quad(x0: float, y0: float, x1: float, y1: float, back: np.ndarray) -> np.ndarray:
    quad = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
    return quad @ back.T


class _Rows:
    """Word rectangles sorted by top edge, for the words near a horizontal band without a full scan."""

    def __init__(self, rects: np.ndarray):
        self.order = np.argsort(rects[:, 1], kind="stable")
        self.rects = rects[self.order]
        self.top = self.rects[:, 1]
        heights = rects[:, 3] - rects[:, 1]
        self.tallest = float(np.nanmax(heights)) if np.isfinite(heights).any() else 0.0

    def band(self, y0: float, y1: float, tallest: float | None = None) -> np.ndarray:
        """Rectangles that may reach into ``[y0, y1]`` (a superset; exact tests follow).

        ``tallest``: the tallest rectangle the caller keeps (default: the page's
        tallest), so that one tall box does not widen every band.
        """
        reach = self.tallest if tallest is None else min(self.tallest, tallest)
        lo = np.searchsorted(self.top, y0 - reach, side="left")
        hi = np.searchsorted(self.top, y1, side="right")
        return self.rects[lo:hi]


def _around(rows: _Rows, y0: float, y1: float, height: float) -> tuple[np.ndarray, np.ndarray]:
    """The rectangles of the band ``[y0, y1]`` and which of them are words of about this ``height`` in it."""
    rects = rows.band(y0, y1)
    h = rects[:, 3] - rects[:, 1]
    return rects, (rects[:, 1] < y1) & (rects[:, 3] > y0) & (h <= 1.5 * height) & (h >= 0.5 * height)


def _column_edge(rects: np.ndarray, near: np.ndarray, edge: float, col: int, height: float,
                 within: float) -> np.ndarray | None:
    """The words of ``near`` whose side ``col`` (0: left, 2: right) lies within ``within`` of ``edge``, where
    they are a column's edge: at least four, and most of the words whose side lies within a height of it;
    None where it is not one."""
    beside = near & (np.abs(rects[:, col] - edge) <= height)
    aligned = beside & (np.abs(rects[:, col] - edge) <= within)
    n = np.count_nonzero(aligned)
    return aligned if n >= 4 and n >= 0.7 * np.count_nonzero(beside) else None


def _is_gutter(rows: _Rows, x0: float, x1: float, y0: float, y1: float, height: float) -> bool:
    """Whether the empty band ``[x0, x1]`` between two words is a column gutter.

    Looking at the words of about this ``height`` within ``[y0, y1]``: between
    two words of one justified line, words of the lines above and below reach
    into the band; a gutter is empty all the way, and the text beside it is
    aligned: the lines of the next column start at its right edge (or those of
    the column before end at its left edge).  A river of spaces is ragged, and
    an isolated line (a heading) has nothing around it, so neither is split.
    """
    rects, near = _around(rows, y0, y1, height)
    tol = 0.1 * height
    if np.any(near & (rects[:, 0] < x1 - tol) & (rects[:, 2] > x0 + tol)):
        return False  # some word reaches into the band
    return any(_column_edge(rects, near, edge, col, height, tol) is not None for edge, col in ((x1, 0), (x0, 2)))


#: A narrow gap is a margin's gutter only where the lines beside it start (or end) at its edge within this
#: share of a height (a column's margin; a river of spaces is ragged) ...
MARGIN_ALIGN = 0.15
#: ... and the words across it lie on at most this share of those lines: marginal notes sit beside a few
#: lines of a column, where a play's speaker names, which the lines keep, stand before most of them.
MARGIN_SPARSE = 0.35


def _is_margin(rows: _Rows, x0: float, x1: float, y0: float, y1: float, height: float) -> bool:
    """Whether the narrow gap ``[x0, x1]`` between two words is the gutter between a column and its
    marginal notes (:func:`_is_gutter` judges the wide gaps).

    Looking at the words of about this ``height`` within ``[y0, y1]``: no word runs across the gap's
    middle; at least four of the words beside it start at its right edge (or end at its left edge),
    within :data:`MARGIN_ALIGN` heights, as a column's lines do at its margin; and the words on the
    gap's other side lie on at most :data:`MARGIN_SPARSE` as many lines (notes, not a column of labels).
    Between two words of one line, the words of the lines above and below run across the gap.
    """
    rects, near = _around(rows, y0, y1, height)
    mid, tol = (x0 + x1) / 2, 0.1 * height
    if np.any(near & (rects[:, 0] < mid - tol) & (rects[:, 2] > mid + tol)):
        return False

    def lines_of(mask) -> int:  # how many lines the words of ``mask`` lie on
        cy = np.sort((rects[mask, 1] + rects[mask, 3]) / 2)
        return int(1 + np.count_nonzero(np.diff(cy) > 0.5 * height)) if len(cy) else 0

    for edge, col, across in ((x1, 0, rects[:, 2] <= mid), (x0, 2, rects[:, 0] >= mid)):
        aligned = _column_edge(rects, near, edge, col, height, MARGIN_ALIGN * height)
        if aligned is not None and lines_of(near & across) <= MARGIN_SPARSE * lines_of(aligned):
            return True
    return False


def _strips(rects: np.ndarray) -> list[np.ndarray]:
    """Words in groups whose vertical extents overlap in a chain; a line never spans two groups."""
    order = np.argsort(rects[:, 1], kind="stable")
    top, bottom = rects[order, 1], rects[order, 3]
    reach = np.maximum.accumulate(bottom)
    starts = np.flatnonzero(np.r_[True, top[1:] > reach[:-1]])
    return np.split(order, starts[1:])


def _group_lines(rects: np.ndarray, gap: float, overlap: float, wide_gap: float) -> list[list[int]]:
    """Words chained left to right into lines (see :func:`analyse_layout`).

    Words are taken in x order; each joins the line whose last word it best
    overlaps vertically.  Since joining needs a vertical overlap, the page is
    cut into strips of words whose extents overlap, and each strip is chained
    on its own: the same lines as one pass over the page, in the same order,
    at a cost that grows with the words, not with words times lines.
    """
    rows = _Rows(rects)
    rank = np.empty(len(rects), np.int64)
    rank[np.lexsort((rects[:, 1], rects[:, 0]))] = np.arange(len(rects))
    lines = []
    for members in _strips(rects):
        lines.extend(_chain(rects, members[np.argsort(rank[members])], rows, gap, overlap, wide_gap))
    lines.sort(key=lambda line: rank[line[0]])  # the order one pass over the page makes them in
    return lines


def _chain(rects: np.ndarray, order: np.ndarray, rows: _Rows, gap: float, overlap: float,
           wide_gap: float) -> list[list[int]]:
    lines: list[list[int]] = []
    tail = np.empty((len(order), 4))  # each line's rightmost word: x0, y0, x1, y1
    for k in order:
        x0, y0, x1, y1 = rects[k]
        n = len(lines)
        if n:
            t = tail[:n]
            h, th = y1 - y0, t[:, 3] - t[:, 1]
            small, big = np.minimum(h, th), np.maximum(h, th)
            v = np.minimum(y1, t[:, 3]) - np.maximum(y0, t[:, 1])
            g = x0 - t[:, 2]
            ok = (v >= overlap * small) & (g <= wide_gap * big) & (g >= -0.5 * np.minimum(x1 - x0, t[:, 2] - t[:, 0]))
            for c in np.flatnonzero(ok & (g > gap * big)):
                # A wider gap joins unless it is a column gutter.
                reach = 6 * big[c]
                ok[c] = not _is_gutter(rows, t[c, 2], x0, min(y0, t[c, 1]) - reach, max(y1, t[c, 3]) + reach, big[c])
            for c in np.flatnonzero(ok & (g > 0) & (g <= gap * big)):
                # A narrow gap joins unless it is the gutter beside marginal notes.
                reach = 6 * big[c]
                ok[c] = not _is_margin(rows, t[c, 2], x0, min(y0, t[c, 1]) - reach, max(y1, t[c, 3]) + reach, big[c])
            if np.any(ok):
                score = v / np.maximum(small, 1e-6) - 0.1 * np.maximum(g, 0.0) / np.maximum(big, 1e-6)
                best = int(np.argmax(np.where(ok, score, -np.inf)))
                lines[best].append(int(k))
                if x1 > tail[best, 2]:
                    tail[best] = rects[k]
                continue
        lines.append([int(k)])
        tail[n] = rects[k]
    return lines


def _absorb_marks(lines: list[list[int]], rects: np.ndarray) -> list[list[int]]:
    """Fold lines of small marks (accents, dots, commas found apart) into the line they sit on.

    A line joins a line at least twice as tall when its centre lies within
    that line's span, grown by a quarter of its height above and below.
    """
    boxes = np.array([_union(rects[ws]) for ws in lines])
    heights = boxes[:, 3] - boxes[:, 1]
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    pad = 0.25 * heights
    by_top = np.argsort(boxes[:, 1], kind="stable")
    tops = boxes[by_top, 1]
    reach = float((heights + pad).max())
    hosts = []
    for a in np.argsort(heights):
        # Only lines whose (padded) span can hold cy[a]: tops within [cy - reach, cy + max pad].
        cand = by_top[np.searchsorted(tops, cy[a] - reach, "left"):np.searchsorted(tops, cy[a] + reach, "right")]
        b = boxes[cand]
        ok = ((heights[cand] >= 2.0 * heights[a]) & (b[:, 0] <= cx[a]) & (cx[a] <= b[:, 2])
              & (b[:, 1] - pad[cand] <= cy[a]) & (cy[a] <= b[:, 3] + pad[cand]) & (cand != a))
        if np.any(ok):
            hosts.append((int(a), _first_min(cand[ok], np.abs(cy[cand[ok]] - cy[a]))))
    return [[i for a in group for i in lines[a]] for group in connected(len(lines), hosts)]


def connected(n: int, pairs: list[tuple[int, int]]) -> list[list[int]]:
    """``0 .. n-1`` grouped by the pairs that join them (connected components, as in merge/label.py).

    Groups come in the order of their smallest member, members ascending.
    """
    if not pairs:
        return [[i] for i in range(n)]
    a, b = np.asarray(pairs).T
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    groups: dict[int, list[int]] = {}
    for i, c in enumerate(component):
        groups.setdefault(int(c), []).append(i)
    return list(groups.values())


def _first_min(ids: np.ndarray, values: np.ndarray) -> int:
    """The smallest id among those with the smallest value (``argmin`` over the whole set, ties to the lower index)."""
    return int(ids[values == values.min()].min())


def _union(rects: np.ndarray) -> np.ndarray:
    return np.array([rects[:, 0].min(), rects[:, 1].min(), rects[:, 2].max(), rects[:, 3].max()])


def _group_blocks(lines: np.ndarray, heights: np.ndarray, gap: float, h_ratio: float) -> list[list[int]]:
    """Mutual nearest-below links between lines; linked lines share a block."""
    n = len(lines)
    below = np.full(n, -1)
    x0, y0, x1, y1 = lines.T
    by_top = np.argsort(y0, kind="stable")
    tops = y0[by_top]
    tallest = float(heights.max())
    for a in range(n):
        # Lines that can be below: tops from y1 - tallest / 2 to y1 + gap * tallest.
        cand = by_top[np.searchsorted(tops, y1[a] - 0.5 * tallest, "left"):
                      np.searchsorted(tops, y1[a] + max(gap, 0.0) * tallest, "right")]
        big, small = np.maximum(heights[a], heights[cand]), np.minimum(heights[a], heights[cand])
        d = y0[cand] - y1[a]
        ov = np.minimum(x1[a], x1[cand]) - np.maximum(x0[a], x0[cand])
        ok = ((y0[cand] + y1[cand]) > (y0[a] + y1[a])) & (d <= gap * big) & (d >= -0.5 * small) \
            & (big <= h_ratio * small) & (ov >= 0.5 * np.minimum(x1[a] - x0[a], x1[cand] - x0[cand])) & (cand != a)
        if np.any(ok):
            below[a] = _first_min(cand[ok], d[ok])
    above = np.full(n, -1)
    for a in range(n):
        b = below[a]
        if b < 0:
            continue
        d = lines[b, 1] - lines[a, 3]
        if above[b] < 0 or d < lines[b, 1] - lines[above[b], 3]:
            above[b] = a
    links = [(b, int(above[b])) for b in range(n) if above[b] >= 0]
    # A block whose centre lies inside a larger block (a stray line within a paragraph) joins it.
    for _ in range(2):
        groups = connected(n, links)
        boxes = np.array([_union(lines[group]) for group in groups])
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        for k in np.argsort(area):
            inside = (boxes[:, 0] < cx[k]) & (cx[k] < boxes[:, 2]) & (boxes[:, 1] < cy[k]) & (cy[k] < boxes[:, 3]) \
                & (area > area[k])
            if np.any(inside):
                host = int(np.argmin(np.where(inside, area, np.inf)))
                links.append((groups[k][0], groups[host][0]))
    return connected(n, links)


def _xy_cut(rects: np.ndarray, ids: list[int]) -> list[int]:
    """Recursive XY-cut: columns left to right first, else bands top to bottom."""
    if len(ids) <= 1:
        return list(ids)
    for axis in (0, 1):  # 0: cut between columns (x), 1: between bands (y)
        lo, hi = rects[ids, axis], rects[ids, axis + 2]
        order = np.argsort(lo, kind="stable")
        groups, reach = [[ids[order[0]]]], hi[order[0]]
        for k in order[1:]:
            if lo[k] >= reach:
                groups.append([])
            groups[-1].append(ids[k])
            reach = max(reach, hi[k])
        if len(groups) > 1:
            return [i for group in groups for i in _xy_cut(rects, group)]
    # Neither cut exists (overlapping boxes): top to bottom, then left to right.
    return sorted(ids, key=lambda i: (rects[i, 1], rects[i, 0]))


def chained_lines(quads: np.ndarray, *, gap: float = 1.0, wide_gap: float = 2.5, overlap: float = 0.5,
                  skew: float | None = None):
    """Steps 1 and 2 of :func:`analyse_layout`: the words chained into lines, marks folded in.

    Returns the skew (degrees), the upright word rectangles ``(x0, y0, x1, y1)``,
    the lines as lists of word ids and the rows index over the rectangles (what
    :func:`bigocr.words.segments.split_segments` takes; ``bigocr
    train-segments`` fits its model on the same lines).
    """
    angle = estimate_skew(quads) if skew is None else float(skew)
    upright = quads @ _rotation(angle).T
    rects = np.concatenate([upright.min(axis=1), upright.max(axis=1)], axis=1)  # x0, y0, x1, y1
    return angle, rects, _absorb_marks(_group_lines(rects, gap, overlap, wide_gap), rects), _Rows(rects)


def analyse_layout(boxes, *, gap: float = 1.0, wide_gap: float = 2.5, overlap: float = 0.5, line_gap: float = 1.0,
                   height_ratio: float = 1.6, skew: float | None = None, segments=True) -> Layout:
    """Group word boxes into lines and blocks, in reading order.

    Parameters
    ----------
    boxes : sequence of array_like, each shape (4, 2)
        Word quads ``(x, y)`` in scan pixels, clockwise from the top-left.
    gap : float
        Largest horizontal gap between words of one line, in word heights.
    wide_gap : float
        Gaps up to this many word heights join too where words of the lines
        around cross them (justified text), never across an empty gutter
        (nor does a narrower gap beside marginal notes: :func:`_is_margin`).
    overlap : float
        Smallest vertical overlap of neighbouring words of one line, as a
        fraction of the smaller height.
    line_gap : float
        Largest vertical gap between lines of one block, in line heights.
    height_ratio : float
        Lines whose heights differ by more than this factor are not one block.
    skew : float, optional
        Page skew in degrees; estimated from the boxes when None.
    segments : bool or dict
        Cut lines into segments where the page sets them apart
        (:func:`bigocr.words.segments.split_segments`: a receipt's label and
        amount); a dict is a segment model of one's own, False keeps lines whole.

    Returns
    -------
    Layout
        Every word in exactly one line, every line in exactly one block.

    Examples
    --------
    >>> import numpy as np
    >>> def box(x, y, w=40, h=20):
    ...     return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], float)
    >>> layout = analyse_layout([box(60, 0), box(0, 0), box(0, 30)])
    >>> [line.words for line in layout.lines]
    [(1, 0), (2,)]
    """
    quads = np.asarray([np.asarray(b, dtype=np.float64).reshape(4, 2) for b in boxes]).reshape(-1, 4, 2)
    if len(quads) == 0:
        return Layout((), 0.0)
    angle, rects, word_lines, rows = chained_lines(quads, gap=gap, wide_gap=wide_gap, overlap=overlap, skew=skew)
    back = _rotation(angle).T
    if segments:
        word_lines = split_segments(word_lines, rects, rows, None if segments is True else segments)
    line_rects = np.array([_union(rects[ws]) for ws in word_lines])
    line_heights = np.array([np.median(rects[ws, 3] - rects[ws, 1]) for ws in word_lines])
    block_lines = _group_blocks(line_rects, line_heights, line_gap, height_ratio)
    block_rects = np.array([_union(line_rects[ls]) for ls in block_lines])

    blocks = []
    for b in _xy_cut(block_rects, list(range(len(block_lines)))):
        members = sorted(block_lines[b], key=lambda i: ((line_rects[i, 1] + line_rects[i, 3]) / 2, line_rects[i, 0]))
        lines = []
        for li in members:
            words = sorted(word_lines[li], key=lambda i: rects[i, 0])
            lines.append(Line(tuple(words), _rect_quad(*line_rects[li], back)))
        blocks.append(Block(tuple(lines), _rect_quad(*block_rects[b], back)))
    return Layout(tuple(blocks), angle)
