"""PDF pages as scans: the embedded image at its native resolution, or the page rendered band by band.

A page that is one scanned image (the common case for digitised material:
exactly one image drawn, nothing else visible) is read from that image as it
is stored, never re-rendered: pdfium decodes it (JPEG, JPEG 2000, JBIG2,
CCITT, Flate; palette, CMYK and ICC colour converted to RGB) and a baseline
JPEG in gray or RGB, the bulk of large scans, is decoded as a stream by
libvips, band by band, so a 20 000 x 28 000 px page never exists whole in
memory (pdfium's image decode is whole-image only: measured 1.7 GB for that
page against 0.5 GB streamed).  The image is turned by the multiple of 90
degrees (and mirror) that the page's ``/Rotate`` and the image's matrix
show it at, so its text stands upright; a small skew stays, as in any scan.
Its dpi is the image's pixels over the size it is drawn at.

Any other page (vector text, several images, born-digital) is rendered with
pdfium at ``dpi`` (default :data:`DEFAULT_DPI`), as a viewer shows it, band by
band into the job's scan cache.

Every page knows :attr:`PdfPage.to_pdf`: the affine map from its pixels to the
page's default user space in PDF units (points times ``/UserUnit``), which
the searchable-PDF writer and ``words.json`` (``box_pt``) use.

pikepdf (qpdf) checks the file's structure first: encryption, JavaScript
(never run: such a file is refused), the page count, ``/UserUnit``, and the
image's own dictionary (a ``/Decode`` array, a mask) where libvips would
otherwise be asked to decode what pdfium must.  pdfium is not thread-safe:
every call into it holds one process-wide lock.
"""

from __future__ import annotations

import logging
import math
import os
import threading

import numpy as np

from bigocr.errors import ParameterError, ScanError
from bigocr.tiler.files import FileSource, complete_cache

__all__ = ["PdfPage", "open_pdf_page", "pdf_pages", "is_pdf", "display_matrix", "DEFAULT_DPI", "MAX_DPI"]

#: Resolution a page without one scanned image is rendered at, by default.
DEFAULT_DPI = 300.0
#: Highest accepted ``dpi``.
MAX_DPI = 2400.0
#: Pages (or their image) whose decoded RGB is at most this many bytes are decoded once, at open, into memory;
#: larger ones once into the job's scan cache (zarr), band by band.
IN_MEMORY_BYTES = 64 * 2**20
#: Rows decoded or rendered at a time into the cache (also the cache's chunk side).
BAND = 1024
#: Largest image pdfium is asked to decode whole (its own limit is near this).
MAX_WHOLE_PIXELS = 2**30

_PDFIUM = threading.RLock()
# pypdfium2 reports its own housekeeping (documents still open at exit, closed then) on stderr: not a user's
# business (the documents kept open per process, like TIFFs, are closed at exit on purpose).
logging.getLogger("pypdfium2").setLevel(logging.ERROR)
try:
    import pypdfium2_cfg

    pypdfium2_cfg.DEBUG_AUTOCLOSE.value = logging.CRITICAL + 1
except (ImportError, AttributeError):  # pragma: no cover - another pypdfium2 layout
    pass

#: pdfium page object types (FPDF_PAGEOBJ_*)
_TEXT, _PATH, _IMAGE, _SHADING, _FORM = 1, 2, 3, 4, 5


def is_pdf(head: bytes) -> bool:
    """Whether a file's first bytes are a PDF's (``%PDF-`` within the first 1024 bytes, as readers allow)."""
    return b"%PDF-" in head[:1024]


