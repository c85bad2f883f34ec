"""The JSON schemas of the collector API (v1), as pydantic models.

:class:`Window` is the agent's wire format (see :mod:`vigil.agent.wire`,
which the agent encodes with); its rules match :func:`vigil.agent.wire.problems`
and add what the field types cannot say (:func:`window_problems`: shapes of
the sample, the window id). Errors come back as 422 with the field named::

    {"detail": [{"loc": ["body", "sample", "proba", 3], "msg": "...", "type": "..."}]}
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from vigil.agent.wire import METRICS
from vigil.agent.wire import window_id as make_window_id

AgentId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
Label = Annotated[str, StringConstraints(max_length=256, pattern=r"^[^\x00]*$")]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0)]
_METRIC_ENUM: dict[str, Any] = {"enum": sorted(METRICS)}


class Point(BaseModel):
    """One metric value of a window."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)

    metric: str = Field(description="Metric name", json_schema_extra=_METRIC_ENUM)
    stat: Label | None = Field(None, description="Statistic (mean, std, q25 ...), drop reason, or null")
    cls: Label | None = Field(None, alias="class", description="Class (as a string) or null")
    feature: Label | None = None
    category: Label | None = None
    value: Finite

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, v: str) -> str:
        if v not in METRICS:
            raise ValueError(f"unknown metric {v!r}; known: {', '.join(sorted(METRICS))}")
        return v


class Sample(BaseModel):
    """The window's reservoir sample (row-aligned lists)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    proba: list[list[Finite]] = Field(description="rows x n_classes probabilities")
    inputs: list[list[Finite | Label | bool | None]] | None = Field(
        None, description="rows x n_features inputs; null for a missing value")
    labels: list[Annotated[int, Field(ge=-1)]] | None = Field(None, description="true class per row; -1: unknown")
    feature_names: list[Label] | None = None


class Window(BaseModel):
    """What the agent sends every window (``schema`` ``vigil.window/1``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)

    schema_: Literal["vigil.window/1"] = Field(alias="schema")
    agent_id: AgentId
    window_id: Annotated[str, StringConstraints(max_length=200)] = Field(
        description="agent_id + ':' + start in epoch milliseconds; the deduplication key")
    start: Finite = Field(description="epoch seconds")
    end: Finite = Field(description="epoch seconds, > start")
    n_classes: Annotated[int, Field(ge=2, le=1_000_000)]
    rows_seen: Count
    rows_sampled: Count
    dropped: dict[Annotated[str, StringConstraints(max_length=64)], Count]
    points: list[Point] = Field(max_length=1_000_000)
    sample: Sample


def window_problems(w: Window) -> list[dict[str, Any]]:
    """Cross-field rules of a validated :class:`Window`, as 422 error entries (empty: fine).

    Examples
    --------
    >>> w = Window.model_validate({'schema': 'vigil.window/1', 'agent_id': 'a', 'window_id': 'a:1000', 'start': 1.0,
    ...     'end': 2.0, 'n_classes': 2, 'rows_seen': 1, 'rows_sampled': 1, 'dropped': {}, 'points': [],
    ...     'sample': {'proba': [[0.5, 0.5, 0.0]]}})
    >>> [(e['loc'], e['msg']) for e in window_problems(w)]
    [(['body', 'sample', 'proba', 0], 'row 0 has 3 probabilities; n_classes is 2')]
    """
    found: list[dict[str, Any]] = []

    def bad(loc: list[Any], msg: str) -> None:
        found.append({"loc": ["body", *loc], "msg": msg, "type": "value_error"})

    if w.agent_id in (".", ".."):
        bad(["agent_id"], "agent_id may not be '.' or '..'")
    if not w.end > w.start:
        bad(["end"], f"end must be after start ({w.start!r}); got {w.end!r}")
    expected = make_window_id(w.agent_id, round(w.start * 1000))
    if w.window_id != expected:
        bad(["window_id"], f"window_id must be agent_id:start_ms = {expected!r}; got {w.window_id!r}")
    s = w.sample
    for i, probs in enumerate(s.proba):
        if len(probs) != w.n_classes:
            bad(["sample", "proba", i], f"row {i} has {len(probs)} probabilities; n_classes is {w.n_classes}")
            break
    rows = len(s.proba)
    if s.labels is not None:
        if len(s.labels) != rows:
            bad(["sample", "labels"], f"labels has {len(s.labels)} entries; proba has {rows} rows")
        else:
            for i, y in enumerate(s.labels):
                if y >= w.n_classes:
                    bad(["sample", "labels", i], f"label {y} is not a class of n_classes={w.n_classes} (or -1)")
                    break
    if s.inputs is not None:
        if len(s.inputs) != rows:
            bad(["sample", "inputs"], f"inputs has {len(s.inputs)} rows; proba has {rows}")
        width = len(s.feature_names) if s.feature_names is not None else (len(s.inputs[0]) if s.inputs else 0)
        for i, row in enumerate(s.inputs):
            if len(row) != width:
                bad(["sample", "inputs", i], f"row {i} has {len(row)} values; expected {width}"
                    + (" (one per feature name)" if s.feature_names is not None else ""))
                break
    return found


def finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


class WindowAck(BaseModel):
    stored: bool = Field(description="true: stored now (201); false: a duplicate, stored before (200)")
    window_id: str


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    token_required: bool


class AgentInfo(BaseModel):
    agent_id: str
    experiment: str
    windows: int = Field(description="windows stored")
    last_window_end: float | None = Field(description="end of the latest window, epoch seconds")


class AgentList(BaseModel):
    agents: list[AgentInfo]


class SeriesPoint(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    t: float = Field(description="window end, epoch seconds")
    value: float | None
    stat: str | None = None
    cls: str | None = Field(None, alias="class")
    feature: str | None = None
    category: str | None = None


class Series(BaseModel):
    agent_id: str
    metric: str
    points: list[SeriesPoint]


class SeriesSet(BaseModel):
    metric: str
    series: list[Series]


class ErrorDetail(BaseModel):
    detail: Any
