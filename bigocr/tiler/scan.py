"""Reading scans window by window, as RGB uint8.

TIFF and BigTIFF (tiled or striped, compressed or not) are read lazily through
tifffile's zarr view, so a tile decodes only the strips or tiles it touches
(strips of one row included: a tile is one read, never one task per strip).
Uncompressed contiguous TIFFs are memory-mapped.  Strips too big to decode per
tile (a single compressed strip holding the whole scan) are decoded once, strip
by strip, into a chunked cache (:meth:`Scan.cached`) that the tiles then read.
PNG, JPEG and JPEG 2000 cannot be read by windows; OpenCV decodes them once.
In-memory arrays are sliced as they are.

Every window comes back as ``(h, w, 3)`` uint8 RGB: grayscale, 16-bit, bilevel,
palette, RGBA and CMYK are converted on the way in.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bigocr.errors import ScanError
from bigocr.tiler.files import FileSource, apply_orientation, check_page, check_size, complete_cache, shared_reader

__all__ = ["Scan", "open_scan", "count_pages", "to_rgb8", "apply_orientation", "DEFAULT_MAX_PIXELS"]

#: Largest scan accepted by default (4 gigapixels); checked against the header.
DEFAULT_MAX_PIXELS = 4 * 2**30
#: PNG, JPEG and JPEG 2000 are decoded whole (by OpenCV, whose own limit this is).
MAX_DECODED_PIXELS = 2**30
#: A TIFF whose strips or tiles decode to more bytes than this is decoded once into a cache.
SEGMENT_LIMIT = 64 * 2**20
#: Chunk side of that cache, in pixels.
CACHE_CHUNK = 1024

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_JP2_MAGIC = (b"\x00\x00\x00\x0cjP  ", b"\xffO\xffQ")


def to_rgb8(pixels: np.ndarray, photometric: str = "auto", colormap: np.ndarray | None = None,
            bits: int | None = None, float_max: float = 1.0) -> np.ndarray:
    """Convert a window of scan pixels to ``(h, w, 3)`` uint8 RGB.

    Parameters
    ----------
    pixels : ndarray, shape (h, w) or (h, w, c)
        Samples as stored: bool, unsigned or signed integers, or floats in [0, 1].
    photometric : {"auto", "gray", "miniswhite", "rgb", "bgr", "palette", "cmyk"}
        How the samples encode colour. ``"auto"`` means gray for one channel,
        gray+alpha for two, RGB for three and RGBA for four.
    colormap : ndarray, shape (3, n), optional
        Palette of a ``"palette"`` image (any unsigned dtype).
    bits : int, optional
        Significant bits per sample (e.g. 12 in a 16-bit container).
    float_max : float
        White of floating-point samples: 1, 255 or 65535 (:func:`float_white`).

    Returns
    -------
    ndarray, shape (h, w, 3), uint8
    """
    if photometric == "palette":
        if colormap is None:
            raise ScanError("palette image without a colour map")
        cmap = np.asarray(colormap)
        cmap8 = _scale_to_uint8(cmap, None)
        idx = np.asarray(pixels)
        if idx.ndim == 3:
            idx = idx[..., 0]
        idx = np.clip(idx.astype(np.intp), 0, cmap8.shape[1] - 1)
        return np.ascontiguousarray(cmap8[:, idx].transpose(1, 2, 0))

    px = _scale_to_uint8(np.asarray(pixels), bits, float_max)
    if px.ndim == 2:
        px = px[..., None]
    channels = px.shape[2]
    if photometric == "cmyk":
        if channels < 4:
            raise ScanError(f"CMYK image with {channels} channels")
        c, m, y, k = (px[..., i].astype(np.uint16) for i in range(4))
        rgb = np.stack([(255 - c) * (255 - k), (255 - m) * (255 - k), (255 - y) * (255 - k)], axis=-1)
        return ((rgb + 127) // 255).astype(np.uint8)
    if photometric in ("gray", "miniswhite") or (photometric == "auto" and channels <= 2):
        gray = px[..., 0]
        if photometric == "miniswhite":
            gray = 255 - gray
        if channels == 2 and photometric != "miniswhite":
            gray = _over_white(gray[..., None], px[..., 1])[..., 0]
        return np.repeat(gray[..., None], 3, axis=2)
    if channels < 3:
        raise ScanError(f"{photometric} image with only {channels} channel(s)")
    rgb = px[..., :3]
    if photometric == "bgr":
        rgb = rgb[..., ::-1]
    if channels >= 4 and photometric in ("auto", "rgb", "bgr"):
        rgb = _over_white(rgb, px[..., 3])
    return np.ascontiguousarray(rgb)


def _over_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite colour with alpha over white paper."""
    a = alpha.astype(np.uint16)[..., None]
    out = (color.astype(np.uint16) * a + 255 * (255 - a) + 127) // 255
    return out.astype(np.uint8)


