"""Lines, blocks and reading order from word boxes."""

import doctest
import json
from pathlib import Path

import numpy as np
import pytest

import bigocr.words.layout
from bigocr.dev.evaluate import Counts, group_lines, match
from bigocr.words.layout import analyse_layout, estimate_skew

VDSBB = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "vdsbb"


def _box(x0, y0, x1, y1):
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def newspaper(seed=0, columns=3, lines=12, height=30.0, gutter=1.0):
    """A headline across the page over justified columns whose gutter is ``gutter`` word heights.

    Returns the word boxes and the true grouping: ``[(column, line)]`` per word
    (column -1 for the headline), in reading order.
    """
    rng = np.random.default_rng(seed)
    width_col, x0 = 600.0, 50.0
    boxes, truth = [], []
    x = x0
    for _ in range(4):  # headline: tall words
        w = rng.uniform(150, 300)
        boxes.append(_box(x, 40, x + w, 40 + 2.5 * height))
        truth.append((-1, 0))
        x += w + 0.6 * height
    top = 40 + 2.5 * height + 2 * height
    for c in range(columns):
        left = x0 + c * (width_col + gutter * height)
        for row in range(lines):
            y = top + row * 1.5 * height
            widths = rng.uniform(40, 120, size=20)
            n = int(np.searchsorted(np.cumsum(widths + 0.35 * height), width_col + 0.35 * height))
            widths = widths[:n]
            space = (width_col - widths.sum()) / max(1, n - 1)  # justified: the line fills the column
            x = left
            for w in widths:
                dy = rng.uniform(-2, 2)
                h = height * rng.uniform(0.7, 1.1)  # words of different heights (x-height vs ascenders)
                boxes.append(_box(x, y + dy + (height - h), x + w, y + dy + height))
                truth.append((c, row))
                x += w + space
    return boxes, truth


def _groups(layout):
    return sorted(tuple(sorted(line.words)) for line in layout.lines)


def _true_groups(truth):
    groups = {}
    for i, key in enumerate(truth):
        groups.setdefault(key, []).append(i)
    return sorted(tuple(g) for g in groups.values())


@pytest.mark.parametrize("gutter", [1.1, 1.5, 3.0])
def test_columns_lines_and_reading_order(gutter):
    boxes, truth = newspaper(seed=int(gutter * 10), gutter=gutter)
    layout = analyse_layout(boxes)
    assert _groups(layout) == _true_groups(truth)
    # Reading order: the headline, then each column top to bottom, words left to right.
    order = layout.reading_order()
    assert sorted(order) == list(range(len(boxes)))
    keys = [truth[i] for i in order]
    assert keys == sorted(keys)
    assert all(boxes[a][0, 0] < boxes[b][0, 0] for line in layout.lines for a, b in zip(line.words, line.words[1:]))
    # One block for the headline and one per column.
    assert len(layout.blocks) == 4
    assert {truth[line.words[0]][0] for block in layout.blocks for line in block.lines[:1]} == {-1, 0, 1, 2}


