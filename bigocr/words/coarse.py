"""Headlines: words from a coarse second pass replace the pieces the fine pass made of them.

``scale="auto"`` brings a page's body text into the size band where CRAFT
sees best.  A headline three to six times the body's height is then far above
the band: its letters outgrow what the network has learnt to join, and it
comes out as single letters or broken pieces (the slim student especially).
The cure costs a sixteenth of the work: detect the scan once more at a quarter
of the scale (:data:`COARSE`), where the headline's letters are in the band,
and let the coarse pass's headlines stand for what the fine pass made of them.

:func:`headlines` keeps the coarse words that are tall (:data:`MIN_HEIGHT`)
and whose ink is tall letters: at a quarter of the scale, a few lines of
small print (a form's tick-box list) also run together into one tall word;
the height of the ink inside tells the two apart (letters of 0.6-0.9 of the
box in a headline, 0.2-0.3 in such a blob).

:func:`merge_coarse` then decides, headline by headline, from the fine words
lying mostly inside it:

- none: the fine pass missed the text (too large for it): the headline is added;
- one fine word that already matches it (IoU >= :data:`SAME_IOU`): the fine word,
  whose box is four times finer, is kept;
- else (the pieces of a headline): the headline replaces them.

All boxes are in scan pixels.
"""

from __future__ import annotations

import numpy as np
import shapely  # at import, not first in a worker thread: two threads importing it at once can fail

from bigocr.document import Word

__all__ = ["merge_coarse", "word_bounds", "headlines", "ink_height", "box_heights", "COARSE", "MIN_HEIGHT", "SAME_IOU", "INSIDE",
           "MIN_INK"]

#: The coarse pass's scale relative to the fine pass's.
COARSE = 0.25
#: Coarse words count when at least this tall, in the fine pass's working pixels (3x the top of the size band).
MIN_HEIGHT = 96.0
#: A fine word lies inside a coarse word when at least this share of its box's bounds does.
INSIDE = 0.5
#: A tall coarse word is a headline when its ink's letters are at least this share of its height.
MIN_INK = 0.45
#: A lone fine word that overlaps the coarse word this much is the same word (the fine box is kept).
SAME_IOU = 0.6


def box_heights(boxes: np.ndarray) -> np.ndarray:
    """Heights of quadrilaterals ``(n, 4, 2)`` (x, y, clockwise from top-left): mean of the left and right sides."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4, 2)
    left = np.linalg.norm(boxes[:, 3] - boxes[:, 0], axis=1)
    right = np.linalg.norm(boxes[:, 2] - boxes[:, 1], axis=1)
    return (left + right) / 2


def word_bounds(words: list[Word]) -> np.ndarray:
    """Axis-aligned bounds ``(n, 4)`` as ``x0, y0, x1, y1``."""
    if not words:
        return np.zeros((0, 4))
    boxes = np.stack([np.asarray(w.box, np.float64) for w in words])
    return np.concatenate([boxes.min(axis=1), boxes.max(axis=1)], axis=1)


def _area(b: np.ndarray) -> np.ndarray:
    return np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)


def ink_heights(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heights and areas (px) of the ink components of a word image.

    Ink is Otsu's dark side, or its light side where that is what surrounds
    the word (white on black): a heavy headline can be more than half ink.

    Parameters
    ----------
    rgb : ndarray, shape (h, w, 3), uint8

    Returns
    -------
    (ndarray of int, ndarray of int)
        Empty for an image without contrast.
    """
    import cv2

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if int(gray.max()) - int(gray.min()) < 32:
        return np.zeros(0, int), np.zeros(0, int)
    _, ink = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    border = np.concatenate([ink[0], ink[-1], ink[:, 0], ink[:, -1]])
    if border.mean() > 0.5:
        ink = 1 - ink
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    return stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_AREA]


def ink_height(rgb: np.ndarray) -> float:
    """Height (px) of the letters of a word image: the ink-weighted median height of its ink components.

    Weighting by ink makes specks and dots count for little; 0 for an image
    without contrast.
    """
    heights, area = ink_heights(rgb)
    return _weighted_median(heights, area) if len(area) else 0.0


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values, kind="stable")
    share = np.cumsum(weights[order]) / weights.sum()
    return float(values[order][np.searchsorted(share, 0.5)])


