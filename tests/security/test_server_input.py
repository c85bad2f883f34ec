"""Bad input to the HTTP API: malformed, huge, deeply nested and mistyped bodies; garbage query parameters.

Every answer is a 4xx with a JSON ``detail`` (or 200 for a harmless GET),
never a 500, and nothing bad is stored.
"""

from __future__ import annotations

import copy
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vigil
from tests.server.factory import window

JSON = {"Content-Type": "application/json"}


def stored_windows() -> int:
    found = 0
    for name in vigil.runtime.experiment("x").stores.events.list_experiments():
        if name["name"].startswith("agents/"):
            found += len(vigil.runtime.experiment(name["name"]).data(run="all", event="window", raw=True))
    return found


def nested(depth: int, kind: str = "list") -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


MALFORMED = [b"", b"{", b"}", b"[", b"null", b"true", b"1", b'"x"', b"[]", b"{}", b"{bad json}", b"\xff\xfe",
             b'{"a": 1,}', b"{'a': 1}", b"\x00", b"NaN", b"Infinity", b"-Infinity", b'{"agent_id": NaN}',
             nested(10_000), nested(10_000, "dict"), nested(100_000), b" " * 1000, "\ufeff{}".encode(),
             b'{"schema": "vigil.window/1"}', json.dumps({"a": "\ud800"}).encode(), b'{"a":1}{"b":2}',
             b"1" * 100_000, b'{"a": 1e999999}', b'{"a": ' + b"9" * 5000 + b"}"]


def mutate(path: tuple, value, index: int = 0) -> dict:
    w = window("fuzz", index)
    target = w
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return w


WRONG_TYPES = []
for path in [("agent_id",), ("window_id",), ("start",), ("end",), ("n_classes",), ("rows_seen",), ("points",),
             ("points", 0), ("points", 0, "value"), ("points", 0, "metric"), ("sample",), ("sample", "proba"),
             ("sample", "labels"), ("dropped",), ("schema",)]:
    for bad in (None, "x", -1, 1.5, 2**70, [], {}, True, "\u202e\x00", "x" * 10_000, [[[]]], math.inf):
        WRONG_TYPES.append((path, bad))


def test_malformed_bodies_are_4xx(open_app):
    before = stored_windows()
    for body in MALFORMED:
        r = open_app.post("/api/v1/windows", content=body, headers=JSON)
        assert 400 <= r.status_code < 500, (body[:40], r.status_code, r.text[:200])
        assert "detail" in r.json()
    assert stored_windows() == before


def test_wrong_types_are_422(open_app):
    accepted = []
    for i, (path, bad) in enumerate(WRONG_TYPES):
        body = mutate(path, bad, i)
        try:
            content = json.dumps(body).encode()
        except ValueError:
            continue
        r = open_app.post("/api/v1/windows", content=content, headers=JSON)
        assert r.status_code in (200, 201, 422), (path, repr(bad)[:40], r.status_code, r.text[:200])
        if r.status_code == 201:
            accepted.append((path, bad))
    # numbers in numeric fields, and the optional parts left empty; nothing else of a wrong type gets in
    allowed = {("end",), ("rows_seen",), ("points", 0, "value"), ("points",), ("sample", "labels"), ("dropped",)}
    assert all(path in allowed and (isinstance(bad, (int, float)) or bad in ([], {}, None)) for path, bad in accepted), \
        accepted
    # NaN / Infinity literals (Python's json writes them; strict JSON has none)
    for literal in ("NaN", "Infinity", "-Infinity"):
        w = json.dumps(window("fuzz", 1)).replace('"value": 100.0', f'"value": {literal}', 1)
        r = open_app.post("/api/v1/windows", content=w.encode(), headers=JSON)
        assert r.status_code in (201, 422), (literal, r.status_code)


