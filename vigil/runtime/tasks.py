"""What a task does where it runs (in-process or on a Celery worker).

:func:`execute` takes a JSON payload (see :mod:`vigil.runtime.payload`) and
returns a JSON result: ``{"ok": True, "result": <reference>}`` or
``{"ok": False, "error": {"module", "type", "message"}}``. Errors of the
task are returned, not raised, so that every executor carries them the same
way; :func:`vigil.runtime.executors.raise_remote` turns them back into
exceptions on the caller's side.

Payload kinds: ``model`` (a method of a stored model), ``job`` (run a job
script) and ``ping``.

Autotracking: a payload may carry an ``experiment`` (name, provider, run,
autotrack). The task logs into that run (``exp.use(run)``) if it is still
running, else into a run of its own. Every call logs ``task_call`` and
``task_success``/``task_failure`` (with ``latency_ms``); with autotrack it
also logs the inputs ``X``, the outputs ``Y`` (predictions) or ``proba``
(probabilities) and, for fit/partial_fit/score, the ``labels``, each with
extras ``model``, ``call_id`` and ``rows`` (the true row count). Inputs
larger than ``max_rows`` are sampled uniformly, the same rows for all of them.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import time
from typing import Any

from vigil.errors import InvalidInput, describe
from vigil.runtime import payload as pl

METHODS = ("fit", "partial_fit", "predict", "predict_proba", "score", "transform", "decision_function")
STORES_BACK = ("fit", "partial_fit")
NEEDS_Y = ("score",)


def _error(exc: BaseException) -> dict[str, Any]:
    cls = type(exc)
    return {"module": cls.__module__, "type": cls.__qualname__, "message": str(exc)[:4000]}


def execute(payload: Any, stores: Any, runtime: str = "local") -> dict[str, Any]:
    """Run one task; never raises for errors of the task itself.

    Examples
    --------
    >>> execute({'v': 1, 'task': 'ping', 'call_id': 'c1', 'labels': {'a': 1}}, None)['result']['json']['labels']
    {'a': 1}
    >>> execute({'v': 1, 'task': 'nope', 'call_id': 'c1'}, None)['error']['type']
    'InvalidInput'
    """
    try:
        if not isinstance(payload, dict) or payload.get("v") != pl.VERSION:
            raise InvalidInput(f"runtime: a task payload must be a dict with v={pl.VERSION}; got {describe(payload)}")
        kind = payload.get("task")
        if kind == "ping":
            return {"ok": True, "result": {"json": ping(payload.get("labels") or {}, runtime)}}
        if kind == "job":
            from vigil.runtime.jobs import Jobs

            record = Jobs(stores).run(payload["job"], timeout_s=payload.get("timeout_s"))
            return {"ok": True, "result": {"json": record}}
        if kind == "model":
            return _model_call(payload, stores)
        raise InvalidInput(f"runtime: task must be 'model', 'job' or 'ping'; got {describe(kind)}")
    except Exception as exc:  # noqa: BLE001 - every task error goes back to the caller
        return {"ok": False, "error": _error(exc)}


def ping(labels: dict[str, Any], runtime: str = "local") -> dict[str, Any]:
    """Describe the node that executes tasks."""
    return {
        "node": socket.gethostname(),
        "pid": os.getpid(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "runtime": runtime,
        "time": time.time(),
        "labels": labels,
    }


# -- experiments -------------------------------------------------------------------------------
class _Tracking:
    """The experiment a task logs into, opened from the payload's ``experiment`` spec."""

    def __init__(self, spec: Any, stores: Any) -> None:
        self.exp: Any = None
        self.own_run = False
        self.autotrack = False
        if not spec:
            return
        from vigil.tracking.registry import provider_class

        self.autotrack = bool(spec.get("autotrack"))
        self.exp = provider_class(spec.get("provider") or "default")(spec["name"], stores)
        run = spec.get("run")
        if run:
            try:
                self.exp.use(int(run))
            except InvalidInput:  # the run is gone (another provider's numbering): log into our own
                pass
        if self.exp.active_run() is None:
            self.exp.start()
            self.own_run = True

    def close(self, failed: bool) -> None:
        if self.exp is None:
            return
        if self.own_run:
            self.exp.stop("FAILED" if failed else "STOPPED")
        else:
            self.exp.flush()


