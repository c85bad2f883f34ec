"""``om.runtime.model(name)``: call a stored model's methods on the runtime.

Each method returns a :class:`~vigil.runtime.executors.TaskResult`; call
``.get(timeout=None)`` for the value. ``X``/``Y`` may be arrays, DataFrames,
JSON-able lists or dataset names (resolved where the task runs). ``fit`` and
``partial_fit`` store the fitted model back as a new version and return its
``{'name', 'version'}``.
"""

from __future__ import annotations

import uuid
from typing import Any

from vigil.runtime import payload as pl
from vigil.runtime.executors import TaskResult
from vigil.store.names import check_field, check_name
from vigil.tracking.context import current_experiment


class ModelProxy:
    """The runtime's handle on one stored model.

    Examples
    --------
    >>> import numpy as np, vigil as om
    >>> from sklearn.linear_model import LinearRegression
    >>> _ = om.models.put(LinearRegression(), 'doc-proxy')
    >>> X = np.arange(10.0).reshape(-1, 1)
    >>> om.runtime.model('doc-proxy').fit(X, 2 * X[:, 0]).get()['version'] >= 2
    True
    >>> om.runtime.model('doc-proxy').predict([[20.0]]).get().round(3).tolist()
    [40.0]
    """

    def __init__(self, runtime: Any, name: str) -> None:
        self.runtime = runtime
        self.name = check_name(name, "runtime.model", "name")

    def __repr__(self) -> str:
        return f"ModelProxy({self.name!r})"

    def _experiment_spec(self) -> dict[str, Any] | None:
        exp = current_experiment()
        if exp is not None:
            if exp.name == "notrack":
                return None
            return {"name": exp.experiment, "provider": exp.name, "run": exp.active_run(),
                    "autotrack": bool(exp.autotrack)}
        from vigil.store.models import Models

        meta = Models(self.runtime.stores).find(self.name)
        links = [] if meta is None else meta["links"]
        if not links:
            return None
        link = links[-1]
        return {"name": link["experiment"], "provider": link.get("provider") or "default", "run": None,
                "autotrack": bool(link.get("autotrack", True))}

    def _call(self, method: str, X: Any, Y: Any = None, **kwargs: Any) -> TaskResult:
        stores = self.runtime.stores
        call_id = uuid.uuid4().hex
        try:
            args = {"X": pl.pack(X, stores, call_id, "X", dataset_names=True)}
            if Y is not None:
                args["Y"] = pl.pack(Y, stores, call_id, "Y", dataset_names=True)
            packed = {check_field(k, f"runtime.model.{method}", "keyword"): pl.pack(v, stores, call_id, f"kw_{k}")
                      for k, v in kwargs.items()}
            spec = self._experiment_spec()
        except BaseException:
            pl.cleanup(stores, call_id)
            raise
        payload = {"v": pl.VERSION, "task": "model", "call_id": call_id, "model": self.name, "method": method,
                   "args": args, "kwargs": packed, "experiment": spec,
                   "max_rows": self.runtime.settings.autotrack_max_rows}
        if spec is not None:
            stores.flush()  # the worker logs into the same run: make the caller's events durable first
        handle = self.runtime.executor().submit(payload)
        return TaskResult(handle, stores, call_id, f"{self.name}.{method}")

    def fit(self, X: Any, Y: Any = None, **kwargs: Any) -> TaskResult:
        return self._call("fit", X, Y, **kwargs)

    def partial_fit(self, X: Any, Y: Any = None, **kwargs: Any) -> TaskResult:
        return self._call("partial_fit", X, Y, **kwargs)

    def predict(self, X: Any, **kwargs: Any) -> TaskResult:
        return self._call("predict", X, **kwargs)

    def predict_proba(self, X: Any, **kwargs: Any) -> TaskResult:
        return self._call("predict_proba", X, **kwargs)

    def decision_function(self, X: Any, **kwargs: Any) -> TaskResult:
        return self._call("decision_function", X, **kwargs)

    def transform(self, X: Any, **kwargs: Any) -> TaskResult:
        return self._call("transform", X, **kwargs)

    def score(self, X: Any, Y: Any, **kwargs: Any) -> TaskResult:
        return self._call("score", X, Y, **kwargs)

    def experiment(self, experiment: str | None = None, provider: str | None = None,
                   autotrack: bool = True, **options: Any) -> Any:
        """An experiment for this model: ``experiment`` or the one it is linked to (``exp.track``)."""
        if experiment is None or provider is None:
            from vigil.store.models import Models

            meta = Models(self.runtime.stores).find(self.name)
            links = [] if meta is None else meta["links"]
            match = [lk for lk in links if experiment is None or lk["experiment"] == experiment]
            if experiment is None:
                experiment = match[-1]["experiment"] if match else f"models/{self.name}"
            if provider is None and match:
                provider = match[-1].get("provider")
        return self.runtime.experiment(experiment, provider=provider, autotrack=autotrack, **options)


class JobProxy:
    """The runtime's handle on one job: ``run()`` executes it on the runtime's executor."""

    def __init__(self, runtime: Any, name: str) -> None:
        self.runtime = runtime
        self.name = check_name(name, "runtime.job", "name")

    def run(self, timeout_s: float | None = None) -> TaskResult:
        """Run the job where tasks run; ``.get()`` returns the run record (status, output, error)."""
        call_id = uuid.uuid4().hex
        payload = {"v": pl.VERSION, "task": "job", "call_id": call_id, "job": self.name, "timeout_s": timeout_s}
        self.runtime.stores.flush()
        return TaskResult(self.runtime.executor().submit(payload), self.runtime.stores, call_id,
                          f"job {self.name}")
