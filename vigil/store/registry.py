"""Backends by URL scheme, and the bundle of stores a workspace uses.

Event stores register under a scheme (``sqlite``, ``postgresql``); third-party
ones come in through the entry-point group ``vigil.event_stores``
(``scheme = "package.module:Class"``). Object stores are fsspec filesystems,
so every fsspec protocol works without a registry of our own.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from vigil.config import Settings
from vigil.config import settings as current_settings
from vigil.errors import ConfigError, MissingDependency
from vigil.store.base import EventStore, ObjectStore
from vigil.store.objects import FsspecObjectStore
from vigil.store.writer import BufferedWriter

EVENT_STORES: dict[str, str] = {
    "sqlite": "vigil.store.sqlite:SqliteEventStore",
    "postgresql": "vigil.store.postgres:PostgresEventStore",
    "postgresql+psycopg": "vigil.store.postgres:PostgresEventStore",
    "postgres": "vigil.store.postgres:PostgresEventStore",
}


def _load(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def event_store_schemes() -> dict[str, str]:
    """Known schemes: built-ins, then the ``vigil.event_stores`` entry points."""
    known = dict(EVENT_STORES)
    for ep in entry_points(group="vigil.event_stores"):
        known.setdefault(ep.name, ep.value)
    return known


def open_event_store(url: str) -> EventStore:
    """Open the event store at ``url`` (tables are created if the store is new).

    Examples
    --------
    >>> open_event_store('mysql://x')
    Traceback (most recent call last):
    ...
    vigil.errors.ConfigError: VIGIL_STORE_URL: unknown scheme 'mysql' in 'mysql://x'; known schemes: postgres, postgresql, postgresql+psycopg, sqlite
    """
    scheme = url.split(":", 1)[0].lower()
    known = event_store_schemes()
    if scheme not in known:
        raise ConfigError(
            f"VIGIL_STORE_URL: unknown scheme {scheme!r} in {url!r}; known schemes: {', '.join(sorted(known))}"
        )
    try:
        cls = _load(known[scheme])
    except ImportError as exc:
        if isinstance(exc, MissingDependency):
            raise
        raise MissingDependency(exc.name or scheme, "postgres" if "postgres" in scheme else "all",
                                f"the {scheme} event store") from None
    store = cls(url)
    store.open()
    return store


def open_object_store(url: str, options: dict[str, Any] | None = None) -> ObjectStore:
    return FsspecObjectStore(url, options)


@dataclass
class Stores:
    """What a workspace writes to: events (+ their write-behind) and objects."""

    settings: Settings
    events: EventStore
    objects: ObjectStore
    writer: BufferedWriter

    @classmethod
    def open(cls, config: Settings | None = None) -> Stores:
        config = config or current_settings()
        events = open_event_store(config.store_url)
        objects = open_object_store(config.artifacts_url, dict(config.artifacts_options))
        writer = BufferedWriter(events.append, interval_ms=config.flush_interval_ms)
        return cls(config, events, objects, writer)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
        self.events.close()


_default: Stores | None = None
_default_lock = threading.Lock()


def default_stores() -> Stores:
    """The stores of the default workspace, opened on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Stores.open()
    return _default


def close_default() -> None:
    """Flush and close the default stores (they reopen on next use)."""
    global _default
    with _default_lock:
        stores, _default = _default, None
    if stores is not None:
        stores.close()


