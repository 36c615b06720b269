"""What a run returns and writes: ``Result`` and ``words.json``."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bigocr.merge.boxes import Word

__all__ = ["Result", "write_json_atomic"]


@dataclass
class Result:
    """The words of one scan and how they were found.

    Attributes
    ----------
    scan : dict
        ``{"path", "width", "height"}`` of the scan (path None for an array).
    model : dict
        ``{"name", "sha256"}`` of the detector's weights.
    params : dict
        The thresholds and options used.
    tiles : dict
        ``{"count", "pixels", ...}``: the tile plan's figures.
    words : list of Word
        Boxes in scan pixels, clockwise from the top-left corner.
    timings : dict
        Seconds spent per stage.
    out : Path or None
        The output folder, if one was written.
    """

    scan: dict
    model: dict
    params: dict
    tiles: dict
    words: list[Word]
    timings: dict = field(default_factory=dict)
    out: Path | None = None

    def to_dict(self) -> dict:
        """The ``words.json`` document."""
        return {
            "scan": self.scan,
            "model": self.model,
            "params": self.params,
            "tiles": self.tiles,
            "words": [w.to_dict() for w in self.words],
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }

    def __repr__(self) -> str:
        return (f"Result(scan={self.scan.get('path')!r}, {self.scan.get('width')}x{self.scan.get('height')}, "
                f"words={len(self.words)}, tiles={self.tiles.get('count')})")


def write_json_atomic(path: Path, document: dict) -> None:
    """Write JSON next to ``path`` and rename it into place, so a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(document, fh, indent=1)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
