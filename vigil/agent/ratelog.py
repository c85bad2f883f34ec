"""Logging at a limited rate: at most one message per reason per interval.

A host that sends the same malformed batch a thousand times a second must
not get a thousand log lines a second. The first occurrence of a reason is
logged at once; later ones within ``interval_s`` are counted, and the next
message of that reason says how many were suppressed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any


class RateLimitedLog:
    """A logger wrapper that lets through one message per reason per ``interval_s``.

    Parameters
    ----------
    logger : logging.Logger
    interval_s : float
    clock : callable, optional
        Monotonic seconds (default :func:`time.monotonic`).

    Examples
    --------
    >>> import logging
    >>> now = [0.0]
    >>> log = RateLimitedLog(logging.getLogger('doc.ratelog'), 60.0, clock=lambda: now[0])
    >>> log.warning('nan_proba', 'rows with NaN dropped')
    True
    >>> log.warning('nan_proba', 'rows with NaN dropped')   # within the minute: counted, not logged
    False
    >>> now[0] = 61.0
    >>> log.warning('nan_proba', 'rows with NaN dropped')
    True
    """

    def __init__(self, logger: logging.Logger, interval_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def log(self, level: int, reason: str, message: str, *args: object, **kwargs: Any) -> bool:
        """Log ``message % args`` unless ``reason`` was logged less than ``interval_s`` ago."""
        now = self.clock()
        with self._lock:
            last = self._last.get(reason)
            if last is not None and now - last < self.interval_s:
                self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
                return False
            self._last[reason] = now
            suppressed = self._suppressed.pop(reason, 0)
        if suppressed:
            message += f" ({suppressed} similar message(s) suppressed)"
        try:
            self.logger.log(level, message, *args, **kwargs)
        except Exception:  # noqa: BLE001 - a broken log handler must not break the agent
            pass
        return True

    def warning(self, reason: str, message: str, *args: object, **kwargs: Any) -> bool:
        return self.log(logging.WARNING, reason, message, *args, **kwargs)

    def error(self, reason: str, message: str, *args: object, **kwargs: Any) -> bool:
        return self.log(logging.ERROR, reason, message, *args, **kwargs)
