"""L0: where everything is kept. Event stores (SQLite, PostgreSQL), object
stores (fsspec) and safe serializers. Imports nothing from higher floors."""

from vigil.store.base import EventQuery, EventStore, ObjectStore
from vigil.store.registry import (
    Stores,
    close_default,
    default_stores,
    open_event_store,
    open_object_store,
)

__all__ = [
    "EventQuery", "EventStore", "ObjectStore", "Stores",
    "close_default", "default_stores", "open_event_store", "open_object_store",
]
