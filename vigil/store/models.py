"""``om.models``: models, versioned, in a safe format (skops for scikit-learn).

Every ``put`` is a new version. Formats are plugins: a :class:`ModelFormat`
has a ``name``, ``supports(obj)``, ``dump(obj) -> bytes`` and
``load(data, trusted)``; :func:`register_format` adds one (the first format
that supports an object wins, the built-in ``skops`` format last). Loading a
skops file checks its types against the trusted modules (scikit-learn, numpy,
scipy) and the ``trusted=[...]`` names; pickle is never used.

Links
-----
Experiments and monitors linked to a model (``exp.track(...)``) are kept as
their own metadata kind, ``model-link``: one versioned record per model with
the full list of links. A new model version (``put``, or ``fit`` on the
runtime) therefore keeps its links, and linking never creates a model
version. :meth:`Models.metadata` returns the model record with ``links``
merged in.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from vigil.errors import InvalidInput, NotFound, invalid
from vigil.store.names import check_name, key_path
from vigil.store.objects import delete_folder
from vigil.store.serializers import _is_estimator, decode, encode

_List = list  # the classes below have a method called list
KIND = "model"
LINK_KIND = "model-link"
_RECORD_FIELDS = ("name", "version", "created")


@runtime_checkable
class ModelFormat(Protocol):
    """How one family of models becomes bytes and back. Never pickle by default."""

    name: str

    def supports(self, obj: Any) -> bool: ...
    def dump(self, obj: Any) -> bytes: ...
    def load(self, data: bytes, trusted: Iterable[str]) -> Any: ...


class SkopsFormat:
    """scikit-learn estimators and pipelines, in the skops format (trusted types only).

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> fmt = SkopsFormat(); fmt.supports(LinearRegression()), fmt.supports({'a': 1})
    (True, False)
    >>> type(fmt.load(fmt.dump(LinearRegression()), ())).__name__
    'LinearRegression'
    """

    name = "skops"

    def supports(self, obj: Any) -> bool:
        return _is_estimator(obj)

    def dump(self, obj: Any) -> bytes:
        return encode(obj, who="models.put").data

    def load(self, data: bytes, trusted: Iterable[str]) -> Any:
        return decode(data, "skops", {}, trusted=trusted)


_FORMATS: list[ModelFormat] = []


def register_format(fmt: ModelFormat) -> ModelFormat:
    """Add a model format (checked first, before the ones registered earlier); returns it.

    Examples
    --------
    >>> class Words:
    ...     name = 'words'
    ...     def supports(self, obj): return isinstance(obj, list) and all(isinstance(w, str) for w in obj)
    ...     def dump(self, obj): return ' '.join(obj).encode()
    ...     def load(self, data, trusted): return data.decode().split()
    >>> _ = register_format(Words()); 'words' in format_names()
    True
    >>> unregister_format('words')
    True
    """
    if not isinstance(fmt, ModelFormat) or not isinstance(fmt.name, str) or not fmt.name:
        raise invalid("register_format", "fmt", fmt, "an object with name, supports(obj), dump(obj) and "
                      "load(data, trusted)")
    check_name(fmt.name, "register_format", "fmt.name")
    _FORMATS[:] = [f for f in _FORMATS if f.name != fmt.name]
    _FORMATS.insert(0, fmt)
    return fmt


def unregister_format(name: str) -> bool:
    """Remove a registered format by name; False if none had that name (skops stays)."""
    before = len(_FORMATS)
    _FORMATS[:] = [f for f in _FORMATS if f.name != name]
    return len(_FORMATS) < before


def _formats() -> list[ModelFormat]:
    return [*_FORMATS, SkopsFormat()]


def format_names() -> list[str]:
    """Names of the known model formats, in the order they are tried."""
    return [f.name for f in _formats()]


def _format(name: str) -> ModelFormat:
    for f in _formats():
        if f.name == name:
            return f
    raise InvalidInput(f"models.get: the stored model has format {name!r}, which is not registered; "
                       f"known formats: {', '.join(format_names())}")


class Models:
    """Put, get, list and drop models; link them to experiments and monitors.

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
        """Store ``model`` as a new version of ``name``; returns its metadata."""
        check_name(name, "models.put", "name")
        fmt = next((f for f in _formats() if f.supports(model)), None)
        if fmt is None:
            raise invalid("models.put", "model", model,
                          f"a scikit-learn estimator or pipeline, or an object of a registered format "
                          f"({', '.join(format_names())})")
        data = fmt.dump(model)
        if not isinstance(data, bytes):
            raise invalid("models.put", f"{fmt.name}.dump(model)", data, "bytes")
        key = f"models/{key_path(name)}/{uuid.uuid4().hex}.{fmt.name}"
        self.stores.objects.put(key, data)
        cls = type(model)
        record = {"format": fmt.name, "key": key, "info": {"class": f"{cls.__module__}.{cls.__name__}"},
                  "attributes": attributes, "updated": time.time()}
        version = self.stores.events.put_meta(KIND, name, record)
        return {**record, "name": name, "version": version, "links": self.links(name)}

    def metadata(self, name: str, version: int | None = None) -> dict[str, Any]:
        """The metadata record of a version (default: the latest), with the model's ``links``."""
        check_name(name, "models.get", "name")
        meta = self.stores.events.find_meta(KIND, name, version)
        if meta is None:
            raise NotFound(f"model {name!r}" + (f" version {version}" if version else "") + " does not exist")
        return {**meta, "links": self.links(name)}

    def find(self, name: str) -> dict[str, Any] | None:
        """The latest metadata of ``name``, or None if there is no such model."""
        check_name(name, "models.find", "name")
        meta = self.stores.events.find_meta(KIND, name)
        return None if meta is None else {**meta, "links": self.links(name)}

    def get(self, name: str, version: int | None = None, trusted: Iterable[str] = ()) -> Any:
        """The model object (the latest version unless ``version`` is given)."""
        meta = self.metadata(name, version)
        return _format(meta["format"]).load(self.stores.objects.get(meta["key"]), trusted)

    def list(self, prefix: str = "") -> list[str]:
        """Names of the stored models (starting with ``prefix``)."""
        return [m["name"] for m in self.stores.events.list_meta(KIND, prefix)]

    def versions(self, name: str) -> _List[dict[str, Any]]:
        """Metadata of every version of ``name``, oldest first."""
        latest = self.metadata(name)["version"]
        found = (self.stores.events.find_meta(KIND, name, v) for v in range(1, latest + 1))
        return [m for m in found if m is not None]

    def drop(self, name: str, force: bool = False) -> bool:
        """Delete every version of ``name`` and its links; False if it did not exist (NotFound unless ``force``)."""
        check_name(name, "models.drop", "name")
        if self.stores.events.find_meta(KIND, name) is None:
            if force:
                return False
            raise NotFound(f"model {name!r} does not exist")
        delete_folder(self.stores.objects, f"models/{key_path(name)}")
        self.stores.events.drop_meta(KIND, name)
        self.stores.events.drop_meta(LINK_KIND, name)
        return True

    # -- links -------------------------------------------------------------------------------
    def links(self, name: str) -> _List[dict[str, Any]]:
        """The experiments (and monitors) linked to ``name``, as dicts with ``experiment`` first."""
        record = self.stores.events.find_meta(LINK_KIND, name)
        return [] if record is None else list(record["links"])

    def link(self, name: str, experiment: str, **info: Any) -> _List[dict[str, Any]]:
        """Link ``name`` to ``experiment`` (replacing an earlier link to it); returns all links.

        ``info`` is JSON-able (``provider``, ``autotrack``, ``monitor``, ``schedule``, ``alerts``).
        """
        check_name(name, "models.link", "name")
        check_name(experiment, "models.link", "experiment")
        if self.stores.events.find_meta(KIND, name) is None:
            raise NotFound(f"model {name!r} does not exist; store it with om.models.put(model, {name!r}) first")
        links = [lk for lk in self.links(name) if lk["experiment"] != experiment]
        links.append({"experiment": experiment, **info, "linked": time.time()})
        self.stores.events.put_meta(LINK_KIND, name, {"links": links})
        return links

    def unlink(self, name: str, experiment: str) -> bool:
        """Remove the link of ``name`` to ``experiment``; False if there was none."""
        check_name(name, "models.unlink", "name")
        links = self.links(name)
        kept = [lk for lk in links if lk["experiment"] != experiment]
        if len(kept) == len(links):
            return False
        self.stores.events.put_meta(LINK_KIND, name, {"links": kept})
        return True
