"""Tracking providers by name (vigil/tracking/registry.py): built-ins, then
``VIGIL_TRACKING_PROVIDERS``, then the ``vigil.tracking_providers`` entry points,
and plugins written by subclassing that work end to end."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import vigil as om
from vigil.errors import ConfigError, InvalidInput, NotFound, UnsafeSerialization
from vigil.tracking import DefaultProvider, NoTrackProvider, known_providers, provider_class
from vigil.tracking.frames import BASE_COLUMNS
from vigil.tracking.profiling import ProfilingProvider

TAGGING_PLUGIN = '''
"""A provider plugin: the default provider, plus a sticky field on every event."""
from vigil.tracking import DefaultProvider


class TaggingProvider(DefaultProvider):
    name = "tagging"

    def __init__(self, experiment, stores=None, tag="plugin", **options):
        super().__init__(experiment, stores, **options)
        self.log_extra(source=tag)
'''

MEMORY_PLUGIN = '''
"""A provider plugin that keeps everything in this process's memory."""
import json
import time

import pyarrow as pa

from vigil.errors import NotFound
from vigil.store.base import EVENT_COLUMNS, EVENT_SCHEMA, RunRecord
from vigil.tracking import TrackingProvider

EXPERIMENTS = {}


class MemoryProvider(TrackingProvider):
    name = "memory"

    def __init__(self, experiment, stores=None, **options):
        super().__init__(experiment, stores, **options)
        self._state = EXPERIMENTS.setdefault(self.experiment, {"runs": {}, "events": [], "objects": {}})

    def _new_run(self):
        runs = self._state["runs"]
        run = max(runs, default=0) + 1
        runs[run] = RunRecord(run, "STARTED", time.time(), None, "memory", self._userid)
        return run

    def _end_run(self, run, status):
        r = self._state["runs"][run]
        self._state["runs"][run] = RunRecord(run, status, r.started, time.time(), r.node, r.userid)

    def _find_run(self, run):
        return self._state["runs"].get(run)

    def _list_runs(self):
        return [self._state["runs"][n] for n in sorted(self._state["runs"])]

    def _write(self, rows):
        events = self._state["events"]
        for row in rows:
            events.append({**dict(zip(EVENT_COLUMNS, row)), "id": len(events) + 1})

    def _read(self, query):
        def keep(e):
            if e["id"] <= query.after_id:
                return False
            for column, allowed in (("run", query.runs), ("event", query.events),
                                    ("key", query.keys), ("step", query.steps)):
                if allowed is not None and e[column] not in allowed:
                    return False
            if query.since is not None and e["dt"] < query.since:
                return False
            if query.end is not None and e["dt"] > query.end:
                return False
            for name, values in query.fields:
                actual = e[name] if name in ("node", "userid", "name") else json.loads(e["extra"] or "{}").get(name)
                if actual not in values:
                    return False
            return True

        rows = [e for e in self._state["events"] if keep(e)][: query.limit]
        return pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)

    def _put_object(self, key, data):
        self._state["objects"][key] = bytes(data)

    def _get_object(self, key):
        try:
            return self._state["objects"][key]
        except KeyError:
            raise NotFound(f"no object {key!r}") from None

    def _clear(self):
        for part in self._state.values():
            part.clear()
