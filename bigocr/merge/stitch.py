"""The stitched score maps: one zarr v3 group, ``maps.zarr``, written tile by tile.

The group holds ``region`` and ``affinity``, float32 arrays of the map shape
``(ceil(H/2), ceil(W/2))``.  Their chunk grid is the plan's: every tile's owned
region is a union of whole chunks, so each chunk has exactly one writer and
tiles can write concurrently from any number of workers without locks.

``tiles_done`` is the run's progress record: one uint8 per tile of the plan's
grid, one chunk each (uncompressed), set to 1 once the tile's maps are written.
A resumed run recomputes exactly the tiles not marked (the presence of map
chunks says nothing: chunks that are all zero are never stored).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

from bigocr.tiler.plan import Tile, TilePlan

__all__ = ["MAP_NAMES", "DONE", "create_maps", "open_maps", "write_tile", "tile_chunks", "mark_done", "done_tiles"]

MAP_NAMES = ("region", "affinity")
DONE = "tiles_done"


def create_maps(store, plan: TilePlan, attrs: dict) -> zarr.Group:
    """Create the ``region`` and ``affinity`` arrays for ``plan`` in a new group.

    Parameters
    ----------
    store : str, Path or zarr store
        Where the group lives (``OUT/maps.zarr``).
    plan : TilePlan
    attrs : dict
        JSON-serialisable metadata (scale, model, thresholds, plan).
    """
    if isinstance(store, Path):
        store = str(store)
    group = zarr.open_group(store, mode="w", zarr_format=3)
    group.attrs.update(attrs)
    for name in MAP_NAMES:
        group.create_array(name, shape=plan.map_shape, chunks=plan.chunks, dtype="float32", fill_value=0.0)
    group.create_array(DONE, shape=tuple(plan.summary()["grid"]), chunks=(1, 1), dtype="uint8", fill_value=0,
                       compressors=None)
    return group


def open_maps(store, mode: str = "r") -> zarr.Group:
    """Open an existing maps group."""
    if isinstance(store, Path):
        store = str(store)
    return zarr.open_group(store, mode=mode, zarr_format=3)


def write_tile(group: zarr.Group, tile: Tile, region: np.ndarray, affinity: np.ndarray) -> None:
    """Write the owned part of a tile's maps into the group.

    Parameters
    ----------
    group : zarr.Group
        The maps group, opened for writing.
    tile : Tile
    region, affinity : ndarray, shape (ceil(h/2), ceil(w/2)), float32
        The tile's own maps, for the whole tile window.
    """
    i0, i1, j0, j1 = tile.owned
    rows, cols = tile.owned_in_tile
    group["region"][i0:i1, j0:j1] = region[rows, cols]
    group["affinity"][i0:i1, j0:j1] = affinity[rows, cols]


def tile_chunks(tile: Tile, chunks: tuple[int, int]) -> list[tuple[int, int]]:
    """Chunk indices ``(ci, cj)`` that a tile writes."""
    i0, i1, j0, j1 = tile.owned
    cy, cx = chunks
    return [(a, b) for a in range(i0 // cy, -(-i1 // cy)) for b in range(j0 // cx, -(-j1 // cx))]


def mark_done(group: zarr.Group, tile: Tile) -> None:
    """Record that ``tile``'s maps are written (after :func:`write_tile`)."""
    group[DONE][tile.index] = 1


def done_tiles(group: zarr.Group) -> set[tuple[int, int]]:
    """Indices of the tiles recorded as done.

    A flag cut short by a kill (an unreadable chunk) counts as not done.
    """
    flags = group[DONE]
    try:
        values = np.asarray(flags[:])
    except Exception:  # one torn flag: read them one by one
        values = np.zeros(flags.shape, np.uint8)
        for index in np.ndindex(*flags.shape):
            try:
                values[index] = flags[index]
            except Exception:
                values[index] = 0
    return {(int(r), int(c)) for r, c in zip(*np.nonzero(values == 1))}
