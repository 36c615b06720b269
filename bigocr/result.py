"""What a run returns and writes: ``Result`` and ``words.json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bigocr.layout import Block, Layout, Line, analyse_layout
from bigocr.merge.boxes import Word, point_list

__all__ = ["Result"]


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
            self.layout = analyse_layout([w.box for w in self.words])

    def to_dict(self) -> dict:
        """The ``words.json`` document."""
        head = self.to_dict_head()
        return {"scan": head["scan"], "model": head["model"], "params": head["params"], "tiles": head["tiles"],
                "words": [w.to_dict() for w in self.words], "skew": head["skew"], "blocks": list(self._blocks()),
                "timings": head["timings"]}

    def to_json(self) -> bytes:
        """``words.json`` as UTF-8: the document of :meth:`to_dict`, one word and one block per line.

        Written piece by piece: a scan with a million words never holds its
        whole document as Python objects.
        """
        import json

        head = ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in self.to_dict_head().items())
        parts = ["{\n", head, ',\n "words": [']
        parts.append(",".join("\n  " + json.dumps(w.to_dict()) for w in self.words))
        parts.append('\n ],\n "blocks": [')
        parts.append(",".join("\n  " + json.dumps(b) for b in self._blocks()))
        parts.append("\n ]\n}\n")
        return "".join(parts).encode()

    def to_dict_head(self) -> dict:
        """Everything of :meth:`to_dict` but the words and blocks."""
        return {"scan": self.scan, "model": self.model, "params": self.params, "tiles": self.tiles,
                "skew": round(float(self.layout.skew), 3),
                "timings": {k: round(v, 3) for k, v in self.timings.items()}}

    def _blocks(self):
        for block in self.layout.blocks:
            yield {"box": point_list(block.box),
                   "lines": [{"box": point_list(line.box), "words": list(line.words)} for line in block.lines]}

    @classmethod
    def from_dict(cls, doc: dict, out=None) -> "Result":
        """The Result of a ``words.json`` document (as :meth:`to_dict` wrote it)."""
        def points(values):
            return np.asarray(values, dtype=np.float32).reshape(-1, 2)

        words = [Word(points(w["box"]), float(w["score"]), None if w.get("polygon") is None else points(w["polygon"]),
                      w.get("text", ""), w.get("confidence")) for w in doc["words"]]
        blocks = tuple(
            Block(tuple(Line(tuple(line["words"]), np.asarray(line["box"], np.float64)) for line in block["lines"]),
                  np.asarray(block["box"], np.float64))
            for block in doc.get("blocks", []))
        return cls(scan=doc["scan"], model=doc["model"], params=doc["params"], tiles=doc["tiles"], words=words,
                   timings=dict(doc.get("timings", {})), out=out, layout=Layout(blocks, float(doc.get("skew", 0.0))))

    def __repr__(self) -> str:
        return (f"Result(scan={self.scan.get('path')!r}, {self.scan.get('width')}x{self.scan.get('height')}, "
                f"words={len(self.words)}, tiles={self.tiles.get('count')})")