def _orientation_matrix(code: int, width: int, height: int) -> np.ndarray:
    """The 3x3 map from stored pixel coordinates ``(x, y, 1)`` (an image ``width`` x ``height``) to the
    coordinates after :func:`bigocr.tiler.scan.apply_orientation` with EXIF ``code`` (continuous
    coordinates: pixel corners, not centres)."""
    w, h = width, height
    table = {
        1: [[1, 0, 0], [0, 1, 0]],
        2: [[-1, 0, w], [0, 1, 0]],
        3: [[-1, 0, w], [0, -1, h]],
        4: [[1, 0, 0], [0, -1, h]],
        5: [[0, 1, 0], [1, 0, 0]],
        6: [[0, -1, h], [1, 0, 0]],
        7: [[0, -1, h], [-1, 0, w]],
        8: [[0, 1, 0], [-1, 0, w]],
    }
    return np.vstack([np.asarray(table[code], float), [0, 0, 1]])


def display_matrix(box, rotate: int) -> np.ndarray:
    """The 3x3 map from default user space ``(X, Y, 1)`` to the page as displayed, in the same units, y
    down, origin at the top-left corner of ``box`` (the crop box) turned by ``rotate`` degrees clockwise."""
    x0, y0, x1, y1 = box
    rows = {
        0: [[1, 0, -x0], [0, -1, y1]],
        90: [[0, 1, -y0], [1, 0, -x0]],
        180: [[-1, 0, x1], [0, 1, -y0]],
        270: [[0, -1, y1], [-1, 0, x1]],
    }[rotate]
    return np.vstack([np.asarray(rows, float), [0, 0, 1]])


def _nearest_orientation(linear: np.ndarray, width: int, height: int) -> int:
    """The EXIF code whose turn brings an image drawn by ``linear`` (stored pixels to display, 2x2) closest
    to upright (display axes along the scan's, both increasing)."""
    best, best_score = 1, -np.inf
    for code in range(1, 9):
        a = _orientation_matrix(code, width, height)[:2, :2]
        b = linear @ np.linalg.inv(a)  # scan pixels to display
        score = (b[0, 0] + b[1, 1]) / (np.linalg.norm(b) + 1e-12)
        if score > best_score + 1e-9:
            best, best_score = code, score
    return best


def _pdfium_error(path: str, exc: Exception, password) -> ScanError:
    text = str(exc)
    if "password" in text.lower():
        if password is None:
            return ScanError(f"{path}: the PDF is encrypted: it needs a password (--password)")
        return ScanError(f"{path}: the PDF is encrypted and the password given does not open it")
    if "format" in text.lower() or "file" in text.lower():
        return ScanError(f"{path}: not a valid PDF, and it cannot be repaired ({text.rstrip('.')})")
    return ScanError(f"{path}: cannot read the PDF: {text}")


def _open_pikepdf(path: str, password):
    import pikepdf

    try:
        return pikepdf.open(path, password=password or "")
    except pikepdf.PasswordError:
        if password is None:
            raise ScanError(f"{path}: the PDF is encrypted: it needs a password (--password)") from None
        raise ScanError(f"{path}: the PDF is encrypted and the password given does not open it") from None
    except pikepdf.PdfError as exc:
        why = _first_line(exc, path)
        raise ScanError(f"{path}: not a valid PDF, and it cannot be repaired ({why})") from None
    except OSError as exc:
        raise ScanError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _javascript(pdf) -> str | None:
    """Where a PDF holds JavaScript (a ``/JS`` action or a ``/JavaScript`` name tree), or None.

    Every object is looked at, and inside each the dictionaries and arrays it holds directly (an
    ``/OpenAction`` written into the catalogue); references are not followed, their objects are looked at
    in their turn."""
    import pikepdf

    names = pdf.Root.get("/Names")
    if isinstance(names, pikepdf.Dictionary) and "/JavaScript" in names:
        return "a document-level script (/Names /JavaScript)"

    def script(obj, depth=0) -> bool:
        if depth > 32:
            return False
        if isinstance(obj, pikepdf.Stream):
            obj = obj.stream_dict
        if isinstance(obj, pikepdf.Dictionary):
            if "/JS" in obj or obj.get("/S") == pikepdf.Name.JavaScript:
                return True
            return any(script(v, depth + 1) for _, v in obj.items() if direct(v))
        if isinstance(obj, pikepdf.Array):
            return any(script(v, depth + 1) for v in obj if direct(v))
        return False

    def direct(value) -> bool:
        return isinstance(value, (pikepdf.Dictionary, pikepdf.Array)) and not value.is_indirect

    for obj in pdf.objects:
        if script(obj):
            return f"a JavaScript action (in object {obj.objgen[0]})"
    return None


