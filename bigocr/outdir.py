"""The output folder: a local path or any fsspec URL the workers can reach.

Every file bigocr writes into OUT goes through :class:`OutDir`: whole files
are written under a temporary name and renamed into place, so a reader never
sees half a file; ``maps.zarr`` is a zarr store in the same place.  A local
path and a ``file://`` URL are the same folder (written with zarr's
``LocalStore``); other protocols (``s3://``, ``gs://``, ``memory://``, ...)
go through fsspec, and a protocol whose package is missing is an error
(never a local folder named ``s3:``).

Three rules keep a user's files safe, whatever the flags:

- **The record.**  ``OUT/.bigocr-record.json`` lists what bigocr wrote into
  OUT: each file with the SHA-256 of the bytes written, and the folders it
  made (``maps.zarr``, ...).  A file counts as bigocr's only while its bytes
  are still those (:meth:`OutDir.ours`); a file it did not write, or one
  edited since (a hand-corrected ``page.xml``), is the user's, and bigocr
  neither removes nor replaces it, ``--force`` or not.
- **The inputs.**  No name bigocr writes or removes may be, or hold, a file
  the job reads (the scan, ``--boxes``): :meth:`OutDir.guard_inputs`.
- **The lock.**  A job holds an OS file lock on ``OUT/.bigocr.lock``
  (:meth:`OutDir.lock`) from the moment it looks at OUT until it ends; the
  kernel releases it when the process dies, so a killed run never blocks the
  next one.  A remote OUT cannot be locked (say so in the docs: one run per
  remote OUT at a time).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import posixpath
import tempfile
import time
import uuid
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

from bigocr.errors import OutputError

__all__ = ["OutDir", "write_bytes_atomic", "RECORD", "LOCK", "is_url", "source_stem"]

log = logging.getLogger("bigocr")

#: What bigocr wrote into OUT (files with their SHA-256, folders by name).
RECORD = ".bigocr-record.json"
#: The OS lock a job holds on OUT.
LOCK = ".bigocr.lock"
#: Digests kept per file name: the newest and the one before (a crash between recording and renaming).
_DIGESTS_KEPT = 2


def is_url(location) -> bool:
    """True for ``scheme://...`` (an fsspec URL), False for a path."""
    return isinstance(location, str) and "://" in location and not location.startswith("file://")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` next to ``path`` and rename it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # as open() would make it, not mkstemp's 0600
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    try:  # Linux says it without changing it
        with open("/proc/self/status") as fh:
            for row in fh:
                if row.startswith("Umask:"):
                    return int(row.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


class OutDir:
    """One output folder.

    Parameters
    ----------
    location : str or Path
        A path or an fsspec URL (``file:///data/out``, ``s3://bucket/out``).

    Attributes
    ----------
    local : Path or None
        The folder on this machine's file system, or None for a remote URL.
    """

    def __init__(self, location):
        self.location = str(location)
        try:
            self.fs, root = fsspec.core.url_to_fs(self.location)
        except ImportError as exc:
            scheme = self.location.split("://", 1)[0]
            raise OutputError(f"{self.location}: writing to {scheme}:// needs a package that is not installed "
                              f"({str(exc).strip().splitlines()[0]})") from None
        except (ValueError, OSError) as exc:
            raise OutputError(f"{self.location}: cannot use this output location: {exc}") from None
        self.local = Path(root) if isinstance(self.fs, LocalFileSystem) else None
        self.root = root.rstrip("/")
        self._made = False  # this OutDir made the folder (it removes it again if it stays empty)

    def __repr__(self) -> str:
        return f"OutDir({self.location!r})"

    def __str__(self) -> str:
        return str(self.local) if self.local is not None else self.location

    @property
    def user_path(self):
        """What to hand back to the user: a Path for a local folder, the URL otherwise."""
        return self.local if self.local is not None else self.location

    def path(self, name: str) -> str:
        """Path of ``name`` in the folder, for :attr:`fs`."""
        return posixpath.join(self.root, name)

    def shown(self, name: str) -> str:
        """``name`` in the folder, as the user would type it."""
        return str(self.local / name) if self.local is not None else f"{self.location.rstrip('/')}/{name}"

    def zarr_store(self, name: str):
        """Something ``zarr.open_group`` opens as ``name`` in the folder (picklable)."""
        if self.local is not None:
            return str(self.local / name)
        from zarr.storage import FsspecStore

        return FsspecStore.from_url(f"{self.location.rstrip('/')}/{name}", read_only=False)

    def exists(self, name: str | None = None) -> bool:
        return self.fs.exists(self.root if name is None else self.path(name))

    def check(self) -> None:
        """Refuse an OUT that is a file (or anything but a folder)."""
        if self.fs.exists(self.root) and not self.fs.isdir(self.root):
            raise OutputError(f"{self}: exists and is not a folder; choose another -o")

    def mkdir(self) -> None:
        try:
            if self.local is not None and not self.local.exists():
                self._made = True
            self.fs.makedirs(self.root, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{self}: cannot write: {_reason(exc)}") from None

    def remove(self, name: str) -> None:
        """Remove a file or folder of OUT (missing is fine)."""
        target = self.path(name)
        try:
            if self.fs.exists(target):
                self.fs.rm(target, recursive=self.fs.isdir(target))
        except OSError as exc:
            raise OutputError(f"{self.shown(name)}: cannot remove: {_reason(exc)}") from None

    def read_bytes(self, name: str) -> bytes:
        return self.fs.cat_file(self.path(name))

    def write_bytes(self, name: str, data: bytes, record: bool = True) -> str:
        """Write ``data`` as ``name``, atomically (temporary name, then rename); returns where.

        With ``record`` the file and its digest go into the record first, so
        that a later ``--force`` knows it as bigocr's.  A failed write is an
        :class:`OutputError` naming the file and the reason (a full disk, no
        permission).
        """
        if record:
            self.record(files={name: hashlib.sha256(data).hexdigest()})
        try:
            if self.local is not None:
                target = self.local / name
                write_bytes_atomic(target, data)
                return str(target)
            target = self.path(name)
            folder, base = posixpath.split(name)
            tmp = self.path(posixpath.join(folder, f".{base}.{uuid.uuid4().hex[:8]}.tmp"))
            try:
                self.fs.pipe_file(tmp, data)
                self.fs.mv(tmp, target)
            except BaseException:
                if self.fs.exists(tmp):
                    self.fs.rm(tmp)
                raise
            return self.location.rstrip("/") + "/" + name
        except OSError as exc:
            raise OutputError(f"{self.shown(name)}: cannot write: {_reason(exc)}") from None

    # -- the record -----------------------------------------------------------------------------------------

    def _read_record(self) -> dict:
        try:
            doc = json.loads(self.read_bytes(RECORD))
        except (FileNotFoundError, ValueError):
            return {"files": {}, "folders": []}
        except OSError as exc:
            raise OutputError(f"{self.shown(RECORD)}: cannot read: {_reason(exc)}") from None
        files = doc.get("files") if isinstance(doc, dict) else None
        folders = doc.get("folders") if isinstance(doc, dict) else None
        return {"files": files if isinstance(files, dict) else {},
                "folders": folders if isinstance(folders, list) else []}

    def record(self, files: dict | None = None, folders=()) -> None:
        """Add ``files`` (name -> SHA-256 of what is about to be written) and ``folders`` to the record."""
        doc = self._read_record()
        for name, digest in (files or {}).items():
            kept = [d for d in doc["files"].get(name, []) if d != digest]
            doc["files"][name] = ([digest] + kept)[:_DIGESTS_KEPT]
        for name in folders:
            if name not in doc["folders"]:
                doc["folders"].append(name)
        self._write_record(doc)

    def forget(self, names) -> None:
        """Take ``names`` (removed) out of the record."""
        doc = self._read_record()
        names = set(names)
        doc["files"] = {k: v for k, v in doc["files"].items() if k not in names}
        doc["folders"] = [k for k in doc["folders"] if k not in names]
        self._write_record(doc)

    def _write_record(self, doc: dict) -> None:
        self.write_bytes(RECORD, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode(), record=False)

    def ours(self, name: str, doc: dict | None = None) -> bool:
        """True if ``name`` in OUT is what bigocr wrote: a recorded folder, or a file whose bytes are as recorded.

        ``doc``: the record, when the caller has read it already.
        """
        doc = self._read_record() if doc is None else doc
        if name in doc["folders"]:
            return True
        digests = doc["files"].get(name)
        if not digests:
            return False
        try:
            if self.fs.isdir(self.path(name)):
                return False
            return _sha256(self.fs, self.path(name)) in digests
        except OSError:
            return False

    def foreign(self, names) -> list[str]:
        """Those of ``names`` present in OUT that bigocr did not write (or that were changed since)."""
        doc = self._read_record()  # once for all the names
        return [name for name in names if self.exists(name) and not self.ours(name, doc)]

    # -- the inputs -----------------------------------------------------------------------------------------

    def guard_inputs(self, inputs: dict, names) -> None:
        """Refuse a job that would write or remove an input: a ``name`` of OUT that is, or holds, one of ``inputs``.

        ``inputs`` maps what the file is ("the scan", "the --boxes file") to its path.
        """
        if self.local is None:
            return
        here = os.path.realpath(self.local)
        for what, path in inputs.items():
            if path is None or is_url(str(path)):
                continue
            real = os.path.realpath(path)
            for name in names:
                target = os.path.join(here, name)
                if real == target or real.startswith(target + os.sep) or _same_file(path, target):
                    raise OutputError(f"{self.shown(name)}: is {what} being read, and bigocr writes its own "
                                      f"{name} there; choose another -o (bigocr never writes over its input)")

    # -- the lock -------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, wait: bool = False):
        """Hold OUT for one job: an exclusive OS lock on ``OUT/.bigocr.lock`` (local folders only).

        Makes OUT if needed (and removes it again if the job leaves it empty).
        Another process holding the lock: an :class:`OutputError` naming its
        pid, or with ``wait`` a wait until it ends.  The lock file is removed
        on release; one left by a killed process is not locked by anyone and
        never blocks.
        """
        if self.local is None:
            yield self
            return
        import fcntl

        self.check()
        self.mkdir()
        path = self.local / LOCK
        said = False
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:  # the run we waited for made OUT, wrote nothing and removed it again
                self.mkdir()
                continue
            except OSError as exc:
                read_only = exc.errno == errno.EROFS or (exc.errno in (errno.EACCES, errno.EPERM)
                                                         and not os.access(self.local, os.W_OK))
                if read_only:  # nobody can write there: no lock to take
                    log.info("%s: read-only, not locked (%s)", self, _reason(exc))
                    yield self
                    return
                raise OutputError(f"{self}: cannot lock {LOCK}: {_reason(exc)}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise OutputError(f"{self}: cannot lock {LOCK}: {_reason(exc)}") from None
                holder = _read_pid(fd)
                os.close(fd)
                if not wait:
                    raise OutputError(f"{self}: in use by another bigocr run (pid {holder}); wait for it to end, "
                                      "pass --wait to wait, or choose another -o") from None
                if not said:
                    log.warning("%s: in use by another bigocr run (pid %s); waiting for it", self, holder)
                    said = True
                time.sleep(0.2)
                continue
            try:  # the file we locked may have been removed by the holder we waited for: lock the one there now
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield self
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
            os.close(fd)
            if self._made:  # a job that wrote nothing leaves no folder behind
                with contextlib.suppress(OSError):
                    self.local.rmdir()


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        return "unknown"
    return text if text.isdigit() else "unknown"


def _same_file(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _sha256(fs, path: str) -> str:
    digest = hashlib.sha256()
    with fs.open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def source_stem(source) -> str:
    """A scan's name for its folder: a file's stem; for a URL, its last path segment that is not
    ``info.json`` or ``manifest(.json)`` (a IIIF image's identifier, a manifest's book)."""
    source = str(source)
    if "://" not in source:
        return Path(source).stem or "scan"
    from urllib.parse import unquote, urlsplit

    parts = [unquote(p) for p in urlsplit(source).path.split("/") if p]
    parts = [p for p in parts if p.lower() not in ("info.json", "manifest.json", "manifest")]
    name = Path(parts[-1]).stem if parts else urlsplit(source).hostname or "iiif"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "iiif"
