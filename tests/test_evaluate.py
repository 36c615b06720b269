"""Detection metrics: one-to-one IoU matching, ICDAR ignore handling, line grouping, the split."""

import json

import numpy as np
import pytest

from bigocr.dev.evaluate import Counts, evaluate_source, group_lines, match, split_of


def box(x0, y0, x1, y1):
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def test_one_to_one_matching_at_iou_half():
    truth = [box(0, 0, 10, 10), box(20, 0, 30, 10)]
    dets = [box(0, 0, 10, 10), box(1, 0, 11, 10), box(20, 0, 26, 10), box(50, 50, 60, 60)]
    c = match(dets, truth)
    # Two detections on the first word: one matches, the other is a false positive.
    # box(20,0,26,10) has IoU 0.6 with the second word: a match.
    assert (c.matched, c.detections, c.truth) == (2, 4, 2)
    assert c.precision == 0.5 and c.recall == 1.0 and c.hmean == pytest.approx(2 / 3)
    assert match([box(0, 0, 10, 4)], [box(0, 0, 10, 10)]).matched == 0  # IoU 0.4


def test_ignored_truth_is_neither_hit_nor_miss():
    truth = [box(0, 0, 10, 10), box(100, 0, 140, 10)]
    ignore = [False, True]
    dets = [box(0, 0, 10, 10), box(105, 0, 120, 10), box(130, 0, 160, 10)]
    c = match(dets, truth, ignore)
    # The 2nd detection lies inside the ignored box: dropped. The 3rd is only 1/3 inside: a false positive.
    assert (c.matched, c.detections, c.truth) == (1, 2, 1)


def test_group_lines():
    words = [box(0, 0, 30, 10), box(35, 1, 60, 11), box(200, 0, 230, 10), box(0, 30, 40, 40)]
    lines = group_lines(words)
    spans = sorted((l[0, 0], l[0, 1], l[2, 0], l[2, 1]) for l in lines)
    assert spans == [(0, 0, 60, 11), (0, 30, 40, 40), (200, 0, 230, 10)]


def test_split_is_fixed_and_roughly_a_third():
    stems = [f"{i:08d}" for i in range(900)]
    train = [s for s in stems if split_of(s) == "train"]
    assert 250 < len(train) < 350
    assert split_of("0000971160") == split_of("0000971160")


def test_evaluate_source_on_a_made_up_folder(tmp_path):
    for stem, split_wanted in (("a", None), ("b", None), ("c", None)):
        (tmp_path / f"{stem}.gt.json").write_text(json.dumps({
            "image": f"{stem}.png", "width": 100, "height": 100, "source": "t", "granularity": "word",
            "words": [{"box": box(0, 0, 10, 10).tolist(), "text": "x"}, {"box": box(20, 0, 30, 10).tolist(), "text": "y"}],
        }))
    perfect = lambda path, doc: [box(0, 0, 10, 10), box(20, 0, 30, 10)]  # noqa: E731
    counts, _, images, pixels = evaluate_source(tmp_path, perfect, split="all")
    assert images == 3 and counts.hmean == 1.0
    half = lambda path, doc: [box(0, 0, 10, 10)]  # noqa: E731
    counts, _, _, _ = evaluate_source(tmp_path, half, split="all")
    assert counts.recall == 0.5 and counts.precision == 1.0
    assert isinstance(counts, Counts)


def test_end_to_end_matching_needs_the_same_text(tmp_path):
    from bigocr.dev.evaluate import group_lines_text

    truth = [box(0, 0, 10, 10), box(20, 0, 30, 10)]
    found = [box(0, 0, 10, 10), box(20, 0, 30, 10)]
    said, true_text = ["Ledger", "1847"], ["ledger", "1847"]
    assert match(found, truth).matched == 2
    assert match(found, truth, same=lambda j, i: said[j] == true_text[i]).matched == 1
    assert match(found, truth, same=lambda j, i: said[j].casefold() == true_text[i].casefold()).matched == 2
    lines, texts = group_lines_text([box(0, 0, 40, 10), box(50, 0, 90, 10), box(0, 40, 40, 50)], ["a", "b", "c"])
    assert texts == ["a b", "c"] and len(lines) == 2
    (tmp_path / "p.gt.json").write_text(json.dumps({
        "image": "p.png", "width": 100, "height": 100, "source": "t", "granularity": "word",
        "words": [{"box": truth[0].tolist(), "text": "ledger"}, {"box": truth[1].tolist(), "text": "1847"}]}))
    text: dict = {}
    counts, _, _, _ = evaluate_source(tmp_path, lambda path, doc: list(zip(found, said)), split="all", text=text)
    assert counts.matched == 2 and text["exact"].matched == 1 and text["folded"].matched == 2