def test_huge_bodies_are_413(open_app):
    limit = 8 * 2**20
    r = open_app.post("/api/v1/windows", content=b"[" + b"1," * (limit // 2) + b"1]", headers=JSON)
    assert r.status_code == 413
    w = window("fuzz", 0)
    w["points"] = w["points"] * 40_000
    r = open_app.post("/api/v1/windows", content=json.dumps(w).encode(), headers=JSON)
    assert r.status_code in (413, 422)
    r = open_app.post("/api/v1/windows", content=b"{}", headers={**JSON, "Content-Length": "x"})
    assert r.status_code in (400, 422)

    def chunks():
        for _ in range(20):
            yield b" " * 2**20
    r = open_app.post("/api/v1/windows", content=chunks(), headers=JSON)  # streamed, no Content-Length
    assert r.status_code == 413


def test_content_types(open_app):
    body = json.dumps(window("fuzz", 0)).encode()
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/xml", "x"):
        assert open_app.post("/api/v1/windows", content=body, headers={"Content-Type": ctype}).status_code == 415
    assert open_app.post("/api/v1/windows", content=body,
                         headers={"Content-Type": "application/json; charset=utf-8"}).status_code == 201


def test_unicode_agent_ids(open_app):
    for agent_id in ("caf\u00e9", "\u6a21\u578b", "\u202e", "a/b", "../x", "a\x00b", "x" * 65, "", " ", "a b"):
        w = window(agent_id, 0)
        r = open_app.post("/api/v1/windows", content=json.dumps(w).encode(), headers=JSON)
        assert r.status_code in (201, 422), (agent_id, r.status_code)
    assert all(a["agent_id"].isprintable() for a in open_app.get("/api/v1/agents").json()["agents"])


GARBAGE = ["", " ", "x", "-1", "0", "1e309", "nan", "inf", "-inf", "99999999999999999999999", "1.5", "true", "null",
           "[]", "{}", "'", "\"", "%00", "\x00", "../..", "\u202e", "x" * 5000, "1,2,,3", ",", "a,b", "-0", "0x10",
           "2026-13-45", "1;2", "<script>alert(1)</script>"]


def get_routes(client) -> list[tuple[str, list[str]]]:
    out = []
    for route in client.app.api.routes:
        if "GET" not in getattr(route, "methods", ()) or route.path.startswith("/api/v1/docs"):
            continue
        params = [p.alias or p.name for p in getattr(route, "dependant", None).query_params] \
            if getattr(route, "dependant", None) else []
        out.append((route.path.replace("{agent_id}", "a").replace("{name}", "vigil.js"), params))
    return out


@pytest.fixture
def populated(open_app):
    with vigil.runtime.experiment("exp") as exp:
        exp.log_metric("m", 1.0, step=1)
        exp.log_artifact(b"x", "a")
    open_app.post("/api/v1/windows", json=window("a", 0))
    return open_app


def test_every_get_with_garbage_params_is_never_500(populated):
    routes = get_routes(populated)
    assert len(routes) >= 25
    for path, params in routes:
        for value in GARBAGE:
            query = {p: value for p in params} | {"extra": value}
            r = populated.get(path, params=query)
            assert r.status_code < 500, (path, value[:20], r.status_code, r.text[:300])
        for p in params:  # one at a time, the others sensible
            for value in GARBAGE[:12]:
                r = populated.get(path, params={"experiment": "exp", "name": "exp", "metric": "pred1",
                                                "agents": "a", "key": "m", "id": "1", p: value})
                assert r.status_code < 500, (path, p, value, r.status_code, r.text[:300])


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                         lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                         max_size=3), max_leaves=20),
       field=st.sampled_from(["agent_id", "window_id", "start", "end", "n_classes", "points", "sample", "dropped",
                              "rows_seen", "rows_sampled", "schema", "extra"]))
def test_fuzzed_windows_are_never_500(open_app, body, field):
    w = window("fuzz", 0)
    w[field] = copy.deepcopy(body)
    r = open_app.post("/api/v1/windows", content=json.dumps(w).encode(), headers=JSON)
    assert r.status_code in (200, 201, 422), (field, r.status_code, r.text[:300])
    r = open_app.post("/api/v1/windows", content=json.dumps(body).encode(), headers=JSON)
    assert r.status_code in (200, 201, 422), (r.status_code, r.text[:300])


def test_the_job_run_endpoint(open_app):
    vigil.jobs.put("print('ran')", "j")
    for name in ("", "../j", "j;rm", "x" * 300, "nope"):
        assert 400 <= open_app.post("/api/v1/ui/jobs/run", params={"name": name}).status_code < 500
    assert open_app.post("/api/v1/ui/jobs/run", params={"name": "j"}).json()["status"] == "ok"
