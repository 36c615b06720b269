"""The headline pass: a coarse second detection whose tall words replace the fine pass's pieces of them."""

import cv2
import numpy as np
import pytest

import bigocr
from bigocr.cli import main
from bigocr.document import Word
from bigocr.words.coarse import headlines, ink_height, merge_coarse
from bigocr.testing import FakeDetector
from bigocr.tiler.scan import open_scan


def word(x0, y0, x1, y1, score=0.9):
    return Word(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32), score)


def corners(words):
    return sorted(tuple(w.box[0].tolist()) + tuple(w.box[2].tolist()) for w in words)


def test_pieces_of_a_tall_word_give_way_to_it():
    pieces = [word(0, 0, 40, 60), word(50, 30, 90, 100), word(100, 0, 190, 50)]
    body = [word(0, 300, 60, 330), word(80, 300, 140, 330)]
    headline = word(0, 0, 200, 110)
    merged = merge_coarse(pieces + body, [headline])
    assert corners(merged) == corners(body + [headline])


def test_a_fine_word_run_across_several_headline_words_gives_way_to_them():
    """The fine pass found a title as one wide word; the headline pass found its words: no title twice."""
    title = [word(256, 172, 1555, 261)]
    body = [word(150, 400, 330, 430), word(1000, 300, 1500, 330)]  # the second touches the title's column only
    headline = [word(256, 155, 499, 276), word(519, 148, 977, 276), word(1004, 155, 1557, 276)]
    assert corners(merge_coarse(title + body, headline)) == corners(body + headline)


def test_a_fine_word_that_matches_is_kept_for_its_finer_box():
    fine = [word(2, 3, 198, 108)]
    assert merge_coarse(fine, [word(0, 0, 200, 112)]) == fine


def test_text_the_fine_pass_missed_is_added_and_words_beside_are_untouched():
    fine = [word(0, 0, 60, 30), word(100, 80, 160, 110)]  # the second lies mostly outside the coarse word
    coarse = [word(0, 100, 400, 220)]
    assert corners(merge_coarse(fine, coarse)) == corners(fine + coarse)


def test_no_fine_words():
    assert corners(merge_coarse([], [word(0, 0, 300, 120)])) == [(0, 0, 300, 120)]


def test_headlines_are_tall_words_of_tall_letters():
    page = np.full((400, 900, 3), 255, np.uint8)
    for i in range(5):  # big letters: 90 px strokes
        page[20:110, 20 + i * 70:60 + i * 70] = 0
    for row in range(4):  # four lines of 10 px print, close together
        for col in range(12):
            page[200 + row * 14:210 + row * 14, 20 + col * 30:40 + col * 30] = 0
    page[300:306, 600:700] = 0  # a frame's corner
    page[200:306, 600:606] = 0
    scan = open_scan(page)
    big, blob, short, rule = word(15, 15, 370, 115), word(15, 195, 380, 255), word(15, 20, 370, 90), \
        word(590, 200, 710, 310)
    assert ink_height(page[15:115, 15:370]) == 90
    assert ink_height(page[195:255, 15:380]) == 10
    assert headlines(scan, [big, blob, short, rule], min_height=96) == [big]
    assert headlines(scan, [big, blob], min_height=120) == []
    assert ink_height(np.full((20, 20, 3), 128, np.uint8)) == 0


class ShortSightedDetector(FakeDetector):
    """:class:`FakeDetector` that breaks ink blobs taller than 60 px into pieces, as CRAFT breaks big headlines."""

    model_info = {"name": "fake-short-sighted", "sha256": None}

    def __call__(self, tile):
        region, affinity = super().__call__(tile)
        dark = (tile.min(axis=2) < 128).astype(np.uint8)
        big = cv2.morphologyEx(dark, cv2.MORPH_OPEN, np.ones((61, 61), np.uint8))[::2, ::2].astype(bool)
        cuts = np.zeros(region.shape, bool)
        cuts[::12, :] = True
        cuts[:, ::12] = True
        region[big & cuts] = 0
        affinity[big] = 0
        return region, affinity


@pytest.fixture(scope="module")
def headline_page():
    page = np.full((900, 1400, 3), 255, np.uint8)
    for x in range(100, 1200, 110):  # a headline of ten letters 120 px high
        page[100:220, x:x + 94] = 0
    body = []
    for row in range(6):
        for col in range(8):
            y, x = 400 + row * 60, 100 + col * 150
            page[y:y + 20, x:x + 110] = 0
            body.append((x, y, x + 109, y + 19))
    return page, body