#: pdfium documents kept open per process (every use, and every close, under the lock: pdfium is not
#: thread-safe), most recently used last.
OPEN_DOCUMENTS = 4
_DOCUMENTS: dict = {}
#: Files whose structure was checked (path, size, time, password) -> page count: a book's pages are checked once.
_CHECKED: dict = {}


def _pdfium_document(path: str, password):
    """The pdfium document of ``path``, opened once per process; call under ``_PDFIUM``."""
    import pypdfium2 as pdfium

    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns, password)
    if key in _DOCUMENTS:
        _DOCUMENTS[key] = _DOCUMENTS.pop(key)
        return _DOCUMENTS[key]
    try:
        doc = pdfium.PdfDocument(path, password=password)
    except pdfium.PdfiumError as exc:
        raise _pdfium_error(path, exc, password) from None
    _DOCUMENTS[key] = doc
    while len(_DOCUMENTS) > OPEN_DOCUMENTS:
        _DOCUMENTS.pop(next(iter(_DOCUMENTS))).close()
    return doc


def pdf_pages(path, password: str | None = None) -> int:
    """Pages of a PDF (its structure checked as :func:`open_pdf_page` does)."""
    path = str(path)
    with _PDFIUM:
        pdf = _checked(path, password)
        try:
            return len(pdf.pages)
        finally:
            pdf.close()


def _checked(path: str, password):
    """The PDF opened by pikepdf, refused when it holds JavaScript or no page (checked once per file)."""
    import pikepdf

    pdf = _open_pikepdf(path, password)
    try:
        st = os.stat(path)
        key = (path, st.st_size, st.st_mtime_ns, password)
        if key not in _CHECKED:
            where = _javascript(pdf)
            if where is not None:
                raise ScanError(f"{path}: the PDF holds JavaScript ({where}); bigocr never runs scripts and does "
                                "not read files that hold them: save the pages without the scripts first")
            _CHECKED[key] = len(pdf.pages)
        if _CHECKED[key] == 0:
            raise ScanError(f"{path}: the PDF holds no pages")
    except pikepdf.PdfError as exc:
        pdf.close()
        raise ScanError(f"{path}: damaged PDF structure ({_first_line(exc, path)})") from None
    except BaseException:
        pdf.close()
        raise
    return pdf


def _first_line(exc, path: str) -> str:
    return (str(exc).splitlines()[0] if str(exc) else type(exc).__name__).replace(f"{path}: ", "")


