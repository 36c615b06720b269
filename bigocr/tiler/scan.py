"""Reading scans window by window, as RGB uint8.

TIFF and BigTIFF (tiled or striped, compressed or not) are read lazily through
tifffile's zarr view, so a tile decodes only the strips or tiles it touches.
PNG, JPEG and JPEG 2000 cannot be read by windows; OpenCV decodes them once.
In-memory arrays are sliced as they are.

Every window comes back as ``(h, w, 3)`` uint8 RGB: grayscale, 16-bit, bilevel,
palette, RGBA and CMYK are converted on the way in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bigocr.errors import ScanError

__all__ = ["Scan", "open_scan", "to_rgb8", "apply_orientation", "DEFAULT_MAX_PIXELS"]

#: Largest scan accepted by default (4 gigapixels); checked against the header.
DEFAULT_MAX_PIXELS = 4 * 2**30
#: PNG, JPEG and JPEG 2000 are decoded whole (by OpenCV, whose own limit this is).
MAX_DECODED_PIXELS = 2**30

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_JP2_MAGIC = (b"\x00\x00\x00\x0cjP  ", b"\xffO\xffQ")


def to_rgb8(pixels: np.ndarray, photometric: str = "auto", colormap: np.ndarray | None = None,
            bits: int | None = None) -> np.ndarray:
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

    px = _scale_to_uint8(np.asarray(pixels), bits)
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


def _scale_to_uint8(px: np.ndarray, bits: int | None) -> np.ndarray:
    if px.dtype == np.uint8:
        return px
    if px.dtype == np.bool_:
        return px.astype(np.uint8) * 255
    if np.issubdtype(px.dtype, np.floating):
        if not np.all(np.isfinite(px)):
            raise ScanError("floating-point scan holds NaN or infinite samples")
        return np.clip(np.rint(px * 255.0), 0, 255).astype(np.uint8)
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


class Scan:
    """A scan that hands out windows as RGB uint8.

    Open one with :func:`open_scan`.  A ``Scan`` pickles cheaply for a
    file-backed scan (path and layout only; the file is reopened where it is
    unpickled), so tile tasks on Dask workers read their own windows.

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
                 dpi: tuple[float, float] | None = None):
        self.height = int(height)
        self.width = int(width)
        self.path = path
        self.page = int(page)
        self.pages = int(pages)
        self.dpi = None if dpi is None else (round(float(dpi[0]), 2), round(float(dpi[1]), 2))
        self._array = array
        self._tiff = tiff
        self._photometric = photometric
        self._zarr = None

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` in scan pixels."""
        return (self.height, self.width)

    @property
    def name(self) -> str:
        return self.path if self.path is not None else "<array>"

    @property
    def band_rows(self) -> int:
        """Rows the file stores together (a TIFF's tile or strip height); 1 for decoded scans."""
        if self._tiff is None:
            return 1
        z = self._open_tiff()
        return int(z.chunks[1] if self._tiff.axes.startswith("S") else z.chunks[0])

    def info(self) -> dict:
        """``{"path", "width", "height", "page", "pages", "dpi"}`` for reports and outputs."""
        return {"path": self.path, "width": self.width, "height": self.height, "page": self.page,
                "pages": self.pages, "dpi": None if self.dpi is None else list(self.dpi)}

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_zarr"] = None
        return state

    def __repr__(self):
        return f"Scan({self.name!r}, height={self.height}, width={self.width})"

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Read scan pixels ``[y0, y1) x [x0, x1)`` as ``(h, w, 3)`` uint8 RGB."""
        if not (0 <= y0 < y1 <= self.height and 0 <= x0 < x1 <= self.width):
            raise IndexError(f"window {(y0, y1, x0, x1)} outside scan {self.shape}")
        if self._tiff is None:
            return to_rgb8(self._array[y0:y1, x0:x1], self._photometric)
        layout = self._tiff
        try:
            z = self._open_tiff()
            if layout.axes.startswith("S"):
                px = np.moveaxis(np.asarray(z[:, y0:y1, x0:x1]), 0, -1)
            else:
                px = np.asarray(z[y0:y1, x0:x1])
        except ScanError:
            raise
        except Exception as exc:  # decoder errors: corrupt or truncated data
            raise ScanError(f"{self.path}: cannot decode pixels {y0}:{y1}, {x0}:{x1}: {exc}") from exc
        try:
            return to_rgb8(px, layout.photometric, layout.colormap, layout.bits)
        except ScanError as exc:
            raise ScanError(f"{self.path}: {exc}") from None

    def _open_tiff(self):
        if self._zarr is None:
            import tifffile
            import zarr

            tif = tifffile.TiffFile(self.path)
            store = tif.pages[self._tiff.page].aszarr()
            self._zarr = zarr.open_array(store, mode="r")
        return self._zarr


def open_scan(source, *, max_pixels: int = DEFAULT_MAX_PIXELS, page: int = 0) -> Scan:
    """Open a scan from a path or an array.

    Parameters
    ----------
    source : str, Path or ndarray
        A TIFF/BigTIFF, PNG, JPEG or JPEG 2000 file, or an array of shape
        ``(H, W)`` or ``(H, W, C)`` with C in {1, 2, 3, 4} (gray, gray+alpha, RGB, RGBA).
    max_pixels : int
        Largest accepted ``H * W``, checked against the header before any pixel is decoded.
    page : int
        0-based page of a multi-page TIFF.

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
        _check_page("<array>", page, 1)
        return _open_array(source, max_pixels)
    if not isinstance(source, (str, os.PathLike)):
        raise ScanError(f"a scan must be a path or a numpy array, got {type(source).__name__}")
    path = Path(source)
    if not path.exists():
        raise ScanError(f"{path}: no such file")
    if path.is_dir():
        raise ScanError(f"{path}: is a directory, not a scan")
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
        _check_page(str(path), page, 1)
        return _open_decoded(path, head, max_pixels)
    raise ScanError(f"{path}: not an image bigocr can read (expected TIFF, PNG, JPEG or JPEG 2000)")


def _check_page(name: str, index: int, pages: int) -> None:
    if index >= pages:
        raise ScanError(f"{name}: has {pages} page(s); page {index + 1} does not exist")


def _check_size(name: str, height: int, width: int, max_pixels: int) -> None:
    if height < 1 or width < 1:
        raise ScanError(f"{name}: image has zero size ({width}x{height} pixels)")
    if height * width > max_pixels:
        raise ScanError(
            f"{name}: {width}x{height} pixels is more than max_pixels={max_pixels}; "
            "raise --max-pixels if the scan is really that large"
        )


def _open_array(array: np.ndarray, max_pixels: int) -> Scan:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4)):
        raise ScanError(f"<array>: expected shape (H, W) or (H, W, C) with C in 1..4, got {array.shape}")
    if not (array.dtype == np.bool_ or np.issubdtype(array.dtype, np.number)) or np.iscomplexobj(array):
        raise ScanError(f"<array>: unsupported dtype {array.dtype}")
    _check_size("<array>", array.shape[0], array.shape[1], max_pixels)
    return Scan(array.shape[0], array.shape[1], array=array)


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
            _check_page(str(path), index, pages)
            page = tif.pages[index]
            shape, axes = page.shape, page.axes
            height, width = page.imagelength, page.imagewidth
            _check_size(str(path), height, width, max_pixels)
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
            colormap = page.colormap if photometric == "palette" else None
            layout = _TiffLayout(index, axes, photometric, int(page.bitspersample), colormap)
            dpi = _tiff_dpi(page)
    except ScanError:
        raise
    except tifffile.TiffFileError as exc:
        raise ScanError(f"{path}: not a valid TIFF: {exc}") from None
    except Exception as exc:
        raise ScanError(f"{path}: cannot read TIFF: {exc}") from None
    return Scan(height, width, path=str(path), tiff=layout, page=index, pages=pages, dpi=dpi)


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn a stored image ``(h, w, ...)`` the way its EXIF ``orientation`` (1..8) says to show it."""
    if orientation == 2:
        return image[:, ::-1]
    if orientation == 3:
        return image[::-1, ::-1]
    if orientation == 4:
        return image[::-1]
    if orientation == 5:
        return image.swapaxes(0, 1)
    if orientation == 6:
        return image.swapaxes(0, 1)[:, ::-1]
    if orientation == 7:
        return image[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:
        return image.swapaxes(0, 1)[::-1]
    return image


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
        _check_size(str(path), header.height, header.width, max_pixels)
        if header.width * header.height > MAX_DECODED_PIXELS:
            raise ScanError(
                f"{path}: {header.width}x{header.height} pixels is too large to decode whole "
                f"(PNG, JPEG and JPEG 2000 are; the limit is {MAX_DECODED_PIXELS} pixels); "
                "convert it to a tiled TIFF, which is read window by window"
            )
    data = np.fromfile(path, dtype=np.uint8)
    if head.startswith(_JPEG_MAGIC) and data[-2:].tobytes() != b"\xff\xd9":
        raise ScanError(f"{path}: truncated JPEG (no end-of-image marker)")
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ScanError(f"{path}: cannot decode image: {str(exc).strip().splitlines()[-1]}") from None
    if image is None or image.size == 0:
        raise ScanError(f"{path}: cannot decode image (corrupt or truncated)")
    _check_size(str(path), image.shape[0], image.shape[1], max_pixels)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        image = image[..., [2, 1, 0, 3][: image.shape[2]]]  # OpenCV's BGR(A) to RGB(A)
    rgb = np.ascontiguousarray(apply_orientation(to_rgb8(image), header.orientation))
    return Scan(rgb.shape[0], rgb.shape[1], path=str(path), array=rgb, photometric="rgb", dpi=header.dpi)
