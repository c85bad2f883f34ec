"""``om.models``: scikit-learn estimators, versioned, in the skops format.

Every ``put`` is a new version. Loading checks the types in the file against
the trusted modules (scikit-learn, numpy, scipy); pickle is never used.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

from vigil.errors import NotFound, invalid
from vigil.store.names import check_name, key_path
from vigil.store.serializers import decode, encode

KIND = "model"


class Models:
    """Put, get, list and drop models.

    Examples
    --------
    >>> import vigil as om
    >>> from sklearn.linear_model import LinearRegression
    >>> om.models.put(LinearRegression(), 'doc-model')['version'] >= 1
    True
    >>> type(om.models.get('doc-model')).__name__
    'LinearRegression'
    """

    def __init__(self, stores: Any) -> None:
        self.stores = stores

    def put(self, model: Any, name: str, **attributes: Any) -> dict[str, Any]:
        check_name(name, "models.put", "name")
        encoded = encode(model, who="models.put")
        if encoded.format != "skops":
            raise invalid("models.put", "model", model, "a scikit-learn estimator or pipeline")
        key = f"models/{key_path(name)}/{uuid.uuid4().hex}.skops"
        self.stores.objects.put(key, encoded.data)
        record = {"format": "skops", "key": key, "info": encoded.info, "attributes": attributes,
                  "updated": time.time()}
        return {**record, "name": name, "version": self.stores.events.put_meta(KIND, name, record)}

    def metadata(self, name: str, version: int | None = None) -> dict[str, Any]:
        check_name(name, "models.get", "name")
        meta = self.stores.events.find_meta(KIND, name, version)
        if meta is None:
            raise NotFound(f"model {name!r}" + (f" version {version}" if version else "") + " does not exist")
        return meta

    def get(self, name: str, version: int | None = None, trusted: Iterable[str] = ()) -> Any:
        meta = self.metadata(name, version)
        return decode(self.stores.objects.get(meta["key"]), meta["format"], meta["info"], trusted=trusted)

    def list(self, prefix: str = "") -> list[str]:
        return [m["name"] for m in self.stores.events.list_meta(KIND, prefix)]

    def drop(self, name: str, force: bool = False) -> bool:
        check_name(name, "models.drop", "name")
        if self.stores.events.find_meta(KIND, name) is None:
            if force:
                return False
            raise NotFound(f"model {name!r} does not exist")
        folder = f"models/{key_path(name)}/"
        # only the objects directly in the folder: sub-folders belong to nested names ('a/b')
        objects = self.stores.objects
        objects.delete([k for k in objects.list(folder[:-1]) if "/" not in k[len(folder):]])
        self.stores.events.drop_meta(KIND, name)
        return True
