"""vigil: experiment tracking and model monitoring.

``import vigil as om`` gives the default workspace: ``om.runtime``,
``om.datasets``, ``om.models``, ``om.jobs``. Each is created on first use;
importing vigil opens nothing.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {"datasets", "models", "jobs"}
_cache: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    if name == "runtime":
        import importlib

        return importlib.import_module("vigil.runtime")
    if name in _LAZY:
        if name not in _cache:
            from vigil.store import default_stores

            if name == "datasets":
                from vigil.store.datasets import Datasets as cls
            elif name == "models":
                from vigil.store.models import Models as cls
            else:
                from vigil.runtime.jobs import Jobs as cls
            _cache[name] = cls(default_stores())
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
