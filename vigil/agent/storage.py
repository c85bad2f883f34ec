"""Windows into the tracking store: the server-less mode, and what the collector calls.

One window becomes, in an experiment (``agents/<agent_id>`` for the agent):

- a ``data`` event ``sample``: ``{'proba': ndarray, 'inputs': ndarray or DataFrame or None,
  'labels': ndarray or None, 'feature_names': list or None}`` (arrays go to the object
  store), with extra fields ``window_start`` and ``window_id``;
- one ``metric`` event per point: key = metric name, value = float, extra fields
  ``stat``, ``cls`` (the point's class), ``feature``, ``category`` (each only when set),
  ``window_start``, ``window_end``, ``agent_id``;
- last, a ``window`` event: key = window_id, value = the window without its sample.

The ``window`` event is written last and checked first, so it marks a window
as stored: a window whose writing was interrupted is written again in full
when re-sent (its metric events may then appear twice), and a window that
was stored is never stored twice. vigil (and pandas, for mixed-type inputs)
is imported inside the functions, so ``import vigil.agent`` stays light.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from vigil.agent.shipper import DELIVERED, REJECTED, RETRY

_POINT_FIELDS = (("stat", "stat"), ("class", "cls"), ("feature", "feature"), ("category", "category"))


def _text(value: Any) -> Any:
    return value.replace("\x00", "") if isinstance(value, str) else value


def window_to_events(exp: Any, window: Mapping[str, Any]) -> bool:
    """Store one wire-format window in experiment ``exp``; False if it is already there.

    Parameters
    ----------
    exp : vigil.tracking.provider.TrackingProvider
        From ``vigil.runtime.experiment(...)``; a run is started if none is active.
    window : mapping
        A window as sent on the wire (see :mod:`vigil.agent.wire`): parsed
        JSON (lists) or the agent's own dict.

    Returns
    -------
    bool
        True when stored (durably: the experiment is flushed), False when an
        event ``window`` with this ``window_id`` already exists (duplicate).

    Examples
    --------
    >>> import vigil as om
    >>> from vigil.agent import MonitoringAgent
    >>> windows = []
    >>> with MonitoringAgent(n_classes=2, agent_id='doc-storage', sink=windows.append) as agent:
    ...     agent.collect_data(predict_proba_matrix=[[0.9, 0.1], [0.3, 0.7]], label_matrix=[0, 1])
    >>> exp = om.runtime.experiment('windows/doc')
    >>> window_to_events(exp, windows[0]), window_to_events(exp, windows[0])
    (True, False)
    >>> exp.data(event='metric', key='accuracy', raw=True)[0]['value']
    1.0
    """
    window_id = window["window_id"]
    if exp.data(run="all", event="window", key=window_id, raw=True):
        return False
    start, end, agent_id = float(window["start"]), float(window["end"]), str(window["agent_id"])
    sample = window.get("sample")
    if isinstance(sample, Mapping):
        exp.log_data("sample", _sample_arrays(sample, int(window["n_classes"])),
                     window_start=start, window_id=window_id)
    common = {"window_start": start, "window_end": end, "agent_id": agent_id}
    for p in window.get("points") or ():
        fields = {name: _text(p[key]) for key, name in _POINT_FIELDS if p.get(key) is not None}
        exp.log_metric(p["metric"], float(p["value"]), **fields, **common)
    exp.log_event("window", window_id, {k: v for k, v in window.items() if k != "sample"})
    exp.flush()
    return True


def _sample_arrays(sample: Mapping[str, Any], n_classes: int) -> dict[str, Any]:
    import numpy as np

    proba = np.asarray(sample.get("proba") or [], dtype=np.float64).reshape(-1, n_classes)
    labels = sample.get("labels")
    names = sample.get("feature_names")
    inputs = sample.get("inputs")
    if inputs is not None:
        try:
            inputs = np.array(inputs, dtype=np.float64).reshape(len(inputs), -1)
        except (TypeError, ValueError):
            import pandas as pd

            columns = [_text(str(n)) for n in names] if names else None
            inputs = pd.DataFrame(list(inputs), columns=columns)
    return {
        "proba": proba,
        "inputs": inputs,
        "labels": None if labels is None else np.asarray(labels, dtype=np.int64),
        "feature_names": None if names is None else [_text(str(n)) for n in names],
    }


class StoreSink:
    """The server-less sink: each window goes straight to the tracking store.

    Writes into experiment ``agents/<agent_id>`` with :func:`window_to_events`.
    A window the store refuses as invalid is REJECTED; any other failure
    (database locked, disk full) is a RETRY.
    """

    def __init__(self, agent_id: str) -> None:
        self.name = f"agents/{agent_id}"
        self.exp: Any = None
        self.last_error = ""

    def __call__(self, body: bytes) -> tuple[str, float | None]:
        try:
            window = json.loads(body)
        except ValueError as exc:
            self.last_error = f"unreadable window ({exc})"
            return REJECTED, None
        from vigil.errors import InvalidInput

        try:
            if self.exp is None:
                import vigil.runtime

                self.exp = vigil.runtime.experiment(self.name)
            if self.exp.active_run() is None:
                self.exp.start()   # one run per agent lifetime (again if something stopped it)
            window_to_events(self.exp, window)
        except (InvalidInput, KeyError, TypeError) as exc:
            self.last_error = f"the store refused the window ({type(exc).__name__}: {exc})"
            return REJECTED, None
        except Exception as exc:  # noqa: BLE001 - keep the window spooled and retry
            self.last_error = f"the store failed ({type(exc).__name__}: {exc})"
            return RETRY, None
        return DELIVERED, None

    def close(self) -> None:
        """End the experiment's run (the agent calls this from ``close()``)."""
        if self.exp is not None and self.exp.active_run() is not None:
            self.exp.stop()
