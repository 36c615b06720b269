"""Published CRAFT weights for users who are online.

``bigocr weights download craft-mlt-25k`` fetches the archive EasyOCR publishes
(GitHub release ``pre-v1.1.6``, ``craft_mlt_25k.zip``), checks the ``.pth``
inside against its published md5, and caches it; ``--weights craft-mlt-25k``
then uses the cached file.  The cache is ``$BIGOCR_CACHE`` or
``~/.cache/bigocr``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bigocr.detector.weights import file_digest
from bigocr.errors import WeightsError

__all__ = ["PUBLISHED", "cache_dir", "cached_path", "download", "resolve_named"]


@dataclass(frozen=True)
class Published:
    url: str
    member: str
    md5: str


PUBLISHED = {
    "craft-mlt-25k": Published(
        url="https://github.com/JaidedAI/EasyOCR/releases/download/pre-v1.1.6/craft_mlt_25k.zip",
        member="craft_mlt_25k.pth",
        md5="2f8227d2def4037cdb3b34389dcf9ec1",
    ),
}


def cache_dir() -> Path:
    """Where downloaded weights are kept."""
    return Path(os.environ.get("BIGOCR_CACHE") or Path.home() / ".cache" / "bigocr") / "weights"


def cached_path(name: str) -> Path:
    return cache_dir() / PUBLISHED[name].member


def download(name: str, *, url: str | None = None, md5: str | None = None, timeout: float = 60) -> Path:
    """Download, check and cache published weights; returns the cached ``.pth``.

    Parameters
    ----------
    name : str
        A key of ``PUBLISHED`` (``"craft-mlt-25k"``).
    url, md5 : str, optional
        Override the source and the expected checksum (mirrors, tests).
    """
    if name not in PUBLISHED:
        raise WeightsError(f"unknown published weights {name!r}; known: {', '.join(PUBLISHED)}")
    spec = PUBLISHED[name]
    url, md5 = url or spec.url, md5 or spec.md5
    target = cached_path(name)
    if target.is_file() and file_digest(target, "md5") == md5:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        archive = Path(tmp) / "archive.zip"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(archive, "wb") as fh:
                shutil.copyfileobj(response, fh)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise WeightsError(
                f"cannot download {url}: {reason}; when offline, fetch {Path(spec.url).name} elsewhere, "
                f"unzip it and pass --weights PATH/{spec.member}"
            ) from None
        try:
            with zipfile.ZipFile(archive) as zf:
                members = [m for m in zf.namelist() if Path(m).name == spec.member]
                if not members:
                    raise WeightsError(f"{url}: the archive holds no {spec.member}")
                with zf.open(members[0]) as src, open(Path(tmp) / spec.member, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        except zipfile.BadZipFile:
            raise WeightsError(f"{url}: the download is not a zip archive") from None
        got = file_digest(Path(tmp) / spec.member, "md5")
        if got != md5:
            raise WeightsError(f"{url}: {spec.member} has md5 {got}, expected {md5}; nothing was cached")
        os.replace(Path(tmp) / spec.member, target)
    return target


def resolve_named(name: str) -> Path:
    """The cached file of published weights ``name``, or a clear error saying how to get it."""
    path = cached_path(name)
    if not path.is_file():
        raise WeightsError(f"{name} is not downloaded yet: run 'bigocr weights download {name}' "
                           f"(it is cached in {path.parent})")
    return path
