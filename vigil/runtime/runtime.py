"""The runtime: where experiments are opened and tasks run (local for now).

``om.runtime.experiment(...)`` and ``om.runtime.ping()`` are the functions of
:mod:`vigil.runtime`, which delegate to the default :class:`Runtime`.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import time
from typing import Any

from vigil.tracking.context import current_experiment
from vigil.tracking.provider import TrackingProvider
from vigil.tracking.registry import provider_class


class Runtime:
    """Opens experiments and runs tasks against one set of stores.

    Parameters
    ----------
    stores : vigil.store.Stores, optional
        Default: the workspace's stores, opened on first use.
    """

    def __init__(self, stores: Any = None) -> None:
        self._stores = stores

    def experiment(self, name: str, provider: str | None = None, autotrack: bool = False,
                   **options: Any) -> TrackingProvider:
        """An experiment, ready for ``with``: each ``with`` block is a new run.

        Examples
        --------
        >>> import vigil as om
        >>> with om.runtime.experiment('doc-runtime') as exp:
        ...     exp.log_metric('loss', 0.1)
        >>> exp.status()
        'STOPPED'
        """
        cls = provider_class(provider or "default")
        exp = cls(name, self._stores, **options)
        exp.autotrack = bool(autotrack)
        return exp

    def ping(self, **labels: Any) -> dict[str, Any]:
        """Describe the node that executes tasks; logged as task events inside an experiment.

        Examples
        --------
        >>> import vigil as om
        >>> sorted(om.runtime.ping())[:3]
        ['cpu_count', 'labels', 'node']
        """
        started = time.perf_counter()
        exp = current_experiment()
        if exp is not None:
            exp.log_event("task_call", "ping", {"args": [], "kwargs": labels})
        result = {
            "node": socket.gethostname(),
            "pid": os.getpid(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "cpu_count": os.cpu_count(),
            "runtime": "local",
            "time": time.time(),
            "labels": labels,
        }
        if exp is not None:
            exp.log_event("task_success", "ping", {
                "latency_ms": (time.perf_counter() - started) * 1000.0, "result": result,
            })
        return result
