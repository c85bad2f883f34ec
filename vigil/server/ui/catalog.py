"""What the dashboard shows, read from one workspace's stores (never written, but for "run job now").

Every method returns plain JSON-able values (dicts, lists, floats with NaN
and infinities as ``None``), so the same answer feeds an HTML page and the
JSON API. Heavy work happens in the store: run summaries and downsampled
metric curves are SQL aggregates (:meth:`vigil.store.sql.SqlEventStore.metric_summary`,
``metric_series``), so an experiment with a million events costs a grouped
scan, not a million Python rows. Stored bytes are never deserialized here:
artifacts are offered as downloads, drift snapshots are read as vigil's own
profile format.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import Any

from vigil.drift.alerts import jsonable as clean
from vigil.errors import InvalidInput, NotFound, describe
from vigil.store.base import EventQuery
from vigil.store.names import check_name

MONITOR_PREFIX = "monitors/"
AGENT_PREFIX = "agents/"
JOB_PREFIX = "jobs/"
MAX_EVENTS_PAGE = 1000


def _loads(text: Any) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def _object_ref(text: Any) -> dict[str, Any]:
    """The ``{"key", "format", "size"}`` of a stored object from an artifact event's value."""
    value = _loads(text)
    if isinstance(value, dict) and isinstance(value.get("$ref"), dict):
        return value["$ref"]
    return {}


def parse_runs(text: Any, who: str = "runs") -> list[int] | None:
    """``'1,2'`` -> ``[1, 2]``; empty or None -> None (all runs).

    Examples
    --------
    >>> parse_runs('3, 1'), parse_runs(''), parse_runs(None)
    ([3, 1], None, None)
    >>> parse_runs('a')
    Traceback (most recent call last):
    ...
    vigil.errors.InvalidInput: runs must be run numbers separated by commas, like '1,2'; got 'a'
    """
    if text is None or not str(text).strip():
        return None
    try:
        runs = [int(p) for p in str(text).split(",") if p.strip()]
    except ValueError:
        raise InvalidInput(f"{who} must be run numbers separated by commas, like '1,2'; got {text!r}") from None
    if any(r < 1 or r > 2**31 - 1 for r in runs):
        raise InvalidInput(f"{who} must be run numbers >= 1; got {text!r}")
    return runs


