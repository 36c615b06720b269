"""PDF in, searchable PDF out, and the OCRmyPDF engine: on the real PDFs of ../shared/data/pdf and a real scan,
read back by poppler (pdftotext, pdftoppm, pdftocairo), qpdf and pikepdf, run as real processes."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pikepdf
import pypdfium2 as pdfium
import pytest
import tifffile
from lxml import etree

from bigocr.document import Block, Layout, Line, Result, Word
from bigocr.tiler.pdf import display_matrix, open_pdf_page
from bigocr.tiler.scan import open_scan
from bigocr.writers.pdf import MAX_PAGE_UNITS, pdf_bytes

SHARED = Path(__file__).resolve().parents[2] / "shared"
PDFS = SHARED / "data" / "pdf"
REAL = SHARED / "data" / "real" / "vdsbb"
TOOLS = ("pdftotext", "pdftoppm", "pdftocairo", "pdfinfo", "qpdf")

if not PDFS.is_dir():
    pytest.skip("../shared/data/pdf is not here", allow_module_level=True)


@pytest.fixture(scope="module", autouse=True)
def poppler_and_qpdf():
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    assert not missing, f"{', '.join(missing)} not installed: apt-get install poppler-utils qpdf (.ci/run does)"


def _bigocr(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "bigocr", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def _qpdf_clean(path):
    run = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "No syntax or stream encoding errors found" in run.stdout
    assert "WARNING" not in run.stdout + run.stderr


def _poppler_words(pdf, page=1):
    """``(text, xmin, ymin, xmax, ymax)`` of every word pdftotext finds on ``page`` (points, y down, the page
    as displayed)."""
    xml = subprocess.run(["pdftotext", "-bbox", "-f", str(page), "-l", str(page), str(pdf), "-"],
                         capture_output=True, check=True).stdout
    root = etree.fromstring(xml, etree.XMLParser(recover=True, no_network=True, resolve_entities=False))
    return [(w.text or "", *(float(w.get(k)) for k in ("xMin", "yMin", "xMax", "yMax")))
            for w in root.iter("{http://www.w3.org/1999/xhtml}word")]


def _found_in_boxes(pdf, words_json, page=1) -> tuple[int, int]:
    """How many of a words.json's read words pdftotext finds with their text inside their box, of how many."""
    doc = json.loads(Path(words_json).read_text())
    info = doc["scan"].get("pdf")
    if info is not None:  # scan pixels -> user space -> the page as displayed
        to_pdf = np.vstack([np.asarray(info["to_pdf"]).reshape(2, 3), [0, 0, 1]])
        to_shown = display_matrix(info["box"], info["rotate"]) @ to_pdf
    else:
        out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
        size = [line for line in out.splitlines() if line.startswith("Page size:")][0].split()
        w, h = float(size[2]), float(size[4])
        to_shown = np.diag([w / doc["scan"]["width"], h / doc["scan"]["height"], 1.0])
    pool = {}
    for text, *box in _poppler_words(pdf, page):
        pool.setdefault(text, []).append(box)
    found = total = 0
    for word in doc["words"]:
        text = word["text"].strip()
        if not text:
            continue
        total += 1
        quad = np.asarray(word["box"]) @ to_shown[:2, :2].T + to_shown[:2, 2]
        (x0, y0), (x1, y1) = quad.min(0) - 1, quad.max(0) + 1
        if any(x0 <= (b[0] + b[2]) / 2 <= x1 and y0 <= (b[1] + b[3]) / 2 <= y1 for b in pool.get(text, [])):
            found += 1
    return found, total


# --- reading PDFs --------------------------------------------------------------------------------------------

