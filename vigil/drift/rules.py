"""Alert rules on drift results, delivered through :mod:`vigil.drift.alerts` channels.

A rule names what to watch (the dataset verdict, or a statistic of the test
rows, optionally of some columns/tests), a threshold, a severity, a
cooldown and channels. Specs may be :class:`DriftRule` objects, dicts of its
fields, or the string ``'drift'`` (the default rule: dataset drift, warning,
logged). The cooldown is checked against the ``alert`` events already in
the experiment, so it holds across processes (e.g. scheduled monitor jobs).
"""

from __future__ import annotations

import operator
import time
from dataclasses import dataclass, field, fields
from typing import Any

from vigil.drift.alerts import SEVERITIES, Alert, deliver
from vigil.drift.compare import DriftResult
from vigil.errors import invalid

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}


@dataclass(frozen=True)
class DriftRule:
    """Fire an alert when ``statistic`` ``op`` ``threshold`` holds.

    ``statistic='drift'`` (the default) fires on the verdict: of the dataset
    when ``columns`` is empty, else of each listed column. Any other
    statistic is read from the test rows (``effect``, ``p_adjusted``,
    ``psi``, ``js``, ``wasserstein_norm``, ``statistic`` ...), filtered by
    ``columns`` and ``tests``; one alert fires per matching column.

    Examples
    --------
    >>> DriftRule(statistic='psi', op='>=', threshold=0.2, columns=('price',)).name
    'drift.psi'
    """

    statistic: str = "drift"
    op: str = ">="
    threshold: float | None = None
    columns: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    severity: str = "warning"
    cooldown_s: float = 0.0
    channels: Any = ("log",)
    name: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise invalid("DriftRule", "op", self.op, f"one of {', '.join(_OPS)}")
        if self.severity not in SEVERITIES:
            raise invalid("DriftRule", "severity", self.severity, f"one of {', '.join(SEVERITIES)}")
        if self.statistic != "drift" and not isinstance(self.threshold, (int, float)):
            raise invalid("DriftRule", "threshold", self.threshold, f"a number to compare {self.statistic!r} with")
        if isinstance(self.cooldown_s, bool) or not isinstance(self.cooldown_s, (int, float)) or self.cooldown_s < 0:
            raise invalid("DriftRule", "cooldown_s", self.cooldown_s, "a number of seconds >= 0")
        if not self.name:
            object.__setattr__(self, "name", "drift" if self.statistic == "drift" else f"drift.{self.statistic}")
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "tests", tuple(self.tests))

    @classmethod
    def coerce(cls, spec: Any) -> DriftRule:
        if isinstance(spec, DriftRule):
            return spec
        if spec == "drift":
            return cls()
        if isinstance(spec, dict):
            known = {f.name for f in fields(cls)}
            unknown = set(spec) - known
            if unknown:
                raise invalid("capture", "alerts", spec, f"rule dicts with keys among {sorted(known)} "
                              f"(unknown: {sorted(unknown)})")
            return cls(**spec)
        raise invalid("capture", "alerts", spec, "a DriftRule, a dict of its fields or 'drift'")

    def evaluate(self, result: DriftResult, source: str) -> list[Alert]:
        """The alerts this rule raises for ``result``."""
        base_labels = {"monitor": source, **self.labels}
        if self.statistic == "drift":
            if not self.columns:
                if not result.drift:
                    return []
                return [Alert(self.name, self.severity,
                              f"{source}: dataset drift in {len(result.drifted_columns)} column(s): "
                              f"{', '.join(result.drifted_columns[:10])}",
                              {"p_value": result.p_value, "drifted_columns": result.drifted_columns,
                               "labels": list(result.labels), "n_baseline": result.n_baseline,
                               "n_target": result.n_target},
                              source, base_labels)]
            return [Alert(self.name, self.severity, f"{source}: column {col!r} drifted", {"column": col},
                          source, {**base_labels, "column": col})
                    for col in self.columns if col in result.drifted_columns]
        df = result.df
        if not len(df) or self.statistic not in df:
            return []
        rows = df
        if self.columns:
            rows = rows[rows["column"].isin(self.columns)]
        if self.tests:
            rows = rows[rows["test"].isin(self.tests)]
        compare = _OPS[self.op]
        alerts = []
        for col, group in rows.groupby("column", sort=False):
            values = group[self.statistic].dropna()
            threshold = float(self.threshold if self.threshold is not None else 0.0)
            hits = values[[bool(compare(v, threshold)) for v in values]]
            if len(hits):
                value = float(hits.max() if self.op in (">=", ">") else hits.min())
                alerts.append(Alert(self.name, self.severity,
                                    f"{source}: {col} {self.statistic} = {value:.4g} {self.op} {self.threshold}",
                                    {"column": col, "statistic": self.statistic, "value": value,
                                     "threshold": self.threshold, "op": self.op},
                                    source, {**base_labels, "column": str(col)}))
        return alerts


def _cooling(experiment: Any, alert: Alert, cooldown_s: float) -> bool:
    if cooldown_s <= 0 or experiment is None:
        return False
    recent = experiment.data(run="all", event="alert", key=alert.name, since=time.time() - cooldown_s, raw=True)
    for rec in recent:
        value = rec.get("value") or {}
        if value.get("labels") == alert.labels and any(
                d.get("status") == "delivered" for d in value.get("deliveries", [])):
            return True
    return False


def evaluate_rules(alerts: Any, result: DriftResult, experiment: Any = None,
                   source: str = "monitor") -> list[dict[str, Any]]:
    """Evaluate rules, deliver what fires (respecting cooldowns); returns what was sent."""
    specs = ["drift"] if alerts is None else (alerts if isinstance(alerts, (list, tuple)) else [alerts])
    rules = [DriftRule.coerce(s) for s in specs]
    sent = []
    for rule in rules:
        for alert in rule.evaluate(result, source):
            if _cooling(experiment, alert, rule.cooldown_s):
                continue
            deliveries = deliver(alert, rule.channels, experiment=experiment)
            sent.append({"alert": alert.to_dict(), "deliveries": [d.__dict__ for d in deliveries]})
    return sent
