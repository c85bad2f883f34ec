"""The drift benchmark's measurements, each run inside its own fresh worker process.

One adapter per tool takes the reference and current frames and returns the
seconds of each phase and the columns the tool flagged, by the tool's own
default decision rule:

* vigil: ``profile(reference)``, ``profile(current, baseline.schema)``,
  ``compare(...)`` and ``.drifted_columns``;
* Evidently: ``Report([DataDriftPreset()], include_tests=True).run(current, reference)``;
  a column is flagged when its "Value Drift" test fails (read from ``snapshot.dict()``);
* NannyML: ``UnivariateDriftCalculator(column_names).fit(reference).calculate(current)``
  with its default methods and thresholds; a column is flagged when any chunk of
  the analysis period alerts (NannyML's default chunker splits each side into 10 chunks);
* whylogs: ``why.log(df).view()`` per side, then ``calculate_drift_scores``;
  a column is flagged when its ``drift_category`` is ``DRIFT`` (``POSSIBLE_DRIFT``
  is reported beside it).

:func:`measure` imports the tool, calls it once on 2,000 rows (lazy imports
and caches warm up: that first call is reported, not hidden), builds the
frames, runs the timed call and reports the process's peak resident memory
(``ru_maxrss``: the high-water mark of this process, nothing subtracted).
"""

from __future__ import annotations

import gc
import resource
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from peers import drift_data

WARM_ROWS = 2_000


def _peak_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 1024 / 1024


def _phased(steps: list[tuple[str, Callable[[], Any]]]) -> tuple[dict[str, float], Any]:
    phases: dict[str, float] = {}
    out: Any = None
    for name, step in steps:
        start = time.perf_counter()
        out = step()
        phases[name] = time.perf_counter() - start
    return phases, out


# -- the tools -----------------------------------------------------------------------------------
def _vigil_import() -> None:
    import vigil.drift  # noqa: F401
    import vigil.profile  # noqa: F401


def _vigil(ref: Any, cur: Any) -> dict[str, Any]:
    from vigil.drift import compare
    from vigil.profile import profile

    state: dict[str, Any] = {}
    phases, flagged = _phased([
        ("profile reference", lambda: state.setdefault("base", profile(ref))),
        ("profile current", lambda: state.setdefault("cur", profile(cur, state["base"].schema))),
        ("compare", lambda: compare(state["base"], state["cur"]).drifted_columns),
    ])
    return {"phases": phases, "flagged": flagged}


def _evidently_import() -> None:
    import evidently  # noqa: F401
    from evidently import Report  # noqa: F401
    from evidently.presets import DataDriftPreset  # noqa: F401


def _evidently(ref: Any, cur: Any) -> dict[str, Any]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    state: dict[str, Any] = {}
    phases, tests = _phased([
        ("report.run", lambda: state.setdefault(
            "snap", Report([DataDriftPreset()], include_tests=True).run(current_data=cur, reference_data=ref))),
        ("read verdicts", lambda: state["snap"].dict()["tests"]),
    ])
    flagged, checked = [], []
    for test in tests:
        column = test.get("metric_config", {}).get("params", {}).get("column")
        if test.get("id") == "drift" and column is not None:
            checked.append(column)
            if test.get("status") == "FAIL":
                flagged.append(column)
    methods = sorted({t["metric_config"]["params"].get("method") for t in tests
                      if t.get("id") == "drift"} - {None})
    return {"phases": phases, "flagged": flagged, "checked": checked, "methods": methods}


def _nannyml_import() -> None:
    import nannyml  # noqa: F401


def _nannyml(ref: Any, cur: Any) -> dict[str, Any]:
    import nannyml as nml

    calc = nml.UnivariateDriftCalculator(column_names=list(ref.columns))
    state: dict[str, Any] = {}
    phases, table = _phased([
        ("fit reference", lambda: calc.fit(ref)),
        ("calculate current", lambda: state.setdefault("result", calc.calculate(cur))),
        ("read verdicts", lambda: state["result"].filter(period="analysis").to_df()),
    ])
    flagged, alerts, chunks = [], {}, int(len(table))
    for column in ref.columns:
        cols = [c for c in table.columns if c[0] == column and c[-1] == "alert"]
        n = int(sum(table[c].fillna(False).astype(bool).sum() for c in cols))
        alerts[column] = n
        if n:
            flagged.append(column)
    methods = sorted({c[1] for c in table.columns if c[-1] == "alert"})
    return {"phases": phases, "flagged": flagged, "chunk_alerts": alerts, "chunks": chunks, "methods": methods}


def _whylogs_import() -> None:
    import whylogs  # noqa: F401
    from whylogs.viz.drift.column_drift_algorithms import calculate_drift_scores  # noqa: F401


