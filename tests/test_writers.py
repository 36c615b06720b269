"""ALTO, PAGE, hOCR and GeoJSON: valid against the official schemas, complete, and faithful."""

import json
from pathlib import Path

import numpy as np
import pytest
from lxml import etree
from shapely.geometry import Polygon

import bigocr
from bigocr.cli import main
from bigocr.errors import ParameterError
from bigocr.document import Word
from bigocr.document import Result
from bigocr.words.layout import analyse_layout
from bigocr.testing import FakeDetector, make_page
from bigocr.writers import FORMATS, parse_formats, render, write_outputs

SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "schemas"
needs_schemas = pytest.mark.skipif(not SCHEMAS.is_dir(), reason=f"official schemas not at {SCHEMAS}")


def _schema(name):
    return etree.XMLSchema(etree.parse(str(SCHEMAS / name)))


def _box(x, y, w, h):
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)


def _rotated(cx, cy, w, h, degrees):
    a = np.radians(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]]) @ rot.T
    return (corners + [cx, cy]).astype(np.float32)


def _result(words, width=1000, height=800, dpi=(300.0, 300.0)):
    return Result(scan={"path": "/archive/scan 1&2.tif", "width": width, "height": height, "page": 0, "pages": 1,
                        "dpi": None if dpi is None else list(dpi)},
                  model={"name": "test", "sha256": None}, params={}, tiles={"count": 1}, words=words,
                  layout=analyse_layout([w.box for w in words]))


@pytest.fixture
def sample():
    """Two columns of words, one rotated word, one with a polygon, one at the scan's edge."""
    words = []
    for col, x0 in enumerate((40, 540)):
        for row in range(6):
            for k in range(3):
                words.append(Word(_box(x0 + 130 * k, 60 + 40 * row, 110, 24), 0.5 + 0.05 * k))
    words.append(Word(_rotated(500, 600, 120, 30, 8), 0.91))
    poly = np.array([[100, 700], [160, 690], [220, 700], [220, 730], [160, 740], [100, 730]], np.float32)
    words.append(Word(_box(100, 690, 120, 50), 0.88, polygon=poly))
    words.append(Word(_box(900, 770, 100.4, 30.2), 1.0))  # touches the right and bottom edges
    return _result(words)


