"""Lines cut into segments where the page sets them apart: a receipt's label and its amount.

:func:`bigocr.words.layout.analyse_layout` chains words into lines by
geometry; a receipt's ``ENTRY TIME    30/04/2017 19:44`` then becomes one line,
where the page (and SROIE's truth, and PP-OCR) have two segments.  A print's
justified line, whose spaces can be as wide, is one.  What tells them apart is
the neighbourhood of the gap, not its width alone: on a receipt the amount is
one of a column of right-aligned numbers and the gap is a channel no word of
the lines around crosses; between the words of a justified line, the words of
the lines above and below run across it.

Each gap between neighbouring words of a line gets the features of
:func:`gap_features`, and a logistic model (:data:`MODEL`, fitted by
``bigocr train-segments`` on the training pool's receipts and prints with line
truth, its threshold chosen on the eval split; docs/TRAINING.md) gives the
probability that the gap separates two segments.  Lines are cut at the gaps
above :data:`MODEL`'s threshold.  The model is a handful of numbers kept here,
in the code, beside the features they weigh.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FEATURES", "MODEL", "gap_features", "split_probability", "split_segments"]

#: The features of one gap (see :func:`gap_features`).
FEATURES = ("gap", "log_gap_rel", "crossed", "channel", "right_aligned", "left_aligned", "log_height_ratio",
            "log_width_left", "log_width_right")

#: The fitted model: ``mean`` and ``scale`` standardise the features, ``coef`` and ``bias`` weigh them,
#: ``threshold`` cuts.  Fitted 2026-12-02 by ``bigocr train-segments --out /work/runs/segments`` (defaults:
#: the training pool's 88 receipts and 96 prints, 22 156 gaps of the default detector's words, 1 182 of them
#: segment breaks); threshold 0.5 chosen on line H, the mean over receipts and prints, of the eval split and of
#: each half of the training pages (by work and shop) with the model fitted on the other half (0.865 without
#: cuts, 0.886 with): eval receipts 0.774 -> 0.805 (3 receipts), prints 0.960 -> 0.954 (8 pages);
#: docs/TRAINING.md.
MODEL: dict = {
    "mean": [0.303143, -0.098152, 0.97319, 0.628805, 0.725506, 0.610226, 0.001121, 0.615452, 0.632621],
    "scale": [0.425321, 0.735483, 0.161527, 0.137133, 0.637432, 0.523178, 0.188494, 0.534437, 0.544795],
    "coef": [0.867211, -0.353224, -0.189411, 0.334505, 0.099244, 0.006604, -0.023367, -0.119445, -0.181223],
    "bias": -3.059349,
    "threshold": 0.5,
}

#: How far above and below a gap the neighbouring lines are looked at, in line heights.
REACH = 4.0

#: The fewest words of the lines around (within two heights of a gap) a cut needs: with fewer, the
#: neighbourhood says nothing (a heading over one short line looks like a channel).
EVIDENCE = 3

#: A word less than this share of its line's median word height is a mark (a comma, an accent, folded
#: into the line by :func:`bigocr.words.layout._absorb_marks`): no cut beside it.
MARK = 0.6


def gap_features(rects: np.ndarray, line: list[int], rows) -> np.ndarray:
    """The model's features of each gap of ``line``: :func:`_gaps`' first half."""
    return _gaps(rects, line, rows)[0]


def _gaps(rects: np.ndarray, line: list[int], rows) -> tuple[np.ndarray, np.ndarray]:
    """Features of each gap between neighbouring words of ``line`` (word ids in x order).

    ``rects`` are the upright word rectangles ``(x0, y0, x1, y1)``; ``rows`` is
    :class:`bigocr.words.layout._Rows` over them.  Per gap, in the word height
    ``H`` (the taller of the two words): the gap's width; its ratio to the
    line's median gap (log); whether a word of the lines within
    :data:`REACH` heights reaches into it (true when there are none); how much of the band above and below
    is a channel (the share of those lines' words overlapping its x range that
    stop before it or start after it); how many of those words end within a
    fifth of ``H`` of the right word's right edge (a right-aligned column), or
    start at its left edge (log1p counts); the words' height ratio and widths
    (log).  Returns ``(len(line) - 1, len(FEATURES))``, and per gap the number
    of words of the lines around within two heights of it (the evidence the
    neighbourhood features rest on).
    """
    ids = np.asarray(line)
    r = rects[ids]
    h = r[:, 3] - r[:, 1]
    gaps_px = r[1:, 0] - r[:-1, 2]
    big = np.maximum(np.maximum(h[1:], h[:-1]), 1e-6)
    gaps = gaps_px / big
    median = max(float(np.median(gaps)), 0.1)
    out = np.zeros((len(ids) - 1, len(FEATURES)))
    evidence = np.zeros(len(ids) - 1, np.int64)
    y0, y1 = float(r[:, 1].min()), float(r[:, 3].max())
    top = float(big.max())
    # the lines around, once per line: every word any gap of it may look at (each gap's test is exact below)
    around = rows.band(y0 - REACH * top, y1 + REACH * top, tallest=1.6 * top)
    around = around[(around[:, 2] > r[0, 0] - 2 * top) & (around[:, 0] < r[-1, 2] + 2 * top)]
    cy = (around[:, 1] + around[:, 3]) / 2
    around = around[(cy < y0) | (cy > y1)]  # not this line's own words
    ah = around[:, 3] - around[:, 1]
    for k in range(len(ids) - 1):
        H = float(big[k])
        near = around[(around[:, 1] < y1 + REACH * H) & (around[:, 3] > y0 - REACH * H)
                      & (ah <= 1.6 * H) & (ah >= 0.5 * H)]
        gx0, gx1 = float(r[k, 2]), float(r[k + 1, 0])
        tol = 0.1 * H
        # with no lines around (a heading, a lone line) nothing shows a channel: counted as crossed
        crossed = np.any((near[:, 0] < gx1 - tol) & (near[:, 2] > gx0 + tol)) if len(near) else True
        span = near[(near[:, 2] > gx0 - 2 * H) & (near[:, 0] < gx1 + 2 * H)]
        outside = (span[:, 2] <= gx0 + tol) | (span[:, 0] >= gx1 - tol)
        channel = float(outside.mean()) if len(span) else 0.5
        evidence[k] = len(span)
        right = np.count_nonzero(np.abs(near[:, 2] - r[k + 1, 2]) <= 0.2 * H)
        left = np.count_nonzero(np.abs(near[:, 0] - r[k + 1, 0]) <= 0.2 * H)
        out[k] = (gaps[k], np.log(max(gaps[k], 0.02) / median), float(crossed), channel, np.log1p(right),
                  np.log1p(left), np.log(max(h[k + 1], 1e-6) / max(h[k], 1e-6)),
                  np.log(max(r[k, 2] - r[k, 0], 1e-6) / H), np.log(max(r[k + 1, 2] - r[k + 1, 0], 1e-6) / H))
    return out, evidence


def split_probability(features: np.ndarray, model: dict | None = None) -> np.ndarray:
    """The model's probability that each gap separates two segments."""
    model = MODEL if model is None else model
    z = (features - np.asarray(model["mean"])) / np.asarray(model["scale"])
    return 1.0 / (1.0 + np.exp(-(z @ np.asarray(model["coef"]) + float(model["bias"]))))


def split_segments(word_lines: list[list[int]], rects: np.ndarray, rows, model: dict | None = None) -> list[list[int]]:
    """``word_lines`` with each line cut at the gaps the model calls segment breaks (none without a model)."""
    model = MODEL if model is None else model
    if model.get("coef") is None or model.get("threshold") is None:
        return word_lines
    out = []
    for line in word_lines:
        if len(line) < 2:
            out.append(line)
            continue
        ordered = sorted(line, key=lambda i: rects[i, 0])
        if not np.isfinite(rects[ordered]).all():  # a box without coordinates: the line stays whole
            out.append(line)
            continue
        features, evidence = _gaps(rects, ordered, rows)
        cut = split_probability(features, model) > model["threshold"]
        h = rects[ordered, 3] - rects[ordered, 1]
        cut &= np.minimum(h[1:], h[:-1]) >= MARK * np.median(h)  # never beside a mark
        cut &= evidence >= model.get("evidence", EVIDENCE)  # never on the word of a lone neighbour
        start = 0
        for k in np.flatnonzero(cut):
            out.append(ordered[start:k + 1])
            start = k + 1
        out.append(ordered[start:])
    return out
