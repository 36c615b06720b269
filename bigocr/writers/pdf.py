"""Searchable PDF: the page image with an invisible text layer (``--format pdf``: ``text.pdf``).

The page image goes in unchanged: a PDF page as it was (only the text layer is
added; the rest of the document stays as it is), a JPEG, JPEG 2000 or PNG
file passed through by img2pdf without recompression, and a TIFF or an array
as Flate-compressed samples written band by band (lossless: ``pdftoppm`` at
the page's dpi gives back the scan's pixels).  Pages wider or taller than
200 in get ``/UserUnit``.

The text layer is the one part written by hand: pikepdf writes objects, not
text, and no library lays out words in given boxes (OCRmyPDF's hocrtransform
does it for hOCR, inside OCRmyPDF; Tesseract's renderer is C++).  Each word is
shown in render mode 3 (invisible) with a text matrix that puts its glyphs
exactly on its box (any rotation or skew: the matrix is the box's own frame),
a space between the words of a line spans the gap, and lines follow the
reading order, so copying gives the text in order.  The font is glyphless
(:mod:`bigocr.dev.glyphless`, embedded: 860 bytes): every character maps to
one blank glyph, and a ToUnicode map gives each its Unicode (BMP characters
are their own code; others get codes from the surrogate range, which no
character uses, mapped in the ToUnicode map), so ſ, umlauts and € copy out
right.

Metadata: the producer and the models with their sha256 in the document
information and in XMP; a PDF made from an image is written as PDF/A-2b
(XMP ``pdfaid``, an sRGB output intent, the one font embedded, no
encryption); ``tests/test_pdf.py`` checks those parts and ``qpdf --check``
(no PDF/A validator such as veraPDF is available offline here).
"""

from __future__ import annotations

import io
import math
import threading
import zlib
from importlib.resources import files

import numpy as np

from bigocr.errors import OutputError

__all__ = ["pdf_bytes", "document_pdf", "text_only_pdf", "add_text_layers", "srgb_v2_profile", "MAX_PAGE_UNITS"]

#: The largest page side in PDF units (200 in); larger pages are written with a /UserUnit.
MAX_PAGE_UNITS = 14400
#: Glyph advance and ascent/descent of the glyphless font, in thousandths of an em.
ADVANCE, ASCENT, DESCENT = 500, 800, -200
#: Rows compressed at a time for a Flate page image.
FLATE_BAND = 512
#: The name the font takes in a page's resources.
FONT_NAME = "/BigOCRText"

_FONT_FILE = "files/glyphless.ttf"
_PIL_LIMIT = threading.Lock()


def _glyphless() -> bytes:
    return files("bigocr.writers").joinpath(_FONT_FILE).read_bytes()


# --- the text layer --------------------------------------------------------------------------------

class _Codes:
    """Character codes of the text layer: a BMP character is its own two-byte code; any other takes the
    next free code from the surrogate range (U+D800..U+DFFF, which is no character), kept for ToUnicode."""

    def __init__(self):
        self.extra: dict[str, int] = {}

    def encode(self, text: str) -> str:
        out = []
        for ch in text:
            cp = ord(ch)
            if cp < 0x20 or 0xD800 <= cp <= 0xDFFF:
                cp = 0xFFFD if cp >= 0xD800 else 0x20  # controls as spaces; lone surrogates replaced
            elif cp > 0xFFFF:
                if ch not in self.extra:
                    if len(self.extra) >= 0x800:
                        cp = 0xFFFD
                    else:
                        self.extra[ch] = 0xD800 + len(self.extra)
                cp = self.extra.get(ch, cp if cp <= 0xFFFF else 0xFFFD)
            out.append(f"{cp:04X}")
        return "".join(out)


