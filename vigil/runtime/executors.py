"""Executors: where tasks run. One small interface, two implementations.

An executor has a ``name`` and ``submit(payload) -> handle``; a handle has
``get(timeout=None) -> dict`` (the JSON result of
:func:`vigil.runtime.tasks.execute`), raising :class:`TimeoutError` when the
time is up and :class:`TaskFailed` when the executor lost the task (e.g. the
worker process died). :class:`TaskResult` wraps a handle for the user: it
resolves the result reference, cleans up temporary objects and re-raises the
task's error.

* ``local``: runs :func:`~vigil.runtime.tasks.execute` in this process, at
  once (default) or in a thread pool (``threads=N``).
* ``celery``: sends the payload to the ``vigil.execute`` task of a Celery
  worker (``vigil worker``), JSON serializer only.
"""

from __future__ import annotations

import builtins
import concurrent.futures
import time
from typing import Any, Protocol, runtime_checkable

from vigil import errors
from vigil.errors import VigilError, invalid
from vigil.runtime import payload as pl
from vigil.runtime.settings import EXECUTORS, RuntimeSettings

TASK_NAME = "vigil.execute"


class TaskFailed(VigilError):
    """A task raised an error of a type that is not builtin nor vigil's, or the executor lost it.

    ``remote_type`` names the original type (``module.Qualname``).
    """

    def __init__(self, message: str, remote_type: str = "") -> None:
        super().__init__(message)
        self.remote_type = remote_type


def raise_remote(error: dict[str, Any]) -> None:
    """Raise the error a task returned: the original type if builtin or vigil's, else TaskFailed.

    Examples
    --------
    >>> raise_remote({'module': 'builtins', 'type': 'KeyError', 'message': "'x'"})
    Traceback (most recent call last):
    ...
    KeyError: "'x'"
    >>> raise_remote({'module': 'numpy.linalg', 'type': 'LinAlgError', 'message': 'Singular matrix'})
    Traceback (most recent call last):
    ...
    vigil.runtime.executors.TaskFailed: the task raised numpy.linalg.LinAlgError: Singular matrix
    """
    module, name, message = error.get("module"), error.get("type"), error.get("message", "")
    source = {"builtins": builtins, "vigil.errors": errors}.get(module)  # type: ignore[arg-type]
    cls = getattr(source, str(name), None) if source is not None else None
    if isinstance(cls, type) and issubclass(cls, Exception):
        exc = cls.__new__(cls)
        Exception.__init__(exc, message)
        raise exc
    if module == __name__ and name == "TaskFailed":
        raise TaskFailed(message)
    raise TaskFailed(f"the task raised {module}.{name}: {message}", f"{module}.{name}")


@runtime_checkable
class Handle(Protocol):
    def get(self, timeout: float | None = None) -> dict[str, Any]: ...


@runtime_checkable
class Executor(Protocol):
    name: str

    def submit(self, payload: dict[str, Any]) -> Handle: ...


class _Done:
    def __init__(self, result: dict[str, Any]) -> None:
        self._result = result

    def get(self, timeout: float | None = None) -> dict[str, Any]:
        return self._result


class _Future:
    def __init__(self, future: concurrent.futures.Future) -> None:
        self._future = future

    def get(self, timeout: float | None = None) -> dict[str, Any]:
        try:
            return self._future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"the task did not finish within {timeout} s") from None


class LocalExecutor:
    """Runs tasks in this process: at once (``threads=0``) or in a pool of threads.

    Examples
    --------
    >>> LocalExecutor().submit({'v': 1, 'task': 'ping', 'call_id': 'c1'}).get()['ok']
    True
    """

    name = "local"

    def __init__(self, stores: Any = None, threads: int = 0) -> None:
        self._stores = stores
        self.threads = threads
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    @property
    def stores(self) -> Any:
        if self._stores is None:
            from vigil.store import default_stores

            return default_stores()
        return self._stores

    def _run(self, payload: dict[str, Any]) -> dict[str, Any]:
        from vigil.runtime.tasks import execute

        return execute(payload, self.stores, "local")

    def submit(self, payload: dict[str, Any]) -> Handle:
        if not self.threads:
            return _Done(self._run(payload))
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(self.threads, thread_name_prefix="vigil-task")
        return _Future(self._pool.submit(self._run, payload))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


