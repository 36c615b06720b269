"""The CRNN recognizer: layout parity with english_g2, decoding, real reading, text in the pipeline and outputs."""

import json

import cv2
import numpy as np
import pytest
import torch
from lxml import etree
from PIL import Image, ImageDraw, ImageFont

import bigocr
from bigocr.cli import main
from bigocr.models.registry import resolve_named
from bigocr.models.weights import read_weights
from bigocr.recognizer import CRNN, ENGLISH_G2_CHARSET, CrnnRecognizer
from bigocr.recognizer.groups import group_words
from bigocr.recognizer.read import ctc_greedy, grown, quad_size, word_crop
from bigocr.testing import FakeDetector

ENGLISH_G2_SHA256 = "e2272681d9d67a04e2dff396b6e95077bc19001f8f6d3593c307b9852e1c29e8"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
WORDS = ["Archive", "ledger", "1847", "Council", "minutes", "harbour", "RAILWAY", "page", "(continued)", "Ltd.",
         "survey", "parish", "index", "notice", "42,10"]


def _reference_crnn_keys():
    """EasyOCR's generation-2 model (``vgg_model.Model``), written out from its architecture."""
    keys = []
    for i, cin, cout in ((0, 1, 32), (3, 32, 64), (6, 64, 128), (8, 128, 128)):
        keys += [(f"FeatureExtraction.ConvNet.{i}.weight", (cout, cin, 3, 3)), (f"FeatureExtraction.ConvNet.{i}.bias", (cout,))]
    for conv, bn, cin in ((11, 12, 128), (14, 15, 256)):
        keys += [(f"FeatureExtraction.ConvNet.{conv}.weight", (256, cin, 3, 3))]
        keys += [(f"FeatureExtraction.ConvNet.{bn}.{n}", (256,)) for n in ("weight", "bias", "running_mean", "running_var")]
        keys += [(f"FeatureExtraction.ConvNet.{bn}.num_batches_tracked", ())]
    keys += [("FeatureExtraction.ConvNet.18.weight", (256, 256, 2, 2)), ("FeatureExtraction.ConvNet.18.bias", (256,))]
    for n in (0, 1):
        for suffix in ("", "_reverse"):
            keys += [(f"SequenceModeling.{n}.rnn.weight_ih_l0{suffix}", (1024, 256)),
                     (f"SequenceModeling.{n}.rnn.weight_hh_l0{suffix}", (1024, 256)),
                     (f"SequenceModeling.{n}.rnn.bias_ih_l0{suffix}", (1024,)),
                     (f"SequenceModeling.{n}.rnn.bias_hh_l0{suffix}", (1024,))]
        keys += [(f"SequenceModeling.{n}.linear.weight", (256, 512)), (f"SequenceModeling.{n}.linear.bias", (256,))]
    keys += [("Prediction.weight", (97, 256)), ("Prediction.bias", (97,))]
    return keys


def test_crnn_state_dict_equals_english_g2s_layout():
    assert [(k, tuple(v.shape)) for k, v in CRNN().state_dict().items()] == _reference_crnn_keys()
    assert len(ENGLISH_G2_CHARSET) == 96 and ENGLISH_G2_CHARSET[:10] == "0123456789" and "€" in ENGLISH_G2_CHARSET


def test_english_g2_loads_key_for_key_with_its_checksum():
    weights, state = read_weights(resolve_named("english-g2"), "crnn")
    assert weights.sha256 == ENGLISH_G2_SHA256 and weights.charset == ENGLISH_G2_CHARSET
    CRNN().load_state_dict(state, strict=True)


def test_ctc_greedy_merges_repeats_drops_blanks_and_scores():
    charset = "ab"
    probs = np.zeros((1, 7, 3), np.float32)
    for t, c in enumerate([1, 1, 0, 1, 2, 2, 0]):  # a a - a b b -  ->  "aab"
        probs[0, t, c] = 0.9
        probs[0, t, (c + 1) % 3] = 0.1
    (text, confidence), = ctc_greedy(probs, charset)
    assert text == "aab" and confidence == pytest.approx(0.9 ** (5 * 2 / 5 ** 0.5))  # 5 non-blank columns
    assert ctc_greedy(np.eye(3, dtype=np.float32)[[0, 0]][None], charset) == [("", 0.0)]


