"""``om.jobs`` (vigil/runtime/jobs.py): job scripts, versioned in the metadata store."""

from __future__ import annotations

import pytest

import vigil as om
from vigil.errors import InvalidInput, NotFound


def test_put_get_list_drop(vigil_home):
    first = om.jobs.put("print('hello')", "etl/daily", owner="me")
    assert first["version"] == 1 and first["attributes"] == {"owner": "me"}
    assert om.jobs.get("etl/daily") == "print('hello')"
    assert om.jobs.put("print('v2')", "etl/daily")["version"] == 2
    assert om.jobs.get("etl/daily") == "print('v2')"
    assert om.jobs.metadata("etl/daily")["version"] == 2
    om.jobs.put("x = 1", "etl/daily/sub")
    assert om.jobs.list() == ["etl/daily", "etl/daily/sub"]
    assert om.jobs.list("etl/daily/") == ["etl/daily/sub"]
    assert om.jobs.drop("etl/daily") is True
    assert om.jobs.list() == ["etl/daily/sub"]
    with pytest.raises(NotFound, match="etl/daily"):
        om.jobs.get("etl/daily")
    with pytest.raises(NotFound):
        om.jobs.drop("etl/daily")
    assert om.jobs.drop("etl/daily", force=True) is False


@pytest.mark.parametrize("source, match", [
    ("def broken(:\n", "valid Python"),
    (b"print(1)", "source"),
    (None, "source"),
])
def test_put_refuses_what_is_not_python_source(vigil_home, source, match):
    with pytest.raises(InvalidInput, match=match):
        om.jobs.put(source, "bad")
    assert om.jobs.list() == []


@pytest.mark.parametrize("name", ["../x", "/abs", "a\\b", "a\x00b", "x" * 300])
def test_names_are_validated(vigil_home, name):
    with pytest.raises(InvalidInput, match="name"):
        om.jobs.put("x = 1", name)
