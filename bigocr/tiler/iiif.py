"""IIIF images as scans: read region by region from an Image API server, never the whole image at once.

``bigocr run https://host/iiif/ID/info.json`` (or the image's base URI)
reads ``info.json`` (Image API 2 or 3, levels 0 to 2), then the image's
full-resolution tiles: the server's own tiles at scale factor 1 where it
lists them (the only requests a level-0 static tile tree can answer), else
windows of :data:`WINDOW` px, always within ``maxWidth``/``maxHeight``/
``maxArea``.  Each request is the canonical URL of its version
(``x,y,w,h/w,/0/default.jpg`` in 2, ``x,y,w,h/w,h/0/default.jpg`` in 3),
PNG where the server offers it (lossless), else JPEG.

The tiles go once into the job's scan cache (zarr, chunked as the server's
tiles), :data:`FETCH_PARALLEL` at a time over one connection pool
(requests: a well-kept client with connection reuse); the cache records
which tiles it holds, so a run that stops (the server died, Ctrl-C) resumes
without fetching any of them again.  A request that fails (5xx, 408, 429,
a time-out, a dropped connection) is tried again with back-off
(:data:`RETRIES` times, :data:`BACKOFF` s doubling); one that still fails
is a :class:`~bigocr.errors.NetworkError` (exit 7) naming the URL.  A 4xx
answer or a tile whose size is not the one asked for is a
:class:`~bigocr.errors.ScanError` (exit 2): the server does not serve what its
``info.json`` says.

info.json is parsed here: piffle (PyPI) builds Image API URLs but does not
read ``info.json`` (versions, ``tiles``, limits, levels), so a library would
add a dependency and do none of the part that needs care.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from bigocr.errors import NetworkError, ScanError
from bigocr.tiler.files import FileSource, check_size, complete_cache

__all__ = ["IiifImage", "open_iiif", "is_url", "fetch_json", "ImageService", "parse_info", "is_manifest",
           "manifest_canvases", "FETCH_PARALLEL", "WINDOW", "RETRIES", "fetched_bytes"]

log = logging.getLogger("bigocr")

#: Tiles fetched at once.
FETCH_PARALLEL = 4
#: Side of the windows asked of a server that lists no tiles (levels 1 and 2), within its limits.
WINDOW = 1024
#: Attempts beyond the first for a request that fails on the server's or the network's account.
RETRIES = 5
#: First wait before a retry, in seconds; doubled each time, at most 8 s.
BACKOFF = 0.5
#: Seconds to wait for a connection and for each read (``BIGOCR_HTTP_TIMEOUT`` overrides the read time-out).
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
#: Bytes of decoded tiles kept per process for reads outside the cache (a scale's sample window: 9 MP).
TILE_MEMORY = 256 * 2**20

_RETRY_STATUS = {408, 429, 500, 502, 503, 504}
_SESSION = threading.local()
_BYTES = [0]  # bytes fetched by this process, for reports and benchmarks
_BYTES_LOCK = threading.Lock()


def is_url(source) -> bool:
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


def fetched_bytes() -> int:
    """Bytes this process has fetched from IIIF servers so far."""
    return _BYTES[0]


def _retries() -> int:
    try:
        return max(0, int(os.environ.get("BIGOCR_HTTP_RETRIES", RETRIES)))
    except ValueError:
        return RETRIES


def _timeout() -> tuple[float, float]:
    try:
        read = float(os.environ.get("BIGOCR_HTTP_TIMEOUT", READ_TIMEOUT))
    except ValueError:
        read = READ_TIMEOUT
    return (min(CONNECT_TIMEOUT, read), read)


def _session():
    import requests
    from requests.adapters import HTTPAdapter

    session = getattr(_SESSION, "session", None)
    if session is None:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=FETCH_PARALLEL * 2, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = "bigocr (IIIF image reader)"
        _SESSION.session = session
    return session


#: The most an info.json or a manifest may be (a larger answer is no such document).
JSON_LIMIT = 64 * 2**20
_HOSTS: dict = {}
_HOSTS_LOCK = threading.Lock()


def _slot(url: str) -> threading.Semaphore:
    """At most :data:`FETCH_PARALLEL` requests to one server at a time from this process, however many scans
    (a batch runs several) fetch from it."""
    from urllib.parse import urlsplit

    host = urlsplit(url).netloc
    with _HOSTS_LOCK:
        return _HOSTS.setdefault(host, threading.BoundedSemaphore(FETCH_PARALLEL))


def _complete_image(body: bytes) -> bool:
    """Whether an image answer is whole: a JPEG ends with its end-of-image marker, a PNG with IEND."""
    if body.startswith(b"\xff\xd8"):
        return body.rstrip(b"\0").endswith(b"\xff\xd9")
    if body.startswith(b"\x89PNG"):
        return b"IEND" in body[-16:]
    return bool(body)


def _get(url: str, what: str, limit: int | None = None) -> bytes:
    """The body of ``url``, tried again with back-off when the server or the network fails (5xx, 408, 429,
    a time-out, a connection refused or dropped, an answer cut short)."""
    import requests

    wait, last, retries = BACKOFF, None, _retries()
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(wait)
            wait = min(8.0, wait * 2)
        try:
            with _slot(url):
                response = _session().get(url, timeout=_timeout(), stream=limit is not None)
                try:
                    if limit is not None:
                        body = response.raw.read(limit + 1, decode_content=True)
                        if len(body) > limit:
                            raise ScanError(f"{url}: answers with more than {limit // 2**20} MB: not a IIIF {what}")
                    else:
                        body = response.content
                finally:
                    response.close()
        except requests.exceptions.Timeout:
            last = f"no answer within {_timeout()[1]:g} s"
            continue
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            last = f"cannot connect ({_reason(exc)})" if isinstance(exc, requests.exceptions.ConnectionError) \
                else f"the answer was cut short ({_reason(exc)})"
            continue
        except OSError as exc:  # urllib3's own read errors on a stream
            last = f"the answer was cut short ({_reason(exc)})"
            continue
        except requests.exceptions.RequestException as exc:
            raise ScanError(f"{url}: cannot fetch {what}: {_reason(exc)}") from None
        if response.status_code in _RETRY_STATUS:
            last = f"HTTP {response.status_code}"
            continue
        if response.status_code >= 400:
            hint = ("; does info.json say the image's real size and tiles?"
                    if what == "a tile" and response.status_code in (400, 404) else "")
            raise ScanError(f"{url}: the server refuses {what} (HTTP {response.status_code}){hint}")
        if what == "a tile" and not _complete_image(body):
            last = "an empty or truncated image"
            continue
        with _BYTES_LOCK:
            _BYTES[0] += len(body)
        return body
    raise NetworkError(f"{url}: cannot fetch {what}: {last}, {retries + 1} time{'s' if retries else ''}; run the "
                       "same command again to resume (what was fetched is kept)")


def _reason(exc) -> str:
    text = str(exc)
    for marker in ("Errno", "Connection refused", "Name or service not known", "timed out"):
        if marker in text:
            return text[text.index(marker):].split("'")[0].rstrip(")")
    return text.splitlines()[0][:200] if text else type(exc).__name__


def fetch_json(url: str, what: str = "info.json") -> dict:
    body = _get(url, what, limit=JSON_LIMIT)
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ScanError(f"{url}: not a IIIF {what} (the server's answer is not JSON)") from None
    if not isinstance(doc, dict):
        raise ScanError(f"{url}: not a IIIF {what} (a JSON {type(doc).__name__}, not an object)")
    return doc


@dataclass(frozen=True)
class ImageService:
    """What ``info.json`` says of an image.

    Attributes
    ----------
    id : str
        The image's base URI (``@id`` in 2, ``id`` in 3), without a trailing slash.
    version : int
        2 or 3.
    level : int
        Compliance level, 0 to 2.
    width, height : int
        Full size in pixels.
    tile : tuple of int
        ``(width, height)`` of the full-resolution tiles requested.
    format : str
        ``"png"`` or ``"jpg"``.
    max_width, max_height, max_area : int or None
        The server's limits on a response's size.
    """

    id: str
    version: int
    level: int
    width: int
    height: int
    tile: tuple[int, int]
    format: str = "jpg"
    max_width: int | None = None
    max_height: int | None = None
    max_area: int | None = None

    def tile_urls(self, x: int, y: int, w: int, h: int) -> list[str]:
        """The requests for the region at full size: the canonical one first; for a level-0 server (static
        files: only the paths its generator wrote) the other spellings its generators use too."""
        urls = [self.tile_url(x, y, w, h)]
        if self.level == 0:
            region = "full" if (x, y, w, h) == (0, 0, self.width, self.height) else f"{x},{y},{w},{h}"
            for size in (f"{w},", f"{w},{h}", "full", "max"):
                url = f"{self.id}/{region}/{size}/0/default.{self.format}"
                if url not in urls:
                    urls.append(url)
            if region == "full":
                urls += [f"{self.id}/0,0,{w},{h}/{size}/0/default.{self.format}" for size in (f"{w},", f"{w},{h}")]
        return urls

    def tile_url(self, x: int, y: int, w: int, h: int) -> str:
        """The canonical request for the region ``x, y, w, h`` at full size."""
        if (x, y, w, h) == (0, 0, self.width, self.height):
            region = "full"
        else:
            region = f"{x},{y},{w},{h}"
        size = (("full" if region == "full" else f"{w},") if self.version == 2
                else ("max" if region == "full" else f"{w},{h}"))
        return f"{self.id}/{region}/{size}/0/default.{self.format}"

    def grid(self) -> tuple[int, int]:
        """Tiles down and across."""
        tw, th = self.tile
        return -(-self.height // th), -(-self.width // tw)

    def region(self, i: int, j: int) -> tuple[int, int, int, int]:
        tw, th = self.tile
        x, y = j * tw, i * th
        return x, y, min(tw, self.width - x), min(th, self.height - y)

    def to_dict(self) -> dict:
        return {"id": self.id, "version": self.version, "level": self.level, "tile": list(self.tile),
                "format": self.format, "limits": [self.max_width, self.max_height, self.max_area]}


def _positive(doc: dict, key: str, url: str) -> int:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1 or value != int(value):
        raise ScanError(f"{url}: not a IIIF image: info.json has no positive whole {key!r} (got {value!r})")
    return int(value)


def parse_info(doc: dict, url: str) -> ImageService:
    """An :class:`ImageService` from an ``info.json`` document (Image API 2 or 3)."""
    context = doc.get("@context")
    contexts = context if isinstance(context, list) else [context]
    text = " ".join(str(c) for c in contexts)
    if "iiif.io/api/image/3" in text:
        version = 3
    elif "iiif.io/api/image/2" in text:
        version = 2
    elif "iiif.io/api/image/1" in text:
        raise ScanError(f"{url}: a IIIF Image API 1 server: bigocr reads Image API 2 and 3")
    else:
        raise ScanError(f"{url}: not a IIIF image: info.json's @context names no IIIF Image API "
                        f"({str(context)[:80]!r})")
    ident = doc.get("id" if version == 3 else "@id") or doc.get("@id") or doc.get("id")
    if not isinstance(ident, str) or not ident:
        raise ScanError(f"{url}: not a IIIF image: info.json has no id")
    width, height = _positive(doc, "width", url), _positive(doc, "height", url)
    profile = doc.get("profile")
    limits, formats = {}, set()
    if version == 2:
        items = profile if isinstance(profile, list) else [profile]
        names = [p for p in items if isinstance(p, str)]
        for p in items:
            if isinstance(p, dict):
                limits.update({k: p.get(k) for k in ("maxWidth", "maxHeight", "maxArea") if p.get(k)})
                formats.update(p.get("formats") or [])
        level_name = names[0] if names else ""
    else:
        level_name = str(profile or "")
        limits = {k: doc.get(k) for k in ("maxWidth", "maxHeight", "maxArea") if doc.get(k)}
        formats.update(doc.get("extraFormats") or [])
    level = 0 if "level0" in level_name else 1 if "level1" in level_name else 2 if "level2" in level_name else 1
    try:
        max_w, max_h, max_area = (int(limits[k]) if k in limits else None for k in ("maxWidth", "maxHeight", "maxArea"))
    except (TypeError, ValueError):
        raise ScanError(f"{url}: not a IIIF image: info.json's maxWidth/maxHeight/maxArea are not numbers") from None
    if max_w is not None and max_h is None:
        max_h = max_w  # the Image API: maxHeight defaults to maxWidth
    fmt = "png" if ("png" in formats or level == 2) and level > 0 else "jpg"  # level 2 must serve PNG
    tile, listed = None, False
    tiles = doc.get("tiles") or []
    for spec in tiles if isinstance(tiles, list) else []:
        factors = spec.get("scaleFactors") if isinstance(spec, dict) else None
        if isinstance(factors, list) and 1 in factors and spec.get("width"):
            try:
                tw = int(spec["width"])
                tile, listed = (tw, int(spec.get("height") or tw)), True
            except (TypeError, ValueError):
                raise ScanError(f"{url}: not a IIIF image: info.json's tiles are not sizes ({spec!r:.80})") from None
            if tile[0] < 1 or tile[1] < 1:
                raise ScanError(f"{url}: not a IIIF image: info.json's tiles are {tile[0]}x{tile[1]} px")
            break
    if tile is None:
        if level == 0:
            sizes = [s for s in doc.get("sizes") or [] if isinstance(s, dict)]
            if not any(s.get("width") == width and s.get("height") == height for s in sizes):
                raise ScanError(f"{url}: the IIIF server (level 0) lists no full-resolution tiles and no full-size "
                                "image: it cannot give the image at full resolution")
            tile = (width, height)
        else:
            tile = (min(WINDOW, width), min(WINDOW, height))
    tw, th = tile
    if not listed or level > 0:  # any region may be asked: keep each within the server's limits
        if max_w is not None:
            tw = min(tw, max_w)
        if max_h is not None:
            th = min(th, max_h)
        if max_area is not None and tw * th > max_area:
            side = int(math.sqrt(max_area))
            tw, th = min(tw, side), min(th, side)
    elif (max_w is not None and tw > max_w) or (max_h is not None and th > max_h) or \
            (max_area is not None and tw * th > max_area):
        raise ScanError(f"{url}: the IIIF server (level 0) serves tiles of {tw}x{th} px, past its own limits")
    return ImageService(ident.rstrip("/"), version, level, width, height, (tw, th), fmt, max_w, max_h, max_area)


def _decode(data: bytes, url: str, shape: tuple[int, int]) -> np.ndarray:
    """A tile's bytes (JPEG or PNG) as ``(h, w, 3)`` uint8 RGB, checked to be the size asked for."""
    import cv2

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise ScanError(f"{url}: the server's answer is not an image bigocr can decode")
    if image.shape[:2] != shape:
        raise ScanError(f"{url}: the server gave {image.shape[1]}x{image.shape[0]} px where {shape[1]}x{shape[0]} "
                        "were asked: info.json does not say the image's real size")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    rgb = image[..., 2::-1] if image.shape[2] >= 3 else np.repeat(image[..., :1], 3, axis=2)
    if image.shape[2] in (2, 4):  # alpha: over white paper
        alpha = image[..., -1:].astype(np.uint16)
        rgb = ((rgb.astype(np.uint16) * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
    return np.ascontiguousarray(rgb)


def _pack(bits: np.ndarray) -> str:
    return base64.b64encode(np.packbits(bits.astype(bool).ravel())).decode()


def _unpack(text: str, shape: tuple[int, int]) -> np.ndarray:
    raw = np.unpackbits(np.frombuffer(base64.b64decode(text), np.uint8))[: shape[0] * shape[1]]
    return raw.reshape(shape).astype(bool)


class IiifImage(FileSource):
    """A IIIF image (Image API 2 or 3) as a scan; open one with :func:`open_iiif`.

    It pickles as its URL and the parsed ``info.json``; windows read outside the
    cache fetch the tiles they touch (kept decoded per process, a few).
    ``canvas`` is ``{"id", "width", "height", "label"}`` when the image is a
    manifest's canvas.
    """

    page = 0
    pages = 1
    dpi = None

    def __init__(self, url: str, service: ImageService, info_sha256: str, canvas: dict | None = None):
        self.path = url
        self.service = service
        self.height, self.width = service.height, service.width
        self.info_sha256 = info_sha256
        self.canvas = canvas
        self._cache = None
        self._zarr = None

    @property
    def name(self) -> str:
        return self.path

    @property
    def in_memory(self) -> bool:
        return False

    @property
    def needs_cache(self) -> bool:
        return self._cache is None

    @property
    def band_rows(self) -> int:
        return self.service.tile[1]

    @property
    def segment_bytes(self) -> int:
        return 0 if self._cache is not None else self.width * self.height * 3

    def fingerprint(self) -> dict:
        return {"info_sha256": self.info_sha256}

    def info(self) -> dict:
        doc = {"path": self.path, "width": self.width, "height": self.height, "page": 0, "pages": 1, "dpi": None,
               "iiif": self.service.to_dict()}
        if self.canvas is not None:
            doc["iiif"]["canvas"] = dict(self.canvas)
        return doc

    def __repr__(self):
        return f"IiifImage({self.path!r}, {self.width}x{self.height}, level {self.service.level})"

    # -- pixels ------------------------------------------------------------------------------------
    def _tile(self, i: int, j: int) -> np.ndarray:
        """Tile ``(i, j)`` fetched (a level-0 server's other spellings tried where the first is not there)."""
        x, y, w, h = self.service.region(i, j)
        urls = self.service.tile_urls(x, y, w, h)
        for k, url in enumerate(urls):
            try:
                return _decode(_get(url, "a tile"), url, (h, w))
            except ScanError as exc:
                if k + 1 == len(urls) or "(HTTP 404)" not in str(exc):
                    raise
        raise AssertionError("unreachable")

    def _key(self, i: int, j: int):
        return (self.info_sha256, self.service.id, i, j)

    def _remembered(self, i: int, j: int, keep: bool = True) -> np.ndarray:
        """Tile ``(i, j)``, from the tiles this process holds decoded (windows read outside the cache: a scale's
        sample) where it is there; ``keep``: hold it for the next read."""
        key = self._key(i, j)
        with _TILES_LOCK:
            if key in _TILES:
                tile = _TILES.pop(key)
                if keep:
                    _TILES[key] = tile
                return tile
        tile = self._tile(i, j)
        if keep:
            with _TILES_LOCK:
                _TILES[key] = tile
                held = sum(t.nbytes for t in _TILES.values())
                while held > TILE_MEMORY and len(_TILES) > 1:
                    held -= _TILES.pop(next(iter(_TILES))).nbytes
        return tile

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        if not (0 <= y0 < y1 <= self.height and 0 <= x0 < x1 <= self.width):
            raise IndexError(f"window {(y0, y1, x0, x1)} outside scan {self.shape}")
        if self._cache is not None:
            import zarr

            if self._zarr is None:
                self._zarr = zarr.open_array(self._cache, mode="r")
            return np.asarray(self._zarr[y0:y1, x0:x1])
        tw, th = self.service.tile
        out = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
        for i in range(y0 // th, (y1 - 1) // th + 1):
            for j in range(x0 // tw, (x1 - 1) // tw + 1):
                tile = self._remembered(i, j)
                ty, tx = i * th, j * tw
                a0, a1, b0, b1 = max(y0, ty), min(y1, ty + tile.shape[0]), max(x0, tx), min(x1, tx + tile.shape[1])
                out[a0 - y0:a1 - y0, b0 - x0:b1 - x0] = tile[a0 - ty:a1 - ty, b0 - tx:b1 - tx]
        return out

    def cached(self, store) -> "IiifImage":
        """This image fetched tile by tile into the zarr array at ``store``; the tiles an earlier, interrupted
        run fetched there are not fetched again (the array's ``fetched`` bitmap says which it holds)."""
        import zarr

        if complete_cache(store):
            return self._with_cache(store)
        tw, th = self.service.tile
        grid = self.service.grid()
        # chunks are the tiles (no two tiles share one), but a single tile as large as a whole image is cut into
        # 1024 px chunks, so that a detector tile reads only the part it needs
        chunks = (th if grid[0] > 1 or th <= 2048 else 1024, tw if grid[1] > 1 or tw <= 2048 else 1024, 3)
        try:
            array = zarr.open_array(store, mode="r+")
            same = (array.shape == (self.height, self.width, 3) and array.attrs.get("iiif") == self.info_sha256
                    and tuple(array.chunks) == chunks)
            done = _unpack(array.attrs["fetched"], grid) if same and "fetched" in array.attrs else None
        except Exception:
            done = None
        if done is None:
            array = zarr.create_array(store, shape=(self.height, self.width, 3), chunks=chunks, dtype="uint8",
                                      overwrite=True, fill_value=255)
            array.attrs.update({"iiif": self.info_sha256, "fetched": _pack(np.zeros(grid, bool))})
            done = np.zeros(grid, bool)
        todo = [(i, j) for i in range(grid[0]) for j in range(grid[1]) if not done[i, j]]
        kept = int(done.sum())
        lock = threading.Lock()
        start_bytes, t0 = fetched_bytes(), time.perf_counter()
        saved = [time.monotonic()]
        if kept:
            log.info("%s: %d of %d tiles already fetched (kept in the scan cache)", self.path, kept, done.size)
        from tqdm import tqdm

        def record():  # after the pixels: a recorded tile is there (written at most once a second)
            array.attrs["fetched"] = _pack(done)
            saved[0] = time.monotonic()

        with tqdm(total=len(todo), unit="tile", desc="fetching", disable=None if sys.stderr.isatty() else True,
                  leave=False) as bar:
            def fetch(ij):
                i, j = ij
                tile = self._remembered(i, j, keep=False)
                x, y, w, h = self.service.region(i, j)
                array[y:y + h, x:x + w] = tile
                with lock:
                    done[i, j] = True
                    if time.monotonic() - saved[0] >= 1.0:
                        record()
                    bar.update()
                    bar.set_postfix_str(f"{(fetched_bytes() - start_bytes) / 2**20:.1f} MB")

            pool = ThreadPoolExecutor(FETCH_PARALLEL, thread_name_prefix="bigocr-iiif")
            try:
                for future in [pool.submit(fetch, ij) for ij in todo]:
                    future.result()  # the first tile that cannot be fetched ends the run: the rest is not asked
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
                with lock:
                    record()
        array.attrs["complete"] = True
        log.info("%s: fetched %d tiles, %.1f MB, in %.1f s", self.path, len(todo),
                 (fetched_bytes() - start_bytes) / 2**20, time.perf_counter() - t0)
        return self._with_cache(store)


_TILES: dict = {}
_TILES_LOCK = threading.Lock()


def open_iiif(url: str, *, max_pixels: int, canvas: dict | None = None) -> IiifImage:
    """Open the IIIF image at ``url`` (its ``info.json``, or its base URI).

    Raises
    ------
    ScanError
        Not a IIIF image, a level-0 server without full-resolution tiles, more pixels than ``max_pixels``.
    NetworkError
        The server does not answer (after retries).
    """
    base = url.rstrip("/")
    candidates = [url] if base.endswith("info.json") else [base + "/info.json", url]  # info.json first: the URI
    said = []                                                     # of an image redirects there, or answers it
    for info_url in candidates:
        try:
            body = _get(info_url, "info.json", limit=JSON_LIMIT)
        except ScanError as exc:
            said.append(str(exc).split(": ", 1)[-1])
            continue
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            said.append(f"{info_url} does not answer with JSON")
            continue
        if isinstance(doc, dict) and ("width" in doc or "@context" in doc):
            break
        said.append(f"{info_url} answers with JSON that is no info.json")
    else:
        raise ScanError(f"{url}: not a IIIF image: {'; '.join(said)}")
    service = parse_info(doc, info_url)
    check_size(url, service.height, service.width, max_pixels)
    return IiifImage(url, service, hashlib.sha256(body).hexdigest(), canvas)


def _label(value) -> str:
    """A Presentation label (a string, a v2 list, a v3 language map) as one string."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(_label(v) for v in value)
    if isinstance(value, dict):
        if "@value" in value:
            return str(value["@value"])
        return " ".join(_label(v) for v in value.values())
    return "" if value is None else str(value)


def _service_id(resource) -> str | None:
    """The Image API service of a v2 image resource or a v3 annotation body."""
    services = resource.get("service") if isinstance(resource, dict) else None
    for service in services if isinstance(services, list) else [services]:
        if isinstance(service, dict):
            kind = str(service.get("type") or service.get("@type") or "")
            ident = service.get("id") or service.get("@id")
            profile = str(service.get("profile") or "")
            context = str(service.get("@context") or "")
            if ident and ("ImageService" in kind or "iiif.io/api/image" in profile + context or "level" in profile):
                return str(ident).rstrip("/")
    return None


def _dicts(value) -> list[dict]:
    """The objects of a JSON list (anything else: none)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def is_manifest(doc: dict) -> bool:
    kind = doc.get("type") or doc.get("@type")
    return kind in ("Manifest", "sc:Manifest")


def manifest_canvases(doc: dict, url: str) -> list[dict]:
    """The canvases of a Presentation 2 or 3 manifest, in order: ``{"id", "width", "height", "label",
    "image"}`` with ``image`` the base URI of the canvas's first image's Image API service.

    Raises
    ------
    ScanError
        Not a manifest, no canvases, or a canvas whose image has no IIIF Image API service.
    """
    if not is_manifest(doc):
        raise ScanError(f"{url}: not a IIIF Presentation manifest (type {doc.get('type') or doc.get('@type')!r})")
    if doc.get("type") == "Manifest":  # Presentation 3
        raw = [c for c in _dicts(doc.get("items")) if c.get("type") == "Canvas"]

        def body(canvas):
            for page in _dicts(canvas.get("items")):
                for anno in _dicts(page.get("items")):
                    b = anno.get("body")
                    for one in b if isinstance(b, list) else [b]:
                        if isinstance(one, dict):
                            return one
            return None
    else:  # Presentation 2
        sequences = _dicts(doc.get("sequences"))
        raw = _dicts(sequences[0].get("canvases")) if sequences else []

        def body(canvas):
            for image in _dicts(canvas.get("images")):
                if isinstance(image, dict) and isinstance(image.get("resource"), dict):
                    return image["resource"]
            return None
    if not raw:
        raise ScanError(f"{url}: the manifest lists no canvases")
    canvases = []
    for k, canvas in enumerate(raw, 1):
        ident = canvas.get("id") or canvas.get("@id")
        image = _service_id(body(canvas) or {})
        if not ident or image is None:
            raise ScanError(f"{url}: canvas {k} ({ident or 'without an id'}) has no IIIF Image API service to read")
        size = [canvas.get("width"), canvas.get("height")]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in size):
            size = [None, None]  # the image's own size stands in
        canvases.append({"id": str(ident), "width": size[0], "height": size[1], "label": _label(canvas.get("label")),
                         "image": image[:-len("/info.json")] if image.endswith("/info.json") else image})
    return canvases
