"""Words cut at punctuation joined again: ``14.20``, ``09:40:00``, ``BAHRU,JOHOR`` are one word each.

CRAFT finds words as chains of letters; a dot, a comma or a colon between two
letters is small, its region score weak and the links across it weaker, so the
network (bigocr's document-tuned CRAFT and its students more than the
published one) often cuts ``14.20`` into ``14`` and ``20``; the dot is in no
word, and the line reads ``14 20``.  A word space is empty paper; this gap
holds a mark.  Two neighbours on a line are joined when the gap between their
boxes is narrow (:data:`MAX_GAP` of their height) and the ink between the
first's last letter and the second's first is marks (components no taller
than :data:`MARK_HEIGHT` and no thinner than :data:`MARK_MIN` of the height:
not a letter, not a speck, not a rule running past), with no more than
:data:`MAX_BLANK` of the height of paper beside them and about as much on
either side (:data:`SYMMETRY`): a comma that ends a word hugs it and a space
follows, a dot inside a number sits between its digits.

Runs after the layout (it needs the lines), before reading, on the scan's own
pixels: one window per line that has a narrow gap.  Measured on the eval
split (``bigocr eval --text``): SROIE receipts' lines read right 0.310 ->
0.393 with ``craft-fast``; forms and historical print within 0.002.
"""

from __future__ import annotations

import cv2
import numpy as np

from bigocr.words.layout import connected
from bigocr.document import Word
from bigocr.tiler.bands import BandReader
from bigocr.words.coarse import word_bounds

__all__ = ["join_split_words", "ink", "MAX_GAP", "MAX_BLANK", "MAX_SKEW", "MARK_HEIGHT", "MARK_MIN", "SYMMETRY"]

#: Widest gap between two words that may be joined, as a share of their height.
MAX_GAP = 0.6
#: Most empty paper between the mark in the gap and either word, as a share of their height.
MAX_BLANK = 0.25
#: A mark between two parts of one word has about as much paper on either side: at most this ratio (+1 px).
SYMMETRY = 1.4
#: Pages skewed more than this (degrees) are left as they are (the gaps are measured on axis-aligned boxes).
MAX_SKEW = 2.0


def ink(gray: np.ndarray) -> np.ndarray:
    """Dark pixels of a window (Otsu's threshold, at least a little darker than the paper).

    A two-valued window (a bilevel scan) has Otsu's threshold at its darker value, which nothing lies
    below: there the threshold is midway between the two.
    """
    level, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if level <= float(gray.min()):
        level = (float(gray.min()) + float(gray.max())) / 2 + 0.5
    level = min(level, float(np.percentile(gray, 90)) - 24)
    return gray < level


#: Ink components no taller than this share of the words' height are marks (dots, commas, colons, hyphens).
MARK_HEIGHT = 0.3
#: ... and at least this thick (thinner ones are specks and splinters of letters).
MARK_MIN = 0.08


def _marks_bridge(ink: np.ndarray, a1: int, b0: int, height: float) -> bool:
    """Whether the ink between two words' letters is marks with no more than a narrow blank beside each.

    ``ink`` spans both words (their common rows), ``a1`` / ``b0`` are where
    the first's box ends and the second's starts (window columns).
    """
    blanks = _blanks(ink, a1, b0, height)
    if blanks is None:
        return False
    before, after = blanks[0], blanks[-1]
    # a mark inside a word sits between its neighbours; one that ends a word hugs it, and a space follows
    return max(blanks) <= MAX_BLANK * height and max(before, after) <= SYMMETRY * min(before, after) + 1


def _blanks(ink: np.ndarray, a1: int, b0: int, height: float) -> list[int] | None:
    """The empty columns between the first word's last letter, the marks, and the second's first letter.

    None where there are no marks between them.
    """
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    middle = (a1 + b0) / 2
    a_right, b_left, marks = None, None, []
    for left, top, w, h, area in stats[1:count]:
        right = left + w
        if h > MARK_HEIGHT * height:  # a letter (or a rule, a frame: it bounds the gap like one)
            if left + w / 2 < middle:
                a_right = right if a_right is None else max(a_right, right)
            else:
                b_left = left if b_left is None else min(b_left, left)
        elif w <= 2 * MARK_HEIGHT * height and min(w, h) >= MARK_MIN * height:
            marks.append((left, right))  # a mark, not a speck of dust
    if a_right is None or b_left is None or b_left <= a_right:
        return None
    marks = sorted((l, r) for l, r in marks if l >= a_right and r <= b_left)
    if not marks:
        return None
    blanks, edge = [], a_right
    for left, right in marks:
        blanks.append(max(0, left - edge))
        edge = max(edge, right)
    blanks.append(b_left - edge)
    return blanks


def join_split_words(scan, words: list[Word], lines: list[list[int]], skew: float = 0.0) -> tuple[list[Word], int]:
    """``words`` with neighbours cut at a punctuation mark joined; the number of joins.

    Parameters
    ----------
    scan
        The scan (``read(y0, y1, x0, x1)``, pixels of the words' boxes).
    words : list of Word
        Boxes in scan pixels.
    lines : list of list of int
        Word indices of each line, in reading order (``Layout.lines``).
    skew : float
        The page's skew in degrees; beyond :data:`MAX_SKEW` nothing is joined.

    Returns
    -------
    (list of Word, int)
        The words (a joined pair becomes one word, where the first was;
        order otherwise kept) and how many joins were made.
    """
    if abs(skew) > MAX_SKEW or not words:
        return list(words), 0
    boxes = word_bounds(words)
    joined = []  # pairs of words to be one
    band = BandReader(scan)
    for line in sorted(lines, key=lambda line: boxes[line, 1].min()):  # top to bottom: each band read once
        pairs = []
        for a, b in zip(line[:-1], line[1:]):
            ax0, ay0, ax1, ay1 = boxes[a]
            bx0, by0, bx1, by1 = boxes[b]
            height = min(ay1 - ay0, by1 - by0)
            overlap = min(ay1, by1) - max(ay0, by0)
            if height > 0 and overlap >= 0.5 * height and bx0 - ax1 <= MAX_GAP * height and bx1 > ax1:
                pairs.append((a, b, height))
        if not pairs:
            continue
        x0, y0 = (int(max(0, v)) for v in boxes[line, :2].min(axis=0))
        x1 = int(min(scan.width, np.ceil(boxes[line, 2].max())))
        y1 = int(min(scan.height, np.ceil(boxes[line, 3].max())))
        if x1 <= x0 or y1 <= y0:
            continue
        pixels = band.read(y0, y1, x0, x1)
        gray = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY) if pixels.ndim == 3 else pixels
        dark = ink(gray)
        for a, b, height in pairs:
            ax0, ay0, ax1, ay1 = boxes[a]
            bx0, by0, bx1, by1 = boxes[b]
            rows = slice(int(max(ay0, by0)) - y0, int(np.ceil(min(ay1, by1))) - y0)
            cols = slice(max(0, int(ax0) - x0), int(np.ceil(bx1)) - x0)
            left = x0 + cols.start  # the pair's window, in scan columns
            if _marks_bridge(dark[rows, cols], int(ax1) - left, int(bx0) - left, height):
                joined.append((a, b))
    if not joined:
        return list(words), 0
    out = []
    for group in connected(len(words), joined):  # in the order of their first word
        if len(group) == 1:
            out.append(words[group[0]])
            continue
        x0, y0 = boxes[group, :2].min(axis=0)
        x1, y1 = boxes[group, 2:].max(axis=0)
        box = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
        out.append(Word(box, max(words[i].score for i in group)))
    return out, len(joined)