def test_the_headline_pass_makes_a_broken_headline_one_word(tmp_path, headline_page):
    page, body = headline_page
    det = ShortSightedDetector()
    plain = bigocr.detect(page, detector=det, scheduler="synchronous", coarse=0)
    result = bigocr.detect(page, detector=det, scheduler="synchronous", coarse=0.25, out=tmp_path / "out")

    def in_headline(words):
        return [w for w in words if w.box[:, 1].max() < 300]

    assert len(in_headline(plain.words)) > 20  # the fine pass alone leaves it in pieces
    (headline,) = in_headline(result.words)
    # a map pixel of the coarse pass is 8 scan pixels; the fake's blur and CRAFT's box rule grow a box by a few
    assert np.allclose(headline.box[0], (100, 100), atol=32) and np.allclose(headline.box[2], (1194, 220), atol=32)
    body_words = [w for w in result.words if w.box[:, 1].min() > 300]
    assert corners(body_words) == corners([w for w in plain.words if w.box[:, 1].min() > 300])
    assert len(body_words) == len(body)
    assert result.params["coarse"] == 0.25 and result.timings["coarse"] > 0
    assert not (tmp_path / "out" / "coarse.zarr").exists()  # made and dropped: OUT holds the outputs


def test_headline_pass_defaults(random_weights):
    page = np.full((256, 256), 255, np.uint8)
    assert bigocr.detect(page, detector=FakeDetector(), scheduler="synchronous").params["coarse"] == 0
    result = bigocr.detect(page, detector=random_weights, scheduler="synchronous", scale=1)
    assert result.params["coarse"] == 0.25


@pytest.mark.parametrize("value", [1, 1.5, -0.25, "half", True])
def test_bad_coarse_factors_are_named(value):
    with pytest.raises(bigocr.ParameterError, match="coarse must be a factor from 0"):
        bigocr.detect(np.zeros((64, 64), np.uint8), detector=FakeDetector(), coarse=value)


def test_cli_names_a_bad_coarse_factor(tmp_path, capsys):
    assert main(["run", str(tmp_path / "scan.png"), "--coarse", "2"]) == 1  # usage errors exit 1
    err = capsys.readouterr().err
    assert "--coarse" in err and "from 0 (no headline pass) to below 1" in err


def _merge_all_pairs(fine, tall):
    """merge_coarse as first written: every fine word against every headline in one table (the reference)."""
    from bigocr.words.coarse import INSIDE, SAME_IOU, word_bounds

    if not tall:
        return list(fine)

    def area(b):
        return np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)

    f, c = word_bounds(fine), word_bounds(tall)
    lo, hi = np.maximum(f[:, None, :2], c[None, :, :2]), np.minimum(f[:, None, 2:], c[None, :, 2:])
    overlap = np.clip(hi - lo, 0, None).prod(axis=2)
    fa, ca = area(f), area(c)
    inside = overlap >= INSIDE * np.maximum(fa, 1e-9)[:, None]
    replaced, taken = np.zeros(len(fine), bool), []
    for j in range(len(tall)):
        pieces = np.nonzero(inside[:, j])[0]
        if len(pieces) == 1 and overlap[pieces[0], j] / (fa[pieces[0]] + ca[j] - overlap[pieces[0], j]) >= SAME_IOU:
            continue
        replaced[pieces] = True
        taken.append(j)
    if taken:
        replaced |= overlap[:, taken].sum(axis=1) >= INSIDE * np.maximum(fa, 1e-9)
    return [w for w, gone in zip(fine, replaced) if not gone] + [tall[j] for j in taken]


def test_merge_coarse_is_the_all_pairs_rule_without_its_table():
    """The tree of headlines gives what the all-pairs table gave (which took fine x headlines memory: 6 GB
    for 200 000 words and 2 000 headlines), on random pages with degenerate boxes, pieces and titles."""
    rng = np.random.default_rng(7)

    def words(n, side, size):
        out = []
        for _ in range(n):
            x, y = rng.uniform(0, side, 2)
            w, h = rng.uniform(1, size, 2) * (rng.random() > 0.05)
            out.append(Word(np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32), 0.9))
        return out

    for _ in range(150):
        fine, tall = words(rng.integers(0, 250), 800, 60), words(rng.integers(0, 25), 800, 300)
        assert [id(w) for w in merge_coarse(fine, tall)] == [id(w) for w in _merge_all_pairs(fine, tall)]
