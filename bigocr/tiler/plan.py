"""Tile plans: pure geometry, no pixels.

The seed's recursion splits a window along its longer side into three
half-length pieces, ``[0, L/2]``, ``[L/4, 3L/4]`` and ``[L/2, L]``, and recurses
until every piece fits ``max_side``.  All windows at one depth have the same
size, so the recursion makes the same axis choice everywhere and its leaves are
the product of two one-dimensional grids: after ``k`` splits along an axis the
distinct windows start at ``j / 2**(k+1)`` (``j = 0 .. 2**(k+1) - 2``) and are
``1 / 2**k`` long, each start reached by many recursion paths.  Cuts are placed
from these exact root fractions, so leaves that cover the same window are one
tile and run once.

Coordinates
-----------
Scan pixels are ``(y, x)``; the detector's maps have half the resolution and
map pixel ``(i, j)`` is scan pixel ``(2i, 2j)``.  Tile windows are in scan
pixels; owned regions are in map pixels.  Every map pixel is owned by exactly
one tile, in which it lies at least 1/8 of the tile's side from any inner tile
edge, and owned boundaries fall on the map's chunk grid so that no two tiles
ever write the same zarr chunk.

Window origins are multiples of :data:`ALIGN` (32 px).  CRAFT downsamples by
16 and pads its input to multiples of 32; a tile that starts off that grid
sees the scan through shifted pooling windows, and its maps differ from the
whole-image maps everywhere, not only near its edges (measured with trained
weights: up to 0.2 in region score).  On the grid, a tile's maps equal the
whole-image maps wherever the tile holds the network's context.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property

from bigocr.errors import ParameterError

__all__ = ["AxisPlan", "GridAxis", "Tile", "TilePlan", "plan_tiles", "plan_grid", "grid_fits", "make_plan",
           "recursive_leaves", "MIN_MAX_SIDE"]

#: Smallest accepted ``max_side``: below it tiles would hold too little context.
MIN_MAX_SIDE = 64
#: Largest zarr chunk side of the stitched maps, in map pixels.
MAX_CHUNK = 512
#: Window origins are multiples of this many scan pixels: the network's padding unit.
ALIGN = 32
#: A grid scan that fits one tile is cut in two along its longer side when that side is at least this many
#: margins long (two tiles then read at most 25 % more pixels, on two workers instead of one).
SPLIT_MARGINS = 8


def _align(start: int) -> int:
    """``start`` moved back onto the :data:`ALIGN` grid (a window only gains context)."""
    return start - start % ALIGN


def _map_length(length: int) -> int:
    return (length + 1) // 2


def _extent(length: int, depth: int) -> int:
    """Largest scan extent of a window after ``depth`` splits of an axis of ``length`` px.

    Windows after a split may start up to ``ALIGN - 2`` px earlier (aligned
    origins); that is counted here so that every window fits ``max_side``.
    """
    if depth == 0:
        return length
    return min(length, 2 * math.ceil(Fraction(_map_length(length), 2**depth)) + ALIGN - 2)


def _round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


@dataclass(frozen=True)
class AxisPlan:
    """The tiling of one axis.

    Parameters
    ----------
    length : int
        Scan length of the axis in pixels.
    depth : int
        How many times the recursion split this axis.
    """

    length: int
    depth: int

    def __post_init__(self):
        if self.length < 1:
            raise ParameterError(f"axis length must be >= 1, got {self.length}")
        if self.depth < 0:
            raise ParameterError(f"axis depth must be >= 0, got {self.depth}")

    @property
    def map_length(self) -> int:
        """Map length ``ceil(length / 2)``."""
        return _map_length(self.length)

    @property
    def count(self) -> int:
        """Number of distinct windows along the axis."""
        return 2 ** (self.depth + 1) - 1

    def _boundary(self, numerator: int, denominator_log2: int) -> int:
        """Map pixel nearest ``numerator / 2**denominator_log2`` of the map length."""
        return _round_half_up(Fraction(numerator * self.map_length, 2**denominator_log2))

    @cached_property
    def chunk(self) -> int:
        """Chunk side of the map along this axis, in map pixels.

        Small enough that snapping owned boundaries to multiples of it keeps every
        owned pixel at least 1/8 of a tile's side inside the tile.
        """
        if self.depth == 0:
            return min(self.map_length, MAX_CHUNK)
        # A quarter tile separates owned boundaries from window edges; snapping
        # moves a boundary by at most chunk/2 and rounding by one pixel more, and
        # the margin must stay >= tile/8: chunk <= tile/4 - 4 keeps that.
        tile = Fraction(self.map_length, 2**self.depth)
        limit = math.floor(tile / 4) - 4
        if limit >= 16:
            limit -= limit % 16
        return max(1, min(MAX_CHUNK, limit))

    @cached_property
    def windows(self) -> tuple[tuple[int, int], ...]:
        """Scan ``(start, stop)`` of each distinct window; starts are multiples of ALIGN."""
        k = self.depth
        out = []
        for j in range(self.count):
            start = _align(2 * self._boundary(j, k + 1))
            stop = min(self.length, 2 * self._boundary(j + 2, k + 1))
            out.append((start, stop))
        return tuple(out)

    @cached_property
    def owned(self) -> tuple[tuple[int, int], ...]:
        """Map ``(start, stop)`` owned by each window; they partition ``[0, map_length)``."""
        k, c = self.depth, self.chunk
        inner = []
        for j in range(self.count - 1):
            # Middle of the overlap of windows j and j + 1, snapped to the chunk grid.
            exact = Fraction((2 * j + 3) * self.map_length, 2 ** (k + 2))
            inner.append(c * _round_half_up(exact / c))
        bounds = [0, *inner, self.map_length]
        return tuple(zip(bounds[:-1], bounds[1:]))

    def multiplicity(self) -> tuple[int, ...]:
        """How many recursion paths reach each distinct window (sums to ``3**depth``)."""
        counts = {0: 1}
        for level in range(self.depth):
            step = 2 ** (self.depth - 1 - level)  # a quarter of this level's window, in units of 1/2**(depth+1)
            nxt: dict[int, int] = {}
            for start, n in counts.items():
                for d in (0, 1, 2):
                    nxt[start + d * step] = nxt.get(start + d * step, 0) + n
            counts = nxt
        return tuple(counts.get(j, 0) for j in range(self.count))


@dataclass(frozen=True)
class Tile:
    """One tile of a plan.

    Attributes
    ----------
    index : (int, int)
        Row and column of the tile in the plan's grid.
    window : (y0, y1, x0, x1)
        Scan pixels read for the tile; ``y0`` and ``x0`` are multiples of :data:`ALIGN`.
    owned : (i0, i1, j0, j1)
        Map pixels this tile alone writes; chunk-aligned except at the map's end.
    """

    index: tuple[int, int]
    window: tuple[int, int, int, int]
    owned: tuple[int, int, int, int]

    @property
    def shape(self) -> tuple[int, int]:
        """Scan shape ``(h, w)`` of the window."""
        y0, y1, x0, x1 = self.window
        return (y1 - y0, x1 - x0)

    @property
    def map_window(self) -> tuple[int, int, int, int]:
        """Map pixels covered by the tile's maps: ``(y0/2, ceil(y1/2), x0/2, ceil(x1/2))``."""
        y0, y1, x0, x1 = self.window
        return (y0 // 2, (y1 + 1) // 2, x0 // 2, (x1 + 1) // 2)

    @property
    def owned_in_tile(self) -> tuple[slice, slice]:
        """Slices of the owned region within the tile's own maps."""
        i0, i1, j0, j1 = self.owned
        my0, _, mx0, _ = self.map_window
        return slice(i0 - my0, i1 - my0), slice(j0 - mx0, j1 - mx0)


@dataclass(frozen=True)
class TilePlan:
    """A tile plan of a scan: the recursive thirds (:func:`plan_tiles`) or a flat grid (:func:`plan_grid`)."""

    height: int
    width: int
    max_side: int
    rows: AxisPlan = field(repr=False)
    cols: AxisPlan = field(repr=False)
    scheme: str = "thirds"

    @property
    def map_shape(self) -> tuple[int, int]:
        """Shape ``(ceil(H/2), ceil(W/2))`` of the stitched maps."""
        return (self.rows.map_length, self.cols.map_length)

    @property
    def chunks(self) -> tuple[int, int]:
        """Chunk shape of the stitched maps; owned regions are unions of whole chunks."""
        return (self.rows.chunk, self.cols.chunk)

    @property
    def depth(self) -> int:
        """Depth of the recursion."""
        return self.rows.depth + self.cols.depth

    @property
    def leaves(self) -> int:
        """Leaves of the recursion, before identical ones are merged (``3**depth``); the tiles of a grid."""
        return 3**self.depth if self.scheme == "thirds" else self.rows.count * self.cols.count

    @cached_property
    def tiles(self) -> tuple[Tile, ...]:
        """Distinct tiles in row-major order."""
        return tuple(
            Tile((r, c), (*rw, *cw), (*ro, *co))
            for r, (rw, ro) in enumerate(zip(self.rows.windows, self.rows.owned))
            for c, (cw, co) in enumerate(zip(self.cols.windows, self.cols.owned))
        )

    @property
    def max_tile_shape(self) -> tuple[int, int]:
        """Largest tile height and width in scan pixels."""
        return (
            max(b - a for a, b in self.rows.windows),
            max(b - a for a, b in self.cols.windows),
        )

    @property
    def pixels(self) -> int:
        """Scan pixels the distinct tiles process together."""
        rows = sum(b - a for a, b in self.rows.windows)
        cols = sum(b - a for a, b in self.cols.windows)
        return rows * cols

    @property
    def leaf_pixels(self) -> int:
        """Scan pixels the recursion's leaves would process if identical leaves ran again."""
        rows = sum(n * (b - a) for n, (a, b) in zip(self.rows.multiplicity(), self.rows.windows))
        cols = sum(n * (b - a) for n, (a, b) in zip(self.cols.multiplicity(), self.cols.windows))
        return rows * cols

    def summary(self) -> dict:
        """Plain figures of the plan, for ``words.json`` and ``bigocr plan``."""
        scan = self.height * self.width
        extra = {"margin": self.rows.margin} if self.scheme == "grid" else {}
        return {
            "scheme": self.scheme,
            **extra,
            "max_side": self.max_side,
            "depth": self.depth,
            "leaves": self.leaves,
            "count": len(self.tiles),
            "grid": [self.rows.count, self.cols.count],
            "max_tile": list(self.max_tile_shape),
            "pixels": self.pixels,
            "pixels_ratio": round(self.pixels / scan, 4),
            "leaf_pixels_ratio": round(self.leaf_pixels / scan, 4),
            "map_shape": list(self.map_shape),
            "chunks": list(self.chunks),
        }


@dataclass(frozen=True)
class GridAxis:
    """One axis of a flat grid: cores of equal size, each read with ``margin`` scan pixels of context.

    Each window owns exactly its core (a whole number of map chunks); windows
    are at most ``max_side`` long.  The cores are as even as the chunk grid
    allows (not full cores and a thin remainder): tiles that run side by side
    finish together.  ``min_count`` splits an axis that would fit one window.
    The interface is :class:`AxisPlan`'s.
    """

    length: int
    max_side: int
    margin: int
    min_count: int = 1
    align: int = ALIGN  # window origins are multiples of this (64 for a half-input CRAFT)

    @property
    def map_length(self) -> int:
        return _map_length(self.length)

    @cached_property
    def _core(self) -> tuple[int, int]:
        """``(core, chunk)`` in map pixels: the core is a whole number of chunks of at most MAX_CHUNK."""
        if self.length <= self.max_side and self.min_count == 1:
            return self.map_length, min(self.map_length, MAX_CHUNK)
        if not grid_fits(self.max_side, self.margin, self.align):
            raise ParameterError(f"max_side {self.max_side} leaves no core after a context margin of "
                                 f"{self.margin} px on each side; raise --max-side")
        most = (self.max_side - 2 * self.margin) // 2
        largest = self._cut(most, down=True)
        count = max(self.min_count, -(-self.map_length // largest[0]))
        even = self._cut(-(-self.map_length // count), down=False)
        return even if even[0] <= largest[0] else largest

    def _cut(self, core: int, down: bool) -> tuple[int, int]:
        """``(core, chunk)`` near ``core`` map pixels: whole chunks of at most MAX_CHUNK, each a multiple of
        ``align / 2`` when that large (window origins ``2 * core * k - margin`` stay aligned); rounded down or up."""
        pieces = -(-core // MAX_CHUNK)
        chunk = core // pieces if down else -(-core // pieces)
        if chunk >= self.align // 2:
            step = self.align // 2
            chunk = chunk - chunk % step if down else -(-chunk // step) * step
        return chunk * pieces, chunk

    @property
    def chunk(self) -> int:
        return self._core[1]

    @property
    def count(self) -> int:
        return -(-self.map_length // self._core[0])

    @property
    def depth(self) -> int:
        return 0 if self.count == 1 else 1

    @cached_property
    def owned(self) -> tuple[tuple[int, int], ...]:
        core = self._core[0]
        return tuple((k * core, min((k + 1) * core, self.map_length)) for k in range(self.count))

    @cached_property
    def windows(self) -> tuple[tuple[int, int], ...]:
        if self.count == 1:
            return ((0, self.length),)
        return tuple((max(0, (2 * a - self.margin) // self.align * self.align), min(self.length, 2 * b + self.margin))
                     for a, b in self.owned)

    def multiplicity(self) -> tuple[int, ...]:
        return (1,) * self.count


def grid_fits(max_side: int, margin: int, align: int = ALIGN) -> bool:
    """Whether grid tiles of ``max_side`` keep a core (at least 16 map pixels) inside ``margin`` (rounded up to
    the ``align`` px grid, as :func:`plan_grid` does) on each side."""
    margin = -(-margin // align) * align
    return (max_side - 2 * margin) // 2 >= 16


def plan_grid(height: int, width: int, max_side: int = 2560, margin: int = 256, align: int = ALIGN) -> "TilePlan":
    """A flat grid of tiles of up to ``max_side``, each owning its core and reading ``margin`` px around it.

    Parameters
    ----------
    height, width : int
        Scan size in pixels.
    max_side : int
        Cap on a tile's longer side in scan pixels.
    margin : int
        Context read beyond the core on each inner side, in scan pixels (rounded
        up to a multiple of :data:`ALIGN`); measure it from the detector with
        :func:`bigocr.detector.infer.context_margin`.
    align : int
        Window origins (and the margin) are multiples of this: the network's
        pooling grid in working pixels (32 for CRAFT, 64 for a half-input CRAFT).

    The cores of an axis are as even as the chunk grid allows, and a scan that
    would fit one tile is cut in two along its longer side when that side is
    at least :data:`SPLIT_MARGINS` margins long, so two workers share it.
    """
    _check_size(height, width, max_side)
    if not isinstance(margin, int) or isinstance(margin, bool) or margin < 0:
        raise ParameterError(f"margin must be a whole number of pixels >= 0, got {margin!r}")
    if align not in (ALIGN, 2 * ALIGN):
        raise ParameterError(f"align must be {ALIGN} or {2 * ALIGN}, got {align!r}")
    margin = -(-margin // align) * align
    rows, cols = GridAxis(height, max_side, margin, align=align), GridAxis(width, max_side, margin, align=align)
    if rows.count * cols.count == 1 and max(height, width) >= SPLIT_MARGINS * margin > 0:
        # one tile would leave every worker but one idle: halve the longer side (the margins add <= 25 %)
        if height >= width:
            rows = GridAxis(height, max_side, margin, min_count=2, align=align)
        else:
            cols = GridAxis(width, max_side, margin, min_count=2, align=align)
    plan = TilePlan(height, width, max_side, rows, cols, scheme="grid")
    _check_axis(plan.rows, depth_margin=False)
    _check_axis(plan.cols, depth_margin=False)
    return plan


def make_plan(height: int, width: int, max_side: int = 2560, tiling: str = "thirds",
              margin: int | None = None, align: int = ALIGN) -> "TilePlan":
    """The plan of ``tiling``: :func:`plan_tiles` (``"thirds"``) or :func:`plan_grid` (``"grid"``, with ``margin``
    and ``align``; the thirds keep the 32 px grid)."""
    if tiling == "grid":
        return plan_grid(height, width, max_side, margin, align)
    if tiling != "thirds":
        raise ParameterError(f"tiling must be thirds or grid, got {tiling!r}")
    return plan_tiles(height, width, max_side)


def _split_depths(height: int, width: int, max_side: int) -> tuple[int, int]:
    """Per-axis split counts of the recursion (rows split first on a tie)."""
    kr = kc = 0
    while True:
        er, ec = _extent(height, kr), _extent(width, kc)
        if max(er, ec) <= max_side:
            return kr, kc
        if er >= ec:
            kr += 1
        else:
            kc += 1


def plan_tiles(height: int, width: int, max_side: int = 2560) -> TilePlan:
    """Plan the recursive overlapping thirds of a ``height`` x ``width`` scan.

    Parameters
    ----------
    height, width : int
        Scan size in pixels.
    max_side : int
        Cap on a tile's longer side in scan pixels (>= 64).

    Returns
    -------
    TilePlan
        Distinct tiles with their scan windows and owned map regions.

    Examples
    --------
    >>> plan = plan_tiles(13483, 7256, max_side=2560)
    >>> plan.leaves, len(plan.tiles)
    (243, 105)
    """
    _check_size(height, width, max_side)
    kr, kc = _split_depths(height, width, max_side)
    plan = TilePlan(height, width, max_side, AxisPlan(height, kr), AxisPlan(width, kc))
    _check_axis(plan.rows)
    _check_axis(plan.cols)
    return plan


def _check_size(height: int, width: int, max_side: int) -> None:
    for name, value in (("height", height), ("width", width), ("max_side", max_side)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ParameterError(f"{name} must be an integer, got {value!r}")
    if height < 1 or width < 1:
        raise ParameterError(f"scan size must be at least 1x1 pixels, got {height}x{width}")
    if max_side < MIN_MAX_SIDE:
        raise ParameterError(
            f"max_side must be >= {MIN_MAX_SIDE} pixels, got {max_side}; "
            "the detector needs context around every pixel (2560 suits CPUs, 4096+ GPUs)"
        )


def _check_axis(axis: AxisPlan, depth_margin: bool = True) -> None:
    """Internal invariants: owned ranges partition the map and sit deep in their windows."""
    owned, windows = axis.owned, axis.windows
    assert owned[0][0] == 0 and owned[-1][1] == axis.map_length
    for (a0, a1), (b0, _), (w0, w1) in zip(owned, owned[1:] + ((axis.map_length, None),), windows):
        assert a0 < a1 == b0, (owned, axis)
        m0, m1 = w0 // 2, (w1 + 1) // 2
        # (the 1/8 is of the window before its origin moved back onto the ALIGN grid)
        margin = (m1 - m0 - ALIGN // 2) / 8 if depth_margin else axis.margin // 2
        assert m0 <= a0 and a1 <= m1, (owned, windows)
        assert w0 == 0 or a0 - m0 >= margin, (axis, a0, m0, margin)
        assert w1 == axis.length or m1 - a1 >= margin, (axis, a1, m1, margin)


def recursive_leaves(height: int, width: int, max_side: int) -> list[tuple[Fraction, Fraction, Fraction, Fraction]]:
    """The seed's recursion written out literally, leaf by leaf (for tests on small depths).

    Returns every leaf as root fractions ``(y0, y1, x0, x1)``, duplicates included.
    """
    leaves = []

    def recurse(y0, y1, x0, x1, dr, dc):
        er, ec = _extent(height, dr), _extent(width, dc)
        if max(er, ec) <= max_side:
            leaves.append((y0, y1, x0, x1))
        elif er >= ec:
            q = (y1 - y0) / 4
            for a in (y0, y0 + q, y0 + 2 * q):
                recurse(a, a + 2 * q, x0, x1, dr + 1, dc)
        else:
            q = (x1 - x0) / 4
            for a in (x0, x0 + q, x0 + 2 * q):
                recurse(y0, y1, a, a + 2 * q, dr, dc + 1)

    recurse(Fraction(0), Fraction(1), Fraction(0), Fraction(1), 0, 0)
    return leaves