class PdfPage(FileSource):
    """One page of a PDF as a scan (the :class:`~bigocr.tiler.source.ScanSource` protocol).

    Open one with :func:`open_pdf_page`.  It pickles as its path and geometry
    (plus its pixels when decoded in memory); each process reopens the file.

    Attributes
    ----------
    height, width, path, page, pages, dpi
        As for :class:`~bigocr.tiler.scan.Scan`.
    mode : {"image", "render"}
        Read from the page's one image, or rendered at ``dpi``.
    to_pdf : ndarray, shape (2, 3)
        Affine map from pixel coordinates ``(x, y, 1)`` (pixel corners, y down) to the page's default user
        space ``(X, Y)`` in PDF units (y up).
    """

    def __init__(self, path: str, page: int, pages: int, mode: str, height: int, width: int,
                 dpi: tuple[float, float], to_pdf: np.ndarray, geometry: dict, *, password: str | None = None,
                 stored: tuple[int, int] = (0, 0), orientation: int = 1, stream: bool = False,
                 channels: int = 3):
        self.path = path
        self.page = page
        self.pages = pages
        self.mode = mode
        self.height = int(height)
        self.width = int(width)
        self.dpi = (round(float(dpi[0]), 2), round(float(dpi[1]), 2))
        self.to_pdf = np.asarray(to_pdf, float)
        self.geometry = geometry
        self.colour = "gray" if channels == 1 else "rgb"
        self.password = password
        self._stored = stored  # (height, width) of the image as stored
        self._orientation = orientation
        self._stream = stream  # a JPEG libvips decodes as a stream
        self._channels = channels
        self._array = None  # decoded pixels as stored (image) or as shown (render), when held in memory
        self._cache = None  # a zarr store with the same, once made
        self._zarr = None

    # -- the ScanSource protocol -------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.path if self.page == 0 and self.pages == 1 else f"{self.path} page {self.page + 1}"

    @property
    def in_memory(self) -> bool:
        return self._array is not None

    @property
    def needs_cache(self) -> bool:
        return self._array is None and self._cache is None

    @property
    def band_rows(self) -> int:
        return BAND if self._cache is not None else 1

    @property
    def segment_bytes(self) -> int:
        return 0 if self._array is not None or self._cache is not None else self._decoded_bytes()

    def _decoded_bytes(self) -> int:
        h, w = self._stored if self.mode == "image" else self.shape
        return h * w * self._channels

    def fingerprint(self) -> dict:
        st = os.stat(self.path)
        return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns}

    def info(self) -> dict:
        return {"path": self.path, "width": self.width, "height": self.height, "page": self.page,
                "pages": self.pages, "dpi": list(self.dpi),
                "pdf": {**self.geometry, "to_pdf": [round(float(v), 6) for v in self.to_pdf.ravel()]}}

    def __repr__(self):
        return f"PdfPage({self.path!r}, page={self.page + 1}, {self.mode}, {self.width}x{self.height})"

    def cached(self, store) -> "PdfPage":
        """This page decoded (or rendered) once, band by band, into the zarr array at ``store``."""
        import zarr

        if complete_cache(store):
            return self._with_cache(store)
        shape = (*(self._stored if self.mode == "image" else self.shape), self._channels)
        array = zarr.create_array(store, shape=shape, chunks=(BAND, BAND, self._channels), dtype="uint8",
                                  overwrite=True, fill_value=255)
        for y0, band in self._bands():
            array[y0:y0 + band.shape[0]] = band
        array.attrs["complete"] = True
        return self._with_cache(store)

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Pixels ``[y0, y1) x [x0, x1)`` of the page as shown, ``(h, w, 3)`` uint8 RGB."""
        if not (0 <= y0 < y1 <= self.height and 0 <= x0 < x1 <= self.width):
            raise IndexError(f"window {(y0, y1, x0, x1)} outside scan {self.shape}")
        if self.mode == "render":
            if self._array is None and self._cache is None:
                return self._render(y0, y1, x0, x1)
            return _rgb(self._stored_pixels(y0, y1, x0, x1))
        from bigocr.tiler.files import apply_orientation

        sy0, sy1, sx0, sx1 = self._stored_window(y0, y1, x0, x1)
        if self._array is None and self._cache is None:
            px = self._decode_window(sy0, sy1, sx0, sx1)
        else:
            px = self._stored_pixels(sy0, sy1, sx0, sx1)
        return _rgb(np.ascontiguousarray(apply_orientation(px, self._orientation)))

    # -- pixels ------------------------------------------------------------------------------------
    def _stored_window(self, y0, y1, x0, x1):
        """The stored image's window that turns into the page's window ``[y0, y1) x [x0, x1)``."""
        h, w = self._stored
        inverse = np.linalg.inv(_orientation_matrix(self._orientation, w, h))
        corners = np.array([[x0, y0, 1], [x1, y1, 1]], float) @ inverse.T
        xs, ys = np.sort(np.rint(corners[:, 0]).astype(int)), np.sort(np.rint(corners[:, 1]).astype(int))
        return int(ys[0]), int(ys[1]), int(xs[0]), int(xs[1])

    def _stored_pixels(self, y0, y1, x0, x1) -> np.ndarray:
        if self._array is not None:
            return self._array[y0:y1, x0:x1]
        import zarr

        if self._zarr is None:
            self._zarr = zarr.open_array(self._cache, mode="r")
        return np.asarray(self._zarr[y0:y1, x0:x1])

    def load(self) -> "PdfPage":
        """Decode the whole page into memory now (pages of at most :data:`IN_MEMORY_BYTES`)."""
        h, w = self._stored if self.mode == "image" else self.shape
        pixels = np.empty((h, w, self._channels), np.uint8)
        for y0, band in self._bands():
            pixels[y0:y0 + band.shape[0]] = band
        self._array = pixels
        return self

    def _bands(self):
        """``(y0, pixels)`` bands of :data:`BAND` rows covering the stored image (or the rendered page)."""
        if self.mode == "render":
            for y0 in range(0, self.height, BAND):
                yield y0, self._render(y0, min(self.height, y0 + BAND), 0, self.width)
        elif self._stream:
            yield from _vips_bands(self._jpeg_bytes(), self._stored, self._channels, self.path)
        else:
            whole = self._decode_whole()
            for y0 in range(0, whole.shape[0], BAND):
                yield y0, whole[y0:y0 + BAND]

    def _decode_window(self, y0, y1, x0, x1) -> np.ndarray:
        """A window of the stored image, decoded without a cache (a JPEG streamed up to ``y1``)."""
        if self._stream:
            import pyvips

            image = pyvips.Image.new_from_buffer(self._jpeg_bytes(), "", access="sequential", fail=True)
            return _vips_pixels(image.crop(x0, y0, x1 - x0, y1 - y0), self.path)
        return np.ascontiguousarray(self._decode_whole()[y0:y1, x0:x1])  # no second copy kept for the cache fill

    def _with_image(self, use):
        """``use(image object)`` for the page's one image, under the lock, the page closed after."""
        import pypdfium2.raw as raw

        with _PDFIUM:
            page = _pdfium_document(self.path, self.password)[self.page]
            try:
                images = [o for o in page.get_objects() if o.type == raw.FPDF_PAGEOBJ_IMAGE]
                return use(images[0])
            finally:
                page.close()

    def _jpeg_bytes(self) -> bytes:
        return self._with_image(lambda image: bytes(image.get_data(decode_simple=False)))

    def _decode_whole(self) -> np.ndarray:
        """The stored image decoded by pdfium, ``(h, w, channels)`` uint8 (RGB or gray)."""
        def decode(image):
            bitmap = image.get_bitmap(render=False)
            try:
                return np.array(bitmap.to_numpy(), copy=True), bitmap.format
            finally:
                bitmap.close()

        try:
            pixels, fmt = self._with_image(decode)
        except ScanError:
            raise
        except Exception as exc:
            raise ScanError(f"{self.name}: cannot decode the page's image: {exc}") from None
        return _as_stored(pixels, fmt, self._stored, self._channels, self.name)

    def _render(self, y0, y1, x0, x1) -> np.ndarray:
        """Render the page's window ``[y0, y1) x [x0, x1)`` at the page's dpi, on white, as RGB."""
        import pypdfium2 as pdfium
        import pypdfium2.raw as raw

        with _PDFIUM:
            page = _pdfium_document(self.path, self.password)[self.page]
            bitmap = pdfium.PdfBitmap.new_native(x1 - x0, y1 - y0, raw.FPDFBitmap_BGR)
            try:
                raw.FPDFBitmap_FillRect(bitmap, 0, 0, x1 - x0, y1 - y0, 0xFFFFFFFF)
                raw.FPDF_RenderPageBitmap(bitmap, page, -x0, -y0, self.width, self.height, 0,
                                          raw.FPDF_ANNOT | raw.FPDF_PRINTING)
                pixels = np.array(bitmap.to_numpy()[..., ::-1], copy=True)  # BGR to RGB
            except Exception as exc:
                raise ScanError(f"{self.name}: cannot render the page: {exc}") from None
            finally:
                bitmap.close()
                page.close()
        return pixels