def test_crops_are_rectified_from_rotated_boxes():
    page = np.full((300, 400, 3), 255, np.uint8)
    cv2.rectangle(page, (100, 120), (300, 160), (0, 0, 0), -1)
    box = np.array([[100, 120], [300, 120], [300, 160], [100, 160]], np.float64)
    crop = word_crop(page, box, margin=0.0)
    assert crop.shape == (40, 200) and crop[5:35, 5:195].max() < 40
    angle = np.deg2rad(30)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = box.mean(0)
    turned = (box - centre) @ rot.T + centre
    matrix = cv2.getRotationMatrix2D(tuple(centre), -30, 1.0)
    rotated_page = cv2.warpAffine(page, matrix, (400, 300), borderValue=(255, 255, 255))
    upright = word_crop(rotated_page, turned, margin=0.0)
    assert upright.shape == (40, 200) and upright[8:32, 8:192].mean() < 40
    assert np.allclose(quad_size(grown(box, 0.1)), (208, 48))


def _rendered_words(height=40, words=WORDS):
    font = ImageFont.truetype(FONT, height)
    crops = []
    for word in words:
        left, top, right, bottom = font.getbbox(word)
        image = Image.new("L", (right + 16, bottom + 12), 255)
        ImageDraw.Draw(image).text((8, 6), word, font=font, fill=0)
        crops.append(np.asarray(image))
    return crops


@pytest.fixture(scope="module")
def recognizer():
    return CrnnRecognizer.from_files(resolve_named("english-g2"))


def test_the_published_recognizer_reads_printed_words(recognizer):
    readings = recognizer(_rendered_words() + [None])
    texts = [t for t, _ in readings]
    assert sum(t == w for t, w in zip(texts, WORDS)) >= len(WORDS) - 2, texts
    assert readings[-1] == ("", 0.0) and all(0 <= c <= 1 for _, c in readings)


