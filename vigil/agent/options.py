"""The configuration of a :class:`~vigil.agent.MonitoringAgent`, checked once.

Every check raises :class:`~vigil.errors.InvalidInput` naming the class, the
argument, the value found and what was expected, e.g. "n_classes of
MonitoringAgent must be an int >= 2; got 1 (int)". Nothing is opened or
started here.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.errors import InvalidInput, describe

WHO = "MonitoringAgent"
_AGENT_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_MIN_PERIOD_MS = 10


def _fail(arg: str, value: Any, expected: str) -> InvalidInput:
    return InvalidInput(f"{arg} of {WHO} must be {expected}; got {describe(value)}")


def _int(arg: str, value: Any, low: int, high: int | None = None) -> int:
    expected = f"an int >= {low}" if high is None else f"an int in [{low}, {high}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _fail(arg, value, expected)
    number = int(value)
    if number < low or (high is not None and number > high):
        raise _fail(arg, value, expected)
    return number


def _real(arg: str, value: Any, low: float, high: float | None = None, low_open: bool = True) -> float:
    bound = f"> {low}" if low_open else f">= {low}"
    expected = f"a finite number {bound}" + (f" and <= {high}" if high is not None else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise _fail(arg, value, expected)
    number = float(value)
    if (number <= low if low_open else number < low) or (high is not None and number > high):
        raise _fail(arg, value, expected)
    return number


@dataclass(frozen=True)
class AgentOptions:
    """Checked settings of one agent (see :class:`~vigil.agent.MonitoringAgent` for their meaning)."""

    period_ms: int
    max_buffer_size: int
    n_classes: int
    agent_id: str
    server_ip: str | None
    server_port: int
    threshold: float | None
    sink: str | Callable[[dict[str, Any]], Any]
    token: str | None
    feature_names: tuple[str, ...] | None
    categorical_features: tuple[str | int, ...]
    max_categories: int
    spool_dir: Path
    spool_max_files: int
    spool_max_bytes: int
    max_queue_rows: int
    timeout_s: float
    backoff_max_s: float
    proba_tolerance: float
    seed: int | None
    clock: Callable[[], float] | None
    log_interval_s: float

    @classmethod
    def check(cls, *, frequency: Any, max_buffer_size: Any, n_classes: Any, agent_id: Any, server_IP: Any,
              server_port: Any, threshold: Any, sink: Any, token: Any, feature_names: Any,
              categorical_features: Any, max_categories: Any, spool_dir: Any, spool_max_files: Any,
              spool_max_bytes: Any, max_queue_rows: Any, timeout_s: Any, backoff_max_s: Any,
              proba_tolerance: Any, seed: Any, clock: Any, log_interval_s: Any) -> AgentOptions:
        minutes = _real("frequency", frequency, 0.0)
        period_ms = round(minutes * 60_000)
        if period_ms < _MIN_PERIOD_MS:
            raise _fail("frequency", frequency, f"a number of minutes giving a period of at least "
                        f"{_MIN_PERIOD_MS} ms (>= {_MIN_PERIOD_MS / 60_000:.6f})")
        k = n_classes
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 2:
            raise _fail("n_classes", k, "an int >= 2 (the number of columns of predict_proba_matrix)")
        k = int(k)
        if not isinstance(agent_id, str) or not _AGENT_ID.fullmatch(agent_id) or set(agent_id) == {"."}:
            raise _fail("agent_id", agent_id, "a str of 1-64 characters [A-Za-z0-9_.-], not only dots")
        if server_IP is not None and (not isinstance(server_IP, str) or not server_IP.strip()
                                      or any(c in server_IP for c in "/ @?#")):
            raise _fail("server_IP", server_IP, "a host name or IP address (str), or None for the "
                        "server-less mode")
        port = _int("server_port", server_port, 1, 65535)
        sink = _sink(sink, server_IP)
        if threshold is not None:
            if k != 2:
                raise _fail("threshold", threshold, "None when n_classes > 2 (a threshold applies to "
                            "two classes only)")
            threshold = _real("threshold", threshold, 0.0, 1.0, low_open=False)
        elif k == 2:
            threshold = 0.5
        if token is None:
            token = os.environ.get("VIGIL_TOKEN") or None
        elif not isinstance(token, str) or not token or any(c in token for c in "\r\n"):
            raise _fail("token", "***", "a non-empty str without newlines, or None (then VIGIL_TOKEN)")
        names = _names(feature_names)
        categorical = _categorical(categorical_features, names)
        if spool_dir is None:
            from vigil.config import settings

            spool_path = settings().home / "spool" / f"agent-{agent_id}"
        elif isinstance(spool_dir, (str, os.PathLike)) and str(spool_dir):
            spool_path = Path(spool_dir).expanduser().absolute()
        else:
            raise _fail("spool_dir", spool_dir, "a folder path, or None for $VIGIL_HOME/spool/agent-<agent_id>")
        if seed is not None:
            seed = _int("seed", seed, 0)
        if clock is not None and not callable(clock):
            raise _fail("clock", clock, "a callable returning epoch seconds, or None for time.time")
        return cls(
            period_ms=period_ms,
            max_buffer_size=_int("max_buffer_size", max_buffer_size, 1, 10_000_000),
            n_classes=k,
            agent_id=agent_id,
            server_ip=server_IP.strip() if isinstance(server_IP, str) else None,
            server_port=port,
            threshold=threshold,
            sink=sink,
            token=token,
            feature_names=names,
            categorical_features=categorical,
            max_categories=_int("max_categories", max_categories, 1, 100_000),
            spool_dir=spool_path,
            spool_max_files=_int("spool_max_files", spool_max_files, 1),
            spool_max_bytes=_int("spool_max_bytes", spool_max_bytes, 1),
            max_queue_rows=_int("max_queue_rows", max_queue_rows, 1),
            timeout_s=_real("timeout_s", timeout_s, 0.0),
            backoff_max_s=_real("backoff_max_s", backoff_max_s, 0.0),
            proba_tolerance=_real("proba_tolerance", proba_tolerance, 0.0, 1.0, low_open=False),
            seed=seed,
            clock=clock,
            log_interval_s=_real("log_interval_s", log_interval_s, 0.0, low_open=False),
        )


def _sink(sink: Any, server_ip: Any) -> Any:
    if sink is None:
        return "http" if server_ip is not None else "store"
    if callable(sink):
        return sink
    if sink == "http":
        if server_ip is None:
            raise _fail("server_IP", server_ip, "a host name or IP address when sink='http'")
        return sink
    if sink == "store":
        return sink
    raise _fail("sink", sink, "'http', 'store', a callable taking a window dict, or None "
                "('http' if server_IP is set, else 'store')")


def _names(names: Any) -> tuple[str, ...] | None:
    if names is None:
        return None
    expected = "a list of distinct non-empty str, or None"
    if isinstance(names, (str, bytes)) or not hasattr(names, "__iter__"):
        raise _fail("feature_names", names, expected)
    names = tuple(names)
    if not names or not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
        raise _fail("feature_names", list(names), expected)
    return names


def _categorical(features: Any, names: tuple[str, ...] | None) -> tuple[str | int, ...]:
    if features is None:
        return ()
    expected = "a list of feature names (str) or column positions (int >= 0)"
    if isinstance(features, (str, bytes)) or not hasattr(features, "__iter__"):
        raise _fail("categorical_features", features, expected)
    out: list[str | int] = []
    for f in features:
        if isinstance(f, str) and f:
            if names is not None and f not in names:
                raise _fail("categorical_features", f, f"one of feature_names {list(names)}")
            out.append(f)
        elif isinstance(f, numbers.Integral) and not isinstance(f, bool) and int(f) >= 0:
            if names is not None and int(f) >= len(names):
                raise _fail("categorical_features", f, f"a position < {len(names)} (the number of features)")
            out.append(int(f))
        else:
            raise _fail("categorical_features", f, expected)
    return tuple(out)
