"""``import vigil``: does no work, and builds the default workspace lazily
(vigil/__init__.py). Checked in fresh interpreters, where nothing ran before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import vigil
from tests.fixtures import vigil_home  # noqa: F401 - a fixture

REPO = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent("""
    import json, os, sys, threading

    HOME = os.environ["VIGIL_HOME"]
    HEAVY = ("pandas", "pyarrow", "sqlalchemy", "numpy", "fsspec", "psutil", "adbc_driver_sqlite")

    def state(step):
        files = sorted(os.path.relpath(os.path.join(d, f), HOME)
                       for d, _, fs in os.walk(HOME) for f in fs) if os.path.exists(HOME) else None
        return {"step": step, "home": files, "threads": sorted(t.name for t in threading.enumerate()),
                "heavy": sorted(m for m in HEAVY if m in sys.modules),
                "vigil": sorted(m for m in sys.modules if m.startswith("vigil"))}

    out = []
    import vigil
    out.append(state("import vigil"))
    import vigil as om
    exp = om.runtime.experiment("lazy/exp")
    out.append(state("runtime.experiment()"))
    datasets = om.datasets
    assert om.datasets is datasets and om.models is om.models and om.jobs is om.jobs
    out.append(state("datasets"))
    exp.log_metric("m", 1.0)
    out.append(state("log_metric"))
    print(json.dumps(out))
""")


def probe(home: Path, script: str = PROBE) -> list[dict]:
    env = {**os.environ, "VIGIL_HOME": str(home), "PYTHONPATH": str(REPO)}
    for name in ("VIGIL_STORE_URL", "VIGIL_ARTIFACTS_URL"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_import_does_no_work_and_the_workspace_is_lazy(tmp_path):
    home = tmp_path / "home"
    imported, experiment, datasets, logged = probe(home)

    assert imported["home"] is None, "import vigil created VIGIL_HOME"
    assert imported["threads"] == ["MainThread"], "import vigil started threads"
    assert imported["heavy"] == [], "import vigil imported heavy dependencies"
    assert imported["vigil"] == ["vigil"], "import vigil imported its subpackages"

    # opening an experiment object only stores its arguments
    assert experiment["home"] is None and experiment["threads"] == ["MainThread"]

    # the first use of a workspace part opens the stores
    assert "vigil.db" in datasets["home"]
    assert datasets["threads"] == ["MainThread"]

    # the write-behind thread starts with the first event
    assert logged["threads"] == ["MainThread", "vigil-writer"]


@pytest.mark.slow
def test_importing_any_module_has_no_side_effects(tmp_path):
    script = textwrap.dedent("""
        import importlib, json, os, pkgutil, threading
        import vigil

        refused = {}
        for info in pkgutil.walk_packages(vigil.__path__, "vigil."):
            if info.name.endswith("__main__"):
                continue
            try:
                importlib.import_module(info.name)
            except ImportError as exc:  # an optional extra that is not installed
                refused[info.name] = str(exc)
        print(json.dumps([{"home": os.path.exists(os.environ["VIGIL_HOME"]),
                           "threads": [t.name for t in threading.enumerate()], "refused": refused}]))
    """)
    [state] = probe(tmp_path / "home", script)
    assert state["home"] is False, "importing a vigil module created VIGIL_HOME"
    assert state["threads"] == ["MainThread"], f"importing a vigil module started threads: {state['threads']}"


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="nope"):
        vigil.nope  # noqa: B018
    assert isinstance(vigil.__version__, str)


def test_reload_rebinds_the_workspace_to_a_new_home(vigil_home, tmp_path, monkeypatch):  # noqa: F811
    import pandas as pd

    first = vigil.datasets
    assert vigil.datasets is first
    first.put(pd.DataFrame({"x": [1]}), "where")
    assert (vigil_home / "vigil.db").exists()

    other = tmp_path / "other-home"
    monkeypatch.setenv("VIGIL_HOME", str(other))
    assert vigil.datasets is first  # the environment is read once...
    vigil.reload()  # ...until reload
    assert vigil.datasets is not first
    assert vigil.datasets.list() == []
    assert (other / "vigil.db").exists()