@pytest.mark.parametrize("degrees", [-4.0, 2.5, 6.0])
def test_skewed_pages_group_the_same(degrees):
    boxes, truth = newspaper(seed=3, gutter=1.5)
    a = np.radians(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    turned = [(b - 500) @ rot.T + 500 for b in boxes]
    layout = analyse_layout(turned)
    assert layout.skew == pytest.approx(degrees, abs=0.05)
    assert _groups(layout) == _true_groups(truth)
    # Line boxes follow the skew: their top edge has the page's angle.
    top = layout.lines[3].box[1] - layout.lines[3].box[0]
    assert np.degrees(np.arctan2(top[1], top[0])) == pytest.approx(degrees, abs=1e-6)


def test_marks_found_apart_fold_into_their_line():
    words = [_box(0, 20, 80, 50), _box(90, 20, 170, 50), _box(120, 8, 128, 16), _box(172, 44, 176, 54)]
    layout = analyse_layout(words)
    assert [sorted(line.words) for line in layout.lines] == [[0, 1, 2, 3]]


def test_estimate_skew_ignores_square_and_vertical_boxes():
    square = _box(0, 0, 20, 20)
    tall = np.array([[0, 0], [10, 0], [10, 100], [0, 100]], float)
    assert estimate_skew(np.array([square, tall])) == 0.0
    assert analyse_layout([]).blocks == ()


def test_renumbered_layout_indexes_the_sorted_words():
    boxes, _ = newspaper(seed=1)
    order, layout = analyse_layout(boxes).renumbered()
    assert layout.reading_order() == list(range(len(boxes)))
    assert [tuple(b) for b in np.array(boxes)[order][:5].reshape(5, -1)] == \
        [tuple(boxes[i].ravel()) for i in order[:5]]


def test_docstring_example_runs():
    assert doctest.testmod(bigocr.words.layout).failed == 0


@pytest.mark.skipif(not VDSBB.is_dir(), reason=f"no real scans at {VDSBB}")
def test_line_grouping_on_real_pages():
    """Grouping the true words of the VD-SBB prints reproduces their true lines (H-mean at IoU 0.5)."""
    total = Counts()
    for gt in sorted(VDSBB.glob("*.gt.json")):
        doc = json.loads(gt.read_text())
        words = [np.asarray(w["box"], np.float64) for w in doc["words"]]
        total += match(group_lines(words), [np.asarray(line["box"], np.float64) for line in doc["lines"]])
    assert total.truth > 350
    assert total.hmean >= 0.96  # measured 0.977



SROIE = VDSBB.parent / "sroie"


@pytest.mark.skipif(not (SROIE / "134.gt.json").is_file(), reason=f"no real scans at {SROIE}")
def test_segments_cut_a_real_receipts_labels_from_their_amounts():
    """On a real receipt (eval split) the default detector's words give more of the truth's segments with the
    segment model than with whole lines (measured: line H 0.663 -> 0.740)."""
    import bigocr

    doc = json.loads((SROIE / "134.gt.json").read_text())
    words = [w.box for w in bigocr.detect(SROIE / "134.jpg", scheduler="synchronous").words]
    truth = [np.asarray(w["box"], np.float64) for w in doc["words"]]
    cut, whole = analyse_layout(words), analyse_layout(words, segments=False)
    assert len(cut.lines) > len(whole.lines)
    assert match([line.box for line in cut.lines], truth).hmean > match([line.box for line in whole.lines],
                                                                        truth).hmean + 0.03


def test_segments_keep_a_justified_column_whole():
    """A justified column's lines stay whole (spaces as wide as a receipt's), as do the newspaper's above."""
    boxes, truth = newspaper(seed=3, columns=1, lines=14)
    assert _groups(analyse_layout(boxes)) == _true_groups(truth)


def _with_labels(rows: list[int], seed: int = 4, height: float = 30.0):
    """A justified column (left edge at x = 50) and a short word 0.3 heights left of it on ``rows``."""
    boxes, truth = newspaper(seed=seed, columns=1, lines=14, height=height)
    boxes, truth = boxes[4:], truth[4:]  # no headline
    top = 40 + 2.5 * height + 2 * height
    for row in rows:
        y = top + row * 1.5 * height
        boxes.append(_box(50 - 0.3 * height - 70, y + 2, 50 - 0.3 * height, y + height))
        truth.append(("label", row))
    return boxes, truth


def test_marginal_notes_beside_a_few_lines_are_lines_of_their_own():
    boxes, truth = _with_labels([5, 6])
    layout = analyse_layout(boxes)
    notes = [i for i, t in enumerate(truth) if t[0] == "label"]
    assert [line.words for line in layout.lines if set(line.words) & set(notes)] == [(notes[0],), (notes[1],)]


def test_labels_before_most_lines_stay_in_their_lines():
    """A play's speaker names stand before most lines at the same narrow gap: the truth keeps them in the line."""
    boxes, truth = _with_labels(list(range(0, 14, 1)))
    layout = analyse_layout(boxes)
    notes = {i for i, t in enumerate(truth) if t[0] == "label"}
    assert all(len(line.words) > 1 for line in layout.lines if set(line.words) & notes)
