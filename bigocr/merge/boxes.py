"""Word boxes (and polygons) from the components of the stitched map.

The box rule is CRAFT's (``getDetBoxes_core``), component by component, with
the work for each component bounded by its bounding box instead of the whole
map:

1. skip a component of fewer than 10 map pixels, or whose peak region score
   is below ``text_threshold``;
2. keep its text pixels (pure link pixels are dropped);
3. ``niter = int(sqrt(area * min(w, h) / (w * h)) * 2)`` from its bounding box;
   dilate with a ``(1 + niter)`` square inside the box grown by ``niter``
   (``+1`` at the far side), clipped to the map;
4. ``cv2.minAreaRect`` over the dilated pixels; within 10 % of square, the
   axis-aligned extent instead; the corner with the smallest ``x + y`` first;
5. scale by 2 into scan pixels.

Blocks of the map are read once; each component is cut from the block that
holds its first pixel, read with a halo wide enough for the component.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from bigocr.document import Word
from bigocr.memory import release_memory
from bigocr.merge.label import Components, binarize, block_grid

__all__ = ["extract_words", "box_rule", "polygon_rule", "MIN_AREA", "MAP_SCALE"]

MIN_AREA = 10
MAP_SCALE = 2


def niter_of(area: int, w: int, h: int) -> int:
    """CRAFT's dilation size for a component of ``area`` pixels in a ``w`` x ``h`` box."""
    return int(math.sqrt(area * min(w, h) / (w * h)) * 2)


def dilation_window(x: int, y: int, w: int, h: int, niter: int, shape: tuple[int, int]):
    """``(sy, ey, sx, ex)``: the bounding box grown as the reference grows it, clipped."""
    return max(y - niter, 0), min(y + h + niter + 1, shape[0]), max(x - niter, 0), min(x + w + niter + 1, shape[1])


