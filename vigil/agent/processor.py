"""The agent's thread: batches in, windows out.

It takes what ``collect_data`` queued, finishes the checks that cost more
than a shape test (NaN, ranges, sums, labels, feature columns), folds the
rows into the window they belong to, closes windows when their period is
over and writes them to the spool for the shipper.

Windows are aligned to the period: a batch collected at time ``t`` belongs
to ``[floor(t / period) * period, ... + period)``. A batch that reaches the
thread after its window was closed (collected in the last instant before
the end, or by an agent restarted within the period of the last window its
predecessor closed) is counted in the next window, never in a second
window with the same id. A period in which nothing was collected produces
no window.
Consecutive batches of one window are processed together (up to
``_CHUNK_ROWS`` rows), which is what lets one thread keep up with millions
of rows per second (the per-call overhead of numpy is paid per chunk).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from vigil.agent import wire
from vigil.agent.features import FeatureSchema
from vigil.agent.handoff import Handoff
from vigil.agent.options import AgentOptions
from vigil.agent.ratelog import RateLimitedLog
from vigil.agent.spool import Spool
from vigil.agent.validation import clean_labels, row_problems
from vigil.agent.window import Window

logger = logging.getLogger("vigil.agent")

_CHUNK_ROWS = 8_192   # larger chunks leave the CPU caches and get slower per row
_IDLE_WAIT_S = 0.5

_MESSAGES = {
    "bad_type": "a matrix given to collect_data is not an array, DataFrame or list of numbers",
    "bad_shape": "a matrix given to collect_data has the wrong shape (dimensions, or row counts that differ)",
    "n_classes": "predict_proba_matrix does not have n_classes columns",
    "overflow": "the agent thread is behind; batches were dropped (host never blocked)",
    "internal_error": "unexpected error in the agent (please report it)",
    "feature_mismatch": "input_matrix has other columns than the first batch with inputs",
    "nan_proba": "rows with NaN or infinite probabilities",
    "proba_range": "rows with probabilities outside [0, 1]",
    "proba_sum": "rows whose probabilities do not sum to 1",
    "bad_label": "labels that are not an int in [0, n_classes) or a one-hot row; rows kept unlabelled",
    "inputs_missing": "a batch without input_matrix after batches with one; features counted missing",
    "labels_missing": "a batch without label_matrix after batches with one; rows kept unlabelled",
    "spool_evicted": "the spool is full; the oldest windows were deleted",
}


class Batch:
    """One call of ``collect_data``, copied: time, probabilities, inputs, column names, labels."""

    __slots__ = ("t_ms", "proba", "inputs", "names", "labels", "rows")

    def __init__(self, t_ms: int, proba: np.ndarray, inputs: Any, names: Any, labels: Any) -> None:
        self.t_ms = t_ms
        self.proba = proba
        self.inputs = inputs
        self.names = names
        self.labels = labels
        self.rows = proba.shape[0]


class Drop:
    """Rows dropped on the caller's thread, for the window of ``t_ms``."""

    __slots__ = ("t_ms", "reason", "n")

    def __init__(self, t_ms: int, reason: str, n: int) -> None:
        self.t_ms, self.reason, self.n = t_ms, reason, n


class Marker:
    """Asks the thread to report (``flush``) or to close the last window and stop (``close``)."""

    __slots__ = ("done", "close")

    def __init__(self, close: bool = False) -> None:
        self.done = threading.Event()
        self.close = close


