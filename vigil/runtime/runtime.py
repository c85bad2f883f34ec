"""The runtime: where experiments are opened and tasks run.

``om.runtime.experiment(...)``, ``om.runtime.model(name)``,
``om.runtime.job(name)``, ``om.runtime.executor(...)`` and
``om.runtime.ping()`` are the functions of :mod:`vigil.runtime`, which
delegate to the default :class:`Runtime`. Tasks run on an executor
(:mod:`vigil.runtime.executors`): ``local`` (default) or ``celery``
(``VIGIL_RUNTIME=celery`` or ``om.runtime.executor('celery')``).
"""

from __future__ import annotations

import time
from typing import Any

from vigil.runtime.executors import Executor, TaskResult, make_executor
from vigil.runtime.settings import RuntimeSettings
from vigil.runtime.tasks import ping as _ping
from vigil.tracking.context import current_experiment
from vigil.tracking.provider import TrackingProvider
from vigil.tracking.registry import provider_class


class Runtime:
    """Opens experiments and runs tasks against one set of stores.

    Parameters
    ----------
    stores : vigil.store.Stores, optional
        Default: the workspace's stores, opened on first use.
    executor : str or Executor, optional
        Default: ``VIGIL_RUNTIME`` (``local``).
    """

    def __init__(self, stores: Any = None, executor: str | Executor | None = None) -> None:
        self._stores = stores
        self._settings: RuntimeSettings | None = None
        self._executor: Executor | None = None
        self._executor_spec = executor

    @property
    def stores(self) -> Any:
        if self._stores is None:
            from vigil.store import default_stores

            return default_stores()
        return self._stores

    @property
    def settings(self) -> RuntimeSettings:
        if self._settings is None:
            self._settings = RuntimeSettings.from_env()
        return self._settings

    def executor(self, name: str | Executor | None = None) -> Executor:
        """The executor tasks run on; ``executor('celery')`` (or an Executor object) switches to it.

        Examples
        --------
        >>> Runtime().executor().name
        'local'
        """
        if name is not None:
            self._executor = name if not isinstance(name, str) else make_executor(name, self._stores, self.settings)
        elif self._executor is None:
            spec = self._executor_spec or self.settings.executor
            self._executor = spec if not isinstance(spec, str) else make_executor(spec, self._stores, self.settings)
        return self._executor

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
        exp.track_hook = self._create_monitor
        return exp

    def _create_monitor(self, exp: TrackingProvider, model: str, schedule: str | None, alerts: Any,
                        provider: str | None) -> str:
        from vigil.runtime.jobs import Jobs
        from vigil.runtime.monitors import create_monitor_job

        return create_monitor_job(Jobs(self.stores), exp.experiment, model, provider, alerts, schedule)

    def model(self, name: str) -> Any:
        """The stored model ``name``, its methods run as tasks (see :class:`~vigil.runtime.proxies.ModelProxy`)."""
        from vigil.runtime.proxies import ModelProxy

        return ModelProxy(self, name)

    def job(self, name: str) -> Any:
        """The job ``name``; ``.run()`` runs it on the executor."""
        from vigil.runtime.proxies import JobProxy

        return JobProxy(self, name)

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
        if self.executor().name == "local":
            result = _ping(labels, "local")
        else:
            import uuid

            from vigil.runtime import payload as pl

            call_id = uuid.uuid4().hex
            payload = {"v": pl.VERSION, "task": "ping", "call_id": call_id, "labels": labels}
            result = TaskResult(self.executor().submit(payload), self.stores, call_id, "ping").get(timeout=30)
        if exp is not None:
            exp.log_event("task_success", "ping", {
                "latency_ms": (time.perf_counter() - started) * 1000.0, "result": result,
            })
        return result