def _num(v: float) -> str:
    text = f"{v:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _text_layer(result, to_pdf: np.ndarray, codes: _Codes, font: str = FONT_NAME) -> bytes:
    """The content stream that shows ``result``'s words invisibly on their boxes.

    Parameters
    ----------
    result : bigocr.Result
        Words (boxes in scan pixels, clockwise from the top-left) and their lines in reading order.
    to_pdf : ndarray, shape (2, 3)
        Scan pixels ``(x, y, 1)`` to the page's user space.
    codes : _Codes
        The character codes (shared by the pages of one document, for its ToUnicode map).
    """
    m = np.asarray(to_pdf, float).reshape(2, 3)
    ops = ["q", "BT", "3 Tr"]

    def show(origin, along, up, glyphs: int, hex_codes: str):
        a, b = along / (glyphs * ADVANCE / 1000.0)
        c, d = up
        e, f = origin
        ops.append(f"{font} 1 Tf {_num(a)} {_num(b)} {_num(c)} {_num(d)} {_num(e)} {_num(f)} Tm <{hex_codes}> Tj")

    for line in result.layout.lines:
        words = [result.words[i] for i in line.words if result.words[i].text.strip()]
        frames = [_frame(np.asarray(word.box, float) @ m[:, :2].T + m[:, 2]) for word in words]
        for k, (word, frame) in enumerate(zip(words, frames)):
            if frame is None:
                continue
            text = word.text.strip()
            origin, along, up = frame
            show(origin - DESCENT / 1000.0 * up, along, up, len(text), codes.encode(text))
            if k + 1 < len(words) and frames[k + 1] is not None:  # the space to the next word spans the gap
                direction = along / float(np.linalg.norm(along))
                gap = float((frames[k + 1][0] - (origin + along)) @ direction)
                width = max(gap, 1e-3 * float(np.linalg.norm(up)))
                show(origin + along - DESCENT / 1000.0 * up, direction * width, up, 1, "0020")
    ops += ["ET", "Q", ""]
    return "\n".join(ops).encode()


#: Words within this many degrees of a right angle are laid out along the page's axes (their axis-aligned box in
#: that frame): text extractors such as poppler break slightly slanted words into pieces; a word turned further
#: is shown turned as it is.
SNAP_DEGREES = 10.0


def _frame(quad: np.ndarray):
    """``(origin, along, up)`` of a word's box ``quad`` (TL, TR, BR, BL in user space): its bottom-left corner,
    and the vectors along its baseline and up its height; None for a box with no area."""
    along, up = quad[2] - quad[3], quad[0] - quad[3]
    if np.linalg.norm(along) < 1e-6 or np.linalg.norm(up) < 1e-6:
        return None
    angle = math.degrees(math.atan2(along[1], along[0]))
    right = round(angle / 90.0) * 90.0
    if abs(angle - right) > SNAP_DEGREES:
        return quad[3], along, up
    c, s = round(math.cos(math.radians(right))), round(math.sin(math.radians(right)))
    e_along, e_up = np.array([c, s], float), np.array([-s, c], float)
    a, u = quad @ e_along, quad @ e_up
    return a.min() * e_along + u.min() * e_up, (a.max() - a.min()) * e_along, (u.max() - u.min()) * e_up


def _to_unicode(codes: _Codes) -> bytes:
    ranges = [f"<{hi:02X}00> <{hi:02X}FF> <{hi:02X}00>" for hi in range(256) if not 0xD8 <= hi <= 0xDF]
    lines = ["/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
             "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
             "/CMapName /Adobe-Identity-UCS def", "/CMapType 2 def",
             "1 begincodespacerange", "<0000> <FFFF>", "endcodespacerange"]
    for i in range(0, len(ranges), 100):
        chunk = ranges[i:i + 100]
        lines += [f"{len(chunk)} beginbfrange", *chunk, "endbfrange"]
    extra = sorted(codes.extra.items(), key=lambda kv: kv[1])
    for i in range(0, len(extra), 100):
        chunk = extra[i:i + 100]
        lines.append(f"{len(chunk)} beginbfchar")
        lines += [f"<{code:04X}> <{ch.encode('utf-16-be').hex().upper()}>" for ch, code in chunk]
        lines.append("endbfchar")
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end", ""]
    return "\n".join(lines).encode()


