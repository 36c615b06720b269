"""Stitching, global labeling and boxes, against single-pass references."""

import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from zarr.storage import LocalStore, WrapperStore

from bigocr.engine.cluster import run_tile
from bigocr.merge.boxes import extract_words
from bigocr.merge.label import label_components
from bigocr.merge.reference import reference_labels, reference_words
from bigocr.merge.stitch import create_maps, open_maps, tile_chunks, write_tile
from bigocr.testing import FakeDetector, make_page
from bigocr.tiler.plan import plan_tiles
from bigocr.tiler.scan import open_scan


def synthetic_maps(h, w, n=300, seed=0, long_lines=2):
    """Analytic CRAFT-like maps: discs for characters, bars for links, some long lines."""
    rng = np.random.default_rng(seed)
    region = np.zeros((h, w), np.float32)
    affinity = np.zeros((h, w), np.float32)
    for _ in range(n):
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        for c in range(int(rng.integers(1, 7))):
            cv2.circle(region, (x + c * 12, y), int(rng.integers(2, 7)), float(rng.uniform(0.3, 1.0)), -1)
            if c:
                cv2.rectangle(affinity, (x + c * 12 - 8, y - 2), (x + c * 12 - 4, y + 2), float(rng.uniform(0.2, 0.9)), -1)
    for _ in range(long_lines):
        y = int(rng.integers(0, h))
        cv2.line(region, (0, y), (w - 1, int(rng.integers(0, h))), 0.9, 3)
    return region, affinity


def _same_partition(a, b):
    """True if two label images describe the same components (up to ids)."""
    if not np.array_equal(a > 0, b > 0):
        return False
    pairs = np.unique(np.stack([a[a > 0], b[b > 0]]), axis=1)
    return len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 300), w=st.integers(1, 300), by=st.integers(1, 120), bx=st.integers(1, 120),
       seed=st.integers(0, 10**6), density=st.floats(0.05, 0.7))
def test_chunked_labeling_equals_single_pass(h, w, by, bx, seed, density):
    rng = np.random.default_rng(seed)
    region = (rng.random((h, w)) < density).astype(np.float32) * 0.8
    affinity = (rng.random((h, w)) < density / 2).astype(np.float32) * 0.8
    labels = np.zeros((h, w), np.int32)
    comps = label_components(region, affinity, block=(by, bx), labels_out=labels)
    n, ref, stats, _, _ = reference_labels(region, affinity, 0.4, 0.4)
    assert len(comps) == n - 1
    assert _same_partition(labels, ref)
    # Statistics follow the components across blocks.
    for k in range(len(comps)):
        ys, xs = np.nonzero(labels == k + 1)
        assert comps.area[k] == len(ys)
        assert (comps.y0[k], comps.x0[k], comps.y1[k], comps.x1[k]) == (ys.min(), xs.min(), ys.max() + 1, xs.max() + 1)
        assert comps.peak[k] == region[ys, xs].max()
        assert labels[comps.seed_y[k], comps.seed_x[k]] == k + 1


def _key(word):
    return tuple(np.round(word.box, 4).ravel())


@pytest.mark.parametrize("block", [(64, 96), (100, 100), (2048, 2048)])
def test_boxes_equal_the_reference_loop(block):
    region, affinity = synthetic_maps(500, 640, seed=3)
    comps = label_components(region, affinity, block=block)
    words = extract_words(region, affinity, comps, block=block)
    ref = reference_words(region, affinity)
    assert len(words) == len(ref) > 100
    assert sorted(map(_key, words)) == sorted(map(_key, ref))
    assert {w.score for w in words} == {w.score for w in ref}


def test_polygons_match_the_reference():
    region, affinity = synthetic_maps(400, 500, n=200, seed=5)
    comps = label_components(region, affinity, block=(80, 80))
    ours = {_key(w): w.polygon for w in extract_words(region, affinity, comps, poly=True, block=(80, 80))}
    ref = {_key(w): w.polygon for w in reference_words(region, affinity, poly=True)}
    assert ours.keys() == ref.keys()
    made = 0
    for k, poly in ref.items():
        assert (poly is None) == (ours[k] is None)
        if poly is not None:
            made += 1
            assert poly.shape == (14, 2)
            np.testing.assert_allclose(ours[k], poly, atol=0.1)
    assert made > 5


def test_boxes_are_clockwise_from_top_left():
    region, affinity = synthetic_maps(300, 300, n=100, seed=7)
    # Rotated bars, so that minAreaRect, not the square rule, makes the boxes.
    for angle in (-30, -10, 15, 40):
        rect = ((150 + angle, 150 + angle), (60, 8), angle)
        cv2.fillPoly(region, [cv2.boxPoints(rect).astype(np.int32)], 0.95)
    words = extract_words(region, affinity, label_components(region, affinity))
    for w in words:
        x, y = w.box[:, 0], w.box[:, 1]
        signed_area = 0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)  # > 0: clockwise with y down
        assert signed_area > 0
        assert np.argmin(w.box.sum(axis=1)) == 0


def test_a_component_across_many_blocks_is_one_word():
    region = np.zeros((200, 900), np.float32)
    cv2.line(region, (3, 20), (890, 180), 0.95, 4)  # crosses every block of 32 x 32
    comps = label_components(region, np.zeros_like(region), block=(32, 32))
    words = extract_words(region, np.zeros_like(region), comps, block=(32, 32))
    assert len(words) == 1
    assert sorted(map(_key, words)) == sorted(map(_key, reference_words(region, np.zeros_like(region))))