def _rows(value: Any) -> int | None:
    try:
        return len(value)
    except TypeError:
        return None


def _as_loggable(value: Any) -> Any:
    import numpy as np

    from vigil.store.serializers import is_array_like

    return value if is_array_like(value) else np.asarray(value)


def _take(value: Any, index: Any) -> Any:
    if index is None:
        return value
    if hasattr(value, "iloc"):
        return value.iloc[index]
    return value[index]


def _model_call(payload: dict[str, Any], stores: Any) -> dict[str, Any]:
    from vigil.store.datasets import Datasets
    from vigil.store.models import Models

    call_id = payload["call_id"]
    name, method = payload["model"], payload["method"]
    if method not in METHODS:
        raise InvalidInput(f"runtime: method must be one of {', '.join(METHODS)}; got {describe(method)}")
    tracking = _Tracking(payload.get("experiment"), stores)
    exp = tracking.exp
    extras = {"model": name, "call_id": call_id}
    started = time.perf_counter()
    failed = False
    try:
        args = payload.get("args") or {}
        if exp is not None:
            exp.log_event("task_call", method, {"model": name, "args": {k: _describe_ref(v) for k, v in args.items()},
                                                "kwargs": sorted(payload.get("kwargs") or {})}, **extras)
        try:
            models, datasets = Models(stores), Datasets(stores)
            X = pl.unpack(args.get("X", {"json": None}), stores, datasets)
            Y = pl.unpack(args.get("Y", {"json": None}), stores, datasets)
            kwargs = {k: pl.unpack(v, stores, datasets) for k, v in (payload.get("kwargs") or {}).items()}
            meta = models.metadata(name)
            model = models.get(name)
            fn = getattr(model, method, None)
            if not callable(fn):
                raise InvalidInput(f"runtime: model {name!r} ({meta['info'].get('class')}) has no method {method!r}")
            if method in NEEDS_Y and Y is None:
                raise InvalidInput(f"runtime: {method} of model {name!r} needs Y")
            value = fn(X, Y, **kwargs) if (Y is not None or method in STORES_BACK) else fn(X, **kwargs)
            if method in STORES_BACK:
                saved = models.put(model, name, **meta.get("attributes", {}))
                result: dict[str, Any] = {"json": {"name": name, "version": saved["version"]}}
            else:
                result = pl.pack(value, stores, call_id, "result")
        except Exception as exc:
            failed = True
            if exp is not None:
                exp.log_event("task_failure", method, {"latency_ms": (time.perf_counter() - started) * 1000.0,
                                                       **_error(exc)}, **extras)
            raise
        if exp is not None:
            if tracking.autotrack:
                _autotrack(exp, method, X, Y, value, payload.get("max_rows") or 10_000, extras)
            exp.log_event("task_success", method, {"latency_ms": (time.perf_counter() - started) * 1000.0,
                                                   "result": _describe_ref(result)}, **extras)
        return {"ok": True, "result": result}
    finally:
        tracking.close(failed)
        pl.cleanup(stores, call_id, inputs_only=True)
        stores.flush()


def _describe_ref(ref: Any) -> Any:
    if isinstance(ref, dict) and "object" in ref:
        return {"object": ref.get("format"), **{k: v for k, v in (ref.get("info") or {}).items() if k in ("shape", "rows")}}
    if isinstance(ref, dict) and "json" in ref:
        v = ref["json"]
        return v if isinstance(v, (int, float, bool, type(None))) or (isinstance(v, str) and len(v) < 200) \
            else {"json": type(v).__name__}
    return ref


def _autotrack(exp: Any, method: str, X: Any, Y: Any, value: Any, max_rows: int, extras: dict[str, Any]) -> None:
    import numpy as np

    n = _rows(X)
    if n is None:
        return
    index = None
    if n > max_rows:
        index = np.sort(np.random.default_rng().choice(n, size=int(max_rows), replace=False))
    fields = {**extras, "rows": n}
    X = _as_loggable(X)
    exp.log_data("X", _take(X, index), **fields)
    if Y is not None and _rows(Y) == n:
        exp.log_data("labels", _take(_as_loggable(Y), index), **fields)
    if method in ("predict", "predict_proba") and _rows(value) == n:
        exp.log_data("Y" if method == "predict" else "proba", _take(_as_loggable(value), index), **fields)
