"""The segment model's trainer: gap labels from line truth, the logistic fit, and the model it gives."""

import numpy as np

from bigocr.dev.train.segments import _owners, fit
from bigocr.words.segments import FEATURES, MODEL, split_probability


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
    y = (x[:, 0] + 0.5 * x[:, 3] > 0.8).astype(float)  # breaks: wide gaps in a channel
    model = fit({"a": (x[:2000], y[:2000]), "b": (x[2000:], y[2000:])})
    right = (split_probability(x, {**model, "threshold": 0.5}) > 0.5) == (y > 0)
    assert right.mean() > 0.95
    assert model["coef"][0] > 0 and model["coef"][3] > 0 and abs(model["coef"][1]) < model["coef"][0]


def test_the_shipped_model_is_complete():
    assert len(MODEL["coef"]) == len(MODEL["mean"]) == len(MODEL["scale"]) == len(FEATURES)
    assert 0 < MODEL["threshold"] < 1 and all(s > 0 for s in MODEL["scale"])


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
    from bigocr.words.segments import gap_features

    for line in lines:
        ordered = sorted(line, key=lambda i: rects[i, 0])
        if len(ordered) > 1:
            assert np.array_equal(gap_features(rects, ordered, rows), gap_features(rects2, ordered, rows2))
