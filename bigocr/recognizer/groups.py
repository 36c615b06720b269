"""Words in groups: the unit of recognition work.

A group is a run of words close together on the page (sorted by their top
edge, cut every :data:`GROUP_WORDS` words, where the band grows taller than
:data:`GROUP_ROWS` or where its window would hold more than
:data:`GROUP_PIXELS`), with the one scan window that holds all their crops.  A
task reads that window once, cuts every word out of it, and reads them
batched by width.  Groups are pure geometry (a pure function of the boxes), so
a resumed run makes the same groups and can keep the ones already read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from bigocr.recognizer.read import crop_window, word_crop

__all__ = ["WordGroup", "group_words", "read_group", "GROUP_WORDS", "GROUP_ROWS", "GROUP_PIXELS"]

#: Most words in a group, and the tallest band of scan rows a group spans (unless one word is taller).
GROUP_WORDS = 512
GROUP_ROWS = 2048

#: Most scan pixels in a group's window (unless one word's window is larger).  A band of words sorted by
#: their tops spans the scan's width, so without it a wide scan's windows grew with the scan: 512 lines of
#: a 4 GP scan of pages made a window of 371 MB (RGB) per reading task, against 59 MB at 0.1 GP.  It is
#: 2048 rows of a 10 240 px scan: pages up to that size keep the same groups.
GROUP_PIXELS = 2048 * 10240


@dataclass(frozen=True)
class WordGroup:
    """Words ``indices`` (into the run's word list) read from scan window ``window = (y0, y1, x0, x1)``."""

    index: int
    indices: tuple[int, ...]
    quads: np.ndarray  # (k, 4, 2) float32, scan pixels
    window: tuple[int, int, int, int]

    @property
    def key(self) -> str:
        """A digest of the group's boxes: names its saved readings, so changed boxes are read again."""
        return hashlib.blake2b(np.ascontiguousarray(self.quads, np.float32).tobytes(), digest_size=8).hexdigest()


def group_words(quads: list[np.ndarray], shape: tuple[int, int], max_words: int = GROUP_WORDS,
                max_rows: int = GROUP_ROWS, max_pixels: int = GROUP_PIXELS) -> list[WordGroup]:
    """Groups of nearby words and the window each reads.

    Parameters
    ----------
    quads : list of ndarray, shape (4, 2)
        Word boxes ``(x, y)`` in scan pixels.
    shape : (int, int)
        The scan's ``(height, width)``.
    """
    windows = [crop_window(q, shape) for q in quads]
    order = sorted(range(len(quads)), key=lambda i: (windows[i][0], windows[i][2]))
    groups, current = [], []

    def close():
        if current:
            ws = np.array([windows[i] for i in current])
            window = (int(ws[:, 0].min()), int(ws[:, 1].max()), int(ws[:, 2].min()), int(ws[:, 3].max()))
            groups.append(WordGroup(len(groups), tuple(current),
                                    np.array([quads[i] for i in current], np.float32).reshape(-1, 4, 2), window))
            current.clear()

    top = bottom = left = right = None
    for i in order:
        y0, y1, x0, x1 = windows[i]
        if current and (len(current) >= max_words or max(y1, bottom) - top > max_rows
                        or (max(y1, bottom) - top) * (max(x1, right) - min(x0, left)) > max_pixels):
            close()
        if not current:
            top, bottom, left, right = y0, y1, x0, x1
        bottom, left, right = max(bottom, y1), min(left, x0), max(right, x1)
        current.append(i)
    close()
    return groups


def read_group(scan, group: WordGroup, recognizer, lines: bool = False) -> list[tuple[str, float]]:
    """Read the words of ``group``: one window read from ``scan``, crops cut from it, ``recognizer(crops)``.

    ``lines``: the crops are whole lines, read by ``recognizer.read_lines`` where it has one (the cascade:
    its first reader alone).
    """
    y0, y1, x0, x1 = group.window
    pixels = scan.read(y0, y1, x0, x1)
    crops = [word_crop(pixels, quad, origin=(y0, x0)) for quad in group.quads]
    read = getattr(recognizer, "read_lines", recognizer) if lines else recognizer
    readings = read(crops)
    if len(readings) != len(crops):
        raise ValueError(f"the recognizer returned {len(readings)} readings for {len(crops)} words")
    return [(str(text).strip(), float(confidence)) for text, confidence in readings]