class _ChunkWriters(WrapperStore):
    """Remembers which tile wrote each chunk key."""

    def __init__(self, store):
        super().__init__(store)
        self.current = None
        self.writers = {}

    async def set(self, key, value):
        if "/c/" in key:
            self.writers.setdefault(key, set()).add(self.current)
        await super().set(key, value)


def _tile_maps(tile, seed=0):
    shape = ((tile.shape[0] + 1) // 2, (tile.shape[1] + 1) // 2)
    rng = np.random.default_rng(seed + 7919 * tile.index[0] + tile.index[1])
    return rng.random(shape, dtype=np.float32) + 1, rng.random(shape, dtype=np.float32) + 1


@pytest.mark.parametrize("shape,cap", [((3000, 1900), 700), ((1333, 2777), 700)])
def test_no_two_tiles_write_the_same_chunk(tmp_path, shape, cap):
    plan = plan_tiles(*shape, max_side=cap)
    store = _ChunkWriters(LocalStore(str(tmp_path / "maps.zarr")))
    group = create_maps(store, plan, {})
    for tile in plan.tiles:
        store.current = tile.index
        write_tile(group, tile, *_tile_maps(tile))
    assert store.writers, "the wrapper saw no chunk writes"
    shared = {k: v for k, v in store.writers.items() if len(v) > 1}
    assert not shared
    # The plan's own account of the chunks agrees with what was written.
    expected = sum(len(tile_chunks(t, plan.chunks)) for t in plan.tiles) * 2
    assert len(store.writers) == expected


def test_the_wrapper_catches_a_shared_chunk(tmp_path):
    """The check above can fail: chunks that straddle owned regions are reported."""
    plan = plan_tiles(3000, 1900, max_side=700)
    store = _ChunkWriters(LocalStore(str(tmp_path / "maps.zarr")))
    group = zarr.open_group(store, mode="w", zarr_format=3)
    for name in ("region", "affinity"):
        group.create_array(name, shape=plan.map_shape, chunks=(plan.chunks[0] + 8, plan.chunks[1]), dtype="float32")
    for tile in plan.tiles:
        store.current = tile.index
        write_tile(group, tile, *_tile_maps(tile))
    assert any(len(v) > 1 for v in store.writers.values())


def test_concurrent_tile_writes_lose_nothing(tmp_path):
    plan = plan_tiles(1500, 1400, max_side=600)
    assert len(plan.tiles) >= 9
    serial = create_maps(str(tmp_path / "serial.zarr"), plan, {})
    for tile in plan.tiles:
        write_tile(serial, tile, *_tile_maps(tile))
    path = str(tmp_path / "parallel.zarr")
    create_maps(path, plan, {})

    def work(tile):
        write_tile(open_maps(path, mode="r+"), tile, *_tile_maps(tile))

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(work, reversed(plan.tiles)))
    parallel = open_maps(path)
    for name in ("region", "affinity"):
        a, b = serial[name][:], parallel[name][:]
        assert a.min() >= 1  # every pixel written
        assert np.array_equal(a, b)


def test_many_workers_on_overlapping_tiles_write_each_chunk_once(tmp_path):
    """Stress: 16 threads run every tile twice (as Dask reruns), in shuffled order, through the real
    tile task; a wrapped store fails on any chunk written by two tiles; maps equal a serial run."""
    page, _ = make_page(2400, 1800, words=700, seed=21, rotate=True)
    scan = open_scan(page)
    plan = plan_tiles(*page.shape[:2], max_side=400)
    assert len(plan.tiles) >= 40
    serial = str(tmp_path / "serial.zarr")
    create_maps(serial, plan, {})
    for tile in plan.tiles:
        run_tile(scan, tile, FakeDetector(), serial)
    path = str(tmp_path / "parallel.zarr")
    create_maps(path, plan, {})
    writers, lock = {}, threading.Lock()

    class Recording(WrapperStore):
        def __init__(self, store, tile):
            super().__init__(store)
            self.tile = tile

        async def set(self, key, value):
            if "/c/" in key:
                with lock:
                    writers.setdefault(key, set()).add(self.tile)
            await super().set(key, value)

    def work(tile):
        run_tile(scan, tile, FakeDetector(), Recording(LocalStore(path), tile.index))

    order = list(plan.tiles) * 2
    np.random.default_rng(0).shuffle(order)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(work, order))
    assert writers and not {k: v for k, v in writers.items() if len(v) > 1}
    a, b = open_maps(serial), open_maps(path)
    for name in ("region", "affinity", "tiles_done"):
        assert np.array_equal(a[name][:], b[name][:]), name


def test_component_peaks_equal_ndimage_maximum():
    """The per-component highest region score, negative scores included, as scipy computes it."""
    from scipy import ndimage

    from bigocr.merge.label import _peaks

    rng = np.random.default_rng(3)
    region = (rng.random((300, 200)) * 2 - 0.5).astype(np.float32)
    n, labels = cv2.connectedComponents((cv2.GaussianBlur(region, (0, 0), 1.5) > 0.5).astype(np.uint8))
    n -= 1
    assert n > 10
    expected = ndimage.maximum(region, labels, index=np.arange(1, n + 1)).astype(np.float32)
    assert np.array_equal(_peaks(region, labels, n), expected)