@needs_schemas
@pytest.mark.parametrize("schema", ["alto-4-0.xsd", "alto-4-4.xsd"])
def test_alto_is_valid(sample, schema):
    doc = etree.fromstring(render(sample, "alto"))
    _schema(schema).assertValid(doc)
    ns = {"a": "http://www.loc.gov/standards/alto/ns-v4#"}
    assert doc.findtext("a:Description/a:MeasurementUnit", namespaces=ns) == "pixel"
    strings = doc.findall(".//a:String", ns)
    assert len(strings) == len(sample.words)
    assert all(s.get("CONTENT") == "" and 0 <= float(s.get("WC")) <= 1 for s in strings)
    assert len(doc.findall(".//a:TextBlock/a:TextLine", ns)) == len(sample.layout.lines)
    # Positions are whole pixels inside the scan.
    for s in strings:
        x, y, w, h = (int(s.get(k)) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
        assert 0 <= x and 0 <= y and w >= 1 and h >= 1 and x + w <= 1000 and y + h <= 800
    # The rotated word and the polygon come as shapes; upright boxes don't.
    assert len(doc.findall(".//a:String/a:Shape/a:Polygon", ns)) == 2


@needs_schemas
def test_page_is_valid(sample):
    doc = etree.fromstring(render(sample, "page"))
    _schema("pagecontent.xsd").assertValid(doc)
    ns = {"p": "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"}
    page = doc.find("p:Page", ns)
    assert page.get("imageFilename") == "scan 1&2.tif" and page.get("imageXResolution") == "300"
    words = doc.findall(".//p:TextRegion/p:TextLine/p:Word", ns)
    assert len(words) == len(sample.words)
    confs = [float(w.find("p:Coords", ns).get("conf")) for w in words]
    assert sorted(confs) == sorted(round(float(w.score), 4) for w in sample.words)
    refs = [r.get("regionRef") for r in doc.findall(".//p:ReadingOrder/p:OrderedGroup/p:RegionRefIndexed", ns)]
    assert refs == [r.get("id") for r in doc.findall(".//p:TextRegion", ns)]


@needs_schemas
def test_empty_results_are_valid_too():
    empty = _result([], dpi=None)
    _schema("alto-4-0.xsd").assertValid(etree.fromstring(render(empty, "alto")))
    _schema("alto-4-4.xsd").assertValid(etree.fromstring(render(empty, "alto")))
    _schema("pagecontent.xsd").assertValid(etree.fromstring(render(empty, "page")))
    assert json.loads(render(empty, "geojson"))["features"] == []
    assert b"ocr_page" in render(empty, "hocr")


def test_hocr_has_its_required_parts(sample):
    text = render(sample, "hocr")
    assert text.startswith(b"<?xml") and b"<!DOCTYPE html>" in text
    doc = etree.fromstring(text)
    ns = {"h": "http://www.w3.org/1999/xhtml"}
    meta = {m.get("name"): m.get("content") for m in doc.findall(".//h:head/h:meta", ns) if m.get("name")}
    assert meta["ocr-system"].startswith("bigocr ")
    assert set(meta["ocr-capabilities"].split()) >= {"ocr_page", "ocr_carea", "ocr_par", "ocr_line", "ocrx_word"}
    page = doc.find(".//h:div[@class='ocr_page']", ns)
    assert "bbox 0 0 1000 800" in page.get("title") and "scan_res 300 300" in page.get("title")
    words = doc.findall(".//h:span[@class='ocr_line']/h:span[@class='ocrx_word']", ns)
    assert len(words) == len(sample.words)
    for span in words:
        props = dict(p.strip().split(" ", 1) for p in span.get("title").split(";"))
        x0, y0, x1, y1 = map(int, props["bbox"].split())
        assert 0 <= x0 < x1 <= 1000 and 0 <= y0 < y1 <= 800
        assert 0 <= int(props["x_wconf"]) <= 100
    assert sum("poly" in s.get("title") for s in words) == 2


def test_geojson_rings_and_convention(sample):
    doc = json.loads(render(sample, "geojson"))
    assert doc["type"] == "FeatureCollection" and doc["coordinates"]["units"] == "scan pixels"
    assert len(doc["features"]) == len(sample.words)
    in_order = [sample.words[i] for i in sample.layout.reading_order()]
    for feature, word in zip(doc["features"], in_order):
        ring = feature["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) >= 4
        polygon = Polygon(ring)
        assert polygon.exterior.is_ccw  # RFC 7946's right-hand rule, in (x, y) as written
        shape = word.box if word.polygon is None else word.polygon
        assert polygon.area == pytest.approx(Polygon(shape).area, rel=1e-3)
    assert [f["properties"]["order"] for f in doc["features"]] == list(range(1, len(sample.words) + 1))


def test_every_format_lists_the_words_in_one_reading_order(sample):
    """The same words, the same lines, in the same order in every format."""
    ns = {"a": "http://www.loc.gov/standards/alto/ns-v4#",
          "p": "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"}
    alto = etree.fromstring(render(sample, "alto"))
    page = etree.fromstring(render(sample, "page"))
    order = sample.layout.reading_order()
    starts = [(round(float(np.floor(sample.words[i].box[:, 0].min()))), round(float(np.floor(sample.words[i].box[:, 1].min()))))
              for i in order]
    alto_starts = [(int(s.get("HPOS")), int(s.get("VPOS"))) for s in alto.findall(".//a:String", ns)]
    assert alto_starts == [(max(0, x), max(0, y)) for x, y in starts]
    assert len(page.findall(".//p:Word", ns)) == len(order)


def test_write_outputs_and_format_names(tmp_path, sample):
    paths = write_outputs(sample, tmp_path, "alto,json,geojson,alto")
    assert [Path(p).name for p in paths] == ["alto.xml", "words.geojson", "words.json"]  # words.json last
    assert parse_formats(["JSON", " page "]) == ("json", "page")
    with pytest.raises(ParameterError, match="unknown output format 'docx'"):
        parse_formats("json,docx")
    with pytest.raises(ParameterError, match="no output format"):
        parse_formats(",")
    assert set(FORMATS) == {"json", "alto", "page", "hocr", "geojson", "txt", "pdf", "iiif"}


@needs_schemas
def test_a_real_run_writes_every_format(tmp_path):
    page, _ = make_page(700, 900, words=120, seed=9, rotate=True)
    out = tmp_path / "out"
    result = bigocr.detect(page, detector=FakeDetector(), max_side=512, poly=True, out=out,
                           formats="json,alto,page,hocr,geojson", scheduler="synchronous", preview=True, heatmap=True)
    names = {p.name for p in out.iterdir()}
    assert names >= {"words.json", "alto.xml", "page.xml", "hocr.html", "words.geojson", "preview.png",
                     "heatmap-region.png", "heatmap-affinity.png", "maps.zarr"}
    _schema("alto-4-4.xsd").assertValid(etree.parse(str(out / "alto.xml")))
    _schema("pagecontent.xsd").assertValid(etree.parse(str(out / "page.xml")))
    assert len(json.loads((out / "words.geojson").read_text())["features"]) == len(result.words) > 50
    # Another job's results in OUT are not overwritten unasked; --force replaces all of them.
    with pytest.raises(bigocr.OutputError, match="another job.*poly True -> False"):
        bigocr.detect(page, detector=FakeDetector(), max_side=512, out=out, scheduler="synchronous")
    bigocr.detect(page, detector=FakeDetector(), max_side=512, out=out, scheduler="synchronous", force=True)
    assert not (out / "alto.xml").exists() and (out / "words.json").exists()


def test_cli_format_flag(tmp_path, random_weights, capsys):
    import cv2

    page, _ = make_page(200, 300, words=10, seed=4)
    cv2.imwrite(str(tmp_path / "p.png"), page)
    code = main(["run", str(tmp_path / "p.png"), "-o", str(tmp_path / "o"), "--weights", str(random_weights),
                 "--device", "cpu", "--format", "page,hocr", "--no-preview", "--max-side", "256", "-q"])
    assert code == 0
    assert {p.name for p in (tmp_path / "o").iterdir()} == {"page.xml", "hocr.html", "maps.zarr",
                                                          ".bigocr-record.json"}