def _rgb(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        return np.ascontiguousarray(pixels)
    gray = pixels[..., 0] if pixels.ndim == 3 else pixels
    return np.repeat(gray[..., None], 3, axis=2)


def _as_stored(pixels: np.ndarray, fmt: int, stored: tuple[int, int], channels: int, name: str) -> np.ndarray:
    """pdfium's bitmap (gray, BGR, BGRx or BGRA) as ``(h, w, channels)`` RGB or gray."""
    if pixels.shape[:2] != tuple(stored):
        raise ScanError(f"{name}: the page's image decodes to {pixels.shape[1]}x{pixels.shape[0]} px, not the "
                        f"{stored[1]}x{stored[0]} its dictionary says: damaged image data")
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.shape[2] == 1:
        return pixels if channels == 1 else np.repeat(pixels, 3, axis=2)
    rgb = np.ascontiguousarray(pixels[..., 2::-1])
    if channels == 1:
        return rgb[..., :1]
    return rgb


def _vips_pixels(image, name: str) -> np.ndarray:
    try:
        data = image.write_to_memory()
    except Exception as exc:
        why = str(exc).strip().splitlines()
        raise ScanError(f"{name}: corrupt JPEG data in the page's image ({why[-1] if why else exc})") from None
    return np.ndarray(buffer=data, dtype=np.uint8, shape=(image.height, image.width, image.bands))


def _vips_bands(data: bytes, stored: tuple[int, int], channels: int, name: str):
    """A baseline JPEG decoded as a stream by libvips, :data:`BAND` rows at a time."""
    import pyvips

    try:
        image = pyvips.Image.new_from_buffer(data, "", access="sequential", fail=True)
    except pyvips.Error as exc:
        raise ScanError(f"{name}: cannot decode the page's JPEG image: {str(exc).strip().splitlines()[-1]}") from None
    if (image.height, image.width) != tuple(stored) or image.bands != channels:
        raise ScanError(f"{name}: the page's JPEG is {image.width}x{image.height} px with {image.bands} channels, "
                        f"not the {stored[1]}x{stored[0]} its dictionary says: damaged image data")
    for y0 in range(0, image.height, BAND):
        rows = min(BAND, image.height - y0)
        yield y0, _vips_pixels(image.crop(0, y0, image.width, rows), name)


def _pt(value: float) -> str:
    """A length in points for messages: ``612``, ``595.28``."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _check_dpi(dpi) -> float:
    if dpi is None:
        return DEFAULT_DPI
    try:
        value = float(dpi)
    except (TypeError, ValueError):
        raise ParameterError(f"dpi must be a number, got {dpi!r}") from None
    if not (math.isfinite(value) and 0 < value <= MAX_DPI):
        raise ParameterError(f"dpi must be in (0, {MAX_DPI:g}], got {dpi!r}")
    return value


def open_pdf_page(path, page: int = 0, *, max_pixels: int, dpi: float | None = None,
                  password: str | None = None) -> PdfPage:
    """Open page ``page`` (0-based) of a PDF as a scan.

    Parameters
    ----------
    path : str or Path
    page : int
        0-based page index.
    max_pixels : int
        Largest accepted page in pixels (the image's, or the rendering's at ``dpi``).
    dpi : float, optional
        Resolution a page without one scanned image is rendered at (default :data:`DEFAULT_DPI`).
    password : str, optional
        The password of an encrypted PDF.

    Raises
    ------
    ScanError
        Not a PDF, damaged beyond repair, encrypted (without the password), holding JavaScript, no such page,
        a page of zero or absurd size, or more pixels than ``max_pixels``.
    """
    import pikepdf
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    from bigocr.tiler.files import check_page, check_size

    path = str(path)
    render_dpi = _check_dpi(dpi)
    with _PDFIUM:
        pdf = _checked(path, password)
        try:
            pages = len(pdf.pages)
            check_page(path, page, pages)
            pike_page = pdf.pages[page]
            unit = pike_page.obj.get("/UserUnit", 1)
            try:
                user_unit = float(unit or 1)
            except (TypeError, ValueError):
                user_unit = float("nan")
            if not (math.isfinite(user_unit) and 0 < user_unit <= 75000):
                raise ScanError(f"{path}: page {page + 1} has an invalid /UserUnit {unit!r}")
            image_dict = _image_dict(pike_page)
        except pikepdf.PdfError as exc:
            raise ScanError(f"{path}: page {page + 1}: damaged PDF structure ({_first_line(exc, path)})") from None
        finally:
            pdf.close()
        doc = _pdfium_document(path, password)
        try:
            p = doc[page]
        except pdfium.PdfiumError as exc:
            raise ScanError(f"{path}: page {page + 1} cannot be loaded ({exc})") from None
        try:
            # the crop box clipped to the media box, inherited ones included: what pdfium renders
            box = tuple(float(v) for v in p.get_bbox())
            rotate = int(p.get_rotation()) % 360
            display_w, display_h = (box[2] - box[0], box[3] - box[1])
            if rotate in (90, 270):
                display_w, display_h = display_h, display_w
            if not (display_w > 0 and display_h > 0 and math.isfinite(display_w * display_h)):
                raise ScanError(f"{path}: page {page + 1} has zero size ({_pt(display_w)} x {_pt(display_h)} pt)")
            geometry = {"box": [round(v, 4) for v in box], "rotate": rotate, "user_unit": user_unit,
                        "size_pt": [round(display_w * user_unit, 3), round(display_h * user_unit, 3)]}
            display = display_matrix(box, rotate)
            objects = list(p.get_objects())
            scanned = _one_image(objects, raw)
            if scanned is not None:
                opened = _image_page(path, page, pages, scanned, display, user_unit, geometry, image_dict,
                                     max_pixels, password, raw)
            else:
                opened = None
            if opened is None:
                scale = render_dpi / 72.0 * user_unit
                width, height = round(display_w * scale), round(display_h * scale)
                if width * height > max_pixels:
                    raise ScanError(
                        f"{path}: page {page + 1} is {_pt(display_w * user_unit)} x {_pt(display_h * user_unit)} pt "
                        f"({display_w * user_unit / 72:.1f} x {display_h * user_unit / 72:.1f} in): rendered at "
                        f"{render_dpi:g} dpi that is {width}x{height} pixels, more than max_pixels={max_pixels}; "
                        "lower --dpi or raise --max-pixels")
                check_size(f"{path} page {page + 1}", height, width, max_pixels)
                to_display = np.diag([1 / scale, 1 / scale, 1.0])  # pixels -> PDF units as displayed
                to_pdf = (np.linalg.inv(display) @ to_display)[:2]
                opened = PdfPage(path, page, pages, "render", height, width, (render_dpi, render_dpi), to_pdf,
                                 {**geometry, "mode": "render"}, password=password)
        except pdfium.PdfiumError as exc:
            raise ScanError(f"{path}: page {page + 1} cannot be read ({exc})") from None
        finally:
            p.close()
    if opened._decoded_bytes() <= IN_MEMORY_BYTES:
        opened.load()
    return opened


def _image_dict(pike_page):
    """The page's image XObjects' dictionaries: ``(width, height) -> stream`` (to check /Decode, masks)."""
    import pikepdf

    found = {}
    try:
        for obj in pike_page.get_images().values():
            if isinstance(obj, pikepdf.Stream):
                found[(int(obj.get("/Width", 0)), int(obj.get("/Height", 0)))] = {
                    "decode": "/Decode" in obj, "mask": "/SMask" in obj or "/Mask" in obj,
                    "stencil": bool(obj.get("/ImageMask", False)),
                    "bits": int(obj.get("/BitsPerComponent", 8) or 8)}
    except Exception:
        pass
    return found


def _one_image(objects, raw):
    """The page's one image object when it is a scan (one image, and nothing else that shows), else None."""
    images = [o for o in objects if o.type == _IMAGE]
    if len(images) != 1:
        return None
    for obj in objects:
        if obj.type == _IMAGE:
            continue
        if obj.type == _PATH:
            fill, stroke = raw.c_int(0), raw.FPDF_BOOL(0)
            raw.FPDFPath_GetDrawMode(obj, fill, stroke)
            if fill.value == 0 and not stroke.value:
                continue  # a clip or an invisible path
            return None
        if obj.type == _TEXT and raw.FPDFTextObj_GetTextRenderMode(obj) == raw.FPDF_TEXTRENDERMODE_INVISIBLE:
            continue  # an earlier OCR's hidden text layer
        return None
    return images[0]


def _image_page(path, page, pages, image, display, user_unit, geometry, image_dict, max_pixels, password, raw):
    """The :class:`PdfPage` reading ``image`` as stored, or None when it cannot be read that way."""
    from bigocr.tiler.files import check_size

    meta = image.get_metadata()
    w, h = int(meta.width), int(meta.height)
    info = image_dict.get((w, h), {})
    if info.get("stencil") or info.get("mask"):
        return None  # drawn through a mask or in the fill colour: rendering shows what the page shows
    check_size(f"{path} page {page + 1}", h, w, max_pixels)
    m = image.get_matrix()
    # stored pixels (x, y), y down -> image unit square (x / w, 1 - y / h) -> user space
    to_unit = np.array([[1 / w, 0, 0], [0, -1 / h, 1], [0, 0, 1]], float)
    placed = np.array([[m.a, m.c, m.e], [m.b, m.d, m.f], [0, 0, 1]], float)
    stored_to_user = placed @ to_unit
    if abs(np.linalg.det(stored_to_user[:2, :2])) < 1e-12:
        return None
    to_display = display @ stored_to_user
    code = _nearest_orientation(to_display[:2, :2], w, h)
    orient = _orientation_matrix(code, w, h)
    to_user = stored_to_user @ np.linalg.inv(orient)  # scan pixels -> user space
    width, height = (h, w) if code >= 5 else (w, h)
    shown = (display @ to_user)[:2, :2] * user_unit  # PDF units per scan pixel, as displayed
    dpi = (72.0 / max(1e-9, float(np.linalg.norm(shown[:, 0]))), 72.0 / max(1e-9, float(np.linalg.norm(shown[:, 1]))))
    filters = [str(f) for f in image.get_filters()]
    bpp = int(meta.bits_per_pixel)
    channels = 1 if bpp <= 8 and int(meta.colorspace) in (1, 4, 7) else 3  # DeviceGray, CalGray, ICC gray
    stream = (filters == ["DCTDecode"] and not info.get("decode") and bpp in (8, 24)
              and int(meta.colorspace) in (1, 2, 7))
    if not stream and w * h > MAX_WHOLE_PIXELS:
        raise ScanError(f"{path}: page {page + 1}'s image ({w}x{h} px, {', '.join(filters) or 'uncompressed'}) is too "
                        f"large to decode whole (the limit is {MAX_WHOLE_PIXELS} pixels; only a baseline JPEG in "
                        "gray or RGB is decoded as a stream): extract it (pdfimages) and convert it to a tiled TIFF")
    geometry = {**geometry, "mode": "image",
                "image": {"width": w, "height": h, "filters": filters, "orientation": code}}
    return PdfPage(path, page, pages, "image", height, width, dpi, to_user[:2], geometry, password=password,
                   stored=(h, w), orientation=code, stream=stream, channels=channels)