CASES = {  # file: (mode, width, height, dpi)
    "c02-22.pdf": ("image", 800, 981, 150),
    "ccitt.pdf": ("image", 2550, 3300, 300),
    "jbig2.pdf": ("image", 2550, 3300, 300),
    "lichtenstein.pdf": ("image", 512, 512, 96),
    "palette.pdf": ("image", 640, 682, 96),
    "2400dpi.pdf": ("image", 4000, 2864, 2400),
    "poster.pdf": ("image", 2550, 3300, 10.2),  # /UserUnit 10: a 250 x 500 in page
    "enormous.pdf": ("image", 9000, 9000, 300),
    "skew.pdf": ("image", 2550, 3300, 300),
    "rotated_skew.pdf": ("image", 2550, 3300, 300),
    "cmyk.pdf": ("render", 900, 900, 300),  # several images and text: rendered
    "vector.pdf": ("render", 2480, 3508, 300),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_kind_of_page_opens_at_its_native_resolution(name):
    mode, width, height, dpi = CASES[name]
    page = open_scan(PDFS / name)
    assert (page.mode, page.width, page.height) == (mode, width, height)
    assert page.dpi == (pytest.approx(dpi, abs=0.05),) * 2
    window = page.read(0, min(64, page.height), 0, min(64, page.width))
    assert window.shape == (min(64, page.height), min(64, page.width), 3) and window.dtype == np.uint8


@pytest.mark.parametrize("name", ["palette.pdf", "lichtenstein.pdf", "ccitt.pdf", "c02-22.pdf", "poster.pdf"])
def test_an_image_page_is_the_embedded_image_itself(name):
    """The pixels are the embedded image's own (pdfium's decode of the stream), not a rendering."""
    doc = pdfium.PdfDocument(str(PDFS / name))
    image = [o for o in doc[0].get_objects() if o.type == 3][0]
    stored = image.get_bitmap(render=False).to_numpy()
    stored = np.repeat(stored[..., None], 3, 2) if stored.ndim == 2 else stored[..., 2::-1]
    page = open_scan(PDFS / name)
    assert np.array_equal(page.read(0, page.height, 0, page.width), stored)


def test_a_large_jpeg_page_streams_into_the_cache_band_by_band(tmp_path):
    """A page image too large to hold decoded is decoded by libvips as a stream into the scan cache, band by
    band, and the cache holds the JPEG's pixels (as libjpeg decodes them)."""
    import img2pdf

    rng = np.random.default_rng(1)
    pixels = cv2.resize(rng.integers(0, 255, (90, 60, 3), np.uint8), (4800, 7200), interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(tmp_path / "big.jpg"), pixels[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    (tmp_path / "big.pdf").write_bytes(img2pdf.convert(str(tmp_path / "big.jpg")))
    page = open_scan(tmp_path / "big.pdf")
    assert page.needs_cache and not page.in_memory and page.mode == "image"
    cached = page.cached(str(tmp_path / "cache.zarr"))
    decoded = cv2.imread(str(tmp_path / "big.jpg"))[..., ::-1]
    assert np.abs(cached.read(0, 7200, 0, 4800).astype(int) - decoded).max() <= 1
    assert np.array_equal(page.read(5000, 5100, 100, 300), cached.read(5000, 5100, 100, 300))


def test_the_page_turns_upright_and_maps_back_onto_the_page():
    """rotated_skew.pdf: /Rotate 90 and an image drawn turned: the scan is upright, and to_pdf puts its pixels
    where pdfium draws them (the rendering at the scan's dpi, compared through the mapping)."""
    for name in ("rotated_skew.pdf", "skew.pdf", "poster.pdf"):
        page = open_scan(PDFS / name)
        ours = page.read(0, page.height, 0, page.width)
        scale = page.dpi[0] / 72 * page.geometry["user_unit"]
        shown = pdfium.PdfDocument(str(PDFS / name))[0].render(scale=scale).to_numpy()[..., :3][..., ::-1]
        warp = display_matrix(page.geometry["box"], page.geometry["rotate"]) @ np.vstack([page.to_pdf, [0, 0, 1]])
        warp[:2] *= scale
        drawn = cv2.warpAffine(ours, warp[:2], (shown.shape[1], shown.shape[0]), borderValue=(255, 255, 255))
        blur = [cv2.GaussianBlur(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 4)
                for a in (drawn, shown)]
        right, turned = np.abs(blur[0] - blur[1]).mean(), np.abs(blur[0][::-1, ::-1] - blur[1]).mean()
        assert right < 8 and right < 0.4 * turned, (name, right, turned)  # it tells a wrong turn from the right one


def test_a_vector_page_is_rendered_at_the_dpi_asked():
    page = open_scan(PDFS / "vector.pdf", dpi=150)
    assert (page.mode, page.width, page.height, page.dpi) == ("render", 1240, 1754, (150.0, 150.0))
    full = pdfium.PdfDocument(str(PDFS / "vector.pdf"))[0].render(scale=150 / 72).to_numpy()[..., :3][..., ::-1]
    assert abs(full.shape[0] - 1754) <= 1 and abs(full.shape[1] - 1240) <= 1  # pypdfium2 rounds sizes up
    band = page.read(500, 700, 100, 900)
    assert np.abs(band.astype(int) - full[500:700, 100:900]).mean() < 1.0


# --- searchable PDFs --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_page(tmp_path_factory):
    """A real VD-SBB page (TIFF), the PDF img2pdf makes of it, and bigocr's runs of both with --format pdf."""
    import img2pdf

    if not REAL.is_dir():
        pytest.skip("../shared/data/real is not here")
    d = tmp_path_factory.mktemp("real")
    tif = sorted(REAL.glob("*.tif"))[0]
    (d / "page.pdf").write_bytes(img2pdf.convert(str(tif)))
    runs = {}
    for name, source in (("tif", tif), ("pdf", d / "page.pdf")):
        run = _bigocr("run", source, "-o", d / name, "--format", "json,pdf", "--no-preview", "-q")
        assert run.returncode == 0, run.stderr
        runs[name] = d / name
    return tif, d, runs


def test_a_scan_read_from_its_pdf_gives_the_same_words(real_page):
    tif, d, runs = real_page
    a = json.loads((runs["tif"] / "words.json").read_text())
    b = json.loads((runs["pdf"] / "words.json").read_text())
    assert len(a["words"]) > 100
    assert [(w["box"], w["text"]) for w in a["words"]] == [(w["box"], w["text"]) for w in b["words"]]
    assert b["scan"]["pdf"]["mode"] == "image" and b["scan"]["dpi"] == a["scan"]["dpi"]
    # and in PDF points: the box scaled by 72 / dpi, y up from the page's foot
    w = b["words"][0]
    dpi = b["scan"]["dpi"][0]
    height_pt = b["scan"]["height"] * 72 / dpi
    assert np.allclose(w["box_pt"], [[x * 72 / dpi, height_pt - y * 72 / dpi] for x, y in w["box"]], atol=0.02)


@pytest.mark.parametrize("name", ["tif", "pdf"])
def test_the_text_layer_puts_each_word_in_its_box(real_page, name):
    _, _, runs = real_page
    pdf = runs[name] / "text.pdf"
    _qpdf_clean(pdf)
    found, total = _found_in_boxes(pdf, runs[name] / "words.json")
    assert total > 100 and found >= 0.99 * total, (found, total)


def test_the_page_image_is_embedded_losslessly(real_page):
    """pdftocairo at the page's dpi gives the TIFF's pixels back exactly; pdftoppm too at 4x, sampled every 4th
    pixel (below 400 % poppler's Splash interpolates every image, even at 1:1)."""
    tif, d, runs = real_page
    pixels = tifffile.imread(tif)
    pdf = runs["tif"] / "text.pdf"
    subprocess.run(["pdftocairo", "-png", "-r", "300", "-singlefile", str(pdf), str(d / "cairo")], check=True)
    assert np.array_equal(cv2.imread(str(d / "cairo.png"))[..., ::-1], pixels)
    subprocess.run(["pdftoppm", "-png", "-r", "1200", "-x", "0", "-y", "0", "-W", "2400", "-H", "2400", "-singlefile",
                    str(pdf), str(d / "splash")], check=True)
    splash = cv2.imread(str(d / "splash.png"))[..., ::-1][1::4, 1::4]
    assert np.array_equal(splash, pixels[:600, :600])
    with pikepdf.open(pdf) as doc:
        (image,) = [pikepdf.PdfImage(x) for x in doc.pages[0].get_images().values()]
        assert image.filters == ["/FlateDecode"] and (image.width, image.height) == (pixels.shape[1], pixels.shape[0])


def test_a_pdf_input_keeps_its_page_and_gains_the_text(real_page):
    _, d, runs = real_page
    with pikepdf.open(d / "page.pdf") as src, pikepdf.open(runs["pdf"] / "text.pdf") as out:
        (a,) = src.pages[0].get_images().values()
        (b,) = out.pages[0].get_images().values()
        assert a.read_raw_bytes() == b.read_raw_bytes()  # the stream as it was, not re-encoded
        assert list(src.pages[0].mediabox) == list(out.pages[0].mediabox)


def test_pdfa_parts_and_metadata(real_page):
    """PDF/A-2b as far as can be checked here (no veraPDF offline): pdfaid in XMP, an sRGB output intent,
    the one font embedded with a ToUnicode map, the models and their sha256, no encryption."""
    _, _, runs = real_page
    with pikepdf.open(runs["tif"] / "text.pdf") as doc:
        meta = doc.open_metadata()
        assert meta["pdfaid:part"] == "2" and meta["pdfaid:conformance"] == "B"
        assert meta["pdf:Producer"].startswith("bigocr ")
        assert "sha256:" in meta["pdf:Keywords"] and str(doc.docinfo["/Keywords"]) == meta["pdf:Keywords"]
        (intent,) = doc.Root.OutputIntents
        assert intent.S == "/GTS_PDFA1" and intent.DestOutputProfile.N == 3
        assert not doc.is_encrypted
    fonts = subprocess.run(["pdffonts", str(runs["tif"] / "text.pdf")], capture_output=True, text=True,
                           check=True).stdout.splitlines()[2:]
    assert len(fonts) == 1 and fonts[0].split()[-5:-2] == ["yes", "no", "yes"]  # embedded, not subset, unicode


def _result(words, width=1000, height=400, dpi=300):
    boxes = [np.asarray(b, np.float32) for b, _ in words]
    items = [Word(b, 0.9, text=t) for b, (_, t) in zip(boxes, words)]
    line = Line(tuple(range(len(items))), np.asarray(boxes[0], np.float64))
    return Result(scan={"path": None, "width": width, "height": height, "page": 0, "dpi": [dpi, dpi]},
                  model={"name": "test", "sha256": "0" * 64}, params={}, tiles={}, words=items,
                  layout=Layout((Block((line,), line.box),), 0.0))


def _quad(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def test_any_unicode_copies_out(tmp_path):
    """ſ, umlauts, € and a character beyond the BMP (𝔄, U+1D504) come back from pdftotext as written."""
    texts = ["Straſse", "Müller", "€12,50", "𝔄lt", "Œuvre"]
    words = [(_quad(40 + 180 * i, 100, 200 + 180 * i, 160), t) for i, t in enumerate(texts)]
    scan = open_scan(np.full((400, 1000), 255, np.uint8))
    (tmp_path / "u.pdf").write_bytes(pdf_bytes(_result(words), scan))
    _qpdf_clean(tmp_path / "u.pdf")
    text = subprocess.run(["pdftotext", str(tmp_path / "u.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout.split()
    assert text == texts


def test_a_page_over_200_inches_gets_a_user_unit(tmp_path):
    """A 66 000 px wide scan at 300 dpi (220 in): /UserUnit 2, sides within 14 400 units, and read back by
    bigocr as a PDF it is the same size at the same dpi."""
    scan = open_scan(np.full((300, 66000), 255, np.uint8))
    path = tmp_path / "wide.pdf"
    path.write_bytes(pdf_bytes(_result([(_quad(100, 100, 900, 200), "wide")], 66000, 300), scan))
    _qpdf_clean(path)
    with pikepdf.open(path) as doc:
        page = doc.pages[0]
        assert float(page.obj.UserUnit) == 2 and max(float(v) for v in page.mediabox) <= MAX_PAGE_UNITS
    back = open_pdf_page(path, max_pixels=10**9)
    assert (back.width, back.height, back.dpi) == (66000, 300, (300.0, 300.0))


def test_rotated_and_skewed_pages_get_their_words_placed(tmp_path):
    """rotated_skew.pdf: /Rotate 90 and a skewed image matrix (skew.pdf is the same page without the turn)."""
    for name in ("rotated_skew.pdf",):
        out = tmp_path / name
        run = _bigocr("run", PDFS / name, "-o", out, "--format", "json,pdf", "--no-preview", "-q")
        assert run.returncode == 0, run.stderr
        _qpdf_clean(out / "text.pdf")
        found, total = _found_in_boxes(out / "text.pdf", out / "words.json")
        assert total > 500 and found >= 0.99 * total, (name, found, total)


def test_batch_of_a_pdf_writes_the_whole_document(tmp_path):
    """Every page in its own folder, and <stem>/text.pdf: the document with each page's text layer, its pages
    and metadata as they were."""
    with pikepdf.open(PDFS / "multipage.pdf") as src:
        two = pikepdf.new()
        two.pages.extend([src.pages[0], src.pages[4]])
        two.docinfo["/Title"] = "Two pages"
        two.save(tmp_path / "book.pdf")
    run = _bigocr("batch", tmp_path / "book.pdf", "-o", tmp_path / "out", "--format", "json,pdf", "--no-preview", "-q")
    assert run.returncode == 0, run.stderr
    doc = tmp_path / "out" / "book" / "text.pdf"
    _qpdf_clean(doc)
    with pikepdf.open(doc) as pdf:
        assert len(pdf.pages) == 2 and str(pdf.docinfo["/Title"]) == "Two pages"
    for page in (1, 2):
        words = tmp_path / "out" / "book" / f"page-{page:04d}" / "words.json"
        found, total = _found_in_boxes(doc, words, page)
        assert total > 150 and found >= 0.99 * total, (page, found, total)


# --- bad PDFs: one line, exit 2, nothing written -----------------------------------------------------------------

def _bad_pdfs(d: Path) -> dict:
    with pikepdf.open(PDFS / "c02-22.pdf") as src:
        src.save(d / "encrypted.pdf", encryption=pikepdf.Encryption(owner="o", user="secret", R=6))
        two = pikepdf.new()
        two.pages.extend([src.pages[0], src.pages[0]])
        two.save(d / "two.pdf")
        js = pikepdf.new()
        js.pages.append(src.pages[0])
        js.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert('hi')"))
        js.save(d / "javascript.pdf")
    huge = pikepdf.new()
    huge.add_blank_page()
    huge.pages[0].obj.MediaBox = pikepdf.Array([0, 0, 10**6, 10**6])  # a page claiming 10^6 x 10^6 pt
    huge.save(d / "huge.pdf")
    empty = pikepdf.new()
    empty.save(d / "empty.pdf")
    (d / "cut.pdf").write_bytes((PDFS / "c02-22.pdf").read_bytes()[:1000])
    return {
        "encrypted.pdf": ("needs a password (--password)", []),
        "encrypted.pdf ": ("password given does not open it", ["--password", "wrong"]),
        "two.pdf": ("has 2 page(s); page 9 does not exist", ["--page", "9"]),
        "javascript.pdf": ("holds JavaScript", []),
        "huge.pdf": ("1000000 x 1000000 pt", []),
        "empty.pdf": ("holds no pages", []),
        "cut.pdf": ("not a valid PDF", []),
        "invalid.pdf": ("not a valid PDF", []),
    }


def test_bad_pdfs_get_one_line_and_exit_2(tmp_path):
    shutil.copy(PDFS / "invalid.pdf", tmp_path / "invalid.pdf")
    for name, (words, extra) in _bad_pdfs(tmp_path).items():
        out = tmp_path / f"out-{name.strip()}-{len(name)}"
        run = _bigocr("run", tmp_path / name.strip(), "-o", out, "--no-preview", *extra, timeout=120)
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 2, (name, run.stderr)
        assert len(lines) == 1 and words in lines[0] and str(tmp_path / name.strip()) in lines[0], (name, lines)
        assert not out.exists(), name


def test_an_encrypted_pdf_opens_with_its_password_and_a_broken_xref_is_repaired(tmp_path):
    _bad_pdfs(tmp_path)
    page = open_scan(tmp_path / "encrypted.pdf", password="secret")
    assert (page.width, page.height) == (800, 981)
    data = bytearray((PDFS / "c02-22.pdf").read_bytes())
    start = data.rindex(b"startxref")
    data[start:] = b"startxref\n999999\n%%EOF\n"  # the cross-reference table is not where the trailer says
    (tmp_path / "broken-xref.pdf").write_bytes(bytes(data))
    repaired = open_scan(tmp_path / "broken-xref.pdf")
    whole = open_scan(PDFS / "c02-22.pdf")
    assert np.array_equal(repaired.read(0, 981, 0, 800), whole.read(0, 981, 0, 800))


# --- OCRmyPDF ------------------------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("gs") is None, reason="Ghostscript is not installed (apt-get install ghostscript)")
@pytest.mark.parametrize("renderer", ["auto", "sandwich"])
def test_the_ocrmypdf_plugin_reads_a_two_page_pdf(tmp_path, renderer):
    ocrmypdf = Path(sys.executable).with_name("ocrmypdf")
    with pikepdf.open(PDFS / "multipage.pdf") as src:
        two = pikepdf.new()
        two.pages.extend([src.pages[0], src.pages[4]])
        two.save(tmp_path / "two.pdf")
    run = subprocess.run([str(ocrmypdf), "--plugin", "bigocr.ocrmypdf", "--pdf-renderer", renderer,
                          str(tmp_path / "two.pdf"), str(tmp_path / "out.pdf")], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "bigocr" not in run.stderr.lower() or "error" not in run.stderr.lower()
    _qpdf_clean(tmp_path / "out.pdf")
    for page, words in ((1, ("tip-toeing", "garden", "kitchen")), (2, ("the", "and"))):
        text = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), str(tmp_path / "out.pdf"), "-"],
                              capture_output=True, text=True, check=True).stdout
        assert len(text.split()) > 150 and all(w in text for w in words), (page, text[:300])
    with pikepdf.open(tmp_path / "out.pdf") as doc:
        assert "bigocr" in str(doc.docinfo.get("/Creator", "")) + str(doc.open_metadata().get("xmp:CreatorTool"))


def test_the_glyphless_font_is_what_its_script_builds():
    """The committed font is reproducible from bigocr/dev/glyphless.py (fontTools), two blank glyphs."""
    from fontTools.ttLib import TTFont

    from bigocr.dev.glyphless import FONT_PATH, build

    assert FONT_PATH.read_bytes() == build()
    font = TTFont(FONT_PATH)
    assert font.getGlyphOrder() == [".notdef", "blank"]
    assert font["hmtx"]["blank"] == (500, 0) and font["hhea"].ascent == 800 and font["hhea"].descent == -200
    assert font["glyf"]["blank"].numberOfContours == 0


def test_a_page_box_inherited_from_the_page_tree_is_the_page_size(tmp_path):
    """/MediaBox on the /Pages node, as many writers put it: the page is A4, not pdfium's US Letter default."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    pdf.Root.Pages.MediaBox = pikepdf.Array([0, 0, 595, 842])
    del pdf.pages[0].obj["/MediaBox"]
    pdf.save(tmp_path / "inherited.pdf")
    page = open_scan(tmp_path / "inherited.pdf", dpi=72)
    assert (page.width, page.height) == (595, 842) and page.geometry["box"] == [0, 0, 595, 842]


def test_an_encrypted_pdf_stays_encrypted_with_its_text(tmp_path):
    with pikepdf.open(PDFS / "c02-22.pdf") as src:
        src.save(tmp_path / "locked.pdf", encryption=pikepdf.Encryption(owner="o", user="secret", R=6,
                                                                        allow=pikepdf.Permissions(extract=False)))
    run = _bigocr("run", tmp_path / "locked.pdf", "--password", "secret", "-o", tmp_path / "out", "--format",
                  "json,pdf", "--no-preview", "-q")
    assert run.returncode == 0, run.stderr
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(tmp_path / "out" / "text.pdf")
    with pikepdf.open(tmp_path / "out" / "text.pdf", password="secret") as doc:
        assert doc.is_encrypted and not doc.allow.extract
    text = subprocess.run(["pdftotext", "-upw", "secret", str(tmp_path / "out" / "text.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "tip-toeing" in text


def test_the_output_intent_profile_is_icc_2_and_srgb():
    import io

    from PIL import Image, ImageCms

    from bigocr.writers.pdf import srgb_v2_profile

    data = srgb_v2_profile()
    assert data[8:12] == bytes([2, 0x10, 0, 0]) and data[12:20] == b"mntrRGB " and data[36:40] == b"acsp"
    ours = ImageCms.ImageCmsProfile(io.BytesIO(data))
    to_ours = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ours, "RGB", "RGB")
    colours = np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8)
    back = np.asarray(ImageCms.applyTransform(Image.fromarray(colours), to_ours))
    assert np.abs(back.astype(int) - colours).max() <= 1


def test_spaces_follow_their_word_in_the_content_stream():
    """Extractors that follow the stream's order (not the positions) get "alpha beta gamma" too."""
    from bigocr.writers.pdf import _Codes, _text_layer

    result = _result([(_quad(40 + 200 * i, 100, 200 + 200 * i, 160), t) for i, t in enumerate(["ab", "cd", "ef"])])
    layer = _text_layer(result, np.array([[1.0, 0, 0], [0, -1.0, 400]]), _Codes())
    shown = re.findall(rb"<([0-9A-F]+)> Tj", layer)
    assert shown == [b"00610062", b"0020", b"00630064", b"0020", b"00650066"]
