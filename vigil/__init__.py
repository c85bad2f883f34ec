"""vigil: experiment tracking and model monitoring.

``import vigil as om`` gives the default workspace: ``om.runtime``,
``om.datasets``, ``om.models``, ``om.jobs``. Each is created on first use;
importing vigil opens nothing.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_FACTORIES = {
    "datasets": ("vigil.store.datasets", "Datasets"),
    "models": ("vigil.store.models", "Models"),
    "jobs": ("vigil.runtime.jobs", "Jobs"),
}
_LAZY = set(_FACTORIES)
_cache: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    if name == "runtime":
        import importlib

        return importlib.import_module("vigil.runtime")
    if name in _LAZY:
        if name not in _cache:
            import importlib

            from vigil.store import default_stores

            module, attr = _FACTORIES[name]
            _cache[name] = getattr(importlib.import_module(module), attr)(default_stores())
        return _cache[name]
    raise AttributeError(f"module 'vigil' has no attribute {name!r}")


def reload() -> None:
    """Flush and close the default workspace and read ``VIGIL_*`` settings again.

    For tests and notebooks that change the environment; the next use of
    ``om.runtime``/``om.datasets``/... opens the stores anew.
    """
    from vigil import config, runtime, store

    store.close_default()
    _cache.clear()
    runtime._default = None
    config.reload()