def headlines(scan, coarse: list[Word], min_height: float) -> list[Word]:
    """The coarse words that are headlines: at least ``min_height`` scan pixels tall, with letters to match.

    The letters match when the ink-weighted median height of the ink inside
    the box (:func:`ink_height`) is at least :data:`MIN_INK` of the box's, and
    at least two ink components are that tall (not a frame's corner).

    Parameters
    ----------
    scan : Scan
        Anything with ``height``, ``width`` and ``read(y0, y1, x0, x1) -> (h, w, 3) uint8``;
        each tall word's box is read from it at full resolution.
    coarse : list of Word
        The coarse pass's words, boxes in scan pixels.
    min_height : float
        In scan pixels.
    """
    found = []
    for word in coarse:
        height = box_heights(word.box)[0]
        if height < min_height:
            continue
        x0, y0 = np.floor(np.asarray(word.box).min(axis=0)).astype(int)
        x1, y1 = np.ceil(np.asarray(word.box).max(axis=0)).astype(int)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(scan.width, x1), min(scan.height, y1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        heights, area = ink_heights(scan.read(y0, y1, x0, x1))
        tall = heights >= MIN_INK * height
        if tall.sum() >= 2 and _weighted_median(heights, area) >= MIN_INK * height:
            found.append(word)
    return found


def merge_coarse(fine: list[Word], tall: list[Word]) -> list[Word]:
    """The fine pass's words with the headlines in place of the pieces inside them.

    Parameters
    ----------
    fine : list of Word
        The fine pass's words, boxes in scan pixels.
    tall : list of Word
        The headlines (:func:`headlines`), boxes in scan pixels.

    Returns
    -------
    list of Word
        Fine words not replaced, in their order, then the headlines taken.

    Examples
    --------
    >>> def word(x0, y0, x1, y1):
    ...     return Word(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32), 0.9)
    >>> pieces = [word(0, 0, 90, 100), word(100, 0, 190, 100), word(0, 300, 40, 320)]
    >>> merged = merge_coarse(pieces, [word(0, 0, 200, 110)])
    >>> [w.box[2].tolist() for w in merged]
    [[40.0, 320.0], [200.0, 110.0]]
    """
    if not tall:
        return list(fine)
    f, c = word_bounds(fine), word_bounds(tall)
    f_area, c_area = _area(f), _area(c)
    # Only the pairs whose boxes meet can overlap: a tree of the headlines, asked once for every fine word
    # (an all-pairs table was fine x headline large: 6 GB for 200 000 words and 2 000 headlines).
    tree = shapely.STRtree(shapely.box(c[:, 0], c[:, 1], c[:, 2], c[:, 3]))
    pf, pc = tree.query(shapely.box(f[:, 0], f[:, 1], f[:, 2], f[:, 3]), predicate="intersects")
    lo = np.maximum(f[pf, :2], c[pc, :2])
    hi = np.minimum(f[pf, 2:], c[pc, 2:])
    overlap = np.clip(hi - lo, 0, None).prod(axis=1)  # one per pair
    inside = overlap >= INSIDE * np.maximum(f_area[pf], 1e-9)
    replaced = np.zeros(len(fine), bool)
    taken = np.zeros(len(tall), bool)
    order = np.argsort(pc, kind="stable")
    starts = np.searchsorted(pc[order], np.arange(len(tall) + 1))
    for j in range(len(tall)):
        pairs = order[starts[j]:starts[j + 1]]
        pairs = pairs[inside[pairs]]
        if len(pairs) == 1:
            i = pf[pairs[0]]
            if overlap[pairs[0]] / (f_area[i] + c_area[j] - overlap[pairs[0]]) >= SAME_IOU:
                continue  # the fine pass found it whole
        replaced[pf[pairs]] = True
        taken[j] = True
    if taken.any():  # a fine word run across several headline words (a title found as one) goes with them
        covered = np.bincount(pf[taken[pc]], weights=overlap[taken[pc]], minlength=len(fine))
        replaced |= covered >= INSIDE * np.maximum(f_area, 1e-9)
    return [w for w, gone in zip(fine, replaced) if not gone] + [tall[j] for j in np.nonzero(taken)[0]]
