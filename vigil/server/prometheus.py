"""Prometheus exposition of the latest window of every agent (``GET /metrics``).

``vigil_window_value{agent, metric, stat, class, feature, category}`` holds the
value of each metric point of the agent's latest window (the one with the
greatest ``end``; a late, older window does not overwrite it). Labels a point
does not have are empty strings.

Cardinality is bounded: at most ``max_series`` label sets are kept (10,000 by
default). A point that would add a label set beyond the cap is dropped and
counted in ``vigil_window_series_dropped_total``; existing label sets keep
updating. Restarting the server clears the gauges (they fill again with the
next windows).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

LABELS = ("agent", "metric", "stat", "class", "feature", "category")

__all__ = ["CONTENT_TYPE_LATEST", "LatestWindowGauges"]


class LatestWindowGauges:
    """Latest metric values per agent, exposed as gauges with a cap on label sets.

    Examples
    --------
    >>> g = LatestWindowGauges(max_series=2)
    >>> g.update({'agent_id': 'a', 'end': 60.0, 'points': [
    ...     {'metric': 'pred1', 'stat': 'mean', 'class': None, 'feature': None, 'category': None, 'value': 0.9},
    ...     {'metric': 'pred1', 'stat': 'std', 'class': None, 'feature': None, 'category': None, 'value': 0.1},
    ...     {'metric': 'accuracy', 'stat': None, 'class': None, 'feature': None, 'category': None, 'value': 0.8}]})
    >>> g.series, g.dropped
    (2, 1)
    >>> b'vigil_window_value{agent="a",category="",class="",feature="",metric="pred1",stat="mean"} 0.9' in g.render()
    True
    """

    def __init__(self, max_series: int = 10_000) -> None:
        self.max_series = max_series
        self._values: dict[tuple[str, ...], float] = {}
        self._latest_end: dict[str, float] = {}
        self._windows: dict[str, int] = {}
        self._duplicates: dict[str, int] = {}
        self._lock = threading.Lock()
        self.dropped = 0
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(self)  # type: ignore[arg-type]

    @property
    def series(self) -> int:
        return len(self._values)

    def update(self, window: Mapping[str, Any]) -> None:
        """Take the points of a stored window (wire format)."""
        agent = str(window["agent_id"])
        end = float(window["end"])
        with self._lock:
            self._windows[agent] = self._windows.get(agent, 0) + 1
            if end < self._latest_end.get(agent, float("-inf")):
                return  # an older window arriving late: the gauges keep the latest one
            self._latest_end[agent] = end
            values = self._values
            room = self.max_series - len(values)
            for p in window["points"]:
                key = (agent, p["metric"], p.get("stat") or "", p.get("class") or "",
                       p.get("feature") or "", p.get("category") or "")
                if key not in values:
                    if room <= 0:
                        self.dropped += 1
                        continue
                    room -= 1
                values[key] = float(p["value"])

    def count_duplicate(self, agent: str) -> None:
        with self._lock:
            self._duplicates[agent] = self._duplicates.get(agent, 0) + 1

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            values = list(self._values.items())
            ends = list(self._latest_end.items())
            windows = list(self._windows.items())
            duplicates = list(self._duplicates.items())
            dropped = self.dropped
        gauge = GaugeMetricFamily("vigil_window_value", "Value of a metric point in the latest window of an agent",
                                  labels=LABELS)
        for key, value in values:
            gauge.add_metric(list(key), value)
        yield gauge
        end = GaugeMetricFamily("vigil_window_end_timestamp_seconds", "End of the latest window of an agent",
                                labels=["agent"])
        for agent, t in ends:
            end.add_metric([agent], t)
        yield end
        stored = CounterMetricFamily("vigil_windows_stored", "Windows stored since the server started",
                                     labels=["agent"])
        for agent, n in windows:
            stored.add_metric([agent], n)
        yield stored
        dup = CounterMetricFamily("vigil_windows_duplicate", "Duplicate windows answered since the server started",
                                  labels=["agent"])
        for agent, n in duplicates:
            dup.add_metric([agent], n)
        yield dup
        yield GaugeMetricFamily("vigil_window_series", "Label sets held by vigil_window_value", value=len(values))
        yield GaugeMetricFamily("vigil_window_series_limit", "Cap on label sets of vigil_window_value",
                                value=self.max_series)
        yield CounterMetricFamily("vigil_window_series_dropped", "Points dropped because the label-set cap was reached",
                                  value=dropped)

    def render(self) -> bytes:
        """The exposition text (content type :data:`CONTENT_TYPE_LATEST`)."""
        return generate_latest(self._registry)