'''


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A folder on sys.path for plugin modules; the modules are forgotten afterwards."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    before = set(sys.modules)
    yield folder
    for name in set(sys.modules) - before:
        if name in ("tagging_provider", "myplugin"):
            del sys.modules[name]


@pytest.fixture
def memory_plugin(plugin_dir: Path) -> Path:
    """A fake installed distribution 'myplugin' whose entry point registers MemoryProvider as 'memory'."""
    (plugin_dir / "myplugin.py").write_text(MEMORY_PLUGIN)
    info = plugin_dir / "myplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[vigil.tracking_providers]\nmemory = myplugin:MemoryProvider\n")
    return plugin_dir


def test_builtins():
    known = known_providers()
    assert {"default", "profiling", "notrack"} <= set(known)
    assert provider_class("default") is DefaultProvider
    assert provider_class("profiling") is ProfilingProvider
    assert provider_class("notrack") is NoTrackProvider
    assert type(om.runtime.experiment("x")) is DefaultProvider


@pytest.mark.parametrize("name", ["nope", "", "Default", 3, None])
def test_unknown_provider_lists_the_known_ones(name):
    with pytest.raises(InvalidInput) as info:
        provider_class(name)
    message = str(info.value)
    assert "provider" in message and repr(name) in message
    for known in ("default", "notrack", "profiling"):
        assert known in message
    if isinstance(name, str) and name:
        with pytest.raises(InvalidInput, match="default, notrack, profiling"):
            om.runtime.experiment("x", provider=name)


def test_plugin_through_the_environment_works_end_to_end(vigil_home, plugin_dir, monkeypatch):
    (plugin_dir / "tagging_provider.py").write_text(TAGGING_PLUGIN)
    monkeypatch.setenv("VIGIL_TRACKING_PROVIDERS", "tagging = tagging_provider:TaggingProvider, "
                                                   "default=tagging_provider:TaggingProvider")
    om.reload()
    assert known_providers()["tagging"] == "tagging_provider:TaggingProvider"
    assert provider_class("default") is DefaultProvider  # built-ins cannot be replaced

    with om.runtime.experiment("plugged", provider="tagging", tag="env") as exp:
        assert type(exp).__name__ == "TaggingProvider" and isinstance(exp, DefaultProvider)
        exp.log_metric("acc", 0.5)
        exp.log_artifact(pd.DataFrame({"x": [1, 2]}), "frame")
    frame = exp.data()
    assert list(frame.columns) == [*BASE_COLUMNS, "source"]
    assert frame["source"].tolist() == ["env", "env"]
    assert exp.restore_artifact("frame")["x"].tolist() == [1, 2]
    assert exp.status() == "STOPPED"
    # it wrote to the workspace's stores: the default provider reads the same events
    assert om.runtime.experiment("plugged").data(run="all", source="env")["key"].tolist() == ["acc", "frame"]
    assert (vigil_home / "vigil.db").exists()


@pytest.mark.parametrize("spec, match", [
    ("nonsense", "name=module:Class"),
    ("x=module_without_class", "name=module:Class"),
    ("=mod:Cls", "name=module:Class"),
    ("missing=vigil_no_such_module:Provider", "cannot load"),
    ("attr=vigil.tracking.provider:NoSuchClass", "cannot load"),
    ("notaprovider=collections:OrderedDict", "not a TrackingProvider subclass"),
])
def test_bad_plugin_configuration_is_a_config_error(vigil_home, monkeypatch, spec, match):
    monkeypatch.setenv("VIGIL_TRACKING_PROVIDERS", spec)
    om.reload()
    name = spec.split("=")[0] if "=" in spec and spec[0] != "=" else "default"
    with pytest.raises(ConfigError, match=match):
        if name == "default":
            known_providers()
        else:
            om.runtime.experiment("x", provider=name)


def test_plugin_through_an_entry_point_works_end_to_end(vigil_home, memory_plugin):
    assert known_providers()["memory"] == "myplugin:MemoryProvider"
    X, Y = np.arange(6.0).reshape(3, 2), np.array([0, 1, 0], dtype=np.int8)

    with om.runtime.experiment("x", provider="memory") as exp:
        assert type(exp).__name__ == "MemoryProvider"
        exp.log_metric("accuracy", 0.5)
        exp.log_metric("accuracy", 0.75, step=2)
        exp.log_param("batchsize", 1)
        exp.log_data("data", {"X": X, "Y": Y})
        exp.log_artifact({"threshold": 0.5}, "config")
        exp.log_artifact(b"\x80pickled?", "blob")
    with pytest.raises(KeyError):
        with exp:
            exp.log_metric("accuracy", 0.1, fold=1)
            raise KeyError("boom")

    assert exp.runs()["status"].tolist() == ["STOPPED", "FAILED"]
    frame = exp.data(run="all")
    assert list(frame.columns) == [*BASE_COLUMNS, "fold"]
    assert frame["run"].tolist() == [1] * 6 + [2, 2]
    assert exp.data(run=1, key="accuracy")["value"].tolist() == [0.5, 0.75]
    assert exp.data(run="all", step=2)["value"].tolist() == [0.75]
    assert exp.data(run="all", fold=1)["value"].tolist() == [0.1]
    assert exp.data(event="exception", raw=True)[0]["value"]["type"] == "builtins.KeyError"
    assert exp.data(event="predict").empty
    assert [len(b) for b in exp.data(run="all", batchsize=3)] == [3, 3, 2]
    assert [c["data"] for c in exp.data(run="all", lazy=True)] == exp.data(run="all", raw=True)
    restored = exp.restore_data("data")
    assert restored["Y"].dtype == np.int8 and np.array_equal(restored["X"], X)
    assert exp.restore_artifact("config") == {"threshold": 0.5}
    assert exp.restore_artifact("blob") == b"\x80pickled?"

    # a new object of the same provider sees the same experiment
    again = om.runtime.experiment("x", provider="memory")
    assert again.latest_run == 2 and len(again.data()) == 8

    exp.clear(force=True)
    assert exp.data(run="all").empty and again.latest_run == 0
    assert not vigil_home.exists(), "the memory provider must not touch the default stores"


class Opaque:
    """Only pickle can store it."""


def test_entry_point_provider_validates_like_every_provider(vigil_home, memory_plugin):
    with om.runtime.experiment("v", provider="memory") as exp:
        for bad in (lambda: exp.log_metric("m", "high"), lambda: exp.log_param(3, 1),
                    lambda: exp.log_artifact(b"x", "../escape"), lambda: exp.data(run="abc"),
                    lambda: exp.log_artifact(Opaque(), "opaque")):
            with pytest.raises(InvalidInput):
                bad()
        exp.log_artifact(Opaque(), "opaque", allow_pickle=True)
        with pytest.raises(UnsafeSerialization):
            exp.restore_artifact("opaque")
        assert exp.data(run="all", event="metric").empty
    with pytest.raises(NotFound):
        exp.restore_artifact("nothing")
