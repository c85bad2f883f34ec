"""The wire format of a window: what the agent POSTs and the collector stores.

One window is one JSON object, sent as the body of
``POST http://{server_IP}:{server_port}/api/v1/windows`` with
``Content-Type: application/json`` and, when a token is configured,
``Authorization: Bearer <token>``::

    {"schema": "vigil.window/1", "agent_id": "1", "window_id": "1:1795418400000",
     "start": 1795418400.0, "end": 1795418700.0, "n_classes": 10,
     "rows_seen": 12345, "rows_sampled": 500, "dropped": {"nan_proba": 2, "overflow": 0, ...},
     "points": [{"metric": "pred1", "stat": "mean", "class": null, "feature": null,
                 "category": null, "value": 0.93}, ...],
     "sample": {"proba": [[...]], "inputs": [[...]] | null, "labels": [int, ...] | null,
                "feature_names": ["f0", ...] | null}}

``window_id`` is ``agent_id + ':' + start`` in epoch milliseconds; the
collector deduplicates on it, so sending a window twice is safe. Point values
are finite floats: a metric that is undefined in a window (the precision of a
class never predicted) is left out, never sent as NaN. In the sample, missing
input values are ``null`` and rows without a label have the label ``-1``.

The collector answers 200/201 with ``{"stored": true}`` (``false`` for a
duplicate), 401 for a bad token, another 4xx for a malformed payload and 5xx
when it cannot store the window now.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

SCHEMA = "vigil.window/1"
PATH = "/api/v1/windows"
HEALTH_PATH = "/api/v1/health"

#: Statistics of a continuous quantity (pred1, spread12, entropy, continuous features).
STATS = ("mean", "std", "min", "max", "range", "median", "q25", "q75", "iqr")

#: Every metric name a point may carry.
METRICS = frozenset({
    "rows_seen", "rows_sampled", "dropped",
    "pred_class_count", "pred_class_freq", "pred1", "spread12", "entropy", "estimated_accuracy",
    "feature", "feature_category_count", "feature_category_freq",
    "class_accuracy", "class_precision", "class_recall", "class_f1",
    "accuracy", "f1_macro", "f1_micro", "log_loss", "brier", "confusion",
})

_AGENT_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_TOP_KEYS = ("schema", "agent_id", "window_id", "start", "end", "n_classes", "rows_seen",
             "rows_sampled", "dropped", "points", "sample")
_POINT_KEYS = ("metric", "stat", "class", "feature", "category", "value")


def window_id(agent_id: str, start_ms: int) -> str:
    """The id of the window of ``agent_id`` starting at ``start_ms`` (epoch milliseconds).

    Examples
    --------
    >>> window_id('1', 1795418400000)
    '1:1795418400000'
    """
    return f"{agent_id}:{start_ms}"


def point(metric: str, value: float, stat: str | None = None, cls: int | str | None = None,
          feature: str | None = None, category: str | None = None) -> dict[str, Any] | None:
    """One metric point, or None when ``value`` is not finite (undefined metrics are left out).

    Examples
    --------
    >>> point('pred_class_count', 3, cls=1)
    {'metric': 'pred_class_count', 'stat': None, 'class': '1', 'feature': None, 'category': None, 'value': 3.0}
    >>> point('class_precision', float('nan'), cls=0) is None
    True
    """
    value = float(value)
    if not math.isfinite(value):
        return None
    return {"metric": metric, "stat": stat, "class": None if cls is None else str(cls),
            "feature": feature, "category": category, "value": value}


def encode(window: dict[str, Any]) -> bytes:
    """The request body of ``window``: compact UTF-8 JSON, NaN refused.

    Examples
    --------
    >>> encode({'a': 1.5, 'b': None})
    b'{"a":1.5,"b":null}'
    """
    return json.dumps(window, separators=(",", ":"), allow_nan=False).encode("utf-8")


def url(host: str, port: int, path: str = PATH) -> str:
    """``http://host:port/path``, bracketing IPv6 addresses.

    Examples
    --------
    >>> url('127.0.0.1', 8000)
    'http://127.0.0.1:8000/api/v1/windows'
    >>> url('::1', 8000, HEALTH_PATH)
    'http://[::1]:8000/api/v1/health'
    """
    return f"http://[{host}]:{port}{path}" if ":" in host else f"http://{host}:{port}{path}"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def problems(payload: Any) -> list[str]:
    """What is wrong with a received window payload (empty list: well formed).

    For the collector: a non-empty answer is a 4xx, and the agent will not
    retry it. The checks are structural and cheap (no statistics are recomputed).

    Examples
    --------
    >>> problems({'schema': 'vigil.window/1'})[:2]
    ["missing key 'agent_id'", "missing key 'window_id'"]
    >>> problems([])
    ['the window must be a JSON object; got list']
    """
    if not isinstance(payload, dict):
        return [f"the window must be a JSON object; got {type(payload).__name__}"]
    found = [f"missing key {k!r}" for k in _TOP_KEYS if k not in payload]
    if found:
        return found
    if payload["schema"] != SCHEMA:
        found.append(f"schema must be {SCHEMA!r}; got {payload['schema']!r}")
    agent_id = payload["agent_id"]
    if not isinstance(agent_id, str) or not _AGENT_ID.fullmatch(agent_id):
        found.append(f"agent_id must be 1-64 characters [A-Za-z0-9_.-]; got {agent_id!r}")
    if not _finite(payload["start"]) or not _finite(payload["end"]) or not payload["end"] > payload["start"]:
        found.append("start and end must be finite epoch seconds with end > start")
    elif isinstance(agent_id, str) and payload["window_id"] != window_id(agent_id, round(payload["start"] * 1000)):
        found.append(f"window_id must be agent_id:start_ms = "
                     f"{window_id(agent_id, round(payload['start'] * 1000))!r}; got {payload['window_id']!r}")
    n_classes = payload["n_classes"]
    if not _count(n_classes) or n_classes < 2:
        found.append(f"n_classes must be an int >= 2; got {n_classes!r}")
    for key in ("rows_seen", "rows_sampled"):
        if not _count(payload[key]):
            found.append(f"{key} must be an int >= 0; got {payload[key]!r}")
    dropped = payload["dropped"]
    if not isinstance(dropped, dict) or not all(isinstance(k, str) and _count(v) for k, v in dropped.items()):
        found.append("dropped must be an object of reason -> int >= 0")
    points = payload["points"]
    if not isinstance(points, list):
        found.append("points must be a list")
    else:
        for i, p in enumerate(points):
            bad = _point_problem(p)
            if bad:
                found.append(f"points[{i}]: {bad}")
                break
    sample = payload["sample"]
    if not isinstance(sample, dict) or not isinstance(sample.get("proba"), list):
        found.append("sample must be an object with a 'proba' list")
    return found


def _point_problem(p: Any) -> str | None:
    if not isinstance(p, dict) or set(p) != set(_POINT_KEYS):
        return f"a point must be an object with exactly the keys {list(_POINT_KEYS)}"
    if p["metric"] not in METRICS:
        return f"unknown metric {p['metric']!r}"
    for key in ("stat", "class", "feature", "category"):
        if p[key] is not None and not isinstance(p[key], str):
            return f"{key} must be a string or null; got {p[key]!r}"
    if not _finite(p["value"]):
        return f"value must be a finite number; got {p['value']!r}"
    return None