#: The ranges floating-point samples are read in: 0..1 (the usual), 0..255 and 0..65535 (integer samples
#: stored as floats), chosen by the largest sample.
FLOAT_WHITES = (1.0, 255.0, 65535.0)


def float_white(largest: float, name: str) -> float:
    """The white of floating-point samples whose largest value is ``largest``: the least of
    :data:`FLOAT_WHITES` that holds it, or a ScanError saying what is expected."""
    if not np.isfinite(largest):
        raise ScanError(f"{name}: floating-point scan holds NaN or infinite samples")
    for white in FLOAT_WHITES:
        if largest <= white:
            return white
    raise ScanError(f"{name}: floating-point samples reach {largest:g}; bigocr reads float scans with samples "
                    "in 0..1, 0..255 or 0..65535: rescale it, or save it with integer samples")


def _scale_to_uint8(px: np.ndarray, bits: int | None, float_max: float = 1.0) -> np.ndarray:
    if px.dtype == np.uint8:
        return px
    if px.dtype == np.bool_:
        return px.astype(np.uint8) * 255
    if np.issubdtype(px.dtype, np.floating):
        if not np.all(np.isfinite(px)):
            raise ScanError("floating-point scan holds NaN or infinite samples")
        return np.clip(np.rint(px * (255.0 / float_max)), 0, 255).astype(np.uint8)
    if np.issubdtype(px.dtype, np.unsignedinteger):
        width = px.dtype.itemsize * 8
        shift = max(0, (bits if bits and bits <= width else width) - 8)
        return (px >> shift).clip(0, 255).astype(np.uint8)
    if np.issubdtype(px.dtype, np.signedinteger):
        info = np.iinfo(px.dtype)
        return ((px.astype(np.float64) - info.min) * (255.0 / (info.max - info.min))).astype(np.uint8)
    raise ScanError(f"unsupported sample type {px.dtype}")


@dataclass(frozen=True)
class _TiffLayout:
    page: int
    axes: str
    photometric: str
    bits: int
    colormap: np.ndarray | None
    band: int = 1  # rows stored together (tile or strip height)
    striped: bool = False  # strips, not tiles: windows are read strip by strip, without zarr
    segment_bytes: int = 0  # decoded bytes of one strip or tile
    memmap: bool = False  # uncompressed and contiguous
    cache: object = None  # a zarr store holding the decoded samples, once made
    float_max: float = 1.0  # white of floating-point samples (float_white)


