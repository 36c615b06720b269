"""The output folder: a local path or any fsspec URL the workers can reach.

Every file bigocr writes into OUT goes through :class:`OutDir`: whole files
are written under a temporary name and renamed into place, so a reader never
sees half a file; ``maps.zarr`` is a zarr store in the same place.  A local
path and a ``file://`` URL are the same folder (written with zarr's
``LocalStore``); other protocols (``s3://``, ``gs://``, ``memory://``, ...)
go through fsspec.
"""

from __future__ import annotations

import posixpath
import uuid
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

from bigocr.errors import OutputError

__all__ = ["OutDir"]


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
        except (ImportError, ValueError) as exc:
            raise OutputError(f"{self.location}: cannot use this output location: {exc}") from None
        self.local = Path(root) if isinstance(self.fs, LocalFileSystem) else None
        self.root = root.rstrip("/")

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

    def zarr_store(self, name: str):
        """Something ``zarr.open_group`` opens as ``name`` in the folder (picklable)."""
        if self.local is not None:
            return str(self.local / name)
        from zarr.storage import FsspecStore

        return FsspecStore.from_url(f"{self.location.rstrip('/')}/{name}", read_only=False)

    def exists(self, name: str | None = None) -> bool:
        return self.fs.exists(self.root if name is None else self.path(name))

    def check(self) -> None:
        """Refuse an OUT that is a file."""
        if self.fs.exists(self.root) and not self.fs.isdir(self.root):
            raise OutputError(f"{self}: exists and is not a folder; choose another -o")

    def mkdir(self) -> None:
        try:
            self.fs.makedirs(self.root, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{self}: cannot write: {exc.strerror or exc}") from None

    def remove(self, name: str) -> None:
        """Remove a file or folder of OUT (missing is fine)."""
        target = self.path(name)
        if self.fs.exists(target):
            self.fs.rm(target, recursive=self.fs.isdir(target))

    def read_bytes(self, name: str) -> bytes:
        return self.fs.cat_file(self.path(name))

    def write_bytes(self, name: str, data: bytes) -> str:
        """Write ``data`` as ``name``, atomically (temporary name, then rename); returns where."""
        if self.local is not None:
            from bigocr.writers import write_bytes_atomic

            target = self.local / name
            write_bytes_atomic(target, data)
            return str(target)
        target = self.path(name)
        tmp = self.path(f".{name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            self.fs.pipe_file(tmp, data)
            self.fs.mv(tmp, target)
        except BaseException:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)
            raise
        return self.location.rstrip("/") + "/" + name