def _page_of_words():
    page = Image.new("RGB", (1200, 500), "white")
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(FONT, 36)
    boxes = []
    for k, word in enumerate(WORDS):
        x, y = 40 + (k % 4) * 290, 40 + (k // 4) * 110
        left, top, right, bottom = draw.textbbox((x, y), word, font=font)
        draw.text((x, y), word, font=font, fill="black")
        boxes.append((left - 4, top - 4, right + 4, bottom + 4))
    return np.asarray(page), boxes


def test_run_reads_the_words_and_every_output_carries_the_text(tmp_path):
    page, _ = _page_of_words()
    path = tmp_path / "words.png"
    cv2.imwrite(str(path), page[..., ::-1])
    assert main(["run", str(path), "-o", str(tmp_path / "o"), "--format", "json,alto,page,hocr,geojson,txt",
                 "--max-side", "640", "-q"]) == 0
    doc = json.loads((tmp_path / "o" / "words.json").read_text())
    texts = [w["text"] for w in doc["words"]]
    assert sum(word in texts for word in WORDS) >= len(WORDS) - 3, texts
    assert all(0 <= w["confidence"] <= 1 for w in doc["words"])
    from bigocr.models.registry import BUNDLED

    reader = doc["model"]["recognizer"]  # the default: auto, bigocr's fast model, then documents or historical
    assert [c["sha256"] for c in reader["candidates"]] == [BUNDLED[n][1] for n in ("fast", "documents", "historical")]
    assert reader["reread_below"] == 0.8
    assert "Archive" in (tmp_path / "o" / "text.txt").read_text()
    alto = etree.parse(str(tmp_path / "o" / "alto.xml"))
    assert "Archive" in alto.xpath("//*[local-name()='String']/@CONTENT")
    assert BUNDLED["documents"][1] in "".join(alto.xpath("//*[local-name()='processingStepSettings']/text()"))
    page_xml = etree.parse(str(tmp_path / "o" / "page.xml"))
    unicode = page_xml.xpath("//*[local-name()='Word']/*[local-name()='TextEquiv']/*[local-name()='Unicode']/text()")
    assert "Archive" in unicode
    assert page_xml.xpath("//*[local-name()='TextLine']/*[local-name()='TextEquiv']")
    assert "Archive" in (tmp_path / "o" / "hocr.html").read_text()
    assert not (tmp_path / "o" / "text-parts").exists()
    assert main(["run", str(path), "-o", str(tmp_path / "boxes"), "--no-text", "-q", "--max-side", "640"]) == 0
    assert all(w["text"] == "" and "confidence" not in w
               for w in json.loads((tmp_path / "boxes" / "words.json").read_text())["words"])


class CountingReader:
    """Reads every crop as its width; fails once it has read ``fail_after`` groups (an interrupted run)."""

    model_info = {"name": "counting", "sha256": None}

    def __init__(self, fail_after=None):
        self.calls = 0
        self.fail_after = fail_after

    def __call__(self, crops):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt
        self.calls += 1
        return [(str(c.shape[1]), 1.0) for c in crops]


def test_reading_resumes_from_the_groups_already_read(tmp_path, monkeypatch):
    from bigocr.recognizer import groups
    from bigocr.recognizer.linetext import line_quad

    monkeypatch.setattr(groups, "GROUP_WORDS", 3)
    monkeypatch.setattr(groups.group_words, "__defaults__", (3, groups.GROUP_ROWS, groups.GROUP_PIXELS))
    page, _ = _page_of_words()
    kwargs = dict(detector=FakeDetector(), scheduler="synchronous", text=True, out=tmp_path / "o", max_side=640)
    clean = bigocr.detect(page, recognizer=CountingReader(), **{**kwargs, "out": tmp_path / "clean"})
    first = CountingReader(fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        bigocr.detect(page, recognizer=first, **kwargs)
    assert len(list((tmp_path / "o" / "text-parts").iterdir())) == 2
    again = CountingReader()
    resumed = bigocr.detect(page, recognizer=again, **kwargs)
    line_groups = group_words([line_quad(line.box) for line in clean.layout.lines], page.shape[:2], 3)
    assert again.calls == len(group_words([w.box for w in clean.words], page.shape[:2], 3)) - 2 + len(line_groups)
    assert [w.text for w in resumed.words] == [w.text for w in clean.words]
    assert [line.text for line in resumed.layout.lines] == [line.text for line in clean.layout.lines]
    done = CountingReader()  # every word and line read: nothing is read again
    bigocr.detect(page, recognizer=done, **kwargs)
    assert done.calls == 0


def test_groups_cover_every_word_once_and_hold_their_crops():
    rng = np.random.default_rng(0)
    quads = []
    for _ in range(700):
        x, y = rng.uniform(0, 3000), rng.uniform(0, 9000)
        quads.append(np.array([[x, y], [x + 80, y], [x + 80, y + 20], [x, y + 20]], np.float32))
    found = group_words(quads, (9100, 3100), max_words=100, max_rows=1000)
    assert sorted(i for g in found for i in g.indices) == list(range(700))
    for g in found:
        assert len(g.indices) <= 100
        y0, y1, x0, x1 = g.window
        assert all(x0 <= q[:, 0].min() and q[:, 0].max() <= x1 and y0 <= q[:, 1].min() and q[:, 1].max() <= y1
                   for q in g.quads)


def test_a_wide_scans_groups_read_windows_no_larger_than_a_pages():
    """Words sorted by their tops span a wide scan's width: the window's pixels cut a group, not only its rows."""
    from bigocr.recognizer.groups import GROUP_PIXELS

    rng = np.random.default_rng(1)

    def lines_of_words(width, height):
        quads = []
        for y in range(40, height - 60, 50):  # rows of words across the whole width
            for x in range(20, width - 200, 1500):  # a line every 1 500 px, as on a scan of pages
                x0, y0 = x + rng.uniform(0, 60), y + rng.uniform(-5, 5)
                quads.append(np.array([[x0, y0], [x0 + 120, y0], [x0 + 120, y0 + 30], [x0, y0 + 30]], np.float32))
        return quads

    wide = lines_of_words(60000, 4000)
    groups = group_words(wide, (4000, 60000))
    assert sorted(i for g in groups for i in g.indices) == list(range(len(wide)))
    windows = [(g.window[1] - g.window[0]) * (g.window[3] - g.window[2]) for g in groups]
    assert max(windows) <= GROUP_PIXELS
    uncut = group_words(wide, (4000, 60000), max_pixels=10**12)
    assert max((g.window[1] - g.window[0]) * (g.window[3] - g.window[2]) for g in uncut) > 1.5 * GROUP_PIXELS
    # a page of 10 240 px or less keeps the groups it had without the cap
    page = lines_of_words(10240, 6000)
    assert ([g.indices for g in group_words(page, (6000, 10240))]
            == [g.indices for g in group_words(page, (6000, 10240), max_pixels=10**12)])


def test_recognize_reads_the_words_of_a_page_file(tmp_path):
    """bigocr recognize: the boxes of a PAGE file (here one bigocr wrote with --no-text) are read."""
    from bigocr.document import Word
    from bigocr.document import Result
    from bigocr.words.layout import analyse_layout
    from bigocr.writers import write_outputs

    page, boxes = _page_of_words()
    path = tmp_path / "words.png"
    cv2.imwrite(str(path), page[..., ::-1])
    words = [Word(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32), 1.0) for x0, y0, x1, y1 in boxes]
    result = Result(scan={"path": str(path), "width": page.shape[1], "height": page.shape[0]}, model={}, params={},
                    tiles={}, words=words, layout=analyse_layout([w.box for w in words]))
    (tmp_path / "boxes").mkdir()
    write_outputs(result, tmp_path / "boxes", ("page", "alto"))
    for layout in ("page.xml", "alto.xml"):
        out = tmp_path / f"read-{layout}"
        assert main(["recognize", str(path), "--boxes", str(tmp_path / "boxes" / layout), "-o", str(out),
                     "--format", "json,txt", "-q"]) == 0
        doc = json.loads((out / "words.json").read_text())
        assert len(doc["words"]) == len(result.words)
        folded = {w.casefold() for w in WORDS}
        assert sum(w["text"].casefold() in folded for w in doc["words"]) >= len(WORDS) - 3, \
            [w["text"] for w in doc["words"]]
    assert main(["recognize", str(path), "--boxes", str(tmp_path / "boxes" / "page.xml"), "-o",
                 str(tmp_path / "read-page.xml")]) == 5  # words.json there: not replaced unasked
    assert main(["recognize", str(path), "--boxes", str(path)]) == 1  # a PNG is not a layout


def test_the_bundled_historical_recognizer_is_checked_and_reads_long_s():
    """bigocr's own recognizer ships in the package, sha256-checked; its charset has the historical letters."""
    from bigocr.models.registry import BUNDLED

    path = resolve_named("historical")
    weights, _ = read_weights(path, "crnn")
    assert weights.sha256 == BUNDLED["historical"][1]
    assert all(ch in weights.charset for ch in "ſäöüß") and weights.charset.startswith(ENGLISH_G2_CHARSET)
    reader = CrnnRecognizer.from_files(path)
    texts = [t for t, _ in reader(_rendered_words())]
    assert sum(t == w for t, w in zip(texts, WORDS)) >= len(WORDS) // 2, texts  # still reads modern print


def test_the_bundled_fast_reader_is_slim_checked_and_reads_modern_and_historical_print():
    """--recognizer fast: one width-0.5 CRNN with the historical letters, reading rendered modern words
    and real Fraktur words (eval crops of VD-SBB, exactly as written) well."""
    from pathlib import Path

    from bigocr.models.registry import BUNDLED
    from bigocr.dev.evaluate import truth_crops

    weights, _ = read_weights(resolve_named("fast"), "crnn")
    assert weights.sha256 == BUNDLED["fast"][1] and weights.width == 0.5
    assert all(ch in weights.charset for ch in "ſäöüß☐")
    reader = CrnnRecognizer.from_files(resolve_named("fast"))
    texts = [t for t, _ in reader(_rendered_words())]
    assert sum(t == w for t, w in zip(texts, WORDS)) >= len(WORDS) // 2, texts
    real = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "vdsbb"
    if not real.is_dir():
        pytest.skip("no shared/data/real here")
    _, pairs = next(truth_crops(real, "eval", 1))
    said = [t for t, _ in reader([c for c, _ in pairs[:80]])]
    assert sum(s == t for s, (_, t) in zip(said, pairs)) >= 0.8 * len(said), list(zip(said, [t for _, t in pairs]))


def test_ctc_readings_have_no_spaces_at_the_ends():
    charset = "a "
    probs = np.zeros((1, 6, 3), np.float32)
    for t, c in enumerate([2, 1, 0, 2, 2, 0]):  # " a  " -> "a"
        probs[0, t, c] = 1.0
    assert ctc_greedy(probs, charset)[0][0] == "a"


def test_auto_picks_the_historical_model_for_fraktur_and_the_english_one_for_forms():
    """ChooseRecognizer: the candidate most confident on a sample of the words reads them (real pages)."""
    from pathlib import Path

    from bigocr.dev.evaluate import truth_crops
    from bigocr.recognizer.recognize import ChooseRecognizer

    real = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
    if not real.is_dir():
        pytest.skip("no shared/data/real here")
    # auto's candidates (english_g2 and historical were within 0.01 of mean confidence on this form's sample)
    chooser = ChooseRecognizer(tuple(CrnnRecognizer.from_files(resolve_named(n)) for n in ("documents", "historical")))
    for source, expected in (("funsd", 0), ("vdsbb", 1)):
        _, pairs = next(truth_crops(real / source, "eval", 1))
        crops = [c for c, _ in pairs[:60]]
        assert chooser.choose(crops) == expected, source
        chosen = chooser.candidates[expected](crops)
        # the sample's words keep the chosen model's readings of them in the sample's batches, whose padding
        # differs: a few words read differently
        assert sum(a[0] == b[0] for a, b in zip(chooser(crops), chosen)) >= 0.85 * len(crops), source
    assert "ſ" in chooser.charset and chooser.model_info["name"] == "auto (bigocr-documents, bigocr-historical)"


class _Candidate:
    """A recognizer that reads every word as ``text`` with ``confidence`` and counts the words it read."""

    def __init__(self, text: str, confidence: float):
        self.text, self.confidence, self.read = text, confidence, []

    def __call__(self, crops):
        self.read.append(len(crops))
        return [(self.text, self.confidence) if c is not None else ("", 0.0) for c in crops]


def test_the_chooser_reads_each_word_once_with_the_chosen_model():
    """ChooseRecognizer: every candidate reads the same sample; the most confident keeps its sample readings
    and reads only the rest; a call of up to twice the sample is read whole by every candidate."""
    from bigocr.recognizer.recognize import SAMPLE, ChooseRecognizer

    unsure, sure = _Candidate("b", 0.4), _Candidate("a", 0.9)
    chooser = ChooseRecognizer((unsure, sure))
    words = [np.full((20, 20 + 3 * k), 255, np.uint8) for k in range(100)] + [None]
    assert chooser(words) == [("a", 0.9)] * 100 + [("", 0.0)]
    # the sample in small batches of like width; then the rest, once
    assert sum(unsure.read) == SAMPLE and sum(sure.read) == 101 and sure.read[:-1] == unsure.read
    unsure.read.clear(), sure.read.clear()
    assert chooser(words[:2 * SAMPLE]) == [("a", 0.9)] * (2 * SAMPLE)
    assert unsure.read == sure.read == [2 * SAMPLE]  # no second reading


def test_auto_rereads_only_the_words_the_fast_model_is_unsure_of():
    """CascadeRecognizer: the first model's sure readings stay, its unsure ones are replaced by the second's."""
    from bigocr.recognizer.recognize import CascadeRecognizer

    seen = []

    def first(crops):
        return [("sure", 0.95), ("unsure", 0.3), ("", 0.0), ("edge", 0.8)][:len(crops)]

    def then(crops):
        seen.append(len(crops))
        return [("again", 0.6)] * len(crops)

    word = np.full((20, 40), 255, np.uint8)
    cascade = CascadeRecognizer(first, then, below=0.8)
    assert cascade([word, word, None, word]) == [("sure", 0.95), ("again", 0.6), ("", 0.0), ("edge", 0.8)]
    assert seen == [1]  # only the unsure word was read again; the crop that could not be cut out was not
    seen.clear()
    assert cascade([word]) == [("sure", 0.95)] and seen == []  # nothing unsure: the second model never runs


def test_wide_batches_are_read_a_few_crops_at_a_time_with_the_same_readings(monkeypatch):
    """COLUMNS bounds a network call's width x crops; each crop keeps its batch's padding: the same readings
    (in float32; bfloat16's rounding differs between batch sizes, as it does between batches now)."""
    from bigocr.recognizer import recognize

    recognizer = CrnnRecognizer.from_files(resolve_named("english-g2"), precision="fp32")
    crops = _rendered_words() + _rendered_words(words=[" ".join(WORDS[k:k + n]) for k, n in ((0, 5), (3, 7), (6, 9))])
    calls = []
    net_call = torch.nn.Module.__call__

    def counting(self, *args, **kwargs):
        if isinstance(self, CRNN):
            calls.append(tuple(args[0].shape))
        return net_call(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "__call__", counting)
    monkeypatch.setattr(recognize, "COLUMNS", 10**9)
    whole = recognizer(crops)
    assert len(calls) == 1  # 18 crops: one batch
    calls.clear()
    monkeypatch.setattr(recognize, "COLUMNS", 2000)
    cut = recognizer(crops)
    assert len(calls) > 3 and all(n * w <= 2000 or n == 1 for n, _, _, w in calls)
    assert [t for t, _ in cut] == [t for t, _ in whole]
    np.testing.assert_allclose([c for _, c in cut], [c for _, c in whole], atol=1e-4)