def _font(pdf, codes: _Codes):
    """The glyphless Type 0 font (Identity-H, every code to glyph 1), its ToUnicode filled from ``codes``."""
    import pikepdf
    from pikepdf import Array, Dictionary, Name

    font_file = pikepdf.Stream(pdf, zlib.compress(_glyphless()), Filter=Name.FlateDecode, Length1=len(_glyphless()))
    descriptor = Dictionary(Type=Name.FontDescriptor, FontName=Name("/BigOCRGlyphless"), Flags=5,
                            FontBBox=Array([0, DESCENT, ADVANCE, ASCENT]), ItalicAngle=0, Ascent=ASCENT,
                            Descent=DESCENT, CapHeight=ASCENT, StemV=80, FontFile2=font_file)
    gid_map = pikepdf.Stream(pdf, zlib.compress(b"\x00\x00" + b"\x00\x01" * 0xFFFF, 9), Filter=Name.FlateDecode)
    cid_font = Dictionary(Type=Name.Font, Subtype=Name.CIDFontType2, BaseFont=Name("/BigOCRGlyphless"),
                          CIDSystemInfo=Dictionary(Registry=pikepdf.String("Adobe"),
                                                   Ordering=pikepdf.String("Identity"), Supplement=0),
                          FontDescriptor=pdf.make_indirect(descriptor), DW=ADVANCE, CIDToGIDMap=gid_map)
    to_unicode = pikepdf.Stream(pdf, b"")  # filled by _finish_font once every page's codes are known
    font = Dictionary(Type=Name.Font, Subtype=Name.Type0, BaseFont=Name("/BigOCRGlyphless"),
                      Encoding=Name("/Identity-H"), DescendantFonts=Array([pdf.make_indirect(cid_font)]),
                      ToUnicode=to_unicode)
    return pdf.make_indirect(font)


def _finish_font(font, codes: _Codes) -> None:
    import pikepdf

    font.ToUnicode.write(zlib.compress(_to_unicode(codes)), filter=pikepdf.Name.FlateDecode)


def _add_layer(pdf, page, result, to_pdf, font, codes: _Codes) -> None:
    """Add ``result``'s text layer to ``page``, its own content kept as it is (wrapped in q/Q)."""
    import pikepdf

    resources = page.obj.get("/Resources")
    if resources is None:
        page.obj.Resources = resources = pikepdf.Dictionary()
    fonts = resources.get("/Font")
    if fonts is None:
        resources.Font = fonts = pikepdf.Dictionary()
    name = FONT_NAME
    k = 1
    while name in fonts and fonts[name].objgen != font.objgen:
        name, k = f"{FONT_NAME}{k}", k + 1
    fonts[name] = font
    layer = _text_layer(result, to_pdf, codes, name)
    page.contents_coalesce()
    page.contents_add(pikepdf.Stream(pdf, b"q\n"), prepend=True)
    page.contents_add(pikepdf.Stream(pdf, b"\nQ\n" + layer))


# --- metadata -----------------------------------------------------------------------------------------

#: XMP namespace of bigocr's own properties (``bigocr:models`` in a PDF whose page images were not bigocr's).
XMP_NS = "https://bigocr.invalid/ns/xmp/1.0/"


def _metadata(pdf, results, own: bool) -> None:
    """Producer, time and the models with their sha256 in the document information and XMP.

    ``own``: a PDF bigocr made from an image, written as PDF/A-2b (``pdfaid``; the models in
    ``pdf:Keywords``, a property PDF/A knows).  Otherwise the user's PDF: its creator, keywords and the rest
    stay as they were; the models go into ``bigocr:models`` unless the file claims PDF/A (whose XMP takes
    only declared properties)."""
    from datetime import datetime, timezone

    import pikepdf

    from bigocr.version import __version__

    models = "; ".join(sorted({f"{name} sha256:{sha}" for result in results for name, sha in _models(result.model)}))
    producer = f"bigocr {__version__}"
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    had_xmp = "/Metadata" in pdf.Root
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        if not had_xmp:  # the document information is all there is: XMP starts from it (title, author, ...)
            meta.load_from_docinfo(pdf.docinfo)
        claims_pdfa = "pdfaid:part" in meta
        meta["pdf:Producer"] = producer
        meta["xmp:MetadataDate"] = now
        meta["xmp:ModifyDate"] = now
        if "xmp:CreateDate" not in meta:
            meta["xmp:CreateDate"] = now
        if own:
            meta["xmp:CreatorTool"] = producer
            meta["pdf:Keywords"] = f"bigocr models: {models}"
            meta["pdfaid:part"] = "2"
            meta["pdfaid:conformance"] = "B"
        elif not claims_pdfa:
            meta.register_xml_namespace(XMP_NS, "bigocr")
            meta["bigocr:models"] = models
    pdf.docinfo[pikepdf.Name.Producer] = producer
    if own:
        pdf.docinfo[pikepdf.Name.Creator] = producer
        pdf.docinfo[pikepdf.Name.Keywords] = f"bigocr models: {models}"


