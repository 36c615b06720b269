"""Scan degradations for synthetic pages.

Yellowed or textured paper, uneven lighting, bleed-through, faded or heavy ink,
blur, noise, JPEG, skew and slight perspective (the word and character quads
move with the page), bilevel thresholding, and white-on-black negatives.
"""

from __future__ import annotations

import cv2
import numpy as np

from bigocr.dev.synth.page import SynthPage

__all__ = ["degrade"]


def _low_freq(rng, h, w, cells=6):
    small = rng.random((cells, cells)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def degrade(page: SynthPage, rng: np.random.Generator, strength: float = 1.0) -> SynthPage:
    """Degrade a page in place like a scanner and an archive would; returns it.

    Parameters
    ----------
    page : SynthPage
        A clean page from :func:`bigocr.dev.synth.page.render_page`.
    rng : numpy Generator
    strength : float
        0 leaves the page clean; 1 is the training mix.
    """
    if strength <= 0:
        return page
    img = page.image.astype(np.float32)
    h, w = img.shape[:2]
    applied = []
    ink = 255.0 - img  # darkness of the ink layer

    if rng.random() < 0.3 * strength:  # faded or heavy ink
        if rng.random() < 0.5:
            ink *= rng.uniform(0.45, 0.8)
            applied.append("faded")
        else:
            k = int(rng.integers(2, 4))
            ink = cv2.dilate(ink, np.ones((k, k), np.uint8))
            applied.append("heavy")
    if rng.random() < 0.2 * strength:  # bleed-through from the other side
        ghost = cv2.GaussianBlur(ink[:, ::-1], (0, 0), 2.0) * rng.uniform(0.08, 0.25)
        ink = np.maximum(ink, ghost)
        applied.append("bleed")

    paper = np.full((h, w, 3), 255.0, np.float32)
    if rng.random() < 0.4 * strength:  # yellowed paper
        paper *= np.array([1.0, rng.uniform(0.9, 0.98), rng.uniform(0.72, 0.9)], np.float32)
        applied.append("yellowed")
    if rng.random() < 0.3 * strength:  # texture
        paper *= (1 - 0.08 * _low_freq(rng, h, w, 40))[..., None]
        applied.append("texture")
    if rng.random() < 0.4 * strength:  # uneven lighting
        paper *= (1 - 0.35 * _low_freq(rng, h, w, 3))[..., None]
        applied.append("lighting")
    img = np.clip(paper - ink * (paper / 255.0), 0, 255)

    if rng.random() < 0.5 * strength:  # skew and slight perspective
        angle = np.deg2rad(rng.uniform(-3, 3))
        c, s = np.cos(angle), np.sin(angle)
        center = np.array([w / 2, h / 2])
        corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        rotated = (corners - center) @ np.array([[c, s], [-s, c]], np.float32) + center
        rotated += rng.uniform(-0.01, 0.01, (4, 2)).astype(np.float32) * np.array([w, h], np.float32)
        matrix = cv2.getPerspectiveTransform(corners, rotated.astype(np.float32))
        img = cv2.warpPerspective(img, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        page.transform(matrix)
        applied.append("skew")
    if rng.random() < 0.4 * strength:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.4))
        applied.append("blur")
    if rng.random() < 0.5 * strength:
        img += rng.normal(0, rng.uniform(2, 12), img.shape).astype(np.float32)
        applied.append("noise")
    img = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.15 * strength:  # bilevel scan
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        _, bw = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        img = np.repeat(bw[..., None], 3, axis=2)
        applied.append("bilevel")
    elif rng.random() < 0.4 * strength:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        applied.append("jpeg")
    if rng.random() < 0.08 * strength:  # white on black (microfilm negative)
        img = 255 - img
        applied.append("negative")
    page.image = np.ascontiguousarray(img)
    page.meta["degradations"] = applied
    return page
