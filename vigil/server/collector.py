"""The collector: validate, deduplicate and store windows; feed exports, gauges and alerts.

Write path of ``POST /api/v1/windows`` (:meth:`Collector.ingest`):

1. validate the body (:func:`~vigil.server.schemas.parse_window`: the rules
   of :class:`~vigil.server.schemas.Window`, straight into dicts, then the
   cross-field rules); 422 if bad;
2. under the agent's lock: a window id seen by this process is a duplicate;
   otherwise, unless the window starts after every window the store held
   when this process opened the agent (its *horizon*: no lookup needed),
   the store is checked for a ``window`` event with this id (a duplicate:
   nothing is written); a new window is logged into experiment
   ``agents/<agent_id>`` by :func:`vigil.agent.storage.window_to_events` as
   two rows (its sample, its window event with the points) captured as one
   unit of the :class:`~vigil.server.writer.UnitWriter`;
3. wait until that unit is committed (group commit with other windows: a
   commit waits up to ``commit_linger_s``, 5 ms, for more), then
   acknowledge: 201 ``{"stored": true}``. A duplicate is acknowledged with 200
   ``{"stored": false}`` once the first copy is committed.

**An ack means the window is committed in the event store** (SQLite WAL or
PostgreSQL; its sample objects were written before), so it survives a crash
of the server (``kill -9``) right after the answer. Exactly once: a window is
committed whole or not at all, and its id is checked under a per-agent lock
against this process's memory and the store; so a retried or concurrent copy
is never stored twice, also across restarts. This holds with one collector
per store (and no server-less agent writing the same agent id); two
collectors sharing a store could both store a window posted to each at the
same instant.

After the commit, a thread writes the JSON Lines export, updates the
Prometheus gauges and runs the anomaly watch; alerts are delivered by another
thread (logged as ``alert`` events in the agent's experiment). These are
derived outputs: a crash can lose the last fraction of a second of them,
never a stored window.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from vigil.config import Settings
from vigil.config import settings as current_settings
from vigil.errors import InvalidInput, StoreError, VigilError
from vigil.server.config import ServerConfig
from vigil.server.schemas import parse_window, window_problems
from vigil.server.writer import Unit, UnitWriter
from vigil.store.base import EventQuery

log = logging.getLogger("vigil.server")

AGENT_PREFIX = "agents/"


class BadWindow(InvalidInput):
    """The body is not a valid window; ``errors`` lists the problems with their location."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        first = errors[0] if errors else {"loc": [], "msg": "invalid window"}
        super().__init__(f"invalid window: {'.'.join(map(str, first['loc']))}: {first['msg']}")
        self.errors = errors


class Unavailable(VigilError):
    """The window cannot be stored right now (overloaded, store down): retry later (503)."""

    retry_after_s = 1


@dataclass
class _Agent:
    """An agent's experiment and what this process knows of its window ids.

    ``recent`` holds every id this process stored or found stored (until
    evicted). ``horizon_ms``: a window starting after it cannot be in the store
    unless it is in ``recent`` (it is the latest start among the windows stored
    before this process opened the agent, and among the ids evicted from
    ``recent``), so it needs no store lookup. Infinite until the store has been
    scanned.
    """

    agent_id: str
    exp: Any
    lock: threading.Lock
    recent: OrderedDict[str, Unit | None]
    horizon_ms: float = math.inf
    evicted_ms: float = -math.inf


@dataclass
class _Index:
    """What the store says about an agent's windows, read incrementally by event id."""

    last_id: int = 0
    windows: int = 0
    last_end: float | None = None


def _start_ms(window_id: str) -> float:
    """The start (epoch ms) in a window id ``agent_id:start_ms``; +inf if it has none (look such windows up)."""
    try:
        return float(int(window_id.rsplit(":", 1)[1]))
    except (IndexError, ValueError):
        return math.inf