def _models(model) -> list[tuple[str, str]]:
    """``(name, sha256)`` of every model a result's ``model`` record names (detector, recognizers)."""
    found = []
    if isinstance(model, dict):
        if model.get("sha256"):
            found.append((str(model.get("name", "model")), str(model["sha256"])))
        for value in model.values():
            found += _models(value)
    elif isinstance(model, list):
        for value in model:
            found += _models(value)
    return found


def _s15(v: float) -> bytes:
    return int(round(v * 65536)).to_bytes(4, "big", signed=True)


def srgb_v2_profile() -> bytes:
    """An ICC version 2.1 sRGB display profile (matrix and tone curves: IEC 61966-2-1's primaries adapted to
    D50, its tone curve as 1024 entries), for the PDF/A output intent.

    Written here because the library at hand cannot: Pillow's LittleCMS writes sRGB as ICC 4.4, newer than
    the ICC.1:2004-10 (4.2) that PDF 1.7 and so PDF/A-2 know; no version-2 profile ships with a PyPI package
    bigocr depends on.  ``tests/test_pdf.py`` checks LittleCMS reads it as sRGB (colours within one level).
    """
    import struct

    def tag(kind: bytes, body: bytes) -> bytes:
        data = kind + bytes(4) + body
        return data + bytes(-len(data) % 4)

    name = b"sRGB IEC61966-2.1 (bigocr, ICC v2)"
    # textDescriptionType: ASCII count and text, then empty Unicode (language, count) and ScriptCode parts
    desc = tag(b"desc", struct.pack(">I", len(name) + 1) + name + b"\0" + bytes(8) + bytes(3) + bytes(67))
    cprt = tag(b"text", b"No copyright, use freely\0")
    xyz = {b"wtpt": (0.9642, 1.0, 0.8249), b"rXYZ": (0.4361, 0.2225, 0.0139), b"gXYZ": (0.3851, 0.7169, 0.0971),
           b"bXYZ": (0.1431, 0.0606, 0.7141)}
    xs = np.linspace(0.0, 1.0, 1024)
    curve = np.where(xs <= 0.04045, xs / 12.92, ((xs + 0.055) / 1.055) ** 2.4)
    trc = tag(b"curv", struct.pack(">I", 1024) + np.round(curve * 65535).astype(">u2").tobytes())
    tags = [(b"desc", desc), (b"cprt", cprt)] + [(k, tag(b"XYZ ", b"".join(_s15(c) for c in v))) for k, v in xyz.items()]
    tags += [(b"rTRC", trc), (b"gTRC", trc), (b"bTRC", trc)]
    offset = 128 + 4 + 12 * len(tags)
    table, body, placed = [], b"", {}
    for sig, data in tags:
        if data not in placed:  # the three curves share one copy
            placed[data] = offset + len(body)
            body += data
        table.append(sig + struct.pack(">II", placed[data], len(data)))
    size = offset + len(body)
    header = (struct.pack(">I", size) + bytes(4) + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + bytes(4) + bytes(4) + bytes(8) + bytes(8)
              + struct.pack(">I", 0) + _s15(0.9642) + _s15(1.0) + _s15(0.8249) + bytes(4))
    header += bytes(128 - len(header))
    return header + struct.pack(">I", len(tags)) + b"".join(table) + body


