"""Synthetic document pages with character-level truth.

Pages the way archives have them: headed articles in columns, forms with rules
and boxes, ruled tables, receipts; body text from 6 pt to display type at
150-600 dpi, in every TrueType/OpenType family found (serif, sans, mono; bold,
italic), Latin scripts with diacritics, numbers and punctuation.  Each word
comes with its characters' boxes, from which :mod:`bigocr.dev.synth.truth` draws
CRAFT's region and affinity maps.

Fonts are looked up in ``$BIGOCR_FONTS`` (a folder) and the system's font
folders; Debian's ``fonts-dejavu-core`` is enough.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bigocr.errors import ParameterError

__all__ = ["SynthWord", "SynthPage", "find_fonts", "render_page", "LAYOUTS"]

LAYOUTS = ("article", "form", "table", "receipt")

_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts")

_WORDS = (
    "the of and to in archive council minutes harbour ledger railway parish index volume notice meeting "
    "report survey chapter section street market printed letter district church school river estate "
    "der die und von mit Straße Gemeinde Bürgermeister Größe über Jahrgang Zeitung Verordnung "
    "le la les des avec église préfecture année été française mairie théâtre Séance "
    "el los con años señor Peñaloza niño ciudad también ayuntamiento "
    "że się przez Łódź również zarząd gmina dzień "
    "příloha město Čechy úřad dvůr náměstí "
    "og på år kjøpmann København Ærø "
).split()
_PUNCT_AFTER = (",", ".", ";", ":", ")", "!", "?", "'s", "—", ".")
_PUNCT_BEFORE = ("(", "\"", "§", "'", "„")


@dataclass
class SynthWord:
    """A rendered word: its text, character quads and word quad (x, y image pixels, clockwise from top-left)."""

    text: str
    chars: list[np.ndarray]
    quad: np.ndarray


@dataclass
class SynthPage:
    """An RGB uint8 page with its words and how it was made."""

    image: np.ndarray
    words: list[SynthWord]
    meta: dict = field(default_factory=dict)

    def transform(self, matrix: np.ndarray) -> None:
        """Apply a 3x3 perspective matrix to every quad (the image is warped by the caller)."""
        import cv2

        for w in self.words:
            w.chars = [cv2.perspectiveTransform(c[None].astype(np.float32), matrix)[0] for c in w.chars]
            w.quad = cv2.perspectiveTransform(w.quad[None].astype(np.float32), matrix)[0]

    def gt(self) -> dict:
        """Word-level ground truth in the format of ``shared/data/real`` (``<stem>.gt.json``)."""
        h, w = self.image.shape[:2]
        return {
            "width": w, "height": h, "source": "bigocr-synth", "granularity": "word",
            "words": [{"box": np.round(wd.quad, 1).tolist(), "text": wd.text} for wd in self.words],
            "meta": self.meta,
        }


@functools.lru_cache(maxsize=1)
def find_fonts() -> tuple[str, ...]:
    """TrueType/OpenType fonts usable for text (math and symbol fonts left out)."""
    dirs = [os.environ["BIGOCR_FONTS"]] if os.environ.get("BIGOCR_FONTS") else []
    found = []
    for d in dirs + [os.path.expanduser(p) for p in _FONT_DIRS]:
        if os.path.isdir(d):
            for p in sorted(Path(d).rglob("*")):
                if p.suffix.lower() in (".ttf", ".otf") and not any(s in p.name for s in ("Math", "Symbol", "Emoji")):
                    found.append(str(p))
    return tuple(found)


@functools.lru_cache(maxsize=512)
def _font(path: str, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, size)


def _token(rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.12:
        kind = rng.integers(4)
        if kind == 0:
            return str(int(rng.integers(1, 2000)))
        if kind == 1:
            return f"{rng.integers(1, 999)},{rng.integers(0, 99):02d}"
        if kind == 2:
            return f"{rng.integers(1, 31)}.{rng.integers(1, 12)}.{rng.integers(1509, 1990)}"
        return f"{rng.integers(1, 99)}%"
    word = str(rng.choice(_WORDS))
    if rng.random() < 0.15:
        word = word.capitalize() if rng.random() < 0.7 else word.upper()
    if rng.random() < 0.15:
        word += str(rng.choice(_PUNCT_AFTER))
    elif rng.random() < 0.04:
        word = str(rng.choice(_PUNCT_BEFORE)) + word
    return word


class _Canvas:
    def __init__(self, height: int, width: int, rng: np.random.Generator):
        from PIL import Image, ImageDraw

        self.image = Image.new("L", (width, height), 255)
        self.draw = ImageDraw.Draw(self.image)
        self.rng = rng
        self.words: list[SynthWord] = []
        self.height, self.width = height, width

    def word(self, text: str, x: float, baseline: float, font, ink: int) -> float:
        """Draw one word with its left end at x on the baseline; returns its advance."""
        self.draw.text((x, baseline), text, font=font, fill=ink, anchor="ls")
        chars = []
        for i, ch in enumerate(text):
            if ch.isspace():
                continue
            left, top, right, bottom = font.getbbox(ch, anchor="ls")
            if right <= left or bottom <= top:
                continue
            cx = x + font.getlength(text[:i])
            chars.append(np.array([[cx + left, baseline + top], [cx + right, baseline + top],
                                   [cx + right, baseline + bottom], [cx + left, baseline + bottom]], np.float32))
        if chars:
            allp = np.concatenate(chars)
            (x0, y0), (x1, y1) = allp.min(axis=0), allp.max(axis=0)
            quad = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
            self.words.append(SynthWord(text, chars, quad))
        return font.getlength(text)

    def line(self, x0: float, x1: float, baseline: float, font, ink: int, tokens=None) -> None:
        """Fill a line from x0 to x1 with words."""
        space = font.getlength(" ") * float(self.rng.uniform(0.9, 1.6))
        x = x0
        while True:
            text = tokens.pop(0) if tokens else _token(self.rng)
            if x + font.getlength(text) > x1:
                break
            x += self.word(text, x, baseline, font, ink) + space

    def rule(self, x0, y0, x1, y1, ink=0, width=2):
        self.draw.line([(x0, y0), (x1, y1)], fill=ink, width=width)

    def rect(self, x0, y0, x1, y1, ink=0, width=2):
        self.draw.rectangle([x0, y0, x1, y1], outline=ink, width=width)


def _pick_font(rng, fonts, style=None):
    pool = [f for f in fonts if style is None or style in Path(f).stem] or list(fonts)
    return str(rng.choice(pool))


def _px(pt: float, dpi: float) -> int:
    return max(6, int(round(pt * dpi / 72)))


def _article(c: _Canvas, fonts, dpi: float, ink: int) -> None:
    rng = c.rng
    margin = int(c.width * rng.uniform(0.04, 0.1))
    y = margin
    head = _font(_pick_font(rng, fonts, "Bold"), min(_px(rng.uniform(14, 72), dpi), c.height // 6, c.width // 8))
    y += head.size
    c.line(margin, c.width - margin, y, head, ink)
    y += int(head.size * 0.6)
    c.rule(margin, y, c.width - margin, y, ink, max(1, head.size // 12))
    ncols = int(rng.integers(1, 4 if c.width < 3000 else 7))
    gutter = int(c.width * 0.02)
    colw = (c.width - 2 * margin - (ncols - 1) * gutter) / ncols
    body_path = _pick_font(rng, fonts)
    for col in range(ncols):
        x0 = margin + col * (colw + gutter)
        yy = y + int(head.size * 0.8)
        while True:
            size = _px(rng.uniform(6, 12), dpi) if rng.random() < 0.85 else _px(rng.uniform(12, 24), dpi)
            font = _font(body_path if size < _px(12, dpi) else _pick_font(rng, fonts, "Bold"), size)
            lines = int(rng.integers(1, 12))
            for _ in range(lines):
                yy += int(size * rng.uniform(1.15, 1.5))
                if yy > c.height - margin:
                    return_col = True
                    break
                c.line(x0, x0 + colw, yy, font, ink)
            else:
                return_col = False
            if return_col:
                break
            yy += int(size * rng.uniform(0.5, 1.5))


def _form(c: _Canvas, fonts, dpi: float, ink: int) -> None:
    rng = c.rng
    margin = int(c.width * 0.06)
    font = _font(_pick_font(rng, fonts), _px(rng.uniform(7, 12), dpi))
    value_font = _font(_pick_font(rng, fonts, "Mono"), font.size)
    y = margin + font.size
    c.line(margin, c.width - margin, y, _font(_pick_font(rng, fonts, "Bold"), int(font.size * 1.6)), ink)
    y += font.size * 2
    while y < c.height - margin - font.size * 2:
        label = f"{_token(rng).capitalize()}:"
        x = margin + c.word(label, margin, y, font, ink) + font.size
        end = min(c.width - margin, x + int(rng.uniform(0.2, 0.7) * c.width))
        if end - x < 2 * font.size:  # a label as wide as the page: no room for its field
            y += int(font.size * rng.uniform(2.2, 3.5))
            continue
        if rng.random() < 0.5:
            c.rule(x, y + font.size // 4, end, y + font.size // 4, ink, max(1, font.size // 14))
        else:
            c.rect(x, y - font.size, end, y + font.size // 3, ink, max(1, font.size // 14))
        if rng.random() < 0.7:
            c.line(x + font.size // 2, end - font.size // 2, y - font.size // 8, value_font, ink)
        if rng.random() < 0.2:
            box = font.size
            c.rect(end + font.size, y - box, end + font.size + box, y, ink, max(1, font.size // 14))
        y += int(font.size * rng.uniform(2.2, 3.5))


def _table(c: _Canvas, fonts, dpi: float, ink: int) -> None:
    rng = c.rng
    margin = int(c.width * 0.05)
    font = _font(_pick_font(rng, fonts), _px(rng.uniform(6, 11), dpi))
    ncols = int(rng.integers(2, 7))
    row_h = int(font.size * rng.uniform(1.6, 2.4))
    xs = np.linspace(margin, c.width - margin, ncols + 1)
    y = margin
    lw = max(1, font.size // 12)
    while y + row_h < c.height - margin:
        c.rule(xs[0], y, xs[-1], y, ink, lw)
        for a, b in zip(xs, xs[1:]):
            c.line(a + font.size * 0.4, b - font.size * 0.4, y + row_h * 0.72, font, ink)
        for x in xs:
            c.rule(x, y, x, y + row_h, ink, lw)
        y += row_h
    c.rule(xs[0], y, xs[-1], y, ink, lw)


def _receipt(c: _Canvas, fonts, dpi: float, ink: int) -> None:
    rng = c.rng
    font = _font(_pick_font(rng, fonts, "Mono"), _px(rng.uniform(7, 11), dpi))
    width = min(c.width - 20, int(font.getlength("M") * rng.integers(28, 44)))
    x0 = (c.width - width) // 2
    y = int(c.height * 0.05)
    while y < c.height * 0.95:
        y += int(font.size * 1.35)
        if rng.random() < 0.8:
            item = " ".join(_token(rng) for _ in range(int(rng.integers(1, 4))))
            price = f"{rng.integers(0, 999)}.{rng.integers(0, 99):02d}"
            c.line(x0, x0 + width - font.getlength(price) - font.size, y, font, ink, tokens=item.split())
            c.word(price, x0 + width - font.getlength(price), y, font, ink)
        else:
            c.word("-" * int(width // max(1, font.getlength("-"))), x0, y, font, ink)


_RENDER = {"article": _article, "form": _form, "table": _table, "receipt": _receipt}


def render_page(height: int, width: int, *, seed: int | None = None, rng: np.random.Generator | None = None,
                layout: str | None = None, dpi: float | None = None) -> SynthPage:
    """Render a clean synthetic page (no degradation; see :mod:`bigocr.dev.synth.degrade`).

    Parameters
    ----------
    height, width : int
        Page size in pixels.
    seed, rng
        Randomness: a seed, or a generator to draw from.
    layout : {"article", "form", "table", "receipt"}, optional
        Random when None.
    dpi : float, optional
        Scan resolution that turns point sizes into pixels; random in 150-600 when None.

    Returns
    -------
    SynthPage
    """
    fonts = find_fonts()
    if not fonts:
        raise ParameterError("no TrueType fonts found: install fonts-dejavu-core or point BIGOCR_FONTS at a folder of .ttf")
    rng = rng if rng is not None else np.random.default_rng(seed)
    layout = layout or str(rng.choice(LAYOUTS, p=[0.5, 0.2, 0.15, 0.15]))
    if layout not in _RENDER:
        raise ParameterError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    dpi = float(dpi or rng.uniform(150, 600))
    ink = int(rng.integers(0, 60))
    canvas = _Canvas(height, width, rng)
    _RENDER[layout](canvas, fonts, dpi, ink)
    gray = np.asarray(canvas.image)
    image = np.repeat(gray[..., None], 3, axis=2)
    return SynthPage(image, canvas.words, {"layout": layout, "dpi": round(dpi, 1)})
