"""The document types, in one place: ``Word``, ``Line``, ``Block``, ``Layout`` and ``Result``.

Values only: what a run finds and returns, and ``words.json`` (``Result.to_dict``
and ``Result.from_dict``).  The algorithms that make them live in their rooms
(``merge/boxes`` makes words, ``words/layout`` lines and blocks); every room
takes its types from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

__all__ = ["Word", "Line", "Block", "Layout", "Result", "point_list"]


def point_list(points) -> list[list[float]]:
    """Points ``(k, 2)`` as ``[[x, y], ...]`` rounded to 0.01 px, for JSON."""
    return [[round(float(x), 2), round(float(y), 2)] for x, y in points]


@dataclass(frozen=True)
class Word:
    """One detected word.

    Attributes
    ----------
    box : ndarray, shape (4, 2), float32
        Corners ``(x, y)`` in scan pixels, clockwise from the top-left corner
        (the corner with the smallest ``x + y``).
    score : float
        Largest region score of the word's component.
    polygon : ndarray, shape (k, 2), float32, or None
        CRAFT's 14-point polygon in scan pixels, with ``poly=True`` and where
        the reference would make one.
    text : str
        The transcription (empty when the words were not read).
    confidence : float or None
        The recognizer's confidence in ``text``, in [0, 1]; None when not read.
    """

    box: np.ndarray
    score: float
    polygon: np.ndarray | None = None
    text: str = ""
    confidence: float | None = None

    def to_dict(self) -> dict:
        doc = {
            "box": point_list(self.box),
            "score": round(float(self.score), 4),
            "polygon": None if self.polygon is None else point_list(self.polygon),
            "text": self.text,
        }
        if self.confidence is not None:
            doc["confidence"] = round(float(self.confidence), 4)
        return doc



@dataclass(frozen=True)
class Line:
    """One text line.

    Attributes
    ----------
    words : tuple of int
        Indices into the input word list, left to right.
    box : ndarray, shape (4, 2), float64
        The line's rectangle ``(x, y)`` in scan pixels, clockwise from the
        top-left corner, rotated by the page skew.
    baseline : ndarray, shape (k, 2), float64, or None
        The polyline ``(x, y)`` the letters stand on (descenders below it), left
        to right, in scan pixels (:mod:`bigocr.words.lines`); None where not made.
    boundary : ndarray, shape (m, 2), float64, or None
        The polygon around the line's words (their boxes and the gaps between
        them), clockwise from the top-left, in scan pixels; None where not made.
    text : str or None
        The line's text (its words' readings with the marks the line read as
        one crop shows between them, :mod:`bigocr.recognizer.linetext`);
        None where the line was not read.
    """

    words: tuple[int, ...]
    box: np.ndarray
    baseline: np.ndarray | None = None
    boundary: np.ndarray | None = None
    text: str | None = None


@dataclass(frozen=True)
class Block:
    """A block of lines (a paragraph, a heading, a column piece).

    Attributes
    ----------
    lines : tuple of Line
        Top to bottom.
    box : ndarray, shape (4, 2), float64
        The block's rectangle, as for :class:`Line`.
    """

    lines: tuple[Line, ...]
    box: np.ndarray


@dataclass(frozen=True)
class Layout:
    """Blocks in reading order and the skew they were found at.

    Attributes
    ----------
    blocks : tuple of Block
        In reading order.
    skew : float
        Page skew in degrees (positive: lines rise to the left, i.e. turn
        clockwise on the screen as x grows, since y points down).
    """

    blocks: tuple[Block, ...]
    skew: float

    @property
    def lines(self) -> list[Line]:
        """Every line, in reading order."""
        return [line for block in self.blocks for line in block.lines]

    def reading_order(self) -> list[int]:
        """Word indices in reading order (every word exactly once)."""
        return [i for line in self.lines for i in line.words]

    def renumbered(self) -> tuple[list[int], "Layout"]:
        """``(order, layout)``: the reading order, and this layout indexing the words re-sorted by it.

        With ``words = [words[i] for i in order]`` the returned layout's lines
        hold ``0, 1, 2, ...`` in sequence.
        """
        order = self.reading_order()
        position = {old: new for new, old in enumerate(order)}
        blocks = tuple(Block(tuple(replace(line, words=tuple(position[i] for i in line.words)) for line in block.lines),
                             block.box) for block in self.blocks)
        return order, Layout(blocks, self.skew)


@dataclass
class Result:
    """The words of one scan and how they were found.

    Attributes
    ----------
    scan : dict
        ``{"path", "width", "height", "page", "dpi"}`` of the scan (path None
        for an array; page the 0-based TIFF page; dpi ``[x, y]`` or None).
    model : dict
        ``{"name", "sha256"}`` of the detector's weights.
    params : dict
        The thresholds and options used.
    tiles : dict
        ``{"count", "pixels", ...}``: the tile plan's figures.
    words : list of Word
        Boxes in scan pixels, clockwise from the top-left corner, in reading order.
    timings : dict
        Seconds spent per stage.
    out : Path or None
        The output folder, if one was written.
    layout : Layout or None
        Lines and blocks of ``words`` (indices into it); made from the words when None.
    run : dict
        How this call went (not part of ``words.json``): ``state`` is ``"done"``
        (computed from scratch), ``"resumed"`` (an interrupted run finished) or
        ``"complete"`` (already finished before: nothing computed);
        ``tiles_run`` and ``tiles_skipped`` count tiles computed now and found done.
    """

    scan: dict
    model: dict
    params: dict
    tiles: dict
    words: list[Word]
    timings: dict = field(default_factory=dict)
    out: Path | None = None
    layout: Layout | None = None
    run: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.layout is None:
            raise ValueError("a Result needs the layout of its words: "
                             "bigocr.words.layout.analyse_layout([w.box for w in words])")

    def to_dict(self) -> dict:
        """The ``words.json`` document."""
        head = self.to_dict_head()
        return {"scan": head["scan"], "model": head["model"], "params": head["params"], "tiles": head["tiles"],
                "words": [self._word_doc(w) for w in self.words], "skew": head["skew"], "blocks": list(self._blocks()),
                "timings": head["timings"]}

    def to_json(self) -> bytes:
        """``words.json`` as UTF-8: the document of :meth:`to_dict`, one word and one block per line.

        Written piece by piece: a scan with a million words never holds its
        whole document as Python objects.
        """
        import json

        head = ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in self.to_dict_head().items())
        parts = ["{\n", head, ',\n "words": [']
        parts.append(",".join("\n  " + json.dumps(self._word_doc(w)) for w in self.words))
        parts.append('\n ],\n "blocks": [')
        parts.append(",".join("\n  " + json.dumps(b) for b in self._blocks()))
        parts.append("\n ]\n}\n")
        return "".join(parts).encode()

    def to_dict_head(self) -> dict:
        """Everything of :meth:`to_dict` but the words and blocks."""
        return {"scan": self.scan, "model": self.model, "params": self.params, "tiles": self.tiles,
                "skew": round(float(self.layout.skew), 3),
                "timings": {k: round(v, 3) for k, v in self.timings.items()}}

    def _word_doc(self, word: Word) -> dict:
        """A word in ``words.json``; a PDF page's words also in points (``box_pt``: the page's default user
        space, y up, as ``scan.pdf.to_pdf`` maps pixels there, times the page's ``/UserUnit``)."""
        doc = word.to_dict()
        pdf = self.scan.get("pdf") if isinstance(self.scan, dict) else None
        if pdf and pdf.get("to_pdf") is not None:
            m = np.asarray(pdf["to_pdf"], float).reshape(2, 3)
            unit = float(pdf.get("user_unit") or 1.0)
            doc["box_pt"] = point_list((np.asarray(word.box, float) @ m[:, :2].T + m[:, 2]) * unit)
        return doc

    def _blocks(self):
        for block in self.layout.blocks:
            yield {"box": point_list(block.box),
                   "lines": [_line_doc(line) for line in block.lines]}

    @classmethod
    def from_dict(cls, doc: dict, out=None) -> "Result":
        """The Result of a ``words.json`` document (as :meth:`to_dict` wrote it)."""
        def points(values):
            return np.asarray(values, dtype=np.float32).reshape(-1, 2)

        words = [Word(points(w["box"]), float(w["score"]), None if w.get("polygon") is None else points(w["polygon"]),
                      w.get("text", ""), w.get("confidence")) for w in doc["words"]]
        blocks = tuple(
            Block(tuple(Line(tuple(line["words"]), np.asarray(line["box"], np.float64),
                             None if line.get("baseline") is None else np.asarray(line["baseline"], np.float64),
                             None if line.get("boundary") is None else np.asarray(line["boundary"], np.float64),
                             line.get("text"))
                        for line in block["lines"]),
                  np.asarray(block["box"], np.float64))
            for block in doc.get("blocks", []))
        return cls(scan=doc["scan"], model=doc["model"], params=doc["params"], tiles=doc["tiles"], words=words,
                   timings=dict(doc.get("timings", {})), out=out, layout=Layout(blocks, float(doc.get("skew", 0.0))))

    def __repr__(self) -> str:
        return (f"Result(scan={self.scan.get('path')!r}, {self.scan.get('width')}x{self.scan.get('height')}, "
                f"words={len(self.words)}, tiles={self.tiles.get('count')})")


def _line_doc(line: Line) -> dict:
    """A line in ``words.json``: its box and words, and its baseline and boundary where made."""
    doc = {"box": point_list(line.box), "words": list(line.words)}
    if line.baseline is not None:
        doc["baseline"] = point_list(line.baseline)
    if line.boundary is not None:
        doc["boundary"] = point_list(line.boundary)
    if line.text is not None:
        doc["text"] = line.text
    return doc
