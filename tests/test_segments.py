"""The segment model's trainer: gap labels from line truth, the trees' fit, their walk, and the model shipped."""

import numpy as np

from bigocr.dev.train.segments import _owners, fit
from bigocr.words.segments import FEATURES, SHORTEST, shipped_model, split_probability


def _box(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def test_words_are_owned_by_the_truth_line_holding_most_of_them():
    truth = [{"box": _box(0, 0, 100, 20)}, {"box": _box(130, 0, 200, 20)}]
    quads = np.array([_box(2, 2, 40, 18), _box(45, 2, 98, 18), _box(132, 1, 190, 19), _box(90, 0, 150, 20),
                      _box(0, 50, 30, 70)], np.float64)
    assert _owners(quads, truth).tolist() == [0, 0, 1, -1, -1]  # straddling: neither half; outside: none


def test_the_fit_separates_what_the_features_separate():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, len(FEATURES)))
    x[:, 0] = rng.uniform(0, 3, 4000)  # the gap, in heights
    y = ((x[:, 0] > 1.2) & (x[:, 3] > -0.5)).astype(float)  # breaks: wide gaps in a channel
    model = fit({"a": (x[:2000], y[:2000]), "b": (x[2000:], y[2000:])})
    p = split_probability(x, {**model, "threshold": 0.5})
    assert ((p > 0.5) == (y > 0)).mean() > 0.97
    assert np.all(p[x[:, 0] < SHORTEST] == 0)  # a narrow gap is never a cut
    used = {f for tree in model["trees"] for f, left in zip(tree["feature"], tree["left"]) if left >= 0}
    assert {0, 3} <= used


def test_the_trees_are_walked_as_written():
    # one stump on the channel (feature 3), one two-level tree on the gap: raw = base + rate * (leaf + leaf)
    stump = {"feature": [3, -2, -2], "threshold": [0.5, -2, -2], "left": [1, -1, -1], "right": [2, -1, -1],
             "value": [0, -1.0, 2.0]}
    tree = {"feature": [0, 0, -2, -2, -2], "threshold": [1.0, 2.0, -2, -2, -2], "left": [2, 3, -1, -1, -1],
            "right": [1, 4, -1, -1, -1], "value": [0, 0, 0.5, 1.0, 3.0]}
    model = {"base": -1.0, "rate": 0.5, "trees": [stump, tree], "threshold": 0.5}
    x = np.zeros((4, len(FEATURES)))
    x[:, 0] = [0.7, 1.5, 2.5, 0.2]
    x[:, 3] = [0.9, 0.1, 0.9, 0.9]
    raw = -1.0 + 0.5 * np.array([2.0 + 0.5, -1.0 + 1.0, 2.0 + 3.0, 0])
    want = 1 / (1 + np.exp(-raw))
    want[3] = 0.0  # under SHORTEST
    assert np.allclose(split_probability(x, model), want)


def test_the_shipped_model_is_complete():
    model = shipped_model()
    assert model["features"] == list(FEATURES) and 0 < model["threshold"] < 1 and len(model["trees"]) >= 10
    for tree in model["trees"]:
        n = len(tree["left"])
        assert all(len(tree[k]) == n for k in ("feature", "threshold", "right", "value"))
        assert all(-1 <= c < n for c in tree["left"] + tree["right"])


def test_degenerate_boxes_and_a_tall_box_change_nothing_they_should_not():
    from bigocr.words.layout import analyse_layout, chained_lines

    words = [np.array(_box(0, 0, 200, 20), float), np.array(_box(50, 10, 50, 10), float),
             np.array(_box(60, 10, 60, 10), float)]  # two points folded into the word's line as marks
    assert sum(len(line.words) for line in analyse_layout(words).lines) == 3
    rng = np.random.default_rng(1)
    page = [np.array(_box(x, y, x + w, y + 20), float) for y in range(0, 600, 30)
            for x, w in zip(np.cumsum(rng.uniform(50, 90, 8)), rng.uniform(30, 45, 8))]
    _, rects, lines, rows = chained_lines(np.array(page))
    tall = np.array(page + [np.array(_box(2000, 0, 2100, 900), float)])  # a rule or a stamp, far off
    _, rects2, lines2, rows2 = chained_lines(tall)
    from bigocr.words.segments import gap_features, page_gap

    page = page_gap(rects, lines)
    for line in lines:
        ordered = sorted(line, key=lambda i: rects[i, 0])
        if len(ordered) > 1:
            assert np.array_equal(gap_features(rects, ordered, rows, page), gap_features(rects2, ordered, rows2, page))


def test_a_broken_model_file_is_a_one_line_weights_error(tmp_path, monkeypatch):
    import pytest

    import bigocr.words.segments as segments
    from bigocr.errors import WeightsError

    bad = tmp_path / "segments.json"
    bad.write_text('{"features": ["gap"], "trees": []}')
    monkeypatch.setattr(segments, "MODEL_FILE", bad)
    monkeypatch.setattr(segments, "_MODEL", None)
    with pytest.raises(WeightsError, match="segments.json: its features"):
        segments.shipped_model()
    bad.write_text("{not json")
    with pytest.raises(WeightsError, match="cannot read the segment model"):
        segments.shipped_model()