def _whylogs(ref: Any, cur: Any) -> dict[str, Any]:
    import whylogs as why
    from whylogs.viz.drift.column_drift_algorithms import calculate_drift_scores

    state: dict[str, Any] = {}
    phases, scores = _phased([
        ("log reference", lambda: state.setdefault("ref", why.log(ref).view())),
        ("log current", lambda: state.setdefault("cur", why.log(cur).view())),
        ("drift scores", lambda: calculate_drift_scores(target_view=state["cur"], reference_view=state["ref"],
                                                        with_thresholds=True)),
    ])
    flagged = [c for c, s in scores.items() if s and s.get("drift_category") == "DRIFT"]
    possible = [c for c, s in scores.items() if s and s.get("drift_category") == "POSSIBLE_DRIFT"]
    methods = sorted({s.get("algorithm") for s in scores.values() if s})
    return {"phases": phases, "flagged": flagged, "possible": possible, "methods": methods}


def _nothing_import() -> None:
    import pandas  # noqa: F401


def _nothing(ref: Any, cur: Any) -> dict[str, Any]:
    return {"phases": {}, "flagged": []}


TOOLS: dict[str, tuple[str, Callable[[], None], Callable[[Any, Any], dict[str, Any]]]] = {
    # key: (distribution whose version is shown, import, run)
    "data": ("pandas", _nothing_import, _nothing),
    "vigil": ("vigil-ml", _vigil_import, _vigil),
    "evidently": ("evidently", _evidently_import, _evidently),
    "nannyml": ("nannyml", _nannyml_import, _nannyml),
    "whylogs": ("whylogs", _whylogs_import, _whylogs),
}


def measure(tool: str, rows: int) -> dict[str, Any]:
    """One repetition of one tool at one size, in this (fresh) process."""
    _, do_import, run = TOOLS[tool]
    start = time.perf_counter()
    do_import()
    out: dict[str, Any] = {"import_s": time.perf_counter() - start, "peak_after_import_mb": _peak_mb()}
    if tool != "data":
        warm_ref, warm_cur = drift_data.frames(WARM_ROWS, seed_offset=1)
        start = time.perf_counter()
        run(warm_ref, warm_cur)
        out["first_call_s"] = time.perf_counter() - start
        del warm_ref, warm_cur
    start = time.perf_counter()
    ref, cur = drift_data.frames(rows)
    out["data_s"] = time.perf_counter() - start
    out["peak_after_data_mb"] = _peak_mb()
    gc.collect()
    result = run(ref, cur)
    out.update(result)
    out["seconds"] = sum(result["phases"].values())
    out["peak_mb"] = _peak_mb()
    return out


# -- the floor and the many-column compare ---------------------------------------------------------
def histogram_floor(rows: int, reps: int) -> dict[str, Any]:
    """One ``np.histogram`` per numeric column of the current side, on fixed edges (vigil's own:
    64 quantile bins of the reference's first 262,144 rows), seconds per pass over all 20."""
    import numpy as np

    from vigil.profile.frame import CHUNK_ROWS, DEFAULT_BINS
    from vigil.profile.numeric import choose_edges

    ref, cur = drift_data.frames(rows)
    edges = {c: choose_edges(ref[c].to_numpy()[:CHUNK_ROWS], DEFAULT_BINS) for c in drift_data.NUMERIC}
    columns = [cur[c].to_numpy() for c in drift_data.NUMERIC]
    del ref
    times = []
    for _ in range(reps):
        gc.collect()
        start = time.perf_counter()
        for name, values in zip(drift_data.NUMERIC, columns):
            np.histogram(values, bins=edges[name])
        times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "reps": times, "columns": len(columns)}


def compare_many(columns: int, rows: int, reps: int) -> dict[str, Any]:
    """vigil ``compare`` (with ``.drifted_columns``) of two snapshots of ``columns`` columns
    (90% numeric, 10% categorical, ``rows`` rows each): ms per call, after one untimed first call."""
    import numpy as np
    import pandas as pd

    from vigil.drift import compare
    from vigil.profile import profile

    n_cat = max(1, columns // 10)
    n_num = columns - n_cat
    labels = np.array([f"v{j}" for j in range(8)], dtype=object)

    def side(seed: int, shift: float) -> Any:
        rng = np.random.default_rng(seed)
        data: dict[str, Any] = {f"n{i:03d}": rng.normal(shift if i < 5 else 0.0, 1.0, rows) for i in range(n_num)}
        for j in range(n_cat):
            data[f"c{j:02d}"] = labels[rng.integers(0, len(labels), rows)]
        return pd.DataFrame(data)

    base = profile(side(1, 0.0))
    target = profile(side(2, 0.3), base.schema)
    start = time.perf_counter()
    flagged = compare(base, target).drifted_columns
    first = time.perf_counter() - start
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        flagged = compare(base, target).drifted_columns
        times.append(time.perf_counter() - start)
    return {"ms": statistics.median(times) * 1000, "reps_ms": [t * 1000 for t in times], "first_call_ms": first * 1000,
            "columns": columns, "numeric": n_num, "categorical": n_cat, "rows": rows, "flagged": len(flagged)}
