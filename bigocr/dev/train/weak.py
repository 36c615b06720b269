"""Weak supervision on word-level real data (CRAFT paper, section 3.2).

For a real word with a box and a transcription of length ``l``, the interim
model predicts the region score of the word's crop; a watershed splits it into
``l_c`` characters, and the word's confidence is
``s_conf = (l - min(l, |l - l_c|)) / l``.  Below 0.5 the split is not trusted:
the word is cut into ``l`` equal-width characters and ``s_conf`` is set to 0.5.
The character boxes make pseudo truth maps (:func:`bigocr.dev.synth.truth_maps`);
the confidence map weights the loss: ``s_conf`` inside the word, 0 inside
``ignore`` boxes, 1 elsewhere.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["word_confidence", "split_characters", "pseudo_characters", "confidence_map", "word_crop",
           "page_characters"]


def word_confidence(length: int, found: int) -> float:
    """``s_conf = (l - min(l, |l - l_c|)) / l``."""
    if length <= 0:
        return 0.0
    return (length - min(length, abs(length - found))) / length


def word_crop(image: np.ndarray, quad: np.ndarray, height: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The word straightened into a ``height``-pixel-high rectangle, and the matrix that did it."""
    quad = np.asarray(quad, np.float32)
    w_len = max(np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3]))
    h_len = max(np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1]), 1.0)
    width = max(8, int(round(height * w_len / h_len)))
    target = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    m = cv2.getPerspectiveTransform(quad, target)
    crop = cv2.warpPerspective(image, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return crop, m


def split_characters(region: np.ndarray, *, peak: float = 0.5, floor: float = 0.15) -> list[tuple[int, int]]:
    """Character spans ``(x0, x1)`` along a straightened word's region score, by watershed.

    Parameters
    ----------
    region : ndarray, shape (h, w), float32
        Region score of the word crop (map pixels).
    peak : float
        Fraction of the crop's maximum above which a blob is a character centre (marker).
    floor : float
        Fraction of the maximum below which a pixel is background.
    """
    top = float(region.max())
    if top <= 0:
        return []
    fg = region > floor * top
    n, markers = cv2.connectedComponents((region > peak * top).astype(np.uint8), connectivity=4)
    if n <= 1:
        return []
    markers = markers.astype(np.int32)
    markers[~fg] = n  # background marker
    relief = cv2.cvtColor((255 * (1 - region / top)).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    labels = cv2.watershed(relief, markers)
    spans = []
    for k in range(1, n):
        xs = np.nonzero((labels == k).any(axis=0))[0]
        if len(xs):
            spans.append((int(xs.min()), int(xs.max()) + 1))
    return sorted(spans)


def pseudo_characters(region: np.ndarray, matrix: np.ndarray, text: str,
                      crop_shape: tuple[int, int]) -> tuple[list[np.ndarray], float]:
    """Pseudo character boxes of a real word, in image pixels, and the word's confidence.

    Parameters
    ----------
    region : ndarray
        The interim model's region score on the word crop (half the crop's resolution).
    matrix : ndarray, shape (3, 3)
        The crop's perspective matrix from :func:`word_crop`.
    text : str
        The transcription; its length without spaces is ``l``.
    crop_shape : (int, int)
        The crop's height and width in pixels.
    """
    length = len(text.replace(" ", ""))
    h, w = crop_shape
    spans = [(2 * a, min(w, 2 * b)) for a, b in split_characters(region)]
    conf = word_confidence(length, len(spans))
    if conf < 0.5 or not spans:
        edges = np.linspace(0, w, max(length, 1) + 1)
        spans = list(zip(edges[:-1], edges[1:]))
        conf = 0.5
    inverse = np.linalg.inv(matrix)
    boxes = []
    for x0, x1 in spans:
        quad = np.float32([[x0, 0], [x1, 0], [x1, h], [x0, h]])
        boxes.append(cv2.perspectiveTransform(quad[None], inverse)[0])
    return boxes, conf


def confidence_map(shape: tuple[int, int], words: list[tuple[np.ndarray, float]], scale: float = 0.5) -> np.ndarray:
    """Per-pixel loss weights at map resolution: each word's quad filled with its confidence, 1 elsewhere.

    ``words`` holds ``(quad, confidence)``; an ignored word has confidence 0.
    """
    mh, mw = int(np.ceil(shape[0] * scale)), int(np.ceil(shape[1] * scale))
    out = np.ones((mh, mw), np.float32)
    for quad, conf in words:
        cv2.fillPoly(out, [np.round(np.asarray(quad) * scale).astype(np.int32)], float(conf))
    return out


def page_characters(image: np.ndarray, words: list[dict], region_of) -> list[dict]:
    """Pseudo character truth of a page's words, from the interim model's region score.

    Parameters
    ----------
    image : ndarray, shape (h, w, 3), uint8 RGB
        The page.
    words : list of dict
        The truth's words (``box``, ``text``, ``ignore`` as in ``*.gt.json``).
    region_of : callable
        ``region_of(crop) -> region`` map at half resolution of an RGB crop
        (the interim model; :class:`bigocr.detector.infer.CraftDetector`'s
        first map).

    Returns
    -------
    list of dict
        ``{"box", "chars", "conf"}`` per word with text (character quads in
        page pixels, ``s_conf``); ``{"box", "conf": 0}`` for words without
        text or marked ``ignore`` (no loss there).
    """
    out = []
    for word in words:
        quad = np.asarray(word["box"], np.float32)
        text = (word.get("text") or "").strip()
        if word.get("ignore") or not text:
            out.append({"box": quad.tolist(), "conf": 0.0})
            continue
        crop, matrix = word_crop(image, quad)
        region = region_of(crop)
        chars, conf = pseudo_characters(region, matrix, text, crop.shape[:2])
        out.append({"box": quad.tolist(), "chars": [np.asarray(c).tolist() for c in chars], "conf": float(conf)})
    return out
