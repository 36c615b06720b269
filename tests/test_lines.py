"""Line geometry: baselines on the letters (descenders below), boundaries around the words, in every format,
read back by a parser that follows kraken's rules for ALTO and PAGE lines."""

import json

import numpy as np
import pytest
from lxml import etree
from PIL import Image, ImageDraw, ImageFont

import bigocr
from bigocr.dev.synth import find_fonts
from bigocr.words.lines import line_boundary

SCHEMAS = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "schemas"
ROWS = ["gypsy jumping quickly mixed", "Plain words stand here", "laying eggs pyjama query",
        "Another row of letters", "hyphen-ated jolly good puppy"]


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    """A page of printed lines, rotated by 3 degrees, with each line's true baseline (from the font)."""
    fonts = [f for f in find_fonts() if "DejaVuSerif.ttf" in f or "DejaVuSans.ttf" in f]
    if not fonts:
        pytest.skip("no DejaVu font")
    font = ImageFont.truetype(fonts[0], 40)
    ascent, _ = font.getmetrics()
    page = Image.new("L", (1400, 900), 255)
    draw = ImageDraw.Draw(page)
    truth = []
    for k, text in enumerate(ROWS):
        y = 80 + 150 * k
        draw.text((100, y), text, font=font, fill=0)
        truth.append(y + ascent)  # the baseline: ascent below the top of the text
    angle = 3.0
    turned = page.rotate(angle, resample=Image.BICUBIC, center=(700, 450), fillcolor=255)
    path = tmp_path_factory.mktemp("lines") / "lines.png"
    turned.convert("RGB").save(path)
    a = np.radians(angle)

    def baseline_at(k, x):  # the true baseline of row k at scan column x (PIL rotates counter-clockwise)
        # a point (u, v) of the level page lands at the rotation of it about the centre
        us = np.linspace(100, 1300, 400)
        xs = 700 + (us - 700) * np.cos(a) + (truth[k] - 450) * np.sin(a)
        ys = 450 - (us - 700) * np.sin(a) + (truth[k] - 450) * np.cos(a)
        return float(np.interp(x, xs, ys))

    out = path.parent / "out"
    result = bigocr.detect(path, out=out, formats="json,alto,page,hocr", text=True, recognizer="documents")
    return result, baseline_at, font.getbbox("x")[3] - font.getbbox("x")[1], out


def test_baselines_sit_on_the_letters_not_the_descenders(printed):
    result, baseline_at, xheight, _ = printed
    lines = result.layout.lines
    assert len(lines) == len(ROWS)
    for k, line in enumerate(sorted(lines, key=lambda ln: ln.box[:, 1].mean())):
        assert line.baseline is not None and len(line.baseline) >= 2
        for x, y in line.baseline:
            assert abs(y - baseline_at(k, x)) <= 0.15 * xheight, (k, x, y, baseline_at(k, x))


def test_boundaries_hold_their_words_and_never_cross_themselves(printed):
    from shapely.geometry import Polygon

    result, _, _, _ = printed
    for line in result.layout.lines:
        shape = Polygon(line.boundary)
        assert shape.is_valid
        for i in line.words:
            assert shape.buffer(1.0).contains(Polygon(result.words[i].box))


def test_a_boundary_made_invalid_by_rounding_falls_back_to_its_hull():
    # two overlapping slanted boxes whose rounded union would fold over itself
    quads = [np.array([[0, 0], [10.4, 0.2], [10.6, 10.3], [0.2, 10]]), np.array([[10.1, 9.6], [20, 10], [20, 20], [10, 20]])]
    from shapely.geometry import Polygon

    assert Polygon(line_boundary(quads, (30, 30))).is_valid


