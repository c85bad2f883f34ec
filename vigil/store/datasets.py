"""``om.datasets``: named, versioned data in the object store.

DataFrames are kept as Parquet (dtypes and index preserved), numpy arrays as
npy, JSON-able objects as JSON. Every ``put`` makes a new version; ``append``
adds a part to a DataFrame dataset instead. Metadata lives in the event
store's ``meta`` table, so the same code runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from vigil.errors import InvalidInput, NotFound, invalid
from vigil.store.names import check_name, key_path
from vigil.store.objects import delete_folder
from vigil.store.serializers import EXTENSIONS, decode, encode

KIND = "dataset"


class Datasets:
    """Put, get, list and drop datasets.

    Examples
    --------
    >>> import pandas as pd, vigil as om
    >>> om.datasets.put(pd.DataFrame({'x': [1, 2]}), 'doc-frame')['version'] >= 1
    True
    >>> om.datasets.get('doc-frame')['x'].tolist()
    [1, 2]
    """

    def __init__(self, stores: Any) -> None:
        self.stores = stores

    def _key(self, name: str, fmt: str) -> str:
        return f"datasets/{key_path(name)}/{uuid.uuid4().hex}.{EXTENSIONS[fmt]}"

    def put(self, obj: Any, name: str, append: bool = False, **attributes: Any) -> dict[str, Any]:
        """Store ``obj`` under ``name``; ``append=True`` adds rows to a DataFrame dataset."""
        check_name(name, "datasets.put", "name")
        encoded = encode(obj, who="datasets.put")
        if encoded.format not in ("parquet", "npy", "json"):
            raise invalid("datasets.put", "obj", obj, "a DataFrame, a numpy array or a JSON-able object")
        parts: list[str] = []
        if append:
            current = self.stores.events.find_meta(KIND, name)
            if current is not None:
                if current["format"] != "parquet" or encoded.format != "parquet":
                    raise InvalidInput(f"datasets.put: append=True needs DataFrames on both sides; "
                                       f"{name!r} holds {current['format']}, obj is {encoded.format}")
                parts = list(current["parts"])
        key = self._key(name, encoded.format)
        self.stores.objects.put(key, encoded.data)
        record = {"format": encoded.format, "parts": parts + [key], "info": encoded.info,
                  "attributes": attributes, "updated": time.time()}
        version = self.stores.events.put_meta(KIND, name, record)
        return {**record, "name": name, "version": version}

    def get(self, name: str, version: int | None = None) -> Any:
        """The stored object (the latest version unless ``version`` is given)."""
        meta = self.metadata(name, version)
        values = [decode(self.stores.objects.get(k), meta["format"], meta["info"]) for k in meta["parts"]]
        if len(values) == 1:
            return values[0]
        import pandas as pd

        return pd.concat(values)

    def metadata(self, name: str, version: int | None = None) -> dict[str, Any]:
        check_name(name, "datasets.get", "name")
        meta = self.stores.events.find_meta(KIND, name, version)
        if meta is None:
            raise NotFound(f"dataset {name!r}" + (f" version {version}" if version else "") + " does not exist")
        return meta

    def list(self, prefix: str = "") -> list[str]:
        """Names of the stored datasets (starting with ``prefix``)."""
        return [m["name"] for m in self.stores.events.list_meta(KIND, prefix)]

    def drop(self, name: str, force: bool = False) -> bool:
        """Delete every version of ``name``; False if it did not exist (NotFound unless ``force``)."""
        check_name(name, "datasets.drop", "name")
        if self.stores.events.find_meta(KIND, name) is None:
            if force:
                return False
            raise NotFound(f"dataset {name!r} does not exist")
        delete_folder(self.stores.objects, f"datasets/{key_path(name)}")
        self.stores.events.drop_meta(KIND, name)
        return True
