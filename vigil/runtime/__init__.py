"""L2: the runtime. ``om.runtime.experiment()``, ``om.runtime.ping()``.

The module-level functions use a default :class:`Runtime` on the default
stores, created on first use (nothing happens at import).
"""

from __future__ import annotations

from typing import Any

from vigil.runtime.runtime import Runtime

_default: Runtime | None = None


def default_runtime() -> Runtime:
    global _default
    if _default is None:
        _default = Runtime()
    return _default


def experiment(name: str, provider: str | None = None, autotrack: bool = False, **options: Any) -> Any:
    """See :meth:`Runtime.experiment`."""
    return default_runtime().experiment(name, provider=provider, autotrack=autotrack, **options)


def ping(**labels: Any) -> dict[str, Any]:
    """See :meth:`Runtime.ping`."""
    return default_runtime().ping(**labels)


__all__ = ["Runtime", "default_runtime", "experiment", "ping"]