class _CeleryHandle:
    """Waits for a Celery result in slices; between slices, checks that the worker which
    started the task still answers pings (a worker killed as a whole cannot report the
    loss itself: without this check, ``get()`` would wait until the broker redelivers)."""

    SLICE_S = 1.0

    def __init__(self, result: Any, app: Any, liveness_s: float) -> None:
        self._result = result
        self._app = app
        self._liveness_s = liveness_s

    def _alive(self, hostname: str) -> bool:
        try:
            return bool(self._app.control.ping(destination=[hostname], timeout=1.0, limit=1))
        except Exception:  # noqa: BLE001 - a broker hiccup is not a verdict on the worker
            return True

    def get(self, timeout: float | None = None) -> dict[str, Any]:
        from celery.exceptions import TimeoutError as CeleryTimeout

        deadline = None if timeout is None else time.monotonic() + timeout
        silent_since: float | None = None
        while True:
            wait = self.SLICE_S if deadline is None else max(0.0, min(self.SLICE_S, deadline - time.monotonic()))
            try:
                value = self._result.get(timeout=wait, propagate=False, disable_sync_subtasks=False)
                break
            except CeleryTimeout:
                pass
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise TimeoutError(f"the task {self._result.id} did not finish within {timeout} s")
            info = self._result.info if self._result.state == "STARTED" else None
            host = info.get("hostname") if isinstance(info, dict) else None
            if not host or not self._liveness_s or self._alive(host):
                silent_since = None
                continue
            silent_since = silent_since or now
            if now - silent_since >= self._liveness_s:
                raise TaskFailed(f"the celery task {self._result.id} was started by worker {host}, which has not "
                                 f"answered for {self._liveness_s:g} s: the worker is gone (the broker may "
                                 "redeliver the task to another worker later)", "WorkerLost")
        if self._result.state != "SUCCESS":
            exc = self._result.result
            kind = type(exc).__name__ if isinstance(exc, BaseException) else str(self._result.state)
            raise TaskFailed(f"the celery task {self._result.id} failed ({self._result.state}): {kind}: {exc}",
                             kind)
        return value


class CeleryExecutor:
    """Sends tasks to Celery workers (``vigil worker``) through the configured broker."""

    name = "celery"

    def __init__(self, settings: RuntimeSettings | None = None) -> None:
        self.settings = settings or RuntimeSettings.from_env()
        self._app: Any = None

    @property
    def app(self) -> Any:
        if self._app is None:
            from vigil.runtime.celery_app import make_app

            self._app = make_app(self.settings)
        return self._app

    def submit(self, payload: dict[str, Any]) -> Handle:
        result = self.app.send_task(TASK_NAME, args=[payload], queue=self.settings.queue)
        return _CeleryHandle(result, self.app, self.settings.liveness_s)


def make_executor(name: str, stores: Any = None, settings: RuntimeSettings | None = None) -> Executor:
    """The executor called ``name`` (``local`` or ``celery``)."""
    if name == "local":
        return LocalExecutor(stores)
    if name == "celery":
        return CeleryExecutor(settings)
    raise invalid("runtime.executor", "name", name, "one of " + ", ".join(EXECUTORS))


class TaskResult:
    """The result of a task: ``get(timeout=None)`` returns its value or raises its error."""

    def __init__(self, handle: Handle, stores: Any, call_id: str, description: str = "") -> None:
        self._handle = handle
        self._stores = stores
        self.call_id = call_id
        self.description = description
        self._done = False
        self._value: Any = None

    def __repr__(self) -> str:
        return f"TaskResult({self.description!r}, call_id={self.call_id!r}, done={self._done})"

    def get(self, timeout: float | None = None) -> Any:
        """The task's value; raises the task's error, TimeoutError after ``timeout`` seconds."""
        if self._done:
            return self._value
        try:
            raw = self._handle.get(timeout)
        except TaskFailed:
            pl.cleanup(self._stores, self.call_id)
            raise
        try:
            if not raw.get("ok"):
                raise_remote(raw.get("error") or {})
            self._value = pl.unpack(raw["result"], self._stores)
        finally:
            pl.cleanup(self._stores, self.call_id)
        self._done = True
        return self._value
