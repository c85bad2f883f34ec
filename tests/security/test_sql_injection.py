"""SQL injection through filters, keys, extra fields and prefixes, on SQLite and PostgreSQL.

Every string is a bound parameter: an injection string matches only an event
whose value is exactly that string, never raises a SQL syntax error, and the
tables are intact afterwards.
"""

from __future__ import annotations

import pytest

import vigil
from vigil.errors import InvalidInput

INJECTIONS = [
    "x' OR '1'='1", "x' OR 1=1 --", "x\" OR \"1\"=\"1", "'; DROP TABLE events; --", "x') OR ('a'='a",
    "x' UNION SELECT * FROM experiments --", "%", "_", "x%", "\\", "\\'", "'", "''", "x'||'y", "x/*", "*/",
    "x;SELECT pg_sleep(0)", "$$", "$1", "?", ":name", "{}", "x\u2019 OR 1=1",
]
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def backend(request, vigil_home, monkeypatch):
    """The default workspace on the backend named by the parameter (PostgreSQL: an emptied database)."""
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_empty_url")
        monkeypatch.setenv("VIGIL_STORE_URL", url)
        vigil.reload()
    yield request.param
    vigil.reload()


def populate():
    with vigil.runtime.experiment("victim") as exp:
        exp.log_metric("accuracy", 0.9, model="a")
        exp.log_metric("loss", 0.1, model="b")
        exp.log_param("secret", "s3cret")
    with vigil.runtime.experiment("other") as other:
        other.log_metric("accuracy", 0.5)
    return exp, other


def counts(exp, other) -> tuple[int, int]:
    return len(exp.data(run="all", raw=True)), len(other.data(run="all", raw=True))


def test_filters_bind_parameters(backend):
    exp, other = populate()
    before = counts(exp, other)
    assert before == (3, 1)
    for text in INJECTIONS:
        assert exp.data(run="all", key=text, raw=True) == [], text
        assert exp.data(run="all", event=text, raw=True) == [], text
        assert exp.data(run="all", key=["accuracy", text], raw=True)[0]["key"] == "accuracy"
        assert exp.data(run="all", model=text, raw=True) == [], text
        assert exp.data(run="all", userid=text, raw=True) == [], text
        assert exp.data(run="all", node=text, raw=True) == [], text
        assert exp.data(run="all", name=text, raw=True) == [], text
        assert exp.data(run="all", model=[text, "a"], raw=True)[0]["value"] == 0.9
        assert vigil.datasets.list(text) == [] and vigil.models.list(text) == [] and vigil.jobs.list(text) == []
    assert counts(exp, other) == before


def test_injection_strings_are_stored_and_found_verbatim(backend):
    _, other = populate()
    with vigil.runtime.experiment("victim") as exp:
        for i, text in enumerate(INJECTIONS):
            exp.log_metric(text, float(i), model=text)
            exp.log_event(text, "k", text)
    for i, text in enumerate(INJECTIONS):
        (row,) = exp.data(run="all", key=text, raw=True)
        assert (row["key"], row["value"], row["model"]) == (text, float(i), text)
        (row,) = exp.data(run="all", event=text, raw=True)
        assert row["value"] == text
        assert len(exp.data(run="all", model=text, raw=True)) == 1
    assert len(other.data(run="all", raw=True)) == 1
    assert len(exp.data(run="all", raw=True)) == 3 + 2 * len(INJECTIONS)


@pytest.mark.parametrize("field", ["x' OR '1'='1", "model; DROP TABLE events", "a b", "1x", "x-y", "model\"",
                                   "", "x" * 65, "é"])
def test_filter_field_names_are_identifiers(backend, field):
    exp, other = populate()
    with pytest.raises(InvalidInput, match="filter"):
        exp.data(run="all", **{field: "a"})
    with exp, pytest.raises(InvalidInput, match="extra field"):
        exp.log_metric("m", 1.0, **{field: "a"})
    assert counts(exp, other) == (3, 1)


def test_names_and_prefixes(backend):
    populate()
    vigil.datasets.put([1, 2], "data")
    for text in INJECTIONS:
        if text == "_":  # a legal name (a word character)
            continue
        with pytest.raises(InvalidInput):
            vigil.runtime.experiment(text)
        with pytest.raises(InvalidInput):
            vigil.datasets.get(text)
    assert vigil.datasets.list("%") == [] and vigil.datasets.list("_") == []
    assert vigil.datasets.list("d") == ["data"] and vigil.datasets.get("data") == [1, 2]


def test_the_dashboard_passes_injections_as_values(backend, open_app):
    populate()
    for text in INJECTIONS:
        for path, params in [("/api/v1/ui/experiments", {"q": text}), ("/experiments", {"q": text}),
                             ("/api/v1/ui/events", {"experiment": "victim", "key": text, "event": text}),
                             ("/events", {"experiment": "victim", "key": text}),
                             ("/api/v1/ui/metric-series", {"experiment": "victim", "key": text}),
                             ("/api/v1/series", {"metric": "pred1", "agents": text}),
                             ("/api/v1/agents/a/series", {"metric": "pred1", "stat": text, "feature": text})]:
            r = open_app.get(path, params=params)
            assert r.status_code < 500, (path, text, r.status_code, r.text[:200])
            if path == "/api/v1/ui/experiments":
                assert r.json()["experiments"] == [], text
            if path == "/api/v1/ui/events":
                assert r.json().get("events", r.json().get("rows", [])) == [], (text, r.json())
    assert len(open_app.get("/api/v1/ui/experiments").json()["experiments"]) == 2
