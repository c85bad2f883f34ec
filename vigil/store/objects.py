"""Object store: bytes under validated keys below one fsspec root.

``file://`` is the embedded default; any fsspec URL works (``s3://bucket/prefix``
with s3fs, ``gcs://`` with gcsfs ...). Keys are checked with
:func:`vigil.store.names.check_name` and, for local roots, resolved paths are
checked to stay below the root, so no key can address anything outside it.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping

from vigil.errors import MissingDependency, NotFound, StoreError, invalid
from vigil.store.names import check_name

_EXTRAS = {"s3": "s3", "s3a": "s3", "gcs": "gcs", "gs": "gcs", "abfs": "azure", "az": "azure"}


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
        self.root = root.rstrip("/")
        self.local = scheme in ("file", "local")
        if self.local:
            self.root = os.path.realpath(self.root)

    def _path(self, key: str) -> str:
        check_name(key, "ObjectStore", "key")
        path = f"{self.root}/{key}"
        if self.local and not os.path.realpath(path).startswith(self.root + os.sep):
            raise invalid("ObjectStore", "key", key, "a key that stays inside the object root")
        return path

    def put(self, key: str, data: bytes) -> str:
        path = self._path(key)
        try:
            if self.local:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                tmp = f"{path}.tmp-{os.getpid()}"
                with open(tmp, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)  # readers never see a half-written object
            else:
                self.fs.pipe_file(path, data)
        except OSError as exc:
            raise StoreError(f"object store {self.url}: cannot write {key!r}: {exc}") from exc
        return key

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return self.fs.cat_file(path)
        except FileNotFoundError:
            raise NotFound(f"object {key!r} does not exist in {self.url}") from None
        except OSError as exc:
            raise StoreError(f"object store {self.url}: cannot read {key!r}: {exc}") from exc

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def delete(self, keys: Iterable[str]) -> None:
        paths = [self._path(k) for k in keys]
        existing = [p for p in paths if self.fs.exists(p)]
        if existing:
            self.fs.rm(existing)

    def delete_prefix(self, prefix: str) -> None:
        path = self._path(prefix)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def list(self, prefix: str = "") -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if not self.fs.exists(base):
            return []
        strip = len(self.fs._strip_protocol(self.root)) + 1
        return sorted(self.fs._strip_protocol(p)[strip:] for p in self.fs.find(base))
