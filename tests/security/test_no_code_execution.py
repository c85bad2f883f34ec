"""Stored bytes never run code, and names never become code.

A pickle whose ``__reduce__`` would create a marker file is stored every way
vigil allows (as bytes, with ``allow_pickle=True``, swapped into the object
of a dataset, model, artifact or drift snapshot, or named by a forged
metadata record); no read path without ``allow_pickle=True`` runs it.
Monitor jobs are generated from a template: hostile names are rejected, and
even unvalidated ones come out as literals.
"""

from __future__ import annotations

import ast
import io
import json
import pickle

import numpy as np
import pandas as pd
import pytest

import vigil
from vigil.errors import InvalidInput, UnsafeSerialization, VigilError


class Payload:
    """Unpickling this creates ``marker`` (it runs code)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "stored bytes ran code"


@pytest.fixture
def evil(marker) -> bytes:
    data = pickle.dumps(Payload(str(marker)))
    pickle.loads  # noqa: B018 - never called on it in this module, but by the check below
    return data


def test_the_payload_really_runs_when_unpickled(tmp_path):
    path = tmp_path / "control"
    pickle.loads(pickle.dumps(Payload(str(path))))  # noqa: S301 - the control: proves the payload works
    assert path.exists()


def swap(key: str, data: bytes) -> None:
    """Replace the stored object ``key`` (an attacker with write access to the object store)."""
    vigil.datasets.stores.objects.put(key, data)


def object_array_npy(marker) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.array([Payload(str(marker))], dtype=object), allow_pickle=True)
    return buf.getvalue()


def test_artifacts(evil, marker, open_app):
    with vigil.runtime.experiment("exp") as exp:
        exp.log_artifact(evil, "as-bytes")                        # bytes are bytes
        exp.log_artifact(Payload(str(marker)), "pickled", allow_pickle=True)
        exp.log_artifact(np.arange(3), "array")
        exp.log_artifact(pd.DataFrame({"a": [1]}), "frame")
        exp.log_artifact({"a": 1}, "json")
    assert not marker.exists()
    assert exp.restore_artifact("as-bytes") == evil
    with pytest.raises(UnsafeSerialization, match="allow_pickle=True"):
        exp.restore_artifact("pickled")
    with pytest.raises(UnsafeSerialization):
        exp.restore_artifacts()
    with pytest.raises(UnsafeSerialization):
        exp.restore_artifacts("pickled", run="all")
    refs = {r["key"]: r["value"]["$ref"] for r in exp.data(run="all", event="artifact", raw=True)}
    swap(refs["array"]["key"], object_array_npy(marker))
    with pytest.raises(UnsafeSerialization, match="never unpickles"):
        exp.restore_artifact("array")
    for name in ("frame", "json"):
        swap(refs[name]["key"], evil)
        with pytest.raises(VigilError):
            exp.restore_artifact(name)
    # the dashboard offers the bytes as a download, never deserializes them
    for i in range(1, 12):
        r = open_app.get("/api/v1/ui/artifact", params={"experiment": "exp", "id": i})
        assert r.status_code in (200, 404)
        if r.status_code == 200:
            assert r.headers["content-type"] == "application/octet-stream"
            assert r.headers["content-disposition"].startswith("attachment")
    for path in ("/experiment?name=exp", "/api/v1/ui/runs?experiment=exp", "/api/v1/ui/events?experiment=exp&run=1"):
        assert open_app.get(path).status_code == 200


def test_log_data_and_agent_samples(evil, marker):
    with vigil.runtime.experiment("exp") as exp:
        exp.log_data("d", {"X": np.arange(4.0), "y": pd.Series([1, 2])})
    refs = exp.data(run="all", event="data", raw=True)[0]["value"]
    swap(refs["X"]["$ref"]["key"], object_array_npy(marker))
    swap(refs["y"]["$ref"]["key"], evil)
    with pytest.raises(VigilError):
        exp.restore_data("d")
    buf = io.BytesIO()
    np.savez(buf, proba=np.array([Payload(str(marker))], dtype=object))
    from vigil.store.serializers import decode

    with pytest.raises(UnsafeSerialization):
        decode(buf.getvalue(), "npz", {"member": "proba"})
    with pytest.raises(UnsafeSerialization):
        decode(evil, "pickle")


def test_datasets(evil, marker):
    meta = vigil.datasets.put(np.arange(3), "arr")
    swap(meta["parts"][0], object_array_npy(marker))
    with pytest.raises(UnsafeSerialization):
        vigil.datasets.get("arr")
    meta = vigil.datasets.put(pd.DataFrame({"a": [1]}), "frame")
    swap(meta["parts"][0], evil)
    with pytest.raises(VigilError):
        vigil.datasets.get("frame")
    # a forged metadata record naming the pickle format
    key = "datasets/forged/x.pkl"
    swap(key, evil)
    vigil.datasets.stores.events.put_meta("dataset", "forged", {"format": "pickle", "parts": [key], "info": {},
                                                                 "attributes": {}, "updated": 0.0})
    with pytest.raises(UnsafeSerialization):
        vigil.datasets.get("forged")
    with pytest.raises(InvalidInput):
        vigil.datasets.put(Payload(str(marker)), "obj")      # only frames, arrays and JSON


def test_models(evil, marker):
    from sklearn.linear_model import LinearRegression
    from sklearn.preprocessing import FunctionTransformer

    with pytest.raises(InvalidInput):
        vigil.models.put(Payload(str(marker)), "m")           # no pickle fallback
    meta = vigil.models.put(LinearRegression(), "m")
    swap(meta["key"], evil)
    with pytest.raises(VigilError):
        vigil.models.get("m")
    # a skops file whose types are not trusted (a function that runs commands)
    import os

    vigil.models.put(FunctionTransformer(func=os.system), "f")
    with pytest.raises(UnsafeSerialization, match="not trusted"):
        vigil.models.get("f")
    # a forged record naming pickle
    vigil.datasets.stores.events.put_meta("model", "forged", {"format": "pickle", "key": meta["key"], "info": {},
                                                               "attributes": {}, "updated": 0.0})
    with pytest.raises(InvalidInput, match="not registered"):
        vigil.models.get("forged")


def test_drift_snapshots(evil, marker, open_app):
    from vigil.drift import DataDriftMonitor

    mon = DataDriftMonitor("m")
    mon.snapshot(pd.DataFrame({"x": np.arange(50.0)}))
    mon.snapshot(pd.DataFrame({"x": np.arange(50.0) + 1}))
    exp = mon.experiment
    refs = [r["value"]["$ref"]["key"] for r in exp.data(run="all", event="artifact", raw=True)]
    for key in refs:
        swap(key, evil)
    with pytest.raises(VigilError):
        DataDriftMonitor("m").compare()
    for path in ("/drift", "/monitor?name=monitors/data/m", "/api/v1/ui/monitor?name=monitors/data/m",
                 "/api/v1/ui/monitors", "/monitor/report?name=monitors/data/m"):
        r = open_app.get(path)
        assert r.status_code < 500, (path, r.status_code, r.text[:300])


# -- monitor job templates --------------------------------------------------------------------------
INJECTIONS = [
    "x'); import os; os.system('touch /tmp/pwned'); ('",
    'x"); import os; os.system("touch /tmp/pwned"); ("',
    "x'''\nimport os\nos.system('touch /tmp/pwned')\n'''",
    'x"""\nimport os\n"""',
    "x\nimport os",
    "x\\",
    "x\r\nimport os",
    "x # comment",
    "{experiment}",
    "{0.__class__}",
    "x\u2028import os",
    "x\x00y",
    "\\N{LATIN SMALL LETTER A}",
]


def assignments(source: str) -> dict[str, object]:
    tree = ast.parse(source)
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            found[node.targets[0].id] = ast.literal_eval(node.value)
    return found


def template_shape(source: str) -> list[str]:
    return [type(n).__name__ for n in ast.parse(source).body]


@pytest.mark.parametrize("name", INJECTIONS, ids=range(len(INJECTIONS)))
def test_hostile_names_cannot_add_code_to_a_monitor_job(name, tmp_path):
    from sklearn.linear_model import LinearRegression

    from vigil.runtime.monitors import _render, render

    reference = template_shape(_render("e", "m", None, None))
    for experiment, model in ((name, "m"), ("e", name)):
        with pytest.raises(InvalidInput):
            render(experiment, model)
        # even without validation, the name is a literal: same statements, same value
        try:
            source = _render(experiment, model, name, [{"statistic": name}])
        except InvalidInput:
            continue
        assert template_shape(source) == reference
        values = assignments(source)
        assert (values["experiment"], values["name"], values["provider"]) == (experiment, model, name)
        assert values["alerts"] == [{"statistic": name}]
    with pytest.raises(InvalidInput):
        vigil.models.put(LinearRegression(), name)
    vigil.models.put(LinearRegression(), "ok")
    with vigil.runtime.experiment("e") as exp:
        for kwargs in ({"schedule": name}, {"provider": name}, {"alerts": [name]},
                       {"alerts": [{"statistic": "psi", "severity": name}]}):
            with pytest.raises(InvalidInput):
                exp.track("ok", monitor=True, **kwargs)
        with pytest.raises(InvalidInput):
            exp.track(name, monitor=True, schedule="daily")
    with pytest.raises(InvalidInput):
        vigil.runtime.experiment(name)
    assert not [j for j in vigil.jobs.list() if j != "monitors/e/ok"]


def test_a_tracked_monitor_job_is_the_template_with_literals():
    from sklearn.linear_model import LinearRegression

    from vigil.runtime.monitors import _render

    vigil.models.put(LinearRegression(), "caf\u00e9 model")
    with vigil.runtime.experiment("exp, with = signs") as exp:
        link = exp.track("caf\u00e9 model", monitor=True, schedule="daily",
                         alerts=[{"statistic": "psi", "threshold": 0.2, "channels": ["log"]}])
    source = vigil.jobs.get(link["job"])
    assert template_shape(source) == template_shape(_render("e", "m", None, None))
    values = assignments(source)
    assert values["name"] == "caf\u00e9 model" and values["experiment"] == "exp, with = signs"
    assert json.dumps(values["alerts"])
