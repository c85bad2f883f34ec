"""L2: the runtime. ``om.runtime.experiment()``, ``.model()``, ``.job()``, ``.executor()``, ``.ping()``.

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


def model(name: str) -> Any:
    """See :meth:`Runtime.model`."""
    return default_runtime().model(name)


def job(name: str) -> Any:
    """See :meth:`Runtime.job`."""
    return default_runtime().job(name)


def executor(name: Any = None) -> Any:
    """See :meth:`Runtime.executor`."""
    return default_runtime().executor(name)


def ping(**labels: Any) -> dict[str, Any]:
    """See :meth:`Runtime.ping`."""
    return default_runtime().ping(**labels)


__all__ = ["Runtime", "default_runtime", "executor", "experiment", "job", "model", "ping"]
