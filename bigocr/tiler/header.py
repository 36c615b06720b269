"""Size, orientation and resolution of PNG, JPEG and JPEG 2000 files from their headers.

Read before any pixel is decoded, so a file whose header claims absurd
dimensions is refused without allocating anything.  Pillow would read these
headers too, but refuses any image over ~179 MP (its decompression-bomb guard,
a process-wide setting) before it says the size, and scans are often larger;
so the few header fields bigocr needs are parsed here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["Header", "read_header"]

_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


@dataclass(frozen=True)
class Header:
    """What a file's header says.

    Attributes
    ----------
    width, height : int or None
        Stored size in pixels (before any EXIF rotation); None when the header
        does not say (a JPEG whose height comes later, in a DNL marker).
    orientation : int
        EXIF orientation 1..8 (1: as stored).
    dpi : tuple of float, or None
        ``(x, y)`` pixels per inch, when the file records a physical resolution.
    """

    width: int | None
    height: int | None
    orientation: int = 1
    dpi: tuple[float, float] | None = None


def read_header(data: bytes) -> Header:
    """Parse the header of a PNG, JPEG or JPEG 2000 file from its first bytes.

    Parameters
    ----------
    data : bytes
        The start of the file (the first 1 MiB is plenty for real files).

    Raises
    ------
    ValueError
        The header is not one of these formats or is cut short.
    """
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            return _png(data)
        if data.startswith(b"\xff\xd8"):
            return _jpeg(data)
        if data.startswith(b"\xffO\xffQ"):
            return _j2k(data, 2)
        if data[4:8] == b"jP  ":
            return _jp2(data)
    except (struct.error, IndexError):
        raise ValueError("header cut short") from None
    raise ValueError("not a PNG, JPEG or JPEG 2000 header")


def _png(data: bytes) -> Header:
    width, height = struct.unpack(">II", data[16:24])
    orientation, dpi = 1, None
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"pHYs" and len(body) == 9:
            x, y, unit = struct.unpack(">IIB", body)
            if unit == 1 and x and y:
                dpi = (x * 0.0254, y * 0.0254)
        elif kind == b"eXIf":
            orientation, exif_dpi = _exif(body)
            dpi = dpi or exif_dpi
        elif kind in (b"IDAT", b"IEND"):
            break
        pos += 12 + length
    return Header(width, height, orientation, dpi)


def _jpeg(data: bytes) -> Header:
    pos, width, height, orientation, dpi, exif_dpi = 2, None, None, 1, None, None
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"JPEG marker expected at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        body = data[pos + 4:pos + 2 + length]
        if marker == 0xE0 and body[:5] == b"JFIF\x00" and len(body) >= 12:
            unit, x, y = struct.unpack(">BHH", body[7:12])
            if x and y and unit in (1, 2):
                dpi = (float(x), float(y)) if unit == 1 else (x * 2.54, y * 2.54)
        elif marker == 0xE1 and body[:6] == b"Exif\x00\x00":
            orientation, exif_dpi = _exif(body[6:])
        elif marker in _SOF:
            height, width = struct.unpack(">HH", body[1:5])
            break
        elif marker == 0xDA:
            break
        pos += 2 + length
    if width is None:
        raise ValueError("no frame header (SOF) in the JPEG")
    return Header(width, height or None, orientation, dpi or exif_dpi)


def _j2k(data: bytes, pos: int) -> Header:
    # SIZ: marker, Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz
    if data[pos:pos + 2] != b"\xffQ":
        raise ValueError("JPEG 2000 codestream without a SIZ marker")
    xsiz, ysiz, xo, yo = struct.unpack(">IIII", data[pos + 6:pos + 22])
    return Header(xsiz - xo, ysiz - yo)


def _jp2(data: bytes) -> Header:
    at = data.find(b"ihdr")
    if at < 0:
        at = data.find(b"\xffO\xffQ")
        if at < 0:
            raise ValueError("JP2 file without an image header box")
        return _j2k(data, at + 2)
    height, width = struct.unpack(">II", data[at + 4:at + 12])
    return Header(width, height)


def _exif(tiff: bytes) -> tuple[int, tuple[float, float] | None]:
    """Orientation and resolution from IFD0 of an EXIF (TIFF-structured) block."""
    if tiff[:2] not in (b"II", b"MM"):
        return 1, None
    e = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(e + "I", tiff[4:8])
    (count,) = struct.unpack(e + "H", tiff[ifd:ifd + 2])
    orientation, res, unit = 1, {}, 2
    for k in range(count):
        entry = tiff[ifd + 2 + 12 * k: ifd + 14 + 12 * k]
        if len(entry) < 12:
            break
        tag, kind, _n = struct.unpack(e + "HHI", entry[:8])
        if tag == 0x0112 and kind == 3:
            (value,) = struct.unpack(e + "H", entry[8:10])
            orientation = value if 1 <= value <= 8 else 1
        elif tag == 0x0128 and kind == 3:
            (unit,) = struct.unpack(e + "H", entry[8:10])
        elif tag in (0x011A, 0x011B) and kind == 5:
            (offset,) = struct.unpack(e + "I", entry[8:12])
            num, den = struct.unpack(e + "II", tiff[offset:offset + 8])
            if den:
                res[tag] = num / den
    dpi = None
    if 0x011A in res and 0x011B in res and unit in (2, 3) and res[0x011A] > 0 and res[0x011B] > 0:
        scale = 1.0 if unit == 2 else 2.54
        dpi = (res[0x011A] * scale, res[0x011B] * scale)
    return orientation, dpi