def _srgb_intent(pdf):
    import pikepdf

    profile = srgb_v2_profile()
    icc = pikepdf.Stream(pdf, zlib.compress(profile), Filter=pikepdf.Name.FlateDecode, N=3)
    return pikepdf.Dictionary(Type=pikepdf.Name.OutputIntent, S=pikepdf.Name.GTS_PDFA1,
                              OutputConditionIdentifier=pikepdf.String("sRGB IEC61966-2.1"),
                              Info=pikepdf.String("sRGB IEC61966-2.1"), DestOutputProfile=icc)


def _save(pdf, encryption=False) -> bytes:
    """The PDF's bytes; ``encryption``: False (none), True (the source's own, kept) or a pikepdf.Encryption."""
    out = io.BytesIO()
    pdf.save(out, fix_metadata_version=False, deterministic_id=False, encryption=encryption)
    return out.getvalue()


def _encryption_like(source, password):
    """An encryption for a new file made from ``source``'s pages that opens with the same password and allows
    what ``source`` allows (its owner password is not known: a new one, random); False when unencrypted."""
    import secrets

    import pikepdf

    if not source.is_encrypted:
        return False
    return pikepdf.Encryption(user=password or "", owner=secrets.token_hex(16), R=6, allow=source.allow)


def _keep_document_info(source, pdf) -> None:
    """The user's document information, XMP, language and output intents, onto a new file of its pages."""
    def foreign(value):  # copy_foreign takes indirect objects: the source (never saved) lends one
        return pdf.copy_foreign(value if value.is_indirect else source.make_indirect(value))

    for key, value in source.docinfo.items():
        pdf.docinfo[key] = foreign(value)
    for key in ("/Metadata", "/Lang", "/OutputIntents", "/ViewerPreferences"):
        if key in source.Root:
            pdf.Root[key] = foreign(source.Root[key])


# --- pages ---------------------------------------------------------------------------------------------

def _page_units(width_px: int, height_px: int, dpi) -> tuple[float, float, float]:
    """``(width, height, user_unit)``: the page of a scan at ``dpi``, in PDF units, sides at most 200 in."""
    dx, dy = dpi
    w_pt, h_pt = width_px / dx * 72.0, height_px / dy * 72.0
    unit = max(1.0, math.ceil(max(w_pt, h_pt) / MAX_PAGE_UNITS))
    return w_pt / unit, h_pt / unit, unit


def _scan_dpi(scan_info: dict, default: float = 300.0) -> tuple[float, float]:
    dpi = scan_info.get("dpi")
    if dpi and all(isinstance(v, (int, float)) and 0 < v < 1e6 for v in dpi):
        return float(dpi[0]), float(dpi[1])
    return default, default


def _passthrough(scan) -> bool:
    """Whether img2pdf can embed the scan's file as it is (a JPEG, JPEG 2000 or PNG shown as stored)."""
    path = getattr(scan, "path", None)
    if path is None or getattr(scan, "pages", 1) != 1:
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 20)
    except OSError:
        return False
    if not (head.startswith(b"\xff\xd8\xff") or head.startswith(b"\x89PNG") or head[4:8] == b"jP  "
            or head.startswith(b"\xffO\xffQ")):
        return False
    from bigocr.tiler.header import read_header

    if head.startswith(b"\xff\xd8\xff") and _jpeg_components(head) not in (1, 3):
        return False  # a CMYK JPEG: PDF/A's sRGB output intent cannot hold it; written as RGB Flate instead
    try:
        return read_header(head).orientation in (None, 1)
    except ValueError:
        return False


