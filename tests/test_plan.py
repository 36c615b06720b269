"""Tile plans: pure geometry, no pixels."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bigocr.errors import ParameterError
from bigocr.tiler.plan import MIN_MAX_SIDE, plan_tiles, recursive_leaves


def test_seed_scan_figures():
    plan = plan_tiles(13483, 7256, max_side=2560)
    assert plan.depth == 5
    assert plan.leaves == 243
    assert len(plan.tiles) == 105
    # 3.28 and 7.59 at the exact fractions; origins moved back onto the 32 px grid add context
    assert round(plan.pixels / (13483 * 7256), 2) == 3.32
    assert round(plan.leaf_pixels / (13483 * 7256), 2) == 7.70
    assert all(t.window[0] % 32 == 0 and t.window[2] % 32 == 0 for t in plan.tiles)
    assert plan.map_shape == (6742, 3628)


def _window_from_fractions(plan, fy0, fy1, fx0, fx1):
    def axis(a, b, ax):
        m = ax.map_length
        start = 2 * int(np.floor(a * m + Fraction(1, 2)))
        start -= start % 32
        stop = min(ax.length, 2 * int(np.floor(b * m + Fraction(1, 2))))
        return start, stop

    return (*axis(fy0, fy1, plan.rows), *axis(fx0, fx1, plan.cols))


@pytest.mark.parametrize("shape,cap", [((13483, 7256), 2560), ((3000, 1000), 512), ((700, 2900), 300), ((257, 64), 64)])
def test_literal_recursion_has_the_same_distinct_leaves(shape, cap):
    plan = plan_tiles(*shape, max_side=cap)
    leaves = recursive_leaves(*shape, cap)
    assert len(leaves) == plan.leaves
    distinct = {_window_from_fractions(plan, *leaf) for leaf in leaves}
    assert distinct == {tile.window for tile in plan.tiles}
    # Multiplicities: how often each distinct window appears among the leaves.
    counts = {}
    for leaf in leaves:
        w = _window_from_fractions(plan, *leaf)
        counts[w] = counts.get(w, 0) + 1
    rows, cols = plan.rows.multiplicity(), plan.cols.multiplicity()
    for tile in plan.tiles:
        assert counts[tile.window] == rows[tile.index[0]] * cols[tile.index[1]]


def _check_plan(plan):
    h, w = plan.height, plan.width
    mh, mw = plan.map_shape
    owner = np.zeros((mh, mw), np.int32)
    cy, cx = plan.chunks
    for tile in plan.tiles:
        y0, y1, x0, x1 = tile.window
        assert y0 % 32 == 0 and x0 % 32 == 0  # on the network's grid: tile maps equal whole-scan maps
        assert 0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w
        assert max(y1 - y0, x1 - x0) <= plan.max_side
        i0, i1, j0, j1 = tile.owned
        owner[i0:i1, j0:j1] += 1
        # Owned regions are whole chunks (the map's far edge may cut the last one).
        assert i0 % cy == 0 and j0 % cx == 0
        assert i1 % cy == 0 or i1 == mh
        assert j1 % cx == 0 or j1 == mw
        # Deep inside: at least 1/8 of the tile's side from any inner edge (the side before the
        # origin moved back by up to 30 px onto the 32 px grid).
        m0y, m1y, m0x, m1x = tile.map_window
        side_y, side_x = (m1y - m0y - 16) / 8, (m1x - m0x - 16) / 8
        assert m0y <= i0 and i1 <= m1y and m0x <= j0 and j1 <= m1x
        assert y0 == 0 or i0 - m0y >= side_y
        assert y1 == h or m1y - i1 >= side_y
        assert x0 == 0 or j0 - m0x >= side_x
        assert x1 == w or m1x - j1 >= side_x
    # Owned regions partition the map (which also means the tiles cover the scan).
    assert owner.min() == 1 and owner.max() == 1


@settings(max_examples=150, deadline=None)
@given(h=st.integers(1, 6000), w=st.integers(1, 6000), cap=st.integers(MIN_MAX_SIDE, 3000))
def test_plan_properties(h, w, cap):
    plan = plan_tiles(h, w, max_side=cap)
    if plan.rows.count * plan.cols.count > 5000:
        return  # a huge plan; its axes are checked below without the owner image
    _check_plan(plan)


@settings(max_examples=200, deadline=None)
@given(length=st.integers(1, 200_000), cap=st.integers(MIN_MAX_SIDE, 8192), other=st.integers(1, 200_000))
def test_axis_properties_at_any_scale(length, cap, other):
    plan = plan_tiles(length, other, max_side=cap)
    axis = plan.rows
    owned = axis.owned
    assert owned[0][0] == 0 and owned[-1][1] == axis.map_length
    assert all(a1 == b0 for (_, a1), (b0, _) in zip(owned, owned[1:]))
    assert all(b - a <= cap for a, b in axis.windows)
    assert len(set(axis.windows)) == len(axis.windows)  # identical leaves merged


def test_small_scan_is_one_tile():
    plan = plan_tiles(1000, 700, max_side=2560)
    assert plan.leaves == 1 and len(plan.tiles) == 1
    tile = plan.tiles[0]
    assert tile.window == (0, 1000, 0, 700)
    assert tile.owned == (0, 500, 0, 350)


def test_ties_split_rows_first():
    plan = plan_tiles(3000, 3000, max_side=2000)
    assert plan.rows.depth == 1 and plan.cols.depth == 1
    leaves = recursive_leaves(3000, 3000, 2000)
    half, quarter = Fraction(1, 2), Fraction(1, 4)
    # The outer split is along rows: the first three leaves share the top half.
    assert leaves[:3] == [(0, half, 0, half), (0, half, quarter, 3 * quarter), (0, half, half, 1)]


@pytest.mark.parametrize("args,match", [
    ((100, 100, 10), "max_side must be >= 64"),
    ((0, 100, 2560), "at least 1x1"),
    ((100, 100, 2560.5), "max_side must be an integer"),
])
def test_bad_arguments_name_the_problem(args, match):
    with pytest.raises(ParameterError, match=match):
        plan_tiles(*args)


def test_grid_cores_are_even_and_a_one_tile_scan_is_shared_by_two_workers():
    from bigocr.tiler.plan import SPLIT_MARGINS, plan_grid

    # 5000 px at a 2560 cap: three cores of 772-864 map px, not two full ones and a thin remainder
    plan = plan_grid(2546, 5000, 2560, 244)
    owned = [b - a for a, b in plan.cols.owned]
    assert plan.cols.count == 3 and min(owned) >= 0.85 * max(owned)  # (was 1024, 1024, 452)
    assert all(b - a <= 2560 for a, b in plan.cols.windows) and all(a % 32 == 0 for a, _ in plan.cols.windows)
    # fits one tile, long side >= SPLIT_MARGINS margins: two tiles along it; the maps' owners still cover it once
    plan = plan_grid(2546, 5000, 5120, 488)
    assert plan.summary()["grid"] == [1, 2] and plan.pixels <= 1.25 * 2546 * 5000
    assert plan.cols.owned[0][0] == 0 and plan.cols.owned[0][1] == plan.cols.owned[1][0]
    assert plan.cols.owned[1][1] == plan.cols.map_length
    tall = plan_grid(5000, 2546, 5120, 488)
    assert tall.summary()["grid"] == [2, 1]
    # small scans (or no margin) stay one tile
    assert plan_grid(1000, 762, 2560, 244).summary()["count"] == 1
    assert plan_grid(2546, 5000, 5120, 0).summary()["count"] == 1
    assert plan_grid(100, SPLIT_MARGINS * 64 - 1, 5120, 64).summary()["count"] == 1