class Scan(FileSource):
    """A scan that hands out windows as RGB uint8.

    Open one with :func:`open_scan`.  A ``Scan`` pickles cheaply for a
    TIFF (path and layout only; the file is reopened where it is unpickled),
    so tile tasks on Dask workers read their own windows; a scan decoded whole
    (:attr:`in_memory`) carries its pixels.

    Attributes
    ----------
    height, width : int
        Scan size in pixels.
    path : str or None
        The file, or None for an in-memory array.
    page : int
        0-based page of a multi-page TIFF (0 otherwise).
    pages : int
        Pages in the file (1 except for multi-page TIFFs).
    dpi : tuple of float, or None
        ``(x, y)`` pixels per inch as the file records it.
    """

    def __init__(self, height: int, width: int, *, path: str | None = None,
                 array: np.ndarray | None = None, tiff: _TiffLayout | None = None,
                 photometric: str = "auto", page: int = 0, pages: int = 1,
                 dpi: tuple[float, float] | None = None, float_max: float = 1.0):
        self.height = int(height)
        self.width = int(width)
        self.path = path
        self.page = int(page)
        self.pages = int(pages)
        self.dpi = None if dpi is None else (round(float(dpi[0]), 2), round(float(dpi[1]), 2))
        self._array = array
        self._tiff = tiff
        self._photometric = photometric
        self._float_max = float_max
        self._zarr = None

    @property
    def name(self) -> str:
        return self.path if self.path is not None else "<array>"

    @property
    def colour(self) -> str:
        """``"gray"`` when every window comes back with three equal channels (a gray or bilevel TIFF, a 2-D or
        one-channel array), else ``"rgb"``: the searchable PDF embeds a gray scan as gray."""
        if self._tiff is not None:
            return "gray" if self._tiff.photometric in ("gray", "miniswhite") and self._tiff.axes == "YX" else "rgb"
        if self._array is not None and self._photometric == "auto":
            return "gray" if self._array.ndim == 2 or self._array.shape[2] == 1 else "rgb"
        return "rgb"

    @property
    def in_memory(self) -> bool:
        """True when the pixels are held decoded (an array, or a PNG/JPEG/JPEG 2000 decoded whole): the
        scan then pickles with them, so it is sent to a cluster once (scattered), not with every task."""
        return self._array is not None

    @property
    def band_rows(self) -> int:
        """Rows the file stores together (a TIFF's tile or strip height); 1 for decoded scans."""
        if self._tiff is None:
            return 1
        return CACHE_CHUNK if self._tiff.cache is not None else self._tiff.band

    @property
    def needs_cache(self) -> bool:
        """True for a TIFF whose strips are too big to decode once per tile (see :meth:`cached`)."""
        t = self._tiff
        return t is not None and t.cache is None and not t.memmap and t.segment_bytes > SEGMENT_LIMIT

    def cached(self, store) -> "Scan":
        """This scan, decoded once, strip by strip, into a zarr array at ``store``; tiles then read that.

        Memory: one strip at a time (for a single-strip file, the decoded scan once).
        An existing complete cache at ``store`` is reused.  Returns a new Scan
        with the same path, size and info.
        """
        import tifffile
        import zarr

        t = self._tiff
        if complete_cache(store):
            return self._with_cache(store)
        with tifffile.TiffFile(self.path) as tif:
            page = tif.pages[t.page]
            shape = page.shape
            chunks = tuple(min(n, CACHE_CHUNK) if ax in "YX" else n for ax, n in zip(t.axes, shape))
            array = zarr.create_array(store, shape=shape, chunks=chunks, dtype=page.dtype, overwrite=True,
                                      fill_value=0)
            try:
                for segment, index, seg_shape in page.segments():
                    rows = seg_shape[1]
                    y = index[2]
                    data = segment[0] if t.axes != "SYX" else segment[0, ..., 0]
                    if t.axes == "SYX":
                        array[index[0], y:y + rows, :] = data[:rows, :shape[2]]
                    elif t.axes == "YXS":
                        array[y:y + rows, :, :] = data[:rows, :shape[1]]
                    else:
                        array[y:y + rows, :] = data[:rows, :shape[1], 0]
                    del segment, data
            except Exception as exc:
                raise ScanError(f"{self.path}: cannot decode pixels: {exc}") from None
            array.attrs["complete"] = True
        return self._with_cache(store)

    def _with_cache(self, store) -> "Scan":
        import dataclasses

        twin = Scan.__new__(Scan)
        twin.__dict__.update(self.__getstate__())
        twin._tiff = dataclasses.replace(self._tiff, cache=store)
        return twin

    @property
    def segment_bytes(self) -> int:
        """Decoded bytes of one of the file's strips or tiles (0 for a decoded scan)."""
        return self._tiff.segment_bytes if self._tiff is not None else 0

    def fingerprint(self) -> dict:
        """What tells a changed scan: size and modification time of a file, a hash of an array's samples."""
        if self.path is not None:
            st = os.stat(self.path)
            return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
        import hashlib

        array = np.ascontiguousarray(self._array)
        return {"blake2b": hashlib.blake2b(memoryview(array).cast("B"), digest_size=16).hexdigest(),
                "dtype": str(array.dtype), "shape": list(array.shape)}

    def info(self) -> dict:
        """``{"path", "width", "height", "page", "pages", "dpi"}`` for reports and outputs."""
        return {"path": self.path, "width": self.width, "height": self.height, "page": self.page,
                "pages": self.pages, "dpi": None if self.dpi is None else list(self.dpi)}

    def __repr__(self):
        return f"Scan({self.name!r}, height={self.height}, width={self.width})"

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Read scan pixels ``[y0, y1) x [x0, x1)`` as ``(h, w, 3)`` uint8 RGB."""
        if not (0 <= y0 < y1 <= self.height and 0 <= x0 < x1 <= self.width):
            raise IndexError(f"window {(y0, y1, x0, x1)} outside scan {self.shape}")
        if self._tiff is None:
            return to_rgb8(self._array[y0:y1, x0:x1], self._photometric, float_max=self._float_max)
        layout = self._tiff
        try:
            if layout.striped and layout.cache is None and not layout.memmap:
                px = self._read_strips(y0, y1, x0, x1)
            elif layout.axes.startswith("S"):
                px = np.moveaxis(np.asarray(self._open_tiff()[:, y0:y1, x0:x1]), 0, -1)
            else:
                px = np.asarray(self._open_tiff()[y0:y1, x0:x1])
        except ScanError:
            raise
        except Exception as exc:  # decoder errors: corrupt or truncated data
            raise ScanError(f"{self.path}: cannot decode pixels {y0}:{y1}, {x0}:{x1}: {exc}") from exc
        try:
            return to_rgb8(px, layout.photometric, layout.colormap, layout.bits, layout.float_max)
        except ScanError as exc:
            raise ScanError(f"{self.path}: {exc}") from None

    def _read_strips(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Decode just the strips that rows ``y0:y1`` lie in (one file read, no per-strip overhead)."""
        import threading

        import tifffile

        def open_strips():
            tif = tifffile.TiffFile(self.path)
            return tif, tif.pages[self._tiff.page], threading.Lock()

        tif, page, lock = shared_reader(("strips", self.path, self._tiff.page), open_strips)
        band, axes = self._tiff.band, self._tiff.axes
        per_plane = -(-self.height // band)
        planes = page.samplesperpixel if axes == "SYX" else 1
        k0, k1 = y0 // band, (y1 - 1) // band + 1
        indices = [p * per_plane + k for p in range(planes) for k in range(k0, k1)]
        top = k0 * band
        samples = page.samplesperpixel if axes != "YX" else 1
        out = np.zeros((min(k1 * band, self.height) - top, x1 - x0, samples), page.dtype)
        with lock:
            segments = list(tif.filehandle.read_segments([page.dataoffsets[i] for i in indices],
                                                         [page.databytecounts[i] for i in indices], indices))
        for data, i in segments:
            segment, (plane, _, y, _, _), shape = page.decode(data, i, jpegtables=page.jpegtables)
            if segment is None:
                continue
            rows = min(shape[1], self.height - y)
            if axes == "SYX":
                out[y - top:y - top + rows, :, plane] = segment[0, :rows, x0:x1, 0]
            else:
                out[y - top:y - top + rows] = segment[0, :rows, x0:x1, :samples]
        out = out[y0 - top:y1 - top]
        return out[..., 0] if axes == "YX" else out

    def _open_tiff(self):
        import tifffile
        import zarr

        layout = self._tiff
        if layout.cache is not None:
            if self._zarr is None:
                self._zarr = zarr.open_array(layout.cache, mode="r")
            return self._zarr
        if layout.memmap:
            return shared_reader(("memmap", self.path, layout.page),
                           lambda: tifffile.memmap(self.path, page=layout.page, mode="r"))
        return shared_reader(("zarr", self.path, layout.page),
                       lambda: zarr.open_array(tifffile.TiffFile(self.path).pages[layout.page].aszarr(), mode="r"))


def open_scan(source, *, max_pixels: int = DEFAULT_MAX_PIXELS, page: int = 0, dpi: float | None = None,
              password: str | None = None):
    """Open a scan from a path or an array.

    Parameters
    ----------
    source : str, Path or ndarray
        A TIFF/BigTIFF, PNG, JPEG, JPEG 2000 or PDF file, a IIIF image's URL (its ``info.json`` or base
        URI: :mod:`bigocr.tiler.iiif`), or an array of shape
        ``(H, W)`` or ``(H, W, C)`` with C in {1, 2, 3, 4} (gray, gray+alpha, RGB, RGBA).
    max_pixels : int
        Largest accepted ``H * W``, checked against the header before any pixel is decoded.
    page : int
        0-based page of a multi-page TIFF or a PDF.
    dpi : float, optional
        Resolution a PDF page without one scanned image is rendered at
        (:data:`bigocr.tiler.pdf.DEFAULT_DPI`); other inputs ignore it.
    password : str, optional
        The password of an encrypted PDF.

    Returns
    -------
    Scan, or :class:`bigocr.tiler.pdf.PdfPage` for a PDF, :class:`bigocr.tiler.iiif.IiifImage` for a URL

    Notes
    -----
    A JPEG's or PNG's EXIF orientation is applied (the scan is as a viewer shows
    it); a TIFF is read as stored.

    Raises
    ------
    ScanError
        The file is missing, unreadable, not an image, truncated, empty or too large.
    """
    if not isinstance(max_pixels, (int, np.integer)) or isinstance(max_pixels, bool) or max_pixels < 1:
        raise ScanError(f"max_pixels must be a positive whole number, got {max_pixels!r}")
    if not isinstance(page, (int, np.integer)) or isinstance(page, bool) or page < 0:
        raise ScanError(f"page must be a 0-based page index, got {page!r}")
    if isinstance(source, np.ndarray):
        check_page("<array>", page, 1)
        return _open_array(source, max_pixels)
    if isinstance(source, str) and source.lower().startswith(("http://", "https://")):
        from bigocr.tiler.iiif import open_iiif

        check_page(source, page, 1)
        return open_iiif(source, max_pixels=max_pixels)
    if not isinstance(source, (str, os.PathLike)):
        raise ScanError(f"a scan must be a path or a numpy array, got {type(source).__name__}")
    path = Path(source)
    _check_regular(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except PermissionError:
        raise ScanError(f"{path}: permission denied") from None
    except OSError as exc:
        raise ScanError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not head:
        raise ScanError(f"{path}: empty file (0 bytes)")
    if head[:4] in _TIFF_MAGIC:
        return _open_tiff(path, max_pixels, page)
    if head.startswith(_PNG_MAGIC) or head.startswith(_JPEG_MAGIC) or head.startswith(_JP2_MAGIC):
        check_page(str(path), page, 1)
        return _open_decoded(path, head, max_pixels)
    if _pdf_head(path):
        from bigocr.tiler.pdf import open_pdf_page

        return open_pdf_page(path, page, max_pixels=max_pixels, dpi=dpi, password=password)
    raise ScanError(f"{path}: not an image bigocr can read (expected TIFF, PNG, JPEG, JPEG 2000 or PDF)")


def _pdf_head(path) -> bool:
    from bigocr.tiler.pdf import is_pdf

    try:
        with open(path, "rb") as fh:
            return is_pdf(fh.read(1024))
    except OSError:
        return False


def _check_regular(path: Path) -> None:
    """Refuse at once what is not a regular file: missing, a symlink loop, a folder, a named pipe, a device."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ScanError(f"{path}: a loop of symbolic links, not a scan") from None
        if exc.errno == errno.ENOENT:
            if os.path.islink(path):
                raise ScanError(f"{path}: a symbolic link to {os.readlink(path)}, which does not exist") from None
            raise ScanError(f"{path}: no such file") from None
        if exc.errno == errno.EACCES:
            raise ScanError(f"{path}: permission denied") from None
        raise ScanError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ScanError(f"{path}: is a directory, not a scan")
    if not stat.S_ISREG(st.st_mode):
        kind = ("a named pipe" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a file")
        raise ScanError(f"{path}: is {kind}, not a regular file; bigocr reads scans from files")


def count_pages(source, *, max_pixels: int = DEFAULT_MAX_PIXELS, password: str | None = None) -> int:
    """Pages of a multi-page TIFF (read from its header) or a PDF; 1 for any other file, which is not opened
    here."""
    try:
        with open(source, "rb") as fh:
            head = fh.read(1024)
    except OSError:
        return 1  # said properly when the scan is opened
    if head[:4] in _TIFF_MAGIC:
        return open_scan(source, max_pixels=max_pixels).pages
    from bigocr.tiler.pdf import is_pdf, pdf_pages

    if is_pdf(head):
        _check_regular(Path(source))
        return pdf_pages(source, password)
    return 1


def _open_array(array: np.ndarray, max_pixels: int) -> Scan:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4)):
        raise ScanError(f"<array>: expected shape (H, W) or (H, W, C) with C in 1..4, got {array.shape}")
    if not (array.dtype == np.bool_ or np.issubdtype(array.dtype, np.number)) or np.iscomplexobj(array):
        raise ScanError(f"<array>: unsupported dtype {array.dtype}")
    check_size("<array>", array.shape[0], array.shape[1], max_pixels)
    white = float_white(float(np.max(array)), "<array>") if np.issubdtype(array.dtype, np.floating) else 1.0
    return Scan(array.shape[0], array.shape[1], array=array, float_max=white)


_PHOTOMETRIC = {
    0: "miniswhite",
    1: "gray",
    2: "rgb",
    3: "palette",
    5: "cmyk",
    6: "rgb",  # YCbCr: tifffile returns RGB for JPEG-compressed data
}


def _tiff_dpi(page) -> tuple[float, float] | None:
    try:
        x, y = page.resolution
        unit = int(page.resolutionunit)
    except Exception:
        return None
    if not (x > 0 and y > 0) or unit not in (2, 3):
        return None
    return (x, y) if unit == 2 else (x * 2.54, y * 2.54)


def _open_tiff(path: Path, max_pixels: int, index: int = 0) -> Scan:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            if not tif.pages:
                raise ScanError(f"{path}: TIFF holds no image")
            pages = len(tif.pages)
            check_page(str(path), index, pages)
            page = tif.pages[index]
            shape, axes = page.shape, page.axes
            height, width = page.imagelength, page.imagewidth
            check_size(str(path), height, width, max_pixels)
            photometric = _PHOTOMETRIC.get(int(page.photometric))
            if photometric is None:
                raise ScanError(f"{path}: unsupported TIFF photometric interpretation {page.photometric!r}")
            if int(page.photometric) == 6 and int(page.compression) != 7:
                raise ScanError(f"{path}: uncompressed YCbCr TIFF is not supported; convert it to RGB")
            if axes not in ("YX", "YXS", "SYX"):
                raise ScanError(f"{path}: unsupported TIFF layout {axes} {shape}")
            size = path.stat().st_size
            ends = [o + n for o, n in zip(page.dataoffsets, page.databytecounts) if n]
            if not ends or max(ends) > size:
                raise ScanError(
                    f"{path}: truncated: image data ends at byte {max(ends, default=0)} "
                    f"but the file has {size} bytes"
                )
            _check_capacity(path, page)
            colormap = page.colormap if photometric == "palette" else None
            chunks = page.chunks
            band = int(chunks[1] if axes == "SYX" and len(chunks) == 3 else chunks[0])
            segment_bytes = int(np.prod(chunks)) * page.dtype.itemsize if page.dtype is not None else 0
            memmap = bool(page.is_memmappable) and page.dtype is not None and page.bitspersample % 8 == 0
            white = _tiff_float_white(path, page) if page.dtype is not None and page.dtype.kind == "f" else 1.0
            layout = _TiffLayout(index, axes, photometric, int(page.bitspersample), colormap, band,
                                 not page.is_tiled, segment_bytes, memmap, float_max=white)
            dpi = _tiff_dpi(page)
    except ScanError:
        raise
    except tifffile.TiffFileError as exc:
        raise ScanError(f"{path}: not a valid TIFF: {exc}") from None
    except Exception as exc:
        raise ScanError(f"{path}: cannot read TIFF: {exc}") from None
    return Scan(height, width, path=str(path), tiff=layout, page=index, pages=pages, dpi=dpi)


#: Float TIFFs up to this many pixels are read whole to find their range; larger ones by FLOAT_PROBES windows.
FLOAT_WHOLE = 2**24
FLOAT_PROBES = 8


def _tiff_float_white(path: Path, page) -> float:
    """The white of a float TIFF's samples: from its SMaxSampleValue tag, else from its largest sample (the
    whole page when small, else a grid of windows across it: paper is white wherever it is)."""
    tag = page.tags.get("SMaxSampleValue")
    if tag is not None:
        try:
            return float_white(float(np.max(tag.value)), str(path))
        except (TypeError, ValueError):
            pass
    height, width = page.imagelength, page.imagewidth
    try:
        if height * width <= FLOAT_WHOLE:
            largest = float(np.nanmax(page.asarray()))
        else:
            import zarr

            store = zarr.open_array(page.aszarr(), mode="r")
            side, largest = 512, 0.0
            for i in range(FLOAT_PROBES):
                for j in range(FLOAT_PROBES):
                    y = (height - side) * i // max(1, FLOAT_PROBES - 1) if height > side else 0
                    x = (width - side) * j // max(1, FLOAT_PROBES - 1) if width > side else 0
                    window = store[:, y:y + side, x:x + side] if page.axes == "SYX" else store[y:y + side, x:x + side]
                    largest = max(largest, float(np.nanmax(window)))
    except ScanError:
        raise
    except Exception as exc:
        raise ScanError(f"{path}: cannot decode pixels: {exc}") from None
    return float_white(largest, str(path))


#: The most a TIFF codec can expand its data (deflate's limit is 1032:1, PackBits' 64:1, LZW's with
#: 12-bit codes about 1400:1); a header claiming more pixels than that is refused. Other codecs
#: (JPEG, CCITT, ZSTD, LZMA, ...) have no useful bound and are not checked.
MAX_EXPANSION = {1: 1, 5: 2000, 8: 1100, 32946: 1100, 32773: 64}
_CODEC_NAMES = {1: "uncompressed", 5: "LZW", 8: "deflate", 32946: "deflate", 32773: "PackBits"}


def _check_capacity(path: Path, page) -> None:
    """Refuse a TIFF whose strips or tiles cannot hold the image its header claims.

    A damaged or forged header (60000 x 60000 px in a 20 kB file) would otherwise be found
    out only when a tile reads past the listed strips, after the run has started.
    """
    height, width = page.imagelength, page.imagewidth
    planes = page.samplesperpixel if page.planarconfig == 2 else 1
    if page.is_tiled:
        th, tw = page.tilelength, page.tilewidth
        per_plane = -(-height // th) * -(-width // tw)
        kind, what = "tile", f"{per_plane * planes} tiles of {tw} x {th} px"
    else:
        rows = min(int(page.rowsperstrip or height), height) or height
        per_plane = -(-height // rows)
        kind, what = "strip", f"{per_plane * planes} strips of {rows} rows"
    listed = min(len(page.dataoffsets), len(page.databytecounts))
    if listed < per_plane * planes:
        raise ScanError(f"{path}: the header claims {width}x{height} px, stored in {what}, but lists only "
                        f"{listed}: the file cannot hold that image (damaged or forged header)")
    codec = int(page.compression)
    if codec not in MAX_EXPANSION:
        return
    decoded = height * width * page.samplesperpixel * page.bitspersample / 8
    stored = float(sum(page.databytecounts))
    if stored * MAX_EXPANSION[codec] < decoded:
        limit = "" if codec == 1 else f", and {_CODEC_NAMES[codec]} expands at most {MAX_EXPANSION[codec]}:1"
        raise ScanError(f"{path}: the header claims {width}x{height} px ({decoded / 1e6:,.0f} MB of samples) but "
                        f"its {listed} {kind}{'s hold' if listed != 1 else ' holds'} {stored / 1e3:,.0f} kB{limit}: the file cannot hold "
                        "that image (damaged or forged header)")


#: What libjpeg and libpng say of damaged data (OpenCV's decoders print it on stderr and go on).
_DAMAGE = ("Corrupt JPEG data", "Premature end of JPEG file", "libpng error", "libpng warning: IDAT",
           "Invalid SOS", "Bogus", "Huffman", "JPEG datastream contains no image")
_MESSAGES_LOCK = threading.Lock()
#: OpenCV's own log lines about a decode ("[ WARN:0@1.2] global grfmt_png.cpp:793 readFromStreamOrBuffer ...").
_OPENCV_LOG = re.compile(r"^\[ ?(?:WARN|ERROR|INFO)[^\]]*\]\s*(?:global\s+)?(?:\S+\.cpp:\d+\s+)?(?:\w+\s+)?")


def _decoders(line: str) -> bool:
    """Whether a line on stderr is libjpeg's, libpng's or OpenCV's word on a decode."""
    return line.startswith(_DAMAGE) or line.startswith("libpng") or "JPEG" in line or bool(_OPENCV_LOG.match(line))


def _clean(line: str) -> str:
    return line.strip().rstrip(".")


@contextlib.contextmanager
def decoder_messages():
    """Catch what C decoders print on file descriptor 2 during the block (a list of lines, filled on exit).

    libjpeg and libpng report damage on stderr and nowhere else; bigocr says
    it in its own words instead.  Anything else printed meanwhile (another
    thread's progress) is passed on to stderr as it was.
    """
    said: list[str] = []
    with _MESSAGES_LOCK, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield said
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines = sink.read().decode(errors="replace").splitlines()
            said.extend(_OPENCV_LOG.sub("", line) for line in lines if _decoders(line))
            others = [line for line in lines if not _decoders(line)]
            if others:
                sys.stderr.write("\n".join(others) + "\n")


def _open_decoded(path: Path, head: bytes, max_pixels: int) -> Scan:
    import cv2

    from bigocr.tiler.header import read_header

    with open(path, "rb") as fh:
        start = fh.read(1 << 20)
    try:
        header = read_header(start)
    except ValueError as exc:
        raise ScanError(f"{path}: invalid image header: {exc}") from None
    if header.width is not None and header.height is not None:
        check_size(str(path), header.height, header.width, max_pixels)
        if header.width * header.height > MAX_DECODED_PIXELS:
            raise ScanError(
                f"{path}: {header.width}x{header.height} pixels is too large to decode whole "
                f"(PNG, JPEG and JPEG 2000 are; the limit is {MAX_DECODED_PIXELS} pixels); "
                "convert it to a tiled TIFF, which is read window by window"
            )
    data = np.fromfile(path, dtype=np.uint8)
    if head.startswith(_JPEG_MAGIC) and data[-2:].tobytes() != b"\xff\xd9":
        raise ScanError(f"{path}: truncated JPEG (no end-of-image marker)")
    with decoder_messages() as said:
        try:
            image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        except cv2.error as exc:
            raise ScanError(f"{path}: cannot decode image: {str(exc).strip().splitlines()[-1]}") from None
    damage = [line for line in said if line.startswith(_DAMAGE)]
    if damage:  # libjpeg fills what it cannot decode with grey and goes on: refuse it rather than read filler
        raise ScanError(f"{path}: corrupt image data ({_clean(damage[0])}); the decoder would fill the damaged "
                        "part with grey: repair or re-export the file")
    if image is None or image.size == 0:
        why = f" ({_clean(said[0])})" if said else " (corrupt or truncated)"
        raise ScanError(f"{path}: cannot decode image{why}")
    check_size(str(path), image.shape[0], image.shape[1], max_pixels)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        image = image[..., [2, 1, 0, 3][: image.shape[2]]]  # OpenCV's BGR(A) to RGB(A)
    rgb = np.ascontiguousarray(apply_orientation(to_rgb8(image), header.orientation))
    return Scan(rgb.shape[0], rgb.shape[1], path=str(path), array=rgb, photometric="rgb", dpi=header.dpi)