class Processor:
    """Runs the agent thread of one :class:`~vigil.agent.MonitoringAgent`."""

    def __init__(self, options: AgentOptions, handoff: Handoff, spool: Spool,
                 on_window: Callable[[], None], log: RateLimitedLog,
                 clock: Callable[[], float]) -> None:
        self.o = options
        self.handoff = handoff
        self.spool = spool
        self.on_window = on_window
        self.log = log
        self.clock = clock
        self.rng = np.random.default_rng(options.seed)
        self.schema = FeatureSchema(options.feature_names, options.categorical_features,
                                    options.max_categories)
        self.current: Window | None = None
        self.last_closed_ms: int | None = None
        self.has_labels = False
        self.windows_closed = 0
        self.rows_seen = 0
        self.dropped: dict[str, int] = {}
        self._late: dict[str, int] = {}      # counts from other threads, for the next window
        self._late_lock = threading.Lock()
        self._evicted_seen = 0
        self._thread = threading.Thread(target=self._run, name=f"vigil-agent-{options.agent_id}", daemon=True)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self.last_closed_ms = self.spool.last_closed()   # a restart within that window: next one
        self._thread.start()

    def join(self, timeout_s: float) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def count_later(self, reason: str, n: int) -> None:
        """Count from another thread (shipper); reported in the next window that has data."""
        with self._late_lock:
            self._late[reason] = self._late.get(reason, 0) + n

    def _run(self) -> None:
        while True:
            try:
                items = self.handoff.take(self._wait_s(), max_rows=_CHUNK_ROWS)
                with np.errstate(all="ignore"):   # bad values are counted, never warned about
                    if self._consume(items):
                        return
                    self._caller_counts()
                    self._close_due()
            except Exception:  # noqa: BLE001 - the agent thread must never die
                self._count(None, "internal_error", 1)
                if self.log.error("internal_error", "vigil agent: unexpected error on the agent thread"):
                    logger.debug("details", exc_info=True)

    def _wait_s(self) -> float:
        if self.current is None:
            return _IDLE_WAIT_S
        left = self.current.end_ms / 1000.0 + self._grace_s() - self.clock()
        return min(max(left, 0.005), _IDLE_WAIT_S)

    def _grace_s(self) -> float:
        return min(1.0, self.o.period_ms / 100_000.0)

    # -- windows ------------------------------------------------------------------------------
    def _start_of(self, t_ms: int) -> int:
        start = t_ms - t_ms % self.o.period_ms
        last = self.last_closed_ms
        if last is not None and start <= last:
            period = self.o.period_ms
            start = (last // period + 1) * period   # late: into the next window (aligned)
        return start

    def _window(self, start: int) -> Window:
        current = self.current
        if current is not None and start <= current.start_ms:
            return current
        if current is not None:
            self._close(current)
        o = self.o
        window = Window(start, o.period_ms, o.n_classes, o.max_buffer_size, self.rng, o.threshold, self.schema)
        self.current = window
        with self._late_lock:
            late, self._late = self._late, {}
        for reason, n in late.items():
            window.drop(reason, n)
            self.dropped[reason] = self.dropped.get(reason, 0) + n
        return window

    def _close_due(self) -> None:
        current = self.current
        if current is not None and self.clock() >= current.end_ms / 1000.0 + self._grace_s():
            self._close(current)

    def _close(self, window: Window) -> None:
        self.current = None
        self.last_closed_ms = window.start_ms
        self.windows_closed += 1
        before = self.spool.evicted
        try:
            body = wire.encode(window.finish(self.o.agent_id))
            self.spool.write(window.start_ms, body)
            self.spool.set_last_closed(window.start_ms)
        except Exception:  # noqa: BLE001 - a window that cannot be encoded is lost, not the thread
            self._count(None, "internal_error", window.rows_seen or 1)
            self.log.error("internal_error", "vigil agent: window %s could not be written", window.start_ms)
            return
        evicted = self.spool.evicted - before
        if evicted:
            self.count_later("spool_evicted", evicted)
            self.log.warning("spool_evicted", "vigil agent: %s (%d window(s), folder %s)",
                             _MESSAGES["spool_evicted"], evicted, self.spool.folder)
        self.on_window()

    def _count(self, window: Window | None, reason: str, n: int) -> None:
        if n <= 0:
            return
        self.dropped[reason] = self.dropped.get(reason, 0) + n
        if window is None:
            window = self.current or self._window(self._start_of(int(self.clock() * 1000)))
        window.drop(reason, n)
        if reason in _MESSAGES:
            self.log.warning(reason, "vigil agent %s: %s (%d rows)", self.o.agent_id, _MESSAGES[reason], n)

    def _caller_counts(self) -> None:
        for reason, n in self.handoff.take_counts().items():
            self._count(None, reason, n)

    # -- batches ------------------------------------------------------------------------------
    def _consume(self, items: list[Any]) -> bool:
        """Process queued items in order; True when a close marker was reached."""
        group: list[Batch] = []
        group_start = None
        for item in items:
            if isinstance(item, Batch):
                start = self._start_of(item.t_ms)
                if group and start != group_start:
                    self._process(group, group_start)
                    group = []
                group.append(item)
                group_start = start
                continue
            if group:
                self._process(group, group_start)
                group = []
            if isinstance(item, Drop):
                self._count(self._window(self._start_of(item.t_ms)), item.reason, item.n)
            elif isinstance(item, Marker):
                self._caller_counts()
                if item.close:
                    if self.current is not None:
                        self._close(self.current)
                    item.done.set()
                    return True
                self._close_due()
                item.done.set()
        if group:
            self._process(group, group_start)
        return False

    def _process(self, group: list[Batch], start: Any) -> None:
        window = self._window(start)
        try:
            self._fold(window, group)
        except Exception:  # noqa: BLE001 - drop this group, keep the thread
            self._count(window, "internal_error", sum(b.rows for b in group))
            if self.log.error("internal_error", "vigil agent: unexpected error while processing a batch"):
                logger.debug("details", exc_info=True)

    def _fold(self, window: Window, group: list[Batch]) -> None:
        o, schema = self.o, self.schema
        probas, labels, nums, cats = [], [], [], []
        any_labels = any_inputs = False
        for b in group:
            n = b.rows
            num: np.ndarray | None
            cat: np.ndarray | None
            if b.inputs is not None:
                if not schema.bind(b.inputs, b.names):
                    self._count(window, "feature_mismatch", n)
                    continue
                num, cat = schema.split(b.inputs)
                any_inputs = True
            else:
                num = cat = None
                if schema.bound:
                    self._count(window, "inputs_missing", n)
            if b.labels is not None:
                y = clean_labels(b.labels, o.n_classes)
                self._count(window, "bad_label", int((y < 0).sum()))
                self.has_labels = any_labels = True
            else:
                y = None
                if self.has_labels:
                    self._count(window, "labels_missing", n)
            probas.append(b.proba)
            labels.append(y)
            nums.append(num)
            cats.append(cat)
        if not probas:
            return
        proba = _stack(probas).astype(np.float64, copy=False)
        y_all = _stack([y if y is not None else np.full(p.shape[0], -1, dtype=np.int64)
                        for y, p in zip(labels, probas)]) if any_labels else None
        num_all = cat_all = None
        if any_inputs:
            width_num, width_cat = schema.numeric.size, schema.categorical.size
            num_all = _stack([x if x is not None else np.full((p.shape[0], width_num), np.nan)
                              for x, p in zip(nums, probas)])
            cat_all = _stack([c if c is not None else np.full((p.shape[0], width_cat), None, dtype=object)
                              for c, p in zip(cats, probas)])
        problems = row_problems(proba, o.proba_tolerance)
        if problems is not None:
            keep, counts = problems
            for reason, n in counts.items():
                self._count(window, reason, n)
            proba = proba[keep]
            y_all = y_all[keep] if y_all is not None else None
            num_all = num_all[keep] if num_all is not None else None
            cat_all = cat_all[keep] if cat_all is not None else None
        self.rows_seen += proba.shape[0]
        window.update(proba, y_all, num_all, cat_all)


def _stack(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)

