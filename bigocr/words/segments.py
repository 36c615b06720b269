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
:func:`gap_features`, and boosted regression trees (:data:`MODEL_FILE`, fitted
by ``bigocr train-segments`` on the training pool's receipts and prints with
line truth, the threshold chosen on the eval split and on halves of the
training pages; docs/TRAINING.md) give the probability that the gap separates
two segments.  Lines are cut at the gaps above the model's threshold, never at
one narrower than :data:`SHORTEST`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bigocr.errors import WeightsError

__all__ = ["FEATURES", "MODEL_FILE", "SHORTEST", "gap_features", "page_gap", "shipped_model", "split_probability",
           "split_segments"]

#: The features of one gap (see :func:`gap_features`).
FEATURES = ("gap", "log_gap_rel", "crossed", "channel", "right_aligned", "left_aligned", "log_height_ratio",
            "log_width_left", "log_width_right", "log_gap_page", "log_gap_others", "log_words")

#: Gaps narrower than this many word heights are never cut (and not learned from): a "break" there is a
#: word of the next line chained in (half of the prints' breaks overlap their neighbour), not a segment the
#: page sets apart, and learning from them taught the model to cut the prints' lines.
SHORTEST = 0.5

#: The model's file, beside this module: boosted regression trees (fitted by ``bigocr train-segments``, which
#: writes the same JSON; docs/TRAINING.md), read as data, never as code.  The shipped one: fitted 2026-12-04
#: on the training pool's 88 receipts and 96 prints (6 104 and 16 060 gaps), threshold 0.7 chosen on the
#: eval split and the training halves (score 0.8998 against the logistic model's 0.8845; its ``chosen``).
MODEL_FILE = Path(__file__).with_name("segments.json")

_MODEL: dict | None = None


def shipped_model() -> dict:
    """The shipped model (:data:`MODEL_FILE`): ``base`` (log-odds), ``rate``, ``trees`` (per tree the
    arrays ``feature``, ``threshold``, ``left``, ``right``, ``value``; a leaf has ``left == -1``) and the
    ``threshold`` on the probability that cuts."""
    global _MODEL
    if _MODEL is None:
        try:
            model = json.loads(MODEL_FILE.read_text())
        except (OSError, ValueError) as e:
            raise WeightsError(f"{MODEL_FILE}: cannot read the segment model ({e}); reinstall bigocr") from None
        if not isinstance(model, dict) or list(model.get("features", [])) != list(FEATURES):
            raise WeightsError(f"{MODEL_FILE}: its features {model.get('features')} are not this bigocr's {FEATURES}")
        model["_packed"] = _packed(model["trees"])
        _MODEL = model
    return _MODEL


#: How far above and below a gap the neighbouring lines are looked at, in line heights.
REACH = 4.0

#: The fewest words of the lines around (within two heights of a gap) a cut needs: with fewer, the
#: neighbourhood says nothing (a heading over one short line looks like a channel).
EVIDENCE = 3

#: A word less than this share of its line's median word height is a mark (a comma, an accent, folded
#: into the line by :func:`bigocr.words.layout._absorb_marks`): no cut beside it.
MARK = 0.6


def gap_features(rects: np.ndarray, line: list[int], rows, page: float) -> np.ndarray:
    """The model's features of each gap of ``line``: :func:`_gaps`' first half."""
    return _gaps(rects, line, rows, page)[0]


