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


def test_split_is_fixed_and_three_ways():
    stems = [f"{i:08d}" for i in range(900)]
    splits = [split_of(s) for s in stems]
    assert 250 < splits.count("train") < 350 and 250 < splits.count("test") < 350
    assert split_of("0000971160") == split_of("0000971160")
    assert split_of("durrgeda_735780412_00000051", "vdsbb") == "test"  # by work, whatever the page
    assert split_of("durrgeda_735780412_00000099", "vdsbb") == "test"
    assert split_of("durrgeda_735780412_00000099", "vdsbb", development=False) == "held"
    assert split_of("albedm_837425875_00000031", "vdsbb") == "eval"
    receipt = {"words": [{"box": box(0, 0, 50, 10).tolist(), "text": "sanyu  stationery shop"}]}
    assert split_of("475", "sroie", receipt) == "test"
    assert split_of("475", "sroie", receipt, development=False) == "held"
    assert split_of("475", "sroie", {"words": []}) == "eval"


def test_the_real_split_keeps_test_works_and_shops_out_of_training():
    """On the shared scans: the test pages, and no training-pool page of a test work or shop trains."""
    from pathlib import Path

    from bigocr.dev.evaluate import truth_pages
    from bigocr.dev.split import TEST_WORKS, shop_of, work_of

    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not (shared / "real" / "vdsbb").is_dir() or not (shared / "train" / "vdsbb").is_dir():
        pytest.skip("no shared/data here")
    n = {(src, sp): len(list(truth_pages(shared / "real" / src, sp)))
         for src in ("funsd", "sroie", "vdsbb") for sp in ("train", "eval", "test")}
    assert n[("vdsbb", "test")] == 6 and n[("vdsbb", "eval")] == 8 and n[("vdsbb", "train")] == 0
    assert n[("sroie", "test")] == 3 and n[("sroie", "eval")] == 3 and n[("sroie", "train")] == 7
    assert n[("funsd", "test")] > 40 and n[("funsd", "eval")] > 40
    test_works = {work_of(stem) for stem, _, _ in truth_pages(shared / "real" / "vdsbb", "test")}
    assert test_works == TEST_WORKS
    trained = {work_of(stem) for stem, _, _ in truth_pages(shared / "train" / "vdsbb", "train")}
    assert not trained & TEST_WORKS and len(list(truth_pages(shared / "train" / "vdsbb", "held"))) == 12
    shops = {shop_of(doc) for _, _, doc in truth_pages(shared / "real" / "sroie", "test")}
    assert None not in shops and len(shops) == 3
    assert not any(shop_of(doc) for _, _, doc in truth_pages(shared / "train" / "sroie", "train"))


def test_bootstrap_interval_over_pages():
    from bigocr.dev.evaluate import bootstrap_hmean

    same = [(8, 10, 10)] * 12
    assert bootstrap_hmean(same) == pytest.approx((0.8, 0.8))
    mixed = [(10, 10, 10), (0, 10, 10), (5, 10, 10), (9, 10, 10)] * 3
    lo, hi = bootstrap_hmean(mixed)
    h = sum(m for m, _, _ in mixed) / sum(t for _, _, t in mixed)
    assert lo < h < hi and hi - lo > 0.1
    assert bootstrap_hmean(mixed) == (lo, hi)  # seeded


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


def test_ppocr_peer_reads_a_real_form_and_is_measured_on_its_own_lines(tmp_path):
    """The evaluation peer runs for real (the RapidOCR wheel's PP-OCRv6 models): its words on a FUNSD form match
    the truth's, and where the truth is line-level its own lines are matched, not its words regrouped."""
    from pathlib import Path

    pytest.importorskip("rapidocr")
    from bigocr.dev.evaluate import truth_pages
    from bigocr.dev.ppocr import PPOCR

    real = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "funsd"
    if not real.is_dir():
        pytest.skip("no shared/data/real here")
    stem, image, doc = next(truth_pages(real, "eval", 1))
    peer = PPOCR(threads=1)
    words, lines = peer.words(image), peer.lines(image)
    assert len(lines) < len(words) and all(text for _, text in words)
    truth = [np.asarray(w["box"], np.float64) for w in doc["words"]]
    c = match([b for b, _ in words], truth, [bool(w.get("ignore")) for w in doc["words"]])
    assert c.hmean > 0.4  # a working detector, not noise (it finds 0.6-0.8 of FUNSD's words)
    said = {t.casefold() for _, t in words}
    assert len(said & {str(w.get("text", "")).casefold() for w in doc["words"]}) > 10  # and reads them
    # the same page as line-level truth: the peer's own lines are what gets matched
    (tmp_path / image.name).symlink_to(image)
    (tmp_path / f"{stem}.gt.json").write_text(json.dumps({**doc, "granularity": "line",
                                                          "words": [{"box": b.tolist()} for b, _ in lines]}))
    counts, _, _, _ = evaluate_source(tmp_path, lambda p, d: [b for b, _ in peer.words(p)], split="all",
                                      detect_lines=lambda p, d: [b for b, _ in peer.lines(p)])
    assert counts.hmean == 1.0
