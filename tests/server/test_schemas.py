"""The window schema as a parser: any bad input is a BadWindow (422), never a crash (500)."""

from __future__ import annotations

import copy
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.server.factory import window
from vigil.agent.wire import problems
from vigil.server.collector import BadWindow, Collector
from vigil.server.schemas import Window, parse_window, window_problems

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
TOP = list(window())
POINT = ["metric", "stat", "class", "feature", "category", "value"]
SAMPLE = ["proba", "inputs", "labels", "feature_names"]
parse = Collector().parse


def outcome(w) -> str:
    try:
        parse(json.dumps(w).encode())
    except BadWindow as exc:
        assert exc.errors and all(e["loc"][0] == "body" and e["msg"] for e in exc.errors)
        return "rejected"
    return "accepted"


@settings(max_examples=300, deadline=None)
@given(where=st.sampled_from(["top", "point", "sample"]), data=st.data(), value=json_values)
def test_any_field_replaced_by_any_json_is_accepted_or_a_bad_window(where, data, value):
    w = copy.deepcopy(window("h", 3))
    if where == "top":
        w[data.draw(st.sampled_from(TOP))] = value
    elif where == "point":
        w["points"][data.draw(st.integers(0, len(w["points"]) - 1))][data.draw(st.sampled_from(POINT))] = value
    else:
        w["sample"][data.draw(st.sampled_from(SAMPLE))] = value
    result = outcome(w)
    try:
        malformed = bool(problems(w))
    except TypeError:  # wire.problems raises on some non-string metrics; the collector checks types first
        malformed = True
    if malformed:  # whatever the agent's own contract calls malformed, the collector refuses
        assert result == "rejected"


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_a_bad_window(body):
    try:
        parse(body)
    except BadWindow:
        return
    raise AssertionError("random bytes were accepted as a window")


def test_a_valid_window_round_trips_unchanged():
    w = window("ok", 1)
    assert parse(json.dumps(w).encode()) == w


def reference_parse(body: bytes):
    """What the collector did before parse_window: the Window model, dumped, then both rule sets."""
    try:
        model = Window.model_validate_json(body)
    except ValidationError as exc:
        return "rejected", sorted(tuple(e["loc"]) for e in exc.errors())
    if window_problems(model):
        return "rejected", sorted(tuple(e["loc"][1:]) for e in window_problems(model))
    return "accepted", model.model_dump(by_alias=True)


def fast_parse(body: bytes):
    try:
        w = parse_window(body)
    except ValidationError as exc:
        return "rejected", sorted(tuple(e["loc"]) for e in exc.errors())
    if window_problems(w):
        return "rejected", sorted(tuple(e["loc"][1:]) for e in window_problems(w))
    return "accepted", w


@settings(max_examples=300, deadline=None)
@given(where=st.sampled_from(["top", "point", "sample", "drop", "add"]), data=st.data(), value=json_values)
def test_parse_window_is_the_window_model_on_plain_dicts(where, data, value):
    w = copy.deepcopy(window("h", 3))
    if where == "top":
        w[data.draw(st.sampled_from(TOP))] = value
    elif where == "point":
        w["points"][data.draw(st.integers(0, len(w["points"]) - 1))][data.draw(st.sampled_from(POINT))] = value
    elif where == "sample":
        w["sample"][data.draw(st.sampled_from(SAMPLE))] = value
    elif where == "add":  # one more key, anywhere
        target = data.draw(st.sampled_from([w, w["sample"], w["points"][0]]))
        target[data.draw(st.text(max_size=8))] = value
    else:  # leave an optional field out: the model fills in None
        if data.draw(st.booleans()):
            w["points"][data.draw(st.integers(0, len(w["points"]) - 1))].pop(data.draw(st.sampled_from(POINT)))
        else:
            w["sample"].pop(data.draw(st.sampled_from(SAMPLE)))
    body = json.dumps(w).encode()
    fast, reference = fast_parse(body), reference_parse(body)
    assert fast == reference
    if fast[0] == "accepted":  # the agent's own contract holds for whatever is accepted
        assert problems(fast[1]) == []


def test_parse_window_fills_left_out_labels_and_converts_ints():
    w = window("ok", 1)
    del w["points"][0]["stat"], w["sample"]["inputs"]
    w["points"][0]["value"] = 100
    parsed = parse_window(json.dumps(w).encode())
    assert parsed["points"][0] == {"metric": "rows_seen", "stat": None, "class": None, "feature": None,
                                   "category": None, "value": 100.0}
    assert type(parsed["points"][0]["value"]) is float and parsed["sample"]["inputs"] is None