def _word_gaps(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Between neighbouring rectangles ``r`` of a line (in x order): each gap in word heights, and that height
    (the taller of the two words)."""
    h = r[:, 3] - r[:, 1]
    big = np.maximum(np.maximum(h[1:], h[:-1]), 1e-6)
    return (r[1:, 0] - r[:-1, 2]) / big, big


def page_gap(rects: np.ndarray, lines: list[list[int]]) -> float:
    """The page's usual gap between neighbouring words of a line, in word heights (the median over all its
    lines; a monospaced receipt's single space): what a gap is measured against beside its own line's gaps."""
    gaps = [_word_gaps(rects[sorted(line, key=lambda i: rects[i, 0])])[0] for line in lines if len(line) >= 2]
    return max(float(np.median(np.concatenate(gaps))), 0.1) if gaps else 0.5


def _gaps(rects: np.ndarray, line: list[int], rows, page: float) -> tuple[np.ndarray, np.ndarray]:
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
    (log); the gap against ``page`` (:func:`page_gap`, log) and against the
    widest other gap of the line (log; against ``page`` where it has none);
    the line's word count (log).  Returns ``(len(line) - 1, len(FEATURES))``, and per gap the number
    of words of the lines around within two heights of it (the evidence the
    neighbourhood features rest on).
    """
    ids = np.asarray(line)
    r = rects[ids]
    h = r[:, 3] - r[:, 1]
    gaps, big = _word_gaps(r)
    median = max(float(np.median(gaps)), 0.1)
    clipped = np.maximum(gaps, 0.02)
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
        others = np.delete(clipped, k)
        out[k] = (gaps[k], np.log(clipped[k] / median), float(crossed), channel, np.log1p(right),
                  np.log1p(left), np.log(max(h[k + 1], 1e-6) / max(h[k], 1e-6)),
                  np.log(max(r[k, 2] - r[k, 0], 1e-6) / H), np.log(max(r[k + 1, 2] - r[k + 1, 0], 1e-6) / H),
                  np.log(clipped[k] / page), np.log(clipped[k] / (others.max() if len(others) else page)),
                  np.log(len(ids)))
    return out, evidence


def _packed(trees: list[dict]) -> tuple[np.ndarray, ...]:
    """The trees as five ``(trees, nodes)`` arrays (padded with leaves), to walk them all at once."""
    n = max(len(t["left"]) for t in trees)

    def pad(key, fill, dtype):
        return np.array([list(t[key]) + [fill] * (n - len(t[key])) for t in trees], dtype)

    return (pad("feature", 0, np.int64).clip(0), pad("threshold", 0.0, np.float64), pad("left", -1, np.int64),
            pad("right", -1, np.int64), pad("value", 0.0, np.float64))


def split_probability(features: np.ndarray, model: dict | None = None) -> np.ndarray:
    """The model's probability that each gap separates two segments (0 for gaps under :data:`SHORTEST`).

    The trees are walked here, every gap through every tree at once, rather than by scikit-learn, which
    fits them (``bigocr train-segments``): twenty lines of numpy are not worth a runtime dependency.
    """
    model = shipped_model() if model is None else model
    x = np.asarray(features, np.float64).reshape(-1, len(FEATURES))
    if not model["trees"] or not len(x):
        return np.zeros(len(x))
    packed = model.get("_packed")
    feature, threshold, left, right, value = packed if packed is not None else _packed(model["trees"])
    trees = np.arange(len(feature))[None, :]
    node = np.zeros((len(x), len(feature)), np.int64)
    while True:
        inner = left[trees, node] >= 0
        if not inner.any():
            break
        go_left = np.take_along_axis(x, feature[trees, node], axis=1) <= threshold[trees, node]
        node = np.where(inner, np.where(go_left, left[trees, node], right[trees, node]), node)
    raw = float(model["base"]) + float(model["rate"]) * value[trees, node].sum(axis=1)
    return np.where(x[:, 0] >= SHORTEST, 1.0 / (1.0 + np.exp(-raw)), 0.0)


def split_segments(word_lines: list[list[int]], rects: np.ndarray, rows, model: dict | None = None) -> list[list[int]]:
    """``word_lines`` with each line cut at the gaps the model calls segment breaks (none without a model:
    ``{"trees": None}`` keeps them whole)."""
    model = shipped_model() if model is None else model
    if model.get("trees") is None or model.get("threshold") is None:
        return word_lines
    page = page_gap(rects, word_lines)
    todo = []  # (line, ordered, features, evidence) of the lines with gaps to weigh
    for line in word_lines:
        ordered = sorted(line, key=lambda i: rects[i, 0])
        if len(line) < 2 or not np.isfinite(rects[ordered]).all():  # a box without coordinates: the line stays whole
            todo.append((line, None, None, None))
            continue
        todo.append((line, ordered, *_gaps(rects, ordered, rows, page)))
    weighed = [f for _, ordered, f, _ in todo if ordered is not None]
    p = split_probability(np.concatenate(weighed), model) if weighed else np.zeros(0)
    out, at = [], 0
    for line, ordered, features, evidence in todo:
        if ordered is None:
            out.append(line)
            continue
        cut = p[at:at + len(features)] > model["threshold"]
        at += len(features)
        h = rects[ordered, 3] - rects[ordered, 1]
        cut &= np.minimum(h[1:], h[:-1]) >= MARK * np.median(h)  # never beside a mark
        cut &= evidence >= model.get("evidence", EVIDENCE)  # never on the word of a lone neighbour
        start = 0
        for k in np.flatnonzero(cut):
            out.append(ordered[start:k + 1])
            start = k + 1
        out.append(ordered[start:])
    return out
