"""What a run returns and writes: ``Result`` and ``words.json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bigocr.layout import Layout, analyse_layout
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
    """

    scan: dict
    model: dict
    params: dict
    tiles: dict
    words: list[Word]
    timings: dict = field(default_factory=dict)
    out: Path | None = None
    layout: Layout | None = None

    def __post_init__(self):
        if self.layout is None:
            self.layout = analyse_layout([w.box for w in self.words])

    def to_dict(self) -> dict:
        """The ``words.json`` document."""
        return {
            "scan": self.scan,
            "model": self.model,
            "params": self.params,
            "tiles": self.tiles,
            "words": [w.to_dict() for w in self.words],
            "skew": round(float(self.layout.skew), 3),
            "blocks": [{"box": point_list(block.box),
                        "lines": [{"box": point_list(line.box), "words": list(line.words)} for line in block.lines]}
                       for block in self.layout.blocks],
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }

    def __repr__(self) -> str:
        return (f"Result(scan={self.scan.get('path')!r}, {self.scan.get('width')}x{self.scan.get('height')}, "
                f"words={len(self.words)}, tiles={self.tiles.get('count')})")

