"""Anomaly detection on every metric series of every agent, as alerts.

Each agent gets a :class:`~vigil.drift.anomaly.SeriesMonitor`; every stored
window feeds it one value per series, a series being ``(metric, stat, class,
feature, category)``. An anomalous value becomes an
:class:`~vigil.drift.alerts.Alert` named ``metric_anomaly``, labelled by agent
and series (the cooldown key). Windows older than the agent's latest scored
window (late retries) are not scored. After a server restart the collector
warms an agent's detectors with its last :attr:`AnomalyWatch.HISTORY` stored
windows (:meth:`AnomalyWatch.warm`) before scoring its first new one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, cast

from vigil.drift.alerts import Alert
from vigil.drift.anomaly import SeriesMonitor

SeriesKey = tuple[str, str | None, str | None, str | None, str | None]
_LABELS = ("metric", "stat", "class", "feature", "category")


class AnomalyWatch:
    """Score windows per agent and say which alerts to raise.

    Parameters
    ----------
    monitor : callable, optional
        Makes the :class:`SeriesMonitor` of a new agent (default settings if omitted).
    max_alerts_per_window : int
        The strongest anomalies of a window become alerts; the count of the
        others is reported in the details of the last one.
    critical_score : float
        ``|score|`` from which an alert is ``critical`` rather than ``warning``.

    Examples
    --------
    >>> watch = AnomalyWatch()
    >>> def window(i, v):
    ...     return {'agent_id': 'a', 'window_id': f'a:{i}', 'start': i, 'end': i + 1.0,
    ...             'points': [{'metric': 'pred1', 'stat': 'mean', 'class': None, 'feature': None,
    ...                         'category': None, 'value': v}]}
    >>> alerts = [watch.observe(window(i, 0.9 + 0.01 * (i % 3))) for i in range(60)]
    >>> sum(map(len, alerts))
    0
    >>> [(a.name, a.labels['metric'], a.labels['stat']) for a in watch.observe(window(60, 0.2))]
    [('metric_anomaly', 'pred1', 'mean')]
    """

    def __init__(self, monitor: Callable[[], SeriesMonitor] | None = None, max_alerts_per_window: int = 10,
                 critical_score: float = 12.0, ignore_stats: tuple[str, ...] = ("min", "max", "range")) -> None:
        self._make = monitor or SeriesMonitor
        # the extremes of a window are its noisiest statistics (one row decides them): not watched by default
        self.ignore_stats = frozenset(ignore_stats)
        self.max_alerts_per_window = max_alerts_per_window
        self.critical_score = critical_score
        self._monitors: dict[str, SeriesMonitor] = {}
        self._latest: dict[str, float] = {}
        self._lock = threading.Lock()
        self.alerts_raised = 0

    #: Stored windows an agent's detectors are warmed with after a restart (the robust z-score's window).
    HISTORY = 50

    def knows(self, agent_id: str) -> bool:
        """Has this watch scored a window of ``agent_id`` (or been warmed with its history)?"""
        with self._lock:
            return agent_id in self._monitors

    def warm(self, agent_id: str, windows: list[Any], before: float = float("inf")) -> int:
        """Feed an agent's stored windows to its new detectors, raising no alerts: after a restart
        its series are watched at once, not after ``min_history`` new windows.

        The latest :attr:`HISTORY` windows ending before ``before`` (the window about to be
        scored) are taken, oldest first; anything not shaped like a window is skipped. Returns
        how many were taken.
        """
        timed = []
        for w in windows:
            try:
                end = float(w["end"])
            except (KeyError, TypeError, ValueError):  # a stored window of another shape
                continue
            if end < before:
                timed.append((end, w))
        timed.sort(key=lambda pair: pair[0])
        taken = 0
        for _, w in timed[-self.HISTORY:]:
            try:
                self._score(w)
            except (KeyError, TypeError, ValueError):
                continue
            taken += 1
        return taken

    def observe(self, window: Mapping[str, Any]) -> list[Alert]:
        found = self._score(window)
        if not found:
            return []
        agent = str(window["agent_id"])
        end = float(window["end"])
        alerts = []
        shown = found[: self.max_alerts_per_window]
        for i, a in enumerate(shown):
            labels = {"agent": agent}
            key = cast(SeriesKey, a.key)
            labels.update({name: str(v) for name, v in zip(_LABELS, key) if v is not None})
            series = " ".join(f"{k}={v}" for k, v in labels.items() if k not in ("agent", "metric"))
            details: dict[str, Any] = {
                "value": a.value, "baseline": a.baseline, "scale": a.scale, "score": a.score,
                "detectors": list(a.detectors), "window_id": window.get("window_id"),
                "window_start": window.get("start"), "window_end": end,
            }
            if i == len(shown) - 1 and len(found) > len(shown):
                details["more_anomalies_in_window"] = len(found) - len(shown)
            alerts.append(Alert(
                name="metric_anomaly",
                severity="critical" if abs(a.score) >= self.critical_score else "warning",
                summary=(f"agent {agent}: {labels['metric']}{' ' + series if series else ''} = {a.value:.6g}, "
                         f"baseline {a.baseline:.6g} (score {a.score:+.1f})"),
                details=details, source=f"agents/{agent}", labels=labels,
            ))
        self.alerts_raised += len(alerts)
        return alerts

    def _score(self, window: Mapping[str, Any]) -> list[Any]:
        """The anomalies of a window (none for one not later than the agent's latest)."""
        agent = str(window["agent_id"])
        end = float(window["end"])
        with self._lock:
            if end <= self._latest.get(agent, float("-inf")):
                return []
            self._latest[agent] = end
            monitor = self._monitors.get(agent)
            if monitor is None:
                monitor = self._monitors[agent] = self._make()
            values: dict[SeriesKey, float] = {}
            for p in window["points"]:
                if p.get("stat") in self.ignore_stats:
                    continue
                key = (p["metric"], p.get("stat"), p.get("class"), p.get("feature"), p.get("category"))
                values[key] = p["value"]
            return monitor.observe(values)