class Catalog:
    """Read model of a workspace for the dashboard.

    Parameters
    ----------
    stores : vigil.store.Stores
        The collector's stores (events, objects, writer).
    """

    def __init__(self, stores: Any) -> None:
        self.stores = stores

    # -- experiments ---------------------------------------------------------------------------
    def _record(self, name: str) -> Any:
        check_name(name, "dashboard", "experiment")
        record = self.stores.events.find_experiment(name)
        if record is None:
            raise NotFound(f"no experiment {name!r}")
        return record

    def _experiment(self, name: str) -> Any:
        from vigil.tracking.provider import DefaultProvider

        return DefaultProvider(name, self.stores)

    def experiments(self, query: str = "") -> list[dict[str, Any]]:
        """Every experiment: name, run count, last activity, status of its latest run, kind."""
        self.stores.flush()
        events = self.stores.events
        out = []
        q = (query or "").strip().lower()
        for e in events.list_experiments():
            if q and q not in e["name"].lower():
                continue
            status = None
            if e["runs"]:
                record = events.find_experiment(e["name"])
                run = events.find_run(record.id, e["runs"]) if record is not None else None
                status = run.status if run is not None else None
            out.append({"name": e["name"], "runs": e["runs"], "created": e["created"],
                        "last_activity": e["last_activity"], "status": status, "kind": _kind(e["name"])})
        return out

    def runs(self, name: str) -> dict[str, Any]:
        """Runs of an experiment with status, times, params and last/min/max/count of every metric."""
        record = self._record(name)
        self.stores.flush()
        events = self.stores.events
        runs = {r.run: {"run": r.run, "status": r.status, "started": r.started, "ended": r.ended,
                        "duration_s": (r.ended - r.started) if r.ended else None, "node": r.node,
                        "userid": r.userid, "params": {}, "metrics": {}}
                for r in events.list_runs(record.id)}
        metric_keys: set[str] = set()
        for run, key, n, lo, hi, last in events.metric_summary(record.id):
            if run in runs:
                runs[run]["metrics"][key] = clean({"last": last, "min": lo, "max": hi, "count": n})
                metric_keys.add(key)
        params = events.query(EventQuery(record.id, events=("param",)))
        param_keys: set[str] = set()
        for run, key, value in zip(params.column("run").to_pylist(), params.column("key").to_pylist(),
                                   params.column("value_json").to_pylist()):
            if run in runs:
                runs[run]["params"][key] = clean(_loads(value))
                param_keys.add(key)
        return {"experiment": name, "runs": [clean(runs[k]) for k in sorted(runs)],
                "param_keys": sorted(param_keys), "metric_keys": sorted(metric_keys)}

    def events(self, name: str, run: list[int] | None = None, event: str | None = None, key: str | None = None,
               since: float | None = None, after_id: int = 0, limit: int = 200) -> dict[str, Any]:
        """A page of an experiment's events with the filters of ``exp.data()``; ``next_after`` pages on."""
        record = self._record(name)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_EVENTS_PAGE:
            raise InvalidInput(f"limit must be an int in 1..{MAX_EVENTS_PAGE}; got {describe(limit)}")
        self.stores.flush()
        q = EventQuery(record.id, runs=tuple(run) if run else None, events=(event,) if event else None,
                       keys=(key,) if key else None, since=since, after_id=after_id, limit=limit + 1)
        table = self.stores.events.query(q)
        rows = table.slice(0, limit).to_pylist()
        out = []
        for r in rows:
            value = r["value_num"] if r["value_json"] is None else _loads(r["value_json"])
            out.append(clean({"id": r["id"], "run": r["run"], "event": r["event"], "key": r["key"],
                              "value": value, "step": r["step"], "dt": r["dt"], "node": r["node"],
                              "userid": r["userid"], "extra": _loads(r["extra"])}))
        more = table.num_rows > limit
        return {"experiment": name, "events": out, "next_after": out[-1]["id"] if more and out else None}

    def metric_series(self, name: str, key: str, runs: list[int] | None = None, points: int = 1000) -> dict[str, Any]:
        """A metric's curve per run, downsampled in the store to at most ``points`` buckets per run."""
        record = self._record(name)
        if isinstance(points, bool) or not isinstance(points, int) or not 10 <= points <= 10_000:
            raise InvalidInput(f"points must be an int in 10..10000; got {describe(points)}")
        self.stores.flush()
        first = self.stores.events.query(EventQuery(record.id, events=("metric",), keys=(key,), limit=1))
        axis = "step" if first.num_rows and first.column("step")[0].as_py() is not None else "time"
        series: dict[int, dict[str, list]] = {}
        for run, x, mean, lo, hi, n in self.stores.events.metric_series(record.id, key, runs, points):
            s = series.setdefault(int(run), {"x": [], "mean": [], "min": [], "max": [], "count": []})
            for field, value in (("x", x), ("mean", mean), ("min", lo), ("max", hi), ("count", n)):
                s[field].append(value)
        return clean({"experiment": name, "key": key, "points": points, "x_axis": axis,
                      "runs": [{"run": run, "downsampled": any(c > 1 for c in s["count"]), **s}
                               for run, s in sorted(series.items())]})

    def artifacts(self, name: str) -> list[dict[str, Any]]:
        """Artifacts of an experiment: id (for download), run, name, format, size, time."""
        record = self._record(name)
        self.stores.flush()
        table = self.stores.events.query(EventQuery(record.id, events=("artifact",)))
        out = []
        for r in table.to_pylist():
            ref = _object_ref(r["value_json"])
            out.append(clean({"id": r["id"], "run": r["run"], "name": r["key"], "dt": r["dt"],
                              "format": ref.get("format"), "bytes": ref.get("size") or ref.get("bytes")}))
        return out

    def artifact_bytes(self, name: str, event_id: int) -> tuple[str, bytes]:
        """The stored bytes of artifact event ``event_id`` (as stored: never deserialized) and a file name."""
        record = self._record(name)
        table = self.stores.events.query(EventQuery(record.id, events=("artifact",), after_id=event_id - 1, limit=1))
        rows = table.to_pylist()
        if not rows or rows[0]["id"] != event_id:
            raise NotFound(f"experiment {name!r} has no artifact with id {event_id}")
        ref = _object_ref(rows[0]["value_json"])
        key = ref.get("key")
        if not isinstance(key, str):
            raise NotFound(f"artifact {event_id} of {name!r} has no stored object")
        fmt = ref.get("format") or "bin"
        base = rows[0]["key"].replace("/", "_")
        return f"{base}-run{rows[0]['run']}.{fmt}", self.stores.objects.get(key)

    # -- drift -------------------------------------------------------------------------------------
    def _monitor(self, name: str) -> Any:
        parts = name.split("/")
        if len(parts) < 3 or parts[0] != "monitors" or parts[1] not in ("data", "model"):
            raise NotFound(f"no drift monitor {name!r}: monitors live in experiments 'monitors/<data|model>/<name>'")
        self._record(name)
        if parts[1] == "model":
            from vigil.drift.model import ModelDriftMonitor

            return ModelDriftMonitor("/".join(parts[2:]), experiment=self._experiment(name))
        from vigil.drift.monitor import DataDriftMonitor

        return DataDriftMonitor("/".join(parts[2:]), experiment=self._experiment(name))

    def monitors(self) -> list[dict[str, Any]]:
        """Drift monitors: snapshot count, last snapshot time, last captured verdict."""
        out = []
        for e in self.experiments():
            if e["kind"] != "monitor":
                continue
            record = self.stores.events.find_experiment(e["name"])
            snaps = self.stores.events.count(EventQuery(record.id, events=("artifact",)))
            drift = self.stores.events.query(EventQuery(record.id, events=("drift",))).to_pylist()
            last = _loads(drift[-1]["value_json"]) if drift else None
            out.append({"name": e["name"], "kind": e["name"].split("/")[1], "snapshots": snaps,
                        "last_activity": e["last_activity"],
                        "last_verdict": None if not isinstance(last, dict) else bool(last.get("drift")),
                        "captures": len(drift)})
        return out

    def monitor(self, name: str, i: int | None = None, j: int | None = None) -> dict[str, Any]:
        """Snapshot timeline, and the comparison of snapshots ``i`` and ``j`` (default: baseline vs latest)."""
        mon = self._monitor(name)
        snaps = mon.snapshots()
        timeline = [clean({"seq": int(r.seq) if r.seq == r.seq else k, "dt": r.dt, "rows": r.rows,
                           "label": r.label, "run": r.run}) for k, r in enumerate(snaps.itertuples())]
        captures = [clean({"dt": r["dt"], "drift": (r["value"] or {}).get("drift"),
                           "p_value": (r["value"] or {}).get("p_value"),
                           "drifted_columns": (r["value"] or {}).get("drifted_columns")})
                    for r in mon.experiment.data(run="all", event="drift", raw=True)]
        out: dict[str, Any] = {"name": name, "snapshots": timeline, "captures": captures, "result": None}
        if len(timeline) >= 2:
            i, j = self._pair(len(timeline), i, j)
            result = mon.compare([i, j])
            cols = result.columns.to_dict("records")
            out["pair"] = [i, j]
            out["result"] = clean({**result.to_dict(), "columns": cols})
        return out

    @staticmethod
    def _pair(total: int, i: int | None, j: int | None) -> tuple[int, int]:
        i = 0 if i is None else i
        j = total - 1 if j is None else j
        for arg, v in (("i", i), ("j", j)):
            if not 0 <= v < total:
                raise InvalidInput(f"{arg} must index a snapshot 0..{total - 1}; got {v}")
        return i, j

    def distribution(self, name: str, column: str, i: int | None = None, j: int | None = None) -> dict[str, Any]:
        """Shares per bin/category of ``column`` in snapshots ``i`` and ``j`` (for an overlay chart)."""
        from vigil.drift.report import _shares

        mon = self._monitor(name)
        total = len(mon.snapshots())
        if total < 2:
            raise NotFound(f"monitor {name!r} has {total} snapshot(s); a distribution overlay needs two")
        i, j = self._pair(total, i, j)
        a, b = mon.load(i), mon.load(j)
        if column not in a.columns or column not in b.columns:
            raise NotFound(f"column {column!r} is not in both snapshots of {name!r}")
        labels, pa = _shares(a[column])
        _, pb = _shares(b[column])
        return clean({"name": name, "column": column, "kind": a[column].kind, "labels": labels,
                      "baseline": pa.tolist(), "current": pb.tolist(), "pair": [i, j]})

    def monitor_report(self, name: str, i: int | None = None, j: int | None = None) -> str:
        """The standalone HTML report of ``mon.report()`` for snapshots ``i`` and ``j``."""
        mon = self._monitor(name)
        i, j = self._pair(len(mon.snapshots()), i, j)
        return str(mon.report("html", seq=[i, j]))

    # -- agents -------------------------------------------------------------------------------------
    def agent_series(self, experiment: str, last_window_event_id: int | None = None) -> list[dict[str, Any]]:
        """The series (metric, stat, class, feature, category) in an agent's latest window, in its order.

        With ``last_window_event_id`` (the collector knows it) one event is read; without it, every
        window event of the agent.
        """
        record = self._record(experiment)
        after = max(0, last_window_event_id - 1) if last_window_event_id else 0
        table = self.stores.events.query(EventQuery(record.id, events=("window",), after_id=after))
        if not table.num_rows:
            return []
        value = _loads(table.column("value_json")[table.num_rows - 1].as_py())
        out, seen = [], set()
        for p in (value or {}).get("points") or ():
            key = tuple(p.get(k) for k in ("metric", "stat", "class", "feature", "category"))
            if key not in seen:
                seen.add(key)
                out.append(dict(zip(("metric", "stat", "class", "feature", "category"), key)))
        return out

    # -- stored objects and jobs ------------------------------------------------------------------
    def models(self) -> list[dict[str, Any]]:
        from vigil.store.models import KIND

        return [clean(_brief(m)) for m in self.stores.events.list_meta(KIND)]

    def datasets(self) -> list[dict[str, Any]]:
        from vigil.store.datasets import KIND

        return [clean(_brief(m)) for m in self.stores.events.list_meta(KIND)]

    def jobs(self) -> list[dict[str, Any]]:
        from vigil.runtime.jobs import KIND

        out = []
        for m in self.stores.events.list_meta(KIND):
            last = self.job_runs(m["name"], limit=1)
            out.append(clean({**_brief(m), "schedule": m.get("schedule"), "last_run": last[0] if last else None}))
        return out

    def job_runs(self, name: str, limit: int = 50) -> list[dict[str, Any]]:
        """The latest runs of job ``name``, newest first."""
        record = self.stores.events.find_experiment(JOB_PREFIX + name)
        if record is None:
            return []
        self.stores.flush()
        from vigil.runtime.jobs import job_runs

        rows = self.stores.events.query(EventQuery(record.id, events=("job_started", "job_run"))).to_pylist()
        runs = job_runs((r["run"], r["event"], _loads(r["value_json"])) for r in rows)
        return [clean({"run": run["run"], **{k: run.get(k) for k in (
            "status", "started", "ended", "duration_s", "returncode", "error", "stdout", "stderr")}})
            for run in runs[::-1][:limit]]

    def run_job(self, name: str) -> dict[str, Any]:
        """Run job ``name`` now (a subprocess, as ``vigil jobs run``); its run record."""
        from vigil.runtime.jobs import Jobs

        check_name(name, "dashboard", "job")
        jobs = Jobs(self.stores)
        if name not in jobs.list():
            raise NotFound(f"no job {name!r}")
        return clean(jobs.run(name))

    # -- alerts ------------------------------------------------------------------------------------
    def alerts(self, limit: int = 200) -> list[dict[str, Any]]:
        """The latest ``alert`` events of every experiment (drift rules, agent anomalies), newest first."""
        self.stores.flush()
        out = []
        for e in self.stores.events.list_experiments():
            record = self.stores.events.find_experiment(e["name"])
            if record is None:
                continue
            for r in self.stores.events.query(EventQuery(record.id, events=("alert",))).to_pylist():
                value = _loads(r["value_json"])
                if not isinstance(value, dict):
                    continue
                deliveries = value.get("deliveries") or []
                out.append(clean({"experiment": e["name"], "dt": r["dt"], "name": r["key"],
                                  "severity": value.get("severity"), "summary": value.get("summary"),
                                  "source": value.get("source"),
                                  "delivery": _delivery(deliveries), "deliveries": deliveries}))
        out.sort(key=lambda a: a["dt"], reverse=True)
        return out[:limit]

    def overview(self) -> dict[str, Any]:
        exps = self.experiments()
        kinds: dict[str, int] = defaultdict(int)
        for e in exps:
            kinds[e["kind"]] += 1
        return {"experiments": kinds["experiment"], "monitors": kinds["monitor"], "agents": kinds["agent"],
                "jobs": len(self.jobs()), "models": len(self.models()), "datasets": len(self.datasets()),
                "alerts": self.alerts(limit=10),
                "recent": sorted(exps, key=lambda e: e["last_activity"] or 0, reverse=True)[:10],
                "now": time.time()}


def _kind(name: str) -> str:
    if name.startswith(MONITOR_PREFIX):
        return "monitor"
    if name.startswith(AGENT_PREFIX):
        return "agent"
    if name.startswith(JOB_PREFIX):
        return "job"
    return "experiment"


def _brief(meta: dict[str, Any]) -> dict[str, Any]:
    keep = ("name", "version", "created", "updated", "format", "info", "attributes", "schedule")
    return {k: meta[k] for k in keep if k in meta}


def _delivery(deliveries: list[Any]) -> str:
    if not deliveries:
        return "not sent"
    parts = []
    for d in deliveries:
        if isinstance(d, dict):
            parts.append(f"{d.get('channel', '?')}: {d.get('status', '?')}"
                         + (f" ({d['error']})" if d.get("error") else ""))
    return "; ".join(parts)