def _jpeg_components(head: bytes) -> int | None:
    """Colour components of a JPEG, from its frame header (SOF0..SOF15 but DHT, JPG, DAC)."""
    i = 2
    while i + 4 <= len(head) and head[i] == 0xFF:
        marker, length = head[i + 1], int.from_bytes(head[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return head[i + 9] if i + 9 < len(head) else None
        i += 2 + length
    return None


def _image_page_pdf(scan, result):
    """A one-page PDF holding the scan's image (passed through, or Flate band by band) and its placement."""
    import pikepdf

    dpi = _scan_dpi(result.scan)
    w_units, h_units, unit = _page_units(scan.width, scan.height, dpi)
    if _passthrough(scan):
        import img2pdf

        try:
            with _PIL_LIMIT:  # img2pdf reads the header with PIL, whose bomb check bigocr's own size check replaces
                from PIL import Image

                limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
                try:
                    data = img2pdf.convert(scan.path, layout_fun=img2pdf.get_fixed_dpi_layout_fun(
                        (dpi[0] / unit, dpi[1] / unit)), rotation=img2pdf.Rotation.none, with_pdfrw=False)
                finally:
                    Image.MAX_IMAGE_PIXELS = limit
            pdf = pikepdf.open(io.BytesIO(data))
            if unit != 1:
                pdf.pages[0].obj.UserUnit = unit
            to_pdf = np.array([[w_units / scan.width, 0, 0], [0, -h_units / scan.height, h_units]])
            return pdf, to_pdf
        except Exception:
            pass  # a file img2pdf will not pass through (alpha, interlace, 16 bits): written as Flate below
    pdf = pikepdf.new()
    gray = getattr(scan, "colour", "rgb") == "gray"
    compressor = zlib.compressobj(6)
    parts = []
    for y0 in range(0, scan.height, FLATE_BAND):
        band = scan.read(y0, min(scan.height, y0 + FLATE_BAND), 0, scan.width)
        parts.append(compressor.compress(np.ascontiguousarray(band[..., 0] if gray else band).tobytes()))
    parts.append(compressor.flush())
    image = pikepdf.Stream(pdf, b"".join(parts), Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Image,
                           Width=scan.width, Height=scan.height, BitsPerComponent=8,
                           ColorSpace=pikepdf.Name.DeviceGray if gray else pikepdf.Name.DeviceRGB,
                           Filter=pikepdf.Name.FlateDecode)
    del parts
    content = f"q {_num(w_units)} 0 0 {_num(h_units)} 0 0 cm /Im0 Do Q\n".encode()
    page = pikepdf.Dictionary(Type=pikepdf.Name.Page, MediaBox=pikepdf.Array([0, 0, w_units, h_units]),
                              Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image)),
                              Contents=pikepdf.Stream(pdf, content))
    if unit != 1:
        page.UserUnit = unit
    pdf.pages.append(pikepdf.Page(page))
    to_pdf = np.array([[w_units / scan.width, 0, 0], [0, -h_units / scan.height, h_units]])
    return pdf, to_pdf


def _source_pdf(path: str, password):
    import pikepdf

    try:
        return pikepdf.open(path, password=password or "")
    except (pikepdf.PdfError, OSError) as exc:
        raise OutputError(f"{path}: cannot reopen the PDF to add its text layer: {exc}") from None


def _writing(what: str):
    """pikepdf's errors while a PDF is put together, as an OutputError naming ``what``."""
    import contextlib

    import pikepdf

    @contextlib.contextmanager
    def guard():
        try:
            yield
        except (pikepdf.PdfError, pikepdf.ForeignObjectError, OSError, ValueError) as exc:
            raise OutputError(f"{what}: cannot write the searchable PDF: {str(exc).splitlines()[0] if str(exc) else exc}"
                              ) from None

    return guard()


def pdf_bytes(result, scan=None) -> bytes:
    """``text.pdf`` of one scan: its page (a PDF's own page, or the scan's image) with the text layer.

    A PDF of one page is the user's file with the text layer added (forms, outline, structure, metadata and
    encryption as they were); one page of a longer PDF is that page alone, with the document's information,
    XMP, language and output intents, encrypted as the source was (same user password) where it was.

    Parameters
    ----------
    result : bigocr.Result
    scan : ScanSource, optional
        The scan the result was found in (reopened from ``result.scan`` when not given).
    """
    import pikepdf

    if scan is None:
        from bigocr.tiler.scan import open_scan

        scan = open_scan(result.scan["path"], page=result.scan.get("page") or 0)
    pdf_info = result.scan.get("pdf")
    password = getattr(scan, "password", None)
    with _writing(scan.name):
        if pdf_info is not None and getattr(scan, "pages", 1) == 1:
            return add_text_layers(scan.path, {0: result}, password)
        codes = _Codes()
        if pdf_info is not None:
            source = _source_pdf(scan.path, password)
            try:
                pdf = pikepdf.new()
                pdf.pages.append(source.pages[scan.page])
                _keep_document_info(source, pdf)
                font = _font(pdf, codes)
                _add_layer(pdf, pdf.pages[0], result, np.asarray(pdf_info["to_pdf"]).reshape(2, 3), font, codes)
                _finish_font(font, codes)
                _metadata(pdf, [result], own=False)
                return _save(pdf, _encryption_like(source, password))
            finally:
                source.close()
        pdf, to_pdf = _image_page_pdf(scan, result)
        font = _font(pdf, codes)
        _add_layer(pdf, pdf.pages[0], result, to_pdf, font, codes)
        _finish_font(font, codes)
        pdf.Root.OutputIntents = pikepdf.Array([_srgb_intent(pdf)])
        _metadata(pdf, [result], own=True)
        return _save(pdf)


