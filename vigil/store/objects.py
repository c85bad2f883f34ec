"""Object store: bytes under validated keys below one fsspec root.

``file://`` is the embedded default; any fsspec URL works (``s3://bucket/prefix``
with s3fs, ``gcs://`` with gcsfs ...). Keys are checked with
:func:`vigil.store.names.check_name` and, for local roots, resolved paths are
checked to stay below the root, so no key can address anything outside it.

Remote filesystems (s3fs ...) cache directory listings per process; every read
drops the cached listing of the path it asks about first, so writes made by
other processes or clients are seen.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from vigil.errors import InvalidInput, MissingDependency, NotFound, StoreError, invalid
from vigil.store.names import MAX_KEY_CHARS, check_name

_EXTRAS = {"s3": "s3", "s3a": "s3", "gcs": "gcs", "gs": "gcs", "abfs": "azure", "az": "azure"}


def delete_folder(objects: Any, folder: str) -> None:
    """Delete the objects directly in ``folder`` of ``objects``, not in its sub-folders
    (a sub-folder belongs to a nested name: dropping ``a`` keeps ``a/b``)."""
    prefix = folder.rstrip("/") + "/"
    objects.delete([k for k in objects.list(prefix[:-1]) if "/" not in k[len(prefix):]])


class FsspecObjectStore:
    """Objects in any filesystem fsspec can reach.

    Examples
    --------
    >>> import tempfile
    >>> objs = FsspecObjectStore(f"file://{tempfile.mkdtemp()}")
    >>> objs.put('a/b.bin', b'hi')
    'a/b.bin'
    >>> objs.get('a/b.bin')
    b'hi'
    """

    def __init__(self, url: str, options: Mapping[str, Any] | None = None) -> None:
        import fsspec

        self.url = url
        scheme = url.split("://", 1)[0] if "://" in url else "file"
        try:
            self.fs, root = fsspec.core.url_to_fs(url, **dict(options or {}))
        except ImportError as exc:
            raise MissingDependency(str(exc.name or scheme), _EXTRAS.get(scheme, "all"),
                                    f"the {scheme}:// object store") from None
        except ValueError as exc:
            raise invalid("ObjectStore", "url", url, f"an fsspec URL with a known protocol ({exc})") from None
        self.local = scheme in ("file", "local")
        if self.local:
            root = os.path.realpath(root or os.sep)  # realpath("") would be the working directory
        self.root = root.rstrip("/") or "/"
        self._base = self.root.rstrip("/")  # keys are joined as f"{_base}/{key}"

    def _path(self, key: str) -> str:
        check_name(key, "ObjectStore", "key", MAX_KEY_CHARS)
        path = f"{self._base}/{key}"
        if self.local and not os.path.realpath(path).startswith(self._base + os.sep):
            raise invalid("ObjectStore", "key", key, "a key that stays inside the object root")
        return path

    def _fresh(self, path: str) -> str:
        """Forget cached listings of ``path`` and its parents (no-op for local files)."""
        if not self.local:
            self.fs.invalidate_cache(path)
        return path

    def put(self, key: str, data: bytes) -> str:
        path = self._path(key)
        try:
            if self.local:
                folder = os.path.dirname(path)
                os.makedirs(folder, exist_ok=True)
                # unique per writer (threads too) and short, so a key of NAME_MAX bytes still fits;
                # mode 0o666 & ~umask like open(), which mkstemp (0o600) would not give
                tmp = os.path.join(folder, f".put-{secrets.token_hex(8)}.tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                try:
                    with os.fdopen(fd, "wb") as fh:
                        fh.write(data)
                    os.replace(tmp, path)  # readers never see a half-written object
                except BaseException:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
                    raise
            else:
                self.fs.pipe_file(path, data)
                self._fresh(path)
        except OSError as exc:
            raise StoreError(f"object store {self.url}: cannot write {key!r}: {exc}") from exc
        return key

    def get(self, key: str) -> bytes:
        path = self._fresh(self._path(key))
        try:
            return self.fs.cat_file(path)
        except (FileNotFoundError, IsADirectoryError):  # a "folder" of keys is not an object
            raise NotFound(f"object {key!r} does not exist in {self.url}") from None
        except OSError as exc:
            raise StoreError(f"object store {self.url}: cannot read {key!r}: {exc}") from exc

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._fresh(self._path(key))))

    def delete(self, keys: Iterable[str]) -> None:
        """Delete the objects named by ``keys``; keys that name no object are ignored."""
        paths = [self._fresh(self._path(k)) for k in keys]
        existing = [p for p in paths if self.fs.isfile(p)]
        if existing:
            self.fs.rm(existing)
            for p in existing:
                self._fresh(p)

    def delete_prefix(self, prefix: str) -> None:
        """Delete the object ``prefix`` and every object under ``prefix/`` (not ``prefix2/``)."""
        path = self._fresh(self._path(prefix))
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)
            self._fresh(path)

    def list(self, prefix: str = "") -> list[str]:
        """Keys (relative to the root, sorted) of the object ``prefix`` and the objects below it."""
        base = self._fresh(self._path(prefix) if prefix else self.root)
        if not self.fs.exists(base):
            return []
        strip = len(self.fs._strip_protocol(self._base)) + 1
        keys = (self.fs._strip_protocol(p)[strip:] for p in self.fs.find(base))
        return sorted(k for k in keys if self._listable(k))

    def _listable(self, key: str) -> bool:
        """Only keys ``get`` accepts: no in-flight temp files, no symlinks leading out of a local root."""
        if self.local and os.path.basename(key).startswith(".put-"):
            return False
        try:
            self._path(key)
        except InvalidInput:
            return False
        return True