class Collector:
    """Owns the collector's stores and threads; the HTTP layer calls its methods.

    Parameters
    ----------
    config : ServerConfig
    settings : Settings, optional
        Workspace settings (default: the process's ``VIGIL_*`` settings).
    """

    RECENT_IDS_PER_AGENT = 100_000

    def __init__(self, config: ServerConfig | None = None, settings: Settings | None = None) -> None:
        self.config = config or ServerConfig()
        self.settings = settings
        self.stores: Any = None
        self.writer: UnitWriter | None = None
        self.jsonl: Any = None
        self.gauges: Any = None
        self.watch: Any = None
        self.notifier: Any = None
        self.executor: ThreadPoolExecutor | None = None
        self._agents: dict[str, _Agent] = {}
        self._agents_lock = threading.Lock()
        self._index: dict[str, _Index] = {}
        self._index_lock = threading.Lock()
        self._post: queue.Queue[list[Mapping[str, Any]] | None] = queue.Queue(maxsize=1000)
        self._alerts: queue.Queue[tuple[str, Any] | None] = queue.Queue(maxsize=10_000)
        self._threads: list[threading.Thread] = []
        self.alerts_dropped = 0
        self.started_at: float | None = None
        self._closing = False

    # -- lifecycle ---------------------------------------------------------------------------
    def open(self) -> Collector:
        from vigil.drift.alerts import Notifier
        from vigil.export.jsonl import RotatingJsonlWriter
        from vigil.server.prometheus import LatestWindowGauges
        from vigil.server.watch import AnomalyWatch
        from vigil.store.registry import Stores, open_event_store, open_object_store

        cfg = self.config
        settings = self.settings or current_settings()
        events = open_event_store(settings.store_url)
        objects = open_object_store(settings.artifacts_url, dict(settings.artifacts_options))
        # two rows per window (its sample and its window event): at most ~20,000 windows wait in memory
        self.writer = UnitWriter(events.append, on_commit=self._after_commit, linger_s=cfg.commit_linger_s,
                                 max_pending_rows=40_000)
        self.stores = Stores(settings, events, objects, self.writer)  # type: ignore[arg-type]
        if cfg.jsonl:
            folder = cfg.jsonl_dir or settings.home / "exports" / "jsonl"
            self.jsonl = RotatingJsonlWriter(folder, rotate_s=cfg.jsonl_rotate_s, max_bytes=cfg.jsonl_max_bytes)
        self.gauges = LatestWindowGauges(cfg.prometheus_max_series)
        if cfg.anomaly:
            self.watch = AnomalyWatch()
        self.notifier = Notifier(list(cfg.alert_channels), cooldown_s=cfg.alert_cooldown_s)
        self.executor = ThreadPoolExecutor(cfg.ingest_threads, thread_name_prefix="vigil-ingest")
        self.writer.start()
        for name, target in (("vigil-collector-post", self._post_loop), ("vigil-collector-alerts", self._alert_loop)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self.started_at = time.time()
        return self

    def close(self) -> None:
        """Commit every accepted window, finish exports and alerts, end the agents' runs."""
        writer = self.writer
        if writer is None:
            return
        self._closing = True            # new windows get 503 from here on
        if self.executor is not None:
            self.executor.shutdown(wait=True)
        try:
            writer.flush(timeout_s=120)  # every accepted window is committed ...
        except StoreError as exc:        # unacknowledged windows: their agents send them again
            log.error("vigil: the store did not commit %d waiting rows: %s", writer.pending, exc)
        self._post.put(None)            # ... exported and scored ...
        self._threads[0].join(timeout=60)
        self._alerts.put(None)          # ... and its alerts delivered and logged
        self._threads[1].join(timeout=120)
        for agent in list(self._agents.values()):
            try:
                agent.exp.stop()
            except VigilError as exc:
                log.error("vigil: could not end the run of agent %s: %s", agent.agent_id, exc)
        try:
            writer.close()
        except StoreError as exc:
            log.error("vigil: %d rows of unacknowledged windows not committed: %s", writer.pending, exc)
        if self.jsonl is not None:
            self.jsonl.close()
        self.stores.events.close()
        self.writer = None
        log.info("vigil collector stopped: every accepted window is committed (%d windows in %d commits)",
                 writer.units_committed, writer.commits)

    def __enter__(self) -> Collector:
        return self.open()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- write path --------------------------------------------------------------------------
    def parse(self, body: bytes) -> dict[str, Any]:
        """The window in ``body`` as a wire-format dict; raises :class:`BadWindow`.

        The field rules of :class:`~vigil.server.schemas.Window` (checked by
        :func:`~vigil.server.schemas.parse_window` straight into dicts), then the
        cross-field rules; together they imply :func:`vigil.agent.wire.problems`
        (tested), which is therefore not run again here.
        """
        try:
            window = parse_window(body)
        except ValidationError as exc:
            raise BadWindow([{"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                             for e in exc.errors(include_url=False, include_input=False)]) from None
        errors = window_problems(window)
        if errors:
            raise BadWindow(errors)
        return window

    def ingest(self, body: bytes) -> tuple[bool, str]:
        """Store the window in ``body``: ``(True, id)`` if stored now, ``(False, id)`` for a duplicate.

        Returns only when the window is committed. Raises :class:`BadWindow`
        or :class:`Unavailable`.
        """
        stored, wid, unit = self.accept(body)
        if unit is not None and not unit.wait(self.config.commit_timeout_s):
            raise self.not_committed(wid)
        return stored, wid

    def not_committed(self, window_id: str) -> Unavailable:
        error = self.writer.last_error if self.writer is not None else None
        return Unavailable(f"the store did not commit window {window_id!r} within {self.config.commit_timeout_s:g}s"
                           + (f" ({error})" if error else "") + "; retry")

    def accept(self, body: bytes) -> tuple[bool, str, Unit | None]:
        """Validate, deduplicate and queue the window in ``body`` for the next commit.

        Returns ``(stored, window_id, unit)``: acknowledge once ``unit`` (if not
        None) is committed. Raises :class:`BadWindow` or :class:`Unavailable`.
        """
        return self.admit(self.parse(body))

    def admits_without_io(self, window: Mapping[str, Any]) -> bool:
        """Would :meth:`admit` take ``window`` without touching the store?

        True for the usual window: of an agent this process has opened, starting
        past its horizon (so no duplicate lookup), with a sample that is kept in
        its event (no object write). The HTTP layer then admits it on its own
        thread instead of handing it to an ingest thread: no thread hop, no GIL
        hand-over, which is most of the cost of a small window.
        """
        from vigil.agent.storage import sample_kept_in_event

        agent = self._agents.get(window["agent_id"])
        return agent is not None and round(window["start"] * 1000) > agent.horizon_ms \
            and sample_kept_in_event(window.get("sample"))

    def admit(self, window: dict[str, Any]) -> tuple[bool, str, Unit | None]:
        """Deduplicate and queue a window that :meth:`parse` returned (see :meth:`accept`)."""
        writer = self.writer
        if writer is None or self._closing:
            raise Unavailable("the collector is shutting down")
        if writer.overloaded:
            raise Unavailable(f"the collector has {writer.pending} event rows waiting for the store; retry")
        wid = window["window_id"]
        try:
            agent = self._agent(window["agent_id"])
        except StoreError as exc:
            raise Unavailable(f"cannot open the experiment of agent {window['agent_id']!r}: {exc}; retry") from None
        with agent.lock:
            if wid in agent.recent:  # seen by this process: committed, or being committed
                unit = agent.recent[wid]
                stored = False
            else:
                from vigil.agent.storage import window_to_events

                # a window past the horizon is not in the store: no lookup needed
                check = round(window["start"] * 1000) <= agent.horizon_ms
                # what the exports and the anomaly watch need after the commit: not the sample
                after = {k: v for k, v in window.items() if k != "sample"}
                with writer.capture(payload=after) as unit:
                    try:
                        # False (and nothing written) when the store already has the window
                        stored = window_to_events(agent.exp, window, check_stored=check)
                    except InvalidInput as exc:
                        raise BadWindow([{"loc": ["body"], "msg": str(exc), "type": "value_error"}]) from None
                    except StoreError as exc:
                        raise Unavailable(f"the store failed on window {wid!r}: {exc}; retry") from None
                if stored:
                    writer.submit(unit)
                    agent.recent[wid] = unit
                else:
                    agent.recent[wid] = unit = None
            self._forget_old(agent)
        if not stored and self.gauges is not None:
            self.gauges.count_duplicate(agent.agent_id)
        return stored, wid, unit

    def _agent(self, agent_id: str) -> _Agent:
        agent = self._agents.get(agent_id)
        if agent is not None:
            return agent
        with self._agents_lock:
            agent = self._agents.get(agent_id)
            if agent is None:
                from vigil.runtime import Runtime

                exp = Runtime(self.stores).experiment(AGENT_PREFIX + agent_id)
                exp.start()
                agent = self._agents[agent_id] = _Agent(agent_id, exp, threading.Lock(), OrderedDict())
                thread = threading.Thread(target=self._scan, args=(agent,), name=f"vigil-scan-{agent_id}",
                                          daemon=True)
                thread.start()
        return agent

    def _scan(self, agent: _Agent, page: int = 500) -> None:
        """Read the starts of the agent's stored windows, then set its horizon (see :class:`_Agent`)."""
        try:
            record = self.stores.events.find_experiment(AGENT_PREFIX + agent.agent_id)
            latest = -math.inf
            after = 0
            while record is not None:
                if self._closing:
                    return
                table = self.stores.events.query(EventQuery(record.id, events=("window",), after_id=after,
                                                            limit=page))
                for key in table.column("key").to_pylist():
                    latest = max(latest, _start_ms(key))
                if table.num_rows < page:
                    break
                after = table.column("id")[-1].as_py()
        except Exception as exc:  # noqa: BLE001 - without the scan every window is looked up: slower, still right
            log.warning("vigil: cannot scan the windows of agent %s (%s); each window is looked up in the store",
                        agent.agent_id, exc)
            return
        with agent.lock:
            agent.horizon_ms = max(latest, agent.evicted_ms)

    def _forget_old(self, agent: _Agent) -> None:
        recent = agent.recent
        while len(recent) > self.RECENT_IDS_PER_AGENT:
            oldest_id, oldest = next(iter(recent.items()))
            if oldest is not None and not oldest.committed:
                break  # never forget a window still being committed
            recent.popitem(last=False)
            start = _start_ms(oldest_id)
            agent.evicted_ms = max(agent.evicted_ms, start)
            agent.horizon_ms = max(agent.horizon_ms, start)

    # -- after the commit --------------------------------------------------------------------
    def _after_commit(self, units: list[Unit]) -> None:
        windows = [u.payload for u in units if u.payload is not None]
        if windows:
            self._post.put(windows)  # blocks when the post thread lags: back-pressure on commits

    def _post_loop(self) -> None:
        from vigil.export.jsonl import encode_window

        while True:
            windows = self._post.get()
            if windows is None:
                return
            try:
                if self.jsonl is not None:
                    self.jsonl.write_encoded(b"".join(map(encode_window, windows)),
                                             sum(len(w["points"]) for w in windows))
                for w in windows:
                    self.gauges.update(w)
                    if self.watch is not None:
                        if not self.watch.knows(w["agent_id"]):
                            self._warm(w)
                        for alert in self.watch.observe(w):
                            try:
                                self._alerts.put_nowait((w["agent_id"], alert))
                            except queue.Full:
                                self.alerts_dropped += 1
                                log.error("vigil: alert queue full; dropped alert %s", alert.summary)
            except Exception:  # noqa: BLE001 - exports must not stop: log and go on
                log.exception("vigil: exporting %d windows failed", len(windows))

    def _warm(self, window: Mapping[str, Any]) -> None:
        """Warm the anomaly detectors of the agent of ``window`` (its first since this process started)
        with its latest stored windows before it: a restart does not blind them."""
        agent_id = window["agent_id"]
        try:
            record = self.stores.events.find_experiment(AGENT_PREFIX + agent_id)
            table = self.stores.events.query(EventQuery(record.id, events=("window",), limit=self.watch.HISTORY + 64,
                                                        latest=True)) if record is not None else None
        except StoreError as exc:
            log.warning("vigil: cannot read the history of agent %s (%s); its detectors start empty", agent_id, exc)
            return
        history = []
        for text in table.column("value_json").to_pylist() if table is not None else ():
            try:
                history.append(json.loads(text))
            except (TypeError, ValueError):
                continue
        taken = self.watch.warm(agent_id, history, before=float(window["end"]))
        if taken:
            log.info("vigil: anomaly detectors of agent %s warmed with %d stored windows", agent_id, taken)

    def _alert_loop(self) -> None:
        while True:
            item = self._alerts.get()
            if item is None:
                return
            agent_id, alert = item
            agent = self._agents.get(agent_id)
            try:
                self.notifier.notify(alert, experiment=agent.exp if agent is not None else None)
            except Exception:  # noqa: BLE001 - one bad alert must not stop the others
                log.exception("vigil: delivering alert %s failed", alert.name)

    # -- read path ---------------------------------------------------------------------------
    def _refresh(self, name: str, exp_id: int) -> _Index:
        with self._index_lock:
            index = self._index.setdefault(name, _Index())
            while True:
                table = self.stores.events.query(
                    EventQuery(exp_id, events=("window",), after_id=index.last_id, limit=500))
                if table.num_rows == 0:
                    return index
                ids = table.column("id").to_pylist()
                for text in table.column("value_json").to_pylist():
                    try:
                        end = float(json.loads(text)["end"])
                    except (TypeError, ValueError, KeyError):
                        continue
                    index.last_end = end if index.last_end is None else max(index.last_end, end)
                index.windows += len(ids)
                index.last_id = ids[-1]

    def agents(self) -> list[dict[str, Any]]:
        """Every agent in the store (experiments ``agents/*``) with its window count and last window end."""
        self.flush()
        out = []
        for e in self.stores.events.list_experiments():
            name = e["name"]
            if not name.startswith(AGENT_PREFIX):
                continue
            record = self.stores.events.find_experiment(name)
            if record is None:
                continue
            index = self._refresh(name, record.id)
            out.append({"agent_id": name[len(AGENT_PREFIX):], "experiment": name,
                        "windows": index.windows, "last_window_end": index.last_end,
                        "last_window_event_id": index.last_id})
        return out

    def series(self, agent_id: str, metric: str, since: float | None = None, until: float | None = None,
               **labels: str | None) -> list[dict[str, Any]] | None:
        """Points ``{t, value, stat, class, feature, category}`` of a metric, by window end; None if no such agent.

        Read from the agent's ``window`` events (:func:`vigil.agent.storage.points_of`).
        """
        from vigil.agent.storage import points_of

        name = AGENT_PREFIX + agent_id
        self.flush()
        record = self.stores.events.find_experiment(name)
        if record is None:
            return None
        points = points_of(self._windows(record.id), metric, since, until, **labels)
        return [{"t": p["t"], "value": p["value"], "stat": p["stat"], "class": p["class"], "feature": p["feature"],
                 "category": p["category"]} for p in points]

    def _windows(self, exp_id: int, page: int = 1000) -> Iterator[dict[str, Any]]:
        """The stored windows of an experiment (values of its ``window`` events), in pages."""
        after = 0
        while True:
            table = self.stores.events.query(EventQuery(exp_id, events=("window",), after_id=after, limit=page))
            if table.num_rows == 0:
                return
            for text in table.column("value_json").to_pylist():
                try:
                    value = json.loads(text)
                except (TypeError, ValueError):
                    continue
                if isinstance(value, dict):
                    yield value
            after = table.column("id")[-1].as_py()
            if table.num_rows < page:
                return

    def alerts(self, agent_id: str, limit: int = 100) -> list[dict[str, Any]] | None:
        """The latest ``alert`` events of an agent (newest last); None if no such agent."""
        from vigil.runtime import Runtime

        name = AGENT_PREFIX + agent_id
        if self.stores.events.find_experiment(name) is None:
            return None
        records = Runtime(self.stores).experiment(name).data(run="all", event="alert", raw=True)
        return [r["value"] for r in records[-limit:]]

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()
