"""Names that become paths: traversal, encodings, separators, NUL, length, unicode.

Every public API that takes a name either refuses a hostile one with
:class:`~vigil.errors.InvalidInput` naming the argument, or stores it safely
inside the workspace; in both cases nothing is written outside the
workspace and what was stored before is unchanged.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import vigil
from vigil.errors import InvalidInput, NotFound

HOSTILE = [
    "", ".", "..", "../x", "x/..", "a/../../b", "../../../../etc/passwd", "./x", "x/./y", "%2e%2e", "%2e%2e/x",
    "%252e%252e", "%252e%252e%252fx", "..\\x", "a\\..\\..\\b", "x;rm -rf", "x;", "/etc/passwd", "/x", "x/",
    "a//b", "C:\\x", "C:x", "c:/x", "a\x00b", "\x00", "x\n", "\nx", "x\r", "x\ty", " x", "x ", "~", "~/x",
    "x" * 257, "a/" * 200 + "b", "..\u2215x", "\u2025", "x:y", "x|y", "x*", "x?", "x<y>", '"x"', "x'y",
    "$(touch x)", "`id`", "\u202e..", "\ufeff..", "..\u0000", "x/.." + "/" * 3,
]
#: Accepted and stored below the workspace (unicode words, dots inside a segment, long but legal).
SAFE = ["caf\u00e9", "\u6a21\u578b/\u7248\u672c", "x..y", "...", "a.b/c-d_e@f+g=h,i j", "x" * 256, "\u0394" * 150,
        "a/" * 100 + "b"]


def objects_root() -> str:
    return os.path.realpath(vigil.datasets.stores.objects.root)


def assert_under_workspace(tree) -> None:
    tree.assert_contained()
    added, _, _ = tree.changes()
    for rel in added:
        assert os.path.realpath(tree.root / rel).startswith(str(tree.home.resolve()) + os.sep), rel


def stored_before():
    """Objects of every kind stored before the hostile calls, to check they are unchanged after."""
    frame = pd.DataFrame({"a": [1, 2, 3]})
    vigil.datasets.put(frame, "kept")
    vigil.jobs.put("print('kept')", "kept")
    with vigil.runtime.experiment("kept") as exp:
        exp.log_artifact(b"kept-bytes", "kept")
        exp.log_metric("m", 1.0)
    return frame, exp


def assert_kept(frame, exp) -> None:
    pd.testing.assert_frame_equal(vigil.datasets.get("kept"), frame)
    assert vigil.jobs.get("kept") == "print('kept')"
    assert exp.restore_artifact("kept") == b"kept-bytes"
    assert exp.data(run="all", key="m", raw=True)[0]["value"] == 1.0


def model():
    from sklearn.linear_model import LinearRegression

    return LinearRegression()


def calls(name):
    """(who, argument, call) of every public API taking a name that lands in a path or key."""
    exp = vigil.runtime.experiment("host")
    return [
        ("datasets.put", "name", lambda: vigil.datasets.put(pd.DataFrame({"x": [1]}), name)),
        ("datasets.put", "name", lambda: vigil.datasets.put(np.arange(3), name)),
        ("models.put", "name", lambda: vigil.models.put(model(), name)),
        ("jobs.put", "name", lambda: vigil.jobs.put("print(1)", name)),
        ("log_artifact", "name", lambda: exp.log_artifact(b"payload", name)),
        ("log_data", "key", lambda: exp.log_data(name, np.arange(3))),
        ("log_data", "value key", lambda: exp.log_data("d", {name: np.arange(3)})),
        ("experiment", "experiment", lambda: vigil.runtime.experiment(name).log_metric("m", 1.0)),
    ], exp


@pytest.mark.parametrize("name", HOSTILE, ids=[repr(n)[:40] for n in HOSTILE])
def test_hostile_names_are_refused_everywhere(tree, name):
    frame, kept = stored_before()
    tree.mark()
    todo, exp = calls(name)
    for who, arg, call in todo:
        with pytest.raises(InvalidInput) as info:
            call()
        message = str(info.value)
        assert arg in message and ("must be" in message), (who, message)
    for read in (lambda: vigil.datasets.get(name), lambda: vigil.models.get(name), lambda: vigil.jobs.get(name),
                 lambda: vigil.jobs.run(name), lambda: exp.restore_artifact(name), lambda: exp.restore_data(name),
                 lambda: vigil.datasets.drop(name, force=True), lambda: vigil.models.drop(name, force=True),
                 lambda: vigil.jobs.drop(name, force=True)):
        with pytest.raises(InvalidInput):
            read()
    vigil.runtime.experiment("host").flush()
    assert_under_workspace(tree)
    assert_kept(frame, kept)


@pytest.mark.parametrize("name", SAFE, ids=[repr(n)[:30] for n in SAFE])
def test_legal_names_are_stored_inside_the_workspace_and_read_back(tree, name):
    frame, kept = stored_before()
    tree.mark()
    todo, exp = calls(name)
    for _, _, call in todo:
        call()
    assert vigil.datasets.get(name).tolist() == [0, 1, 2]
    assert type(vigil.models.get(name)).__name__ == "LinearRegression"
    assert vigil.jobs.get(name) == "print(1)"
    assert exp.restore_artifact(name) == b"payload"
    assert exp.restore_data(name).tolist() == [0, 1, 2]
    assert exp.restore_data("d")[name].tolist() == [0, 1, 2]
    vigil.runtime.experiment(name).flush()
    assert_under_workspace(tree)
    added, _, _ = tree.changes()
    assert any(p.startswith("vigil-home/artifacts/") for p in added)
    assert_kept(frame, kept)


def test_names_of_other_types_are_refused(tree):
    for name in (None, 1, 1.5, b"x", ["x"], {"x": 1}, object(), pd.NA):
        with pytest.raises(InvalidInput, match="name"):
            vigil.datasets.put(pd.DataFrame({"x": [1]}), name)
        with pytest.raises(InvalidInput, match="name"):
            vigil.jobs.put("print(1)", name)
        with pytest.raises(InvalidInput, match="experiment"):
            vigil.runtime.experiment(name)
    assert_under_workspace(tree)


def test_a_symlink_inside_the_object_root_cannot_lead_out(tree, tmp_path):
    objects = vigil.datasets.stores.objects
    outside = tmp_path / "outside"
    outside.mkdir()
    os.makedirs(objects.root, exist_ok=True)
    os.symlink(outside, os.path.join(objects.root, "datasets"))
    tree.mark()
    with pytest.raises(InvalidInput, match="inside the object root"):
        vigil.datasets.put(pd.DataFrame({"x": [1]}), "escapes")
    with pytest.raises(InvalidInput, match="inside the object root"):
        objects.put("datasets/x.bin", b"x")
    assert list(outside.iterdir()) == []
    (outside / "secret.bin").write_bytes(b"secret")
    with pytest.raises(InvalidInput):
        objects.get("datasets/secret.bin")
    assert "datasets/secret.bin" not in objects.list()
    assert objects.list("") == [] or all(not k.startswith("datasets/") for k in objects.list(""))


def test_object_keys_are_checked_at_the_store_too(tree):
    objects = vigil.datasets.stores.objects
    for key in ("../x", "/etc/passwd", "a/../../x", "a\x00b", "..\\x", "%2e%2e/x", "x" * 2000):
        for method, args in (("put", (key, b"x")), ("get", (key,)), ("exists", (key,)), ("delete", ([key],)),
                             ("delete_prefix", (key,)), ("list", (key,))):
            with pytest.raises(InvalidInput, match="key"):
                getattr(objects, method)(*args)
    assert_under_workspace(tree)


# -- the same names through the dashboard and its JSON API ------------------------------------------
QUERY_NAMES = ["../../etc", "..", "../x", "%2e%2e", "%252e%252e", "..\\x", "/etc/passwd", "C:\\x", "a\x00b",
               "x" * 300, "x;drop table events", "a//b", "\u202e"]
NAMED = [("GET", "/experiment", "name"), ("GET", "/events", "experiment"), ("GET", "/monitor", "name"),
         ("GET", "/monitor/report", "name"), ("GET", "/jobs", "name"), ("GET", "/api/v1/ui/runs", "experiment"),
         ("GET", "/api/v1/ui/events", "experiment"), ("GET", "/api/v1/ui/metric-series", "experiment"),
         ("GET", "/api/v1/ui/artifact", "experiment"), ("GET", "/api/v1/ui/monitor", "name"),
         ("GET", "/api/v1/ui/distribution", "name"), ("GET", "/api/v1/ui/agent-metrics", "agent"),
         ("POST", "/api/v1/ui/jobs/run", "name"), ("GET", "/compare", "experiment"),
         ("GET", "/api/v1/agents/x/series", "agent_id")]
FILLERS = {"id": "1", "key": "m", "column": "c", "runs": "1,2", "metric": "pred1", "name": "x", "experiment": "x",
           "agent": "x"}


@pytest.mark.parametrize("value", QUERY_NAMES, ids=[repr(v)[:30] for v in QUERY_NAMES])
def test_hostile_names_in_query_parameters_are_4xx(open_app, tree, value):
    stored_before()
    tree.mark()
    for method, path, param in NAMED:
        params = {**FILLERS, param: value}
        r = open_app.request(method, path, params=params)
        if path == "/jobs":  # an unknown job name only selects nothing
            assert r.status_code in (200, 404, 422), (path, value, r.status_code)
        else:
            assert 400 <= r.status_code < 500, (method, path, value, r.status_code, r.text[:200])
    for path in (f"/api/v1/agents/{value}/series", f"/api/v1/agents/{value}/alerts"):
        r = open_app.get(path.replace("\x00", "%00"), params={"metric": "pred1"})
        assert 400 <= r.status_code < 500, (path, r.status_code)
    assert_under_workspace(tree)


def test_an_artifact_download_serves_only_its_own_object(open_app):
    with vigil.runtime.experiment("dl") as exp:
        exp.log_artifact(b"mine", "a")
    with vigil.runtime.experiment("other") as other:
        other.log_artifact(b"theirs", "b")
    ok = open_app.get("/api/v1/ui/artifact", params={"experiment": "dl", "id": 1})
    assert ok.status_code in (200, 404), ok.text
    # the id of the other experiment's artifact never serves it under this experiment's name
    found = [open_app.get("/api/v1/ui/artifact", params={"experiment": "dl", "id": i}) for i in range(1, 20)]
    assert all(r.content != b"theirs" for r in found if r.status_code == 200)
    assert any(r.content == b"mine" for r in found if r.status_code == 200)
    for bad in ("0", "-1", "x", "1e3", "99999999999999999999999", "1;drop"):
        assert open_app.get("/api/v1/ui/artifact", params={"experiment": "dl", "id": bad}).status_code in (404, 422)
    with pytest.raises(NotFound):
        vigil.runtime.experiment("dl").restore_artifact("b")
