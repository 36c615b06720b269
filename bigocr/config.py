"""The run's parameters: one frozen object, validated once."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from bigocr.errors import ParameterError
from bigocr.tiler.plan import MIN_MAX_SIDE

__all__ = ["Params"]

INVERT_MODES = ("none", "both")
TILINGS = ("thirds", "grid")


def check_coarse(coarse) -> float:
    """``coarse`` (the headline pass's factor) as a float, or a ParameterError that says what is accepted."""
    if isinstance(coarse, bool) or not isinstance(coarse, (int, float)) or not 0 <= coarse < 1:
        raise ParameterError(f"coarse must be a factor from 0 (no headline pass) to below 1, got {coarse!r}")
    return float(coarse)


def check_threshold(name: str, value) -> float:
    """A score threshold (the region and affinity maps score from 0 to 1): a number strictly between 0 and 1."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ParameterError(f"{name} must be a number between 0 and 1, got {value!r}")
    if not 0 < value < 1:
        raise ParameterError(f"{name} must be between 0 and 1 (the maps score from 0 to 1), got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Params:
    """Detection parameters.

    Attributes
    ----------
    max_side : int
        Cap on the longer side of a tile as the network sees it (``--max-side``,
        as the user gave it).  A network that sees its tiles whole sees them in
        working pixels; a half-input one (``halved``) sees them halved, so its
        tiles may be twice as long in working pixels: :attr:`tile_side`.
    text_threshold : float
        A component is a word only if its peak region score reaches this (CRAFT: 0.7).
    link_threshold : float
        Affinity above this links characters (CRAFT: 0.4).
    low_text : float
        Region score above this is text (CRAFT: 0.4).
    poly : bool
        Also make CRAFT's polygons.
    invert : {"none", "both"}
        ``"both"`` also runs the detector on the inverted tile and keeps the maximum.
    tiling : {"thirds", "grid"} or None
        The recursive half-size thirds, or a flat grid whose tiles read a
        context margin around the core they own.  None: not chosen yet (the
        pipeline makes it ``"grid"`` for CRAFT weights, ``"thirds"`` for other
        detectors).
    margin : int or None
        The grid's context margin in working pixels; None measures it from the
        detector (:func:`bigocr.detector.infer.context_margin`).
    scale : float, "auto" or None
        Working pixels per scan pixel: the scan is resampled by this factor,
        tile by tile, before the detector sees it (:mod:`bigocr.tiler.scale`);
        ``"auto"`` picks it per scan from its text height
        (:func:`bigocr.tiler.textsize.auto_scale`).  ``max_side`` and ``margin``
        are in working pixels.  None: not chosen yet (the pipeline makes it
        ``"auto"`` for CRAFT weights, 1 for other detectors).
    coarse : float or None
        The headline pass: the scan is detected once more at ``coarse`` times
        ``scale``, and its tall words replace the pieces the first pass made of
        them (:mod:`bigocr.words.coarse`); 0: no second pass.  None: not chosen
        yet (the pipeline makes it 0.25 for CRAFT weights, 0 for other detectors).
    align : int
        The grid's window origins are multiples of this many working pixels:
        the network's pooling grid (32 for CRAFT, 64 for a half-input CRAFT,
        which sees the tiles halved; the pipeline sets it from the detector).
    halved : bool
        The network sees each tile at half the working resolution (a half-input
        CRAFT such as craft-fast; the pipeline sets it from the detector).
    """

    max_side: int = 2560
    text_threshold: float = 0.7
    link_threshold: float = 0.4
    low_text: float = 0.4
    poly: bool = False
    invert: str = "none"
    tiling: str | None = None
    margin: int | None = None
    scale: float | str | None = 1.0
    coarse: float | None = None
    align: int = 32
    halved: bool = False

    @property
    def tile_side(self) -> int:
        """Cap on a tile's longer side in working pixels: ``max_side``, twice it for a ``halved`` network."""
        return 2 * self.max_side if self.halved else self.max_side

    def __post_init__(self):
        if not isinstance(self.max_side, int) or isinstance(self.max_side, bool) or self.max_side < MIN_MAX_SIDE:
            raise ParameterError(f"max_side must be an integer >= {MIN_MAX_SIDE}, got {self.max_side!r}")
        for name in ("text_threshold", "link_threshold", "low_text"):
            check_threshold(name, getattr(self, name))
        if self.tiling is not None and self.tiling not in TILINGS:
            raise ParameterError(f"tiling must be one of {', '.join(TILINGS)}, got {self.tiling!r}")
        if self.margin is not None and (not isinstance(self.margin, int) or isinstance(self.margin, bool)
                                        or self.margin < 0):
            raise ParameterError(f"margin must be a whole number of pixels >= 0, got {self.margin!r}")
        if self.scale not in ("auto", None):
            from bigocr.tiler.scale import check_scale

            object.__setattr__(self, "scale", check_scale(self.scale))
        if self.coarse is not None:
            check_coarse(self.coarse)
        if self.align not in (32, 64):
            raise ParameterError(f"align must be 32 or 64, got {self.align!r}")
        if self.invert not in INVERT_MODES:
            raise ParameterError(f"invert must be one of {', '.join(INVERT_MODES)}, got {self.invert!r}")

    def to_dict(self) -> dict:
        return asdict(self)
