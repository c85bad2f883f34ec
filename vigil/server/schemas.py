"""The JSON schemas of the collector API (v1), as pydantic models.

:class:`Window` is the agent's wire format (see :mod:`vigil.agent.wire`,
which the agent encodes with); its rules match :func:`vigil.agent.wire.problems`
and add what the field types cannot say (:func:`window_problems`: shapes of
the sample, the window id). Errors come back as 422 with the field named::

    {"detail": [{"loc": ["body", "sample", "proba", 3], "msg": "...", "type": "..."}]}

The collector validates with :func:`parse_window`: the same field rules as
:class:`Window`, declared on ``TypedDict`` s (:class:`WindowDict`) so that
pydantic builds the plain dicts the collector works with directly (no model
objects, no ``model_dump``: a third of the cost). ``tests/server/test_schemas.py``
checks that both accept the same bodies and give the same dicts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    field_validator,
    with_config,
)
from typing_extensions import TypedDict

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
        return _known_metric(v)


def _known_metric(v: str) -> str:
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


# -- the same rules on plain dicts (the collector's hot path) ---------------------------------------
_STRICT = ConfigDict(extra="forbid", strict=True)
PointDict = TypedDict("PointDict", {  # functional syntax: "class" is a keyword
    "metric": Annotated[str, AfterValidator(_known_metric)], "stat": NotRequired[Label | None],
    "class": NotRequired[Label | None], "feature": NotRequired[Label | None],
    "category": NotRequired[Label | None], "value": Finite,
})
PointDict.__pydantic_config__ = _STRICT  # type: ignore[attr-defined]


@with_config(_STRICT)
class SampleDict(TypedDict):
    proba: list[list[Finite]]
    inputs: NotRequired[list[list[Finite | Label | bool | None]] | None]
    labels: NotRequired[list[Annotated[int, Field(ge=-1)]] | None]
    feature_names: NotRequired[list[Label] | None]


@with_config(_STRICT)
class WindowDict(TypedDict):
    schema: Literal["vigil.window/1"]
    agent_id: AgentId
    window_id: Annotated[str, StringConstraints(max_length=200)]
    start: Finite
    end: Finite
    n_classes: Annotated[int, Field(ge=2, le=1_000_000)]
    rows_seen: Count
    rows_sampled: Count
    dropped: dict[Annotated[str, StringConstraints(max_length=64)], Count]
    points: Annotated[list[PointDict], Field(max_length=1_000_000)]
    sample: SampleDict

_POINT_LABELS = ("stat", "class", "feature", "category")
_SAMPLE_OPTIONAL = ("inputs", "labels", "feature_names")


@functools.cache
def _window_adapter() -> TypeAdapter[Any]:
    return TypeAdapter(WindowDict)


def parse_window(body: bytes | str) -> dict[str, Any]:
    """The window in a JSON body as the dict ``Window.model_dump(by_alias=True)`` would give.

    Raises :class:`pydantic.ValidationError` (field rules of :class:`Window`);
    the cross-field rules are :func:`window_problems`.

    Examples
    --------
    >>> w = parse_window(b'{"schema": "vigil.window/1", "agent_id": "a", "window_id": "a:1000", "start": 1,'
    ...     b' "end": 2.0, "n_classes": 2, "rows_seen": 1, "rows_sampled": 1, "dropped": {},'
    ...     b' "points": [{"metric": "accuracy", "value": 1}], "sample": {"proba": [[0.5, 0.5]]}}')
    >>> w["start"], w["points"], w["sample"]["labels"]
    (1.0, [{'metric': 'accuracy', 'value': 1.0, 'stat': None, 'class': None, 'feature': None, 'category': None}], None)
    """
    window: dict[str, Any] = _window_adapter().validate_json(body)
    for p in window["points"]:
        if len(p) != 6:  # labels left out are None, as in the model
            for key in _POINT_LABELS:
                p.setdefault(key, None)
    sample = window["sample"]
    if len(sample) != 4:
        for key in _SAMPLE_OPTIONAL:
            sample.setdefault(key, None)
    return window


def window_problems(w: Window | Mapping[str, Any]) -> list[dict[str, Any]]:
    """Cross-field rules of a validated window (a :class:`Window`, or a dict from
    :func:`parse_window`), as 422 error entries (empty: fine).

    Examples
    --------
    >>> w = Window.model_validate({'schema': 'vigil.window/1', 'agent_id': 'a', 'window_id': 'a:1000', 'start': 1.0,
    ...     'end': 2.0, 'n_classes': 2, 'rows_seen': 1, 'rows_sampled': 1, 'dropped': {}, 'points': [],
    ...     'sample': {'proba': [[0.5, 0.5, 0.0]]}})
    >>> [(e['loc'], e['msg']) for e in window_problems(w)]
    [(['body', 'sample', 'proba', 0], 'row 0 has 3 probabilities; n_classes is 2')]
    """
    if isinstance(w, Window):
        w = w.model_dump(by_alias=True)
    found: list[dict[str, Any]] = []

    def bad(loc: list[Any], msg: str) -> None:
        found.append({"loc": ["body", *loc], "msg": msg, "type": "value_error"})

    agent_id, start, end, n_classes = w["agent_id"], w["start"], w["end"], w["n_classes"]
    if agent_id in (".", ".."):
        bad(["agent_id"], "agent_id may not be '.' or '..'")
    if not end > start:
        bad(["end"], f"end must be after start ({start!r}); got {end!r}")
    expected = make_window_id(agent_id, round(start * 1000))
    if w["window_id"] != expected:
        bad(["window_id"], f"window_id must be agent_id:start_ms = {expected!r}; got {w['window_id']!r}")
    s = w["sample"]
    proba, labels, inputs, names = s["proba"], s.get("labels"), s.get("inputs"), s.get("feature_names")
    for i, probs in enumerate(proba):
        if len(probs) != n_classes:
            bad(["sample", "proba", i], f"row {i} has {len(probs)} probabilities; n_classes is {n_classes}")
            break
    rows = len(proba)
    if labels is not None:
        if len(labels) != rows:
            bad(["sample", "labels"], f"labels has {len(labels)} entries; proba has {rows} rows")
        elif labels and max(labels) >= n_classes:
            i = next(i for i, y in enumerate(labels) if y >= n_classes)
            bad(["sample", "labels", i], f"label {labels[i]} is not a class of n_classes={n_classes} (or -1)")
    if inputs is not None:
        if len(inputs) != rows:
            bad(["sample", "inputs"], f"inputs has {len(inputs)} rows; proba has {rows}")
        width = len(names) if names is not None else (len(inputs[0]) if inputs else 0)
        for i, row in enumerate(inputs):
            if len(row) != width:
                bad(["sample", "inputs", i], f"row {i} has {len(row)} values; expected {width}"
                    + (" (one per feature name)" if names is not None else ""))
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