def _kraken_lines(path):
    """Lines as kraken's XML parser reads them (kraken.lib.xml's rules): ALTO TextLine@BASELINE as 'x,y x,y'
    or 'x y x y' points and Shape/Polygon@POINTS as the boundary, text the Strings' CONTENT joined by spaces;
    PAGE TextLine/Baseline@points and TextLine/Coords@points, text the line's TextEquiv (else the Words')."""
    doc = etree.parse(str(path))
    root = doc.getroot()
    lines = []
    if root.tag.endswith("alto"):
        ns = {"a": root.nsmap[None]}
        for tl in doc.iterfind(".//a:TextLine", ns):
            values = [float(v) for v in tl.get("BASELINE", "").replace(",", " ").split()]
            polygon = tl.find("a:Shape/a:Polygon", ns)
            boundary = [float(v) for v in polygon.get("POINTS").replace(",", " ").split()] if polygon is not None else []
            text = " ".join(s.get("CONTENT") for s in tl.iterfind("a:String", ns))
            lines.append((list(zip(values[::2], values[1::2])), list(zip(boundary[::2], boundary[1::2])), text))
    else:
        ns = {"p": root.nsmap[None]}
        for tl in doc.iterfind(".//p:TextLine", ns):
            def pts(el):
                return [tuple(map(float, p.split(","))) for p in el.get("points").split()] if el is not None else []
            text = tl.findtext("p:TextEquiv/p:Unicode", namespaces=ns)
            if text is None:
                text = " ".join(w.findtext("p:TextEquiv/p:Unicode", "", ns) for w in tl.iterfind("p:Word", ns))
            lines.append((pts(tl.find("p:Baseline", ns)), pts(tl.find("p:Coords", ns)), text))
    return lines


def test_alto_page_hocr_and_json_carry_the_lines(printed):
    result, _, _, out = printed
    for name, xsd in (("alto.xml", "alto-4-4.xsd"), ("page.xml", "pagecontent.xsd")):
        if (SCHEMAS / xsd).exists():
            schema = etree.XMLSchema(etree.parse(str(SCHEMAS / xsd)))
            assert schema.validate(etree.parse(str(out / name))), schema.error_log.last_error
        lines = _kraken_lines(out / name)
        assert len(lines) == len(ROWS)
        for baseline, boundary, text in lines:
            assert len(baseline) >= 2 and len(boundary) >= 3 and text.strip()
            xs = [x for x, _ in baseline]
            assert xs == sorted(xs)  # left to right
    hocr = (out / "hocr.html").read_text()
    assert hocr.count("; baseline ") == len(ROWS)
    doc = json.loads((out / "words.json").read_text())
    lines = [line for block in doc["blocks"] for line in block["lines"]]
    assert all(len(line["baseline"]) >= 2 and len(line["boundary"]) >= 3 for line in lines)
    again = bigocr.Result.from_dict(doc)
    assert np.allclose(again.layout.lines[0].baseline, result.layout.lines[0].baseline, atol=0.01)


KRAKEN_READ = """
import json, sys
from kraken.lib.xml import XMLPage
lines = XMLPage(sys.argv[1]).get_sorted_lines()
print(json.dumps([{"baseline": [list(p) for p in l.baseline], "boundary": len(l.boundary), "text": l.text}
                  for l in lines]))
"""


def _kraken_python():
    """kraken lives in a venv of its own (`.venv-kraken`, made by .ci/run, or $BIGOCR_KRAKEN_PYTHON): it pins
    older scipy, shapely and click than bigocr's, which must not change the environment the tests run in."""
    import os
    from pathlib import Path

    found = os.environ.get("BIGOCR_KRAKEN_PYTHON") or str(Path(__file__).resolve().parents[1] / ".venv-kraken"
                                                          / "bin" / "python")
    if not Path(found).exists():
        pytest.skip("kraken's venv is not here (.ci/run makes .venv-kraken)")
    return found


def test_krakens_own_reader_reads_the_lines(printed):
    """kraken.lib.xml (kraken 7 from PyPI, its own parser) reads bigocr's PAGE and ALTO into lines with
    baselines, boundaries and the text of their words."""
    import subprocess

    python = _kraken_python()
    result, _, _, out = printed
    texts = sorted(" ".join(result.words[i].text for i in line.words) for line in result.layout.lines)
    for name in ("page.xml", "alto.xml"):
        run = subprocess.run([python, "-c", KRAKEN_READ, str(out / name)], capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        lines = json.loads(run.stdout)
        assert len(lines) == len(ROWS), name
        for line in lines:
            assert len(line["baseline"]) >= 2 and line["boundary"] >= 3, name
        assert sorted(line["text"] for line in lines) == texts, name


def test_words_of_no_area_still_get_a_boundary():
    from shapely.geometry import Polygon

    point = np.array([[60, 300], [60, 300], [60, 300], [60, 300]], np.float64)  # an ALTO String with no size
    flat = np.array([[10, 5], [40, 5], [40, 5], [10, 5]], np.float64)
    for quads in ([point], [flat], [point, flat]):
        outline = line_boundary(quads, (400, 400))
        assert len(outline) >= 3 and Polygon(outline).is_valid