def add_text_layers(path: str, results: dict, password: str | None = None) -> bytes:
    """The whole PDF at ``path`` with a text layer on each page in ``results`` (0-based page -> Result);
    every other page, and the document's outline, forms, structure, metadata and encryption, as they were."""
    codes = _Codes()
    with _writing(path):
        pdf = _source_pdf(path, password)
        try:
            font = _font(pdf, codes)
            for index, result in sorted(results.items()):
                info = result.scan.get("pdf") or {}
                _add_layer(pdf, pdf.pages[index], result, np.asarray(info["to_pdf"]).reshape(2, 3), font, codes)
            _finish_font(font, codes)
            _metadata(pdf, list(results.values()), own=False)
            return _save(pdf, encryption=pdf.is_encrypted)  # True: the source's own encryption, kept
        finally:
            pdf.close()


def text_only_pdf(result, width_pt: float, height_pt: float) -> bytes:
    """A page ``width_pt`` x ``height_pt`` holding nothing but ``result``'s text layer, the scan filling the
    page: what OCRmyPDF's sandwich renderer grafts onto its page (:mod:`bigocr.ocrmypdf`), so as it expects
    it: one content stream, the font named ``/F1``."""
    import pikepdf

    codes = _Codes()
    pdf = pikepdf.new()
    font = _font(pdf, codes)
    width, height = result.scan["width"], result.scan["height"]
    to_pdf = np.array([[width_pt / width, 0, 0], [0, -height_pt / height, height_pt]])
    layer = _text_layer(result, to_pdf, codes, "/F1")
    page = pikepdf.Dictionary(Type=pikepdf.Name.Page, MediaBox=pikepdf.Array([0, 0, width_pt, height_pt]),
                              Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)),
                              Contents=pikepdf.Stream(pdf, layer))
    pdf.pages.append(pikepdf.Page(page))
    _finish_font(font, codes)
    return _save(pdf)


def document_pdf(source: str, results: dict, password: str | None = None, page_pdfs=()) -> bytes:
    """The searchable PDF of a whole multi-page source: a PDF with a text layer added to each of its pages
    (:func:`add_text_layers`), or a multi-page TIFF's pages' own ``text.pdf`` (``page_pdfs``, their bytes in
    page order) joined, each page as :func:`pdf_bytes` made it.

    Parameters
    ----------
    source : str
        The PDF or TIFF.
    results : dict
        0-based page -> Result, for every page.
    """
    import pikepdf

    from bigocr.tiler.pdf import is_pdf

    with _writing(source):
        with open(source, "rb") as fh:
            head = fh.read(1024)
        if is_pdf(head):
            return add_text_layers(source, results, password)
        pdf = pikepdf.new()
        parts = [pikepdf.open(io.BytesIO(data)) for data in page_pdfs]
        try:
            for part in parts:
                pdf.pages.extend(part.pages)
            if parts and "/OutputIntents" in parts[0].Root:
                pdf.Root.OutputIntents = pdf.copy_foreign(parts[0].Root.OutputIntents)
            _metadata(pdf, list(results.values()), own=True)
            return _save(pdf)
        finally:
            for part in parts:
                part.close()