def box_rule(segmap: np.ndarray, origin: tuple[int, int], niter: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The reference's box of one component from its text pixels.

    Parameters
    ----------
    segmap : ndarray, shape (h, w), uint8
        The component's text pixels (nonzero) over its dilation window.
    origin : (int, int)
        Map ``(y, x)`` of ``segmap[0, 0]``.
    niter : int

    Returns
    -------
    (box, points) or None
        ``box`` (4, 2) float32 in map pixels; ``points`` the dilated pixels
        ``(x, y)`` as int32; None if the component has no text pixel.
    """
    if niter:
        segmap = cv2.dilate(segmap, cv2.getStructuringElement(cv2.MORPH_RECT, (1 + niter, 1 + niter)))
    ys, xs = np.nonzero(segmap)
    if len(xs) == 0:
        return None
    points = np.stack([xs + origin[1], ys + origin[0]], axis=1).astype(np.int32)
    box = cv2.boxPoints(cv2.minAreaRect(points))
    w, h = np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[1] - box[2])
    if abs(1 - max(w, h) / (min(w, h) + 1e-5)) <= 0.1:
        left, right = points[:, 0].min(), points[:, 0].max()
        top, bottom = points[:, 1].min(), points[:, 1].max()
        box = np.array([[left, top], [right, top], [right, bottom], [left, bottom]], dtype=np.float32)
    start = box.sum(axis=1).argmin()
    return np.roll(box, 4 - start, 0).astype(np.float32), points


def _warp_coord(minv: np.ndarray, x: float, y: float) -> np.ndarray:
    out = minv @ np.array([x, y, 1.0])
    return np.array([out[0] / out[2], out[1] / out[2]])


def polygon_rule(box: np.ndarray, member: np.ndarray, origin: tuple[int, int]) -> np.ndarray | None:
    """The reference's 14-point polygon (``getPoly_core``) for one component.

    Parameters
    ----------
    box : ndarray, shape (4, 2), float32
        The component's box in map pixels.
    member : ndarray, uint8
        1 where a pixel belongs to the component, over a window holding it all.
    origin : (int, int)
        Map ``(y, x)`` of ``member[0, 0]``.

    Returns
    -------
    ndarray, shape (14, 2), or None where the reference makes no polygon.
    """
    num_cp, max_len_ratio, expand_ratio, max_r, step_r = 5, 0.7, 1.45, 2.0, 0.2
    w, h = int(np.linalg.norm(box[0] - box[1]) + 1), int(np.linalg.norm(box[1] - box[2]) + 1)
    if w < 10 or h < 10:
        return None
    local = (box - np.array([origin[1], origin[0]], np.float32)).astype(np.float32)
    target = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    m = cv2.getPerspectiveTransform(local, target)
    word = cv2.warpPerspective(member, m, (w, h), flags=cv2.INTER_NEAREST)
    try:
        minv = np.linalg.inv(m)
    except np.linalg.LinAlgError:
        return None
    word = (word > 0).astype(np.uint8)
    flipped = h > w
    if flipped:
        w, h = h, w
        word = word.T

    # Top and bottom of the word in every column.
    columns = []
    max_len = -1
    for i in range(w):
        rows = np.nonzero(word[:, i])[0]
        if len(rows) < 2:
            continue
        columns.append((i, rows[0], rows[-1]))
        max_len = max(max_len, rows[-1] - rows[0] + 1)
    if h * max_len_ratio < max_len:
        return None

    # Pivot points in alternate segments of fixed width.
    tot_seg = num_cp * 2 + 1
    seg_w = w / tot_seg
    pivots = [None] * num_cp
    sections = [[0.0, 0.0] for _ in range(tot_seg)]
    seg_height = [0] * num_cp
    seg_num = num_sec = 0
    prev_h = -1
    for x, sy, ey in columns:
        if (seg_num + 1) * seg_w <= x and seg_num <= tot_seg:
            if num_sec == 0:
                break
            sections[seg_num] = [sections[seg_num][0] / num_sec, sections[seg_num][1] / num_sec]
            num_sec = 0
            seg_num += 1
            prev_h = -1
        cy = (sy + ey) * 0.5
        cur_h = ey - sy + 1
        sections[seg_num] = [sections[seg_num][0] + x, sections[seg_num][1] + cy]
        num_sec += 1
        if seg_num % 2 == 0:
            continue
        if prev_h < cur_h:
            pivots[(seg_num - 1) // 2] = (x, cy)
            seg_height[(seg_num - 1) // 2] = cur_h
            prev_h = cur_h
    if num_sec != 0:
        sections[-1] = [sections[-1][0] / num_sec, sections[-1][1] / num_sec]
    if None in pivots or seg_w < np.max(seg_height) * 0.25:
        return None

    half_char_h = np.median(seg_height) * expand_ratio / 2
    spans = []
    for i, (x, cy) in enumerate(pivots):
        dx = sections[i * 2 + 2][0] - sections[i * 2][0]
        dy = sections[i * 2 + 2][1] - sections[i * 2][1]
        if dx == 0:
            spans.append([x, cy - half_char_h, x, cy + half_char_h])
            continue
        rad = -math.atan2(dy, dx)
        c, s = half_char_h * math.cos(rad), half_char_h * math.sin(rad)
        spans.append([x - s, cy - c, x + s, cy + c])

    # Grow the ends until a line across them misses the word.
    p = pivots
    grad_s = (p[1][1] - p[0][1]) / (p[1][0] - p[0][0]) + (p[2][1] - p[1][1]) / (p[2][0] - p[1][0])
    grad_e = (p[-2][1] - p[-1][1]) / (p[-2][0] - p[-1][0]) + (p[-3][1] - p[-2][1]) / (p[-3][0] - p[-2][0])
    start = end = None
    for r in np.arange(0.5, max_r, step_r):
        dx = 2 * half_char_h * r
        last = r + 2 * step_r >= max_r
        if start is None:
            cand = np.array(spans[0]) - np.array([dx, grad_s * dx, dx, grad_s * dx])
            if last or not _line_hits(word, cand):
                start = cand
        if end is None:
            cand = np.array(spans[-1]) + np.array([dx, grad_e * dx, dx, grad_e * dx])
            if last or not _line_hits(word, cand):
                end = cand
        if start is not None and end is not None:
            break
    if start is None or end is None:
        return None

    ix, iy = (1, 0) if flipped else (0, 1)
    pts = [_warp_coord(minv, start[ix], start[iy])]
    pts += [_warp_coord(minv, q[ix], q[iy]) for q in spans]
    pts.append(_warp_coord(minv, end[ix], end[iy]))
    pts.append(_warp_coord(minv, end[ix + 2], end[iy + 2]))
    pts += [_warp_coord(minv, q[ix + 2], q[iy + 2]) for q in reversed(spans)]
    pts.append(_warp_coord(minv, start[ix + 2], start[iy + 2]))
    return (np.array(pts) + np.array([origin[1], origin[0]])).astype(np.float32)


def _line_hits(word: np.ndarray, p: np.ndarray) -> bool:
    line = np.zeros(word.shape, dtype=np.uint8)
    cv2.line(line, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), 1, thickness=1)
    return bool(np.any(word & line))


def _keep(comps: Components, text_threshold: float) -> np.ndarray:
    return (comps.area >= MIN_AREA) & (comps.peak >= text_threshold)


def extract_words(region, affinity, comps: Components, *, text_threshold: float = 0.7, low_text: float = 0.4,
                  link_threshold: float = 0.4, poly: bool = False,
                  block: tuple[int, int] = (2048, 2048)) -> list[Word]:
    """Boxes of the map's words, in scan pixels.

    Parameters
    ----------
    region, affinity : array-like, shape (h, w), float32
        The stitched maps (numpy or zarr).
    comps : Components
        From :func:`bigocr.merge.label.label_components` with the same thresholds.
    text_threshold, low_text, link_threshold : float
    poly : bool
        Also make the reference's polygons.
    block : (int, int)
        Blocks of the map processed at a time, in map pixels.

    Returns
    -------
    list of Word
        In the order of the components' first pixels (row-major).
    """
    shape = tuple(region.shape)
    comps = comps.select(_keep(comps, text_threshold))
    if len(comps) == 0:
        return []
    order = np.lexsort((comps.seed_x, comps.seed_y))
    comps = comps.select(order)
    w = comps.x1 - comps.x0
    h = comps.y1 - comps.y0
    niter = np.array([niter_of(a, ww, hh) for a, ww, hh in zip(comps.area, w, h)], dtype=np.int64)
    wy0 = np.maximum(comps.y0 - niter, 0)
    wy1 = np.minimum(comps.y1 + niter + 1, shape[0])
    wx0 = np.maximum(comps.x0 - niter, 0)
    wx1 = np.minimum(comps.x1 + niter + 1, shape[1])

    ncols = -(-shape[1] // block[1])
    owner = (comps.seed_y // block[0]) * ncols + comps.seed_x // block[1]
    words: list[Word | None] = [None] * len(comps)
    for b, (by0, by1, bx0, bx1) in enumerate(block_grid(shape, block)):
        members = np.flatnonzero(owner == b)
        if len(members) == 0:
            continue
        ry0, ry1 = min(by0, wy0[members].min()), max(by1, wy1[members].max())
        rx0, rx1 = min(bx0, wx0[members].min()), max(bx1, wx1[members].max())
        reg = np.asarray(region[ry0:ry1, rx0:rx1])
        text, link = binarize(reg, np.asarray(affinity[ry0:ry1, rx0:rx1]), low_text, link_threshold)
        _, labels = cv2.connectedComponents((text | link).view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
        for k in members:
            lab = labels[comps.seed_y[k] - ry0, comps.seed_x[k] - rx0]
            ys = slice(wy0[k] - ry0, wy1[k] - ry0)
            xs = slice(wx0[k] - rx0, wx1[k] - rx0)
            member = labels[ys, xs] == lab
            segmap = (member & text[ys, xs]).view(np.uint8) * np.uint8(255)
            found = box_rule(segmap, (int(wy0[k]), int(wx0[k])), int(niter[k]))
            if found is None:
                continue
            box, _ = found
            polygon = None
            if poly:
                polygon = polygon_rule(box, member.view(np.uint8), (int(wy0[k]), int(wx0[k])))
                if polygon is not None:
                    polygon = polygon * MAP_SCALE
            words[k] = Word(box * MAP_SCALE, float(comps.peak[k]), polygon)
        del reg, text, link, labels
        release_memory()
    return [w_ for w_ in words if w_ is not None]
