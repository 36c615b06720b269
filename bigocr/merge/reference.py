"""The reference's single-pass box extraction, kept as the parity check and the baseline.

This follows CRAFT-pytorch's ``getDetBoxes_core`` step for step: one labeling of
the whole map, then for every component a full-size segmentation map, a
whole-map scan for its pixels and a whole-map search for its points, which is
O(components x pixels).  bigocr never uses it to process a scan; tests compare
:func:`bigocr.merge.boxes.extract_words` against it, and ``benchmarks/`` times
it as the baseline.  One deviation: points go to ``cv2.minAreaRect`` as int32
(the reference hands it int64, which current OpenCV refuses).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from bigocr.document import Word
from bigocr.merge.boxes import MAP_SCALE, MIN_AREA, polygon_rule

__all__ = ["reference_words", "reference_labels"]


def reference_labels(region: np.ndarray, affinity: np.ndarray, low_text: float, link_threshold: float):
    """Single-pass labeling of the whole map, as the reference does it."""
    _, text_score = cv2.threshold(region, low_text, 1, 0)
    _, link_score = cv2.threshold(affinity, link_threshold, 1, 0)
    combined = np.clip(text_score + link_score, 0, 1)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(combined.astype(np.uint8), connectivity=4)
    return n, labels, stats, text_score, link_score


def reference_words(region: np.ndarray, affinity: np.ndarray, *, text_threshold: float = 0.7, low_text: float = 0.4,
                    link_threshold: float = 0.4, poly: bool = False, components=None) -> list[Word]:
    """Words by the reference's per-component full-map loop.

    Parameters
    ----------
    region, affinity : ndarray, shape (h, w), float32
        Whole maps in memory.
    components : iterable of int, optional
        Examine only these component labels (1 .. n - 1 of the whole-map
        labeling), e.g. a sample for timing; default all.

    Returns
    -------
    list of Word, in scan pixels, in the reference's component order.
    """
    img_h, img_w = region.shape
    n, labels, stats, text_score, link_score = reference_labels(region, affinity, low_text, link_threshold)
    words = []
    for k in (range(1, n) if components is None else components):
        size = stats[k, cv2.CC_STAT_AREA]
        if size < MIN_AREA:
            continue
        if np.max(region[labels == k]) < text_threshold:
            continue
        segmap = np.zeros(region.shape, dtype=np.uint8)
        segmap[labels == k] = 255
        segmap[np.logical_and(link_score == 1, text_score == 0)] = 0
        x, y = stats[k, cv2.CC_STAT_LEFT], stats[k, cv2.CC_STAT_TOP]
        w, h = stats[k, cv2.CC_STAT_WIDTH], stats[k, cv2.CC_STAT_HEIGHT]
        niter = int(math.sqrt(size * min(w, h) / (w * h)) * 2)
        sx, ex, sy, ey = x - niter, x + w + niter + 1, y - niter, y + h + niter + 1
        sx, sy = max(sx, 0), max(sy, 0)
        ex, ey = min(ex, img_w), min(ey, img_h)
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (1 + niter, 1 + niter))
        segmap[sy:ey, sx:ex] = cv2.dilate(segmap[sy:ey, sx:ex], kernel)
        points = np.roll(np.array(np.where(segmap != 0)), 1, axis=0).transpose().reshape(-1, 2).astype(np.int32)
        box = cv2.boxPoints(cv2.minAreaRect(points))
        bw, bh = np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[1] - box[2])
        if abs(1 - max(bw, bh) / (min(bw, bh) + 1e-5)) <= 0.1:
            left, right = min(points[:, 0]), max(points[:, 0])
            top, bottom = min(points[:, 1]), max(points[:, 1])
            box = np.array([[left, top], [right, top], [right, bottom], [left, bottom]], dtype=np.float32)
        box = np.roll(box, 4 - box.sum(axis=1).argmin(), 0).astype(np.float32)
        polygon = None
        if poly:
            polygon = polygon_rule(box, (labels == k).astype(np.uint8), (0, 0))
            polygon = None if polygon is None else polygon * MAP_SCALE
        words.append(Word(box * MAP_SCALE, float(np.max(region[labels == k])), polygon))
    return words
