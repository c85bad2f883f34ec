"""The monitoring agent: the one class a serving process uses.

``collect_data`` runs on the host's thread and does as little as possible:
a type and shape test, a copy of the matrices, an append to a bounded queue.
Everything else (value checks, window metrics, sampling, JSON, disk, network)
happens on the agent's two daemon threads:

::

    host thread      collect_data: shape test + copy + append     (~10-30 us for 1,000 rows)
         |           bounded queue; full -> batch dropped, counted 'overflow'
         v
    agent thread     checks (NaN, sums, labels), window accumulators, reservoir sample,
         |           close at the period boundary -> JSON file in the spool (atomic)
         v
    shipper thread   oldest spooled window first -> collector (HTTP), store or callable;
                     delete on success, keep and back off on failure
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vigil.agent import local_server, validation
from vigil.agent.handoff import Handoff
from vigil.agent.options import AgentOptions
from vigil.agent.processor import Batch, Drop, Marker, Processor
from vigil.agent.ratelog import RateLimitedLog
from vigil.agent.shipper import LOOPBACK, CallableSink, HttpSink, Shipper
from vigil.agent.spool import Spool
from vigil.agent.validation import Rejected
from vigil.errors import InvalidInput

logger = logging.getLogger("vigil.agent")

_MAX_QUEUE_ITEMS = 100_000


class MonitoringAgent:
    """Watch a classifier in production: window metrics of its predictions, inputs and labels.

    Parameters
    ----------
    frequency : float
        Window length in minutes (floats allowed: 0.5 is 30 s). Windows are
        aligned to it: ``start = floor(t / period) * period``.
    max_buffer_size : int
        Most rows kept per window in the uniform sample that feeds medians and
        quartiles (and is shipped as the window's ``sample``). Counts and means
        are exact over all rows regardless.
    n_classes : int
        Number of classes, >= 2: the columns of ``predict_proba_matrix``.
    agent_id : str
        Names the agent: in window ids, the spool folder and the server-less
        experiment ``agents/<agent_id>``. 1-64 characters ``[A-Za-z0-9_.-]``.
        Give each process its own id (two live agents with one id would
        produce windows with the same ids, which the collector deduplicates).
    server_IP : str or None
        Host of the collector. None selects the server-less mode (``sink='store'``).
    server_port : int
        Port of the collector.
    threshold : float, optional
        Two classes only: class 1 is predicted when ``P(class 1) > threshold``
        (default 0.5). Must be None with more classes (argmax).
    sink : {'http', 'store'} or callable, optional
        Where windows go. 'http' (default with a server_IP): POST to the
        collector. 'store' (default without): straight into the tracking store,
        experiment ``agents/<agent_id>``, see :func:`vigil.agent.storage.window_to_events`.
        A callable receives each window as a dict (an exception means "retry later").
    token : str, optional
        Bearer token for the collector; default ``$VIGIL_TOKEN``.
    feature_names : list of str, optional
        Names of the input columns (default: a DataFrame's columns, else f0, f1, ...).
    categorical_features : list of str or int, optional
        Input columns to count as categories; see :mod:`vigil.agent.features`
        for the rule applied to the others.
    max_categories : int
        Most distinct values counted per categorical feature and window.
    spool_dir : path, optional
        Default ``$VIGIL_HOME/spool/agent-<agent_id>``.
    spool_max_files, spool_max_bytes : int
        Bounds of the spool; beyond them the oldest windows are deleted
        (drop-oldest: the newest window is always kept, live monitoring needs
        it most), counted in ``totals()['spool_evicted']`` and reported as
        ``dropped.spool_evicted`` in the next window. Default 10,000 files, 256 MiB.
    max_queue_rows : int
        Most rows waiting for the agent thread; beyond, batches are dropped
        (``overflow``), the host is never blocked. Default 200,000.
    timeout_s : float
        Timeout of one HTTP request to the collector.
    backoff_max_s : float
        Longest wait between delivery attempts while the collector is down.
    proba_tolerance : float
        Rows whose probabilities sum to more than this away from 1 are dropped.
    seed : int, optional
        Seed of the sampling (reproducible samples).
    clock : callable, optional
        Epoch seconds (default :func:`time.time`); for tests and replays.
    log_interval_s : float
        At most one log message per drop reason per interval (default 60 s).

    Notes
    -----
    After the constructor, no method raises into the host except
    :meth:`run_local_server`: bad batches are dropped or repaired and counted
    per reason (see :mod:`vigil.agent.validation`), and logged on the
    ``vigil.agent`` logger at most once per reason per minute. Work starts
    with the first :meth:`collect_data`, :meth:`start` or ``with``; windows
    that an earlier agent with the same id left in the spool are delivered
    first, in order.

    Examples
    --------
    >>> import numpy as np
    >>> from vigil.agent import MonitoringAgent
    >>> windows = []                                     # a callable sink: no server needed
    >>> agent = MonitoringAgent(frequency=5, max_buffer_size=100, n_classes=3, agent_id='doc',
    ...                         sink=windows.append, seed=0)
    >>> proba = np.random.default_rng(0).dirichlet([1, 1, 1], size=1000)
    >>> agent.collect_data(predict_proba_matrix=proba, label_matrix=proba.argmax(axis=1))
    >>> agent.close()
    True
    >>> w = windows[0]
    >>> w['rows_seen'], w['rows_sampled'], len(w['sample']['proba'])
    (1000, 100, 100)
    >>> [p['value'] for p in w['points'] if p['metric'] == 'accuracy']
    [1.0]
    """

    def __init__(self, frequency: float = 5, max_buffer_size: int = 500, n_classes: int | None = None,
                 agent_id: str = "1", server_IP: str | None = "127.0.0.1", server_port: int = 8000, *,
                 threshold: float | None = None, sink: Any = None, token: str | None = None,
                 feature_names: Any = None, categorical_features: Any = None, max_categories: int = 32,
                 spool_dir: Any = None, spool_max_files: int = 10_000, spool_max_bytes: int = 256 * 2**20,
                 max_queue_rows: int = 200_000, timeout_s: float = 5.0, backoff_max_s: float = 60.0,
                 proba_tolerance: float = 1e-3, seed: int | None = None,
                 clock: Callable[[], float] | None = None, log_interval_s: float = 60.0) -> None:
        self.options = AgentOptions.check(
            frequency=frequency, max_buffer_size=max_buffer_size, n_classes=n_classes, agent_id=agent_id,
            server_IP=server_IP, server_port=server_port, threshold=threshold, sink=sink, token=token,
            feature_names=feature_names, categorical_features=categorical_features,
            max_categories=max_categories, spool_dir=spool_dir, spool_max_files=spool_max_files,
            spool_max_bytes=spool_max_bytes, max_queue_rows=max_queue_rows, timeout_s=timeout_s,
            backoff_max_s=backoff_max_s, proba_tolerance=proba_tolerance, seed=seed, clock=clock,
            log_interval_s=log_interval_s)
        self.agent_id = self.options.agent_id
        self.n_classes = self.options.n_classes
        self.spool_dir: Path = self.options.spool_dir
        self._clock = self.options.clock or time.time
        self._accepting = False
        self._state = "new"              # new -> running -> closed
        self._lock = threading.Lock()
        self._handoff: Handoff | None = None
        self._processor: Processor | None = None
        self._shipper: Shipper | None = None
        self._spool: Spool | None = None
        self._sink: Any = None
        self._server: Any = None
        self._atexit: Callable[[], None] | None = None
        self._log = RateLimitedLog(logger, self.options.log_interval_s)

    def __repr__(self) -> str:
        o = self.options
        where = (f"{o.server_ip}:{o.server_port}" if o.sink == "http"
                 else o.sink if isinstance(o.sink, str) else "callable")
        return (f"MonitoringAgent(agent_id={o.agent_id!r}, n_classes={o.n_classes}, "
                f"period_s={o.period_ms / 1000:g}, sink={where!r}, state={self._state!r})")

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> MonitoringAgent:
        """Start the agent's threads and deliver windows left in the spool (idempotent).

        Called by the first :meth:`collect_data`; call it yourself to replay a
        spool without collecting. Returns self.
        """
        with self._lock:
            if self._state != "new":
                return self
            o = self.options
            self._spool = spool = Spool(o.spool_dir, o.spool_max_files, o.spool_max_bytes)
            spool.open()
            self._handoff = Handoff(o.max_queue_rows, _MAX_QUEUE_ITEMS)
            self._sink = self._make_sink()
            self._shipper = Shipper(spool, self._sink, self._count_later, o.backoff_max_s, self._log,
                                    name=f"vigil-shipper-{o.agent_id}")
            self._processor = Processor(o, self._handoff, spool, self._shipper.notify, self._log, self._clock)
            self._processor.start()
            self._shipper.start()
            ref = weakref.ref(self)

            def close_at_exit() -> None:
                agent = ref()
                if agent is not None:
                    agent.close(timeout_s=5.0)

            self._atexit = close_at_exit
            atexit.register(close_at_exit)
            self._state = "running"
            self._accepting = True
        return self

    def _make_sink(self) -> Any:
        o = self.options
        if o.sink == "http":
            return HttpSink(o.server_ip or "", o.server_port, o.token, o.timeout_s)
        if o.sink == "store":
            from vigil.agent.storage import StoreSink

            return StoreSink(o.agent_id)
        return CallableSink(o.sink) if callable(o.sink) else None

    def _count_later(self, reason: str, n: int) -> None:
        if self._processor is not None:
            self._processor.count_later(reason, n)

    def __enter__(self) -> MonitoringAgent:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the serving path ---------------------------------------------------------------------
    def collect_data(self, predict_proba_matrix: Any = None, input_matrix: Any = None,
                     label_matrix: Any = None) -> None:
        """Hand one batch to the agent; returns at once and never raises.

        Parameters
        ----------
        predict_proba_matrix : array-like, shape (n, n_classes)
            Class probabilities of each row (numpy, DataFrame or nested lists).
            Mandatory. One row may be given as a 1-D array of length n_classes.
        input_matrix : array-like, shape (n, n_features), optional
            The model's inputs; a DataFrame keeps its column names and dtypes.
        label_matrix : array-like, optional
            True labels: ints of shape (n,) or (n, 1), or one-hot (n, n_classes).
        """
        t_ms = 0
        try:
            if not self._accepting and not self._ensure_started():
                return
            handoff = self._handoff
            if handoff is None:
                return
            t_ms = int(self._clock() * 1000)
            k = self.n_classes
            proba = predict_proba_matrix
            if type(proba) is np.ndarray and proba.ndim == 2 and proba.shape[1] == k and proba.dtype.kind == "f":
                if handoff.full_for(proba.shape[0]):
                    handoff.refuse(proba.shape[0])   # the agent is behind: do not even copy
                    return
                proba = proba.copy()
            else:
                proba = validation.proba_matrix(proba, k)
            n = proba.shape[0]
            if n == 0:
                return
            inputs, names = input_matrix, None
            if inputs is not None:
                if (type(inputs) is np.ndarray and inputs.ndim == 2 and inputs.shape[0] == n
                        and inputs.shape[1] and inputs.dtype.kind in "fiu"):
                    inputs = inputs.copy()
                else:
                    inputs, names = validation.input_matrix(inputs, n)
            labels = label_matrix
            if labels is not None:
                if type(labels) is np.ndarray and labels.ndim == 1 and labels.shape[0] == n:
                    labels = labels.copy()
                else:
                    labels = validation.label_matrix(labels, n, k)
            handoff.put(Batch(t_ms, proba, inputs, names, labels), n)
        except Rejected as bad:
            self._drop(t_ms, bad.reason, bad.rows)
        except Exception:  # noqa: BLE001 - never raise into the host
            self._drop(t_ms, "internal_error", 1)

    def _drop(self, t_ms: int, reason: str, rows: int) -> None:
        try:
            handoff = self._handoff
            if handoff is not None and self._accepting:
                if not t_ms:
                    t_ms = int(time.time() * 1000)
                if not handoff.put(Drop(t_ms, reason, rows), 0):
                    handoff.count(reason, rows)
        except Exception:  # noqa: BLE001 - never raise into the host
            pass

    def _ensure_started(self) -> bool:
        if self._state == "new":
            try:
                self.start()
            except Exception:  # noqa: BLE001 - never raise into the host
                self._log.error("start", "vigil agent %s could not start", self.agent_id, exc_info=True)
                return False
        if not self._accepting:
            self._log.warning("closed", "vigil agent %s: collect_data after close() is ignored", self.agent_id)
        return self._accepting

    # -- delivery -----------------------------------------------------------------------------
    def flush(self, timeout_s: float = 10.0) -> bool:
        """Process what was collected, close windows whose period is over, and deliver the spool.

        Waits up to ``timeout_s``; True when the spool is empty (everything
        delivered). The current window stays open. Never raises.
        """
        try:
            if self._state == "new":
                self.start()
            deadline = time.monotonic() + timeout_s
            if self._accepting and self._handoff is not None:
                marker = Marker()
                self._handoff.put(marker, 0, force=True)
                marker.done.wait(timeout_s)
            return self._wait_delivered(deadline)
        except Exception:  # noqa: BLE001 - never raise into the host
            self._log.error("flush", "vigil agent %s: flush failed", self.agent_id, exc_info=True)
            return False

    def _wait_delivered(self, deadline: float) -> bool:
        spool, shipper = self._spool, self._shipper
        if spool is None or shipper is None:
            return True
        shipper.notify()
        while True:
            if not spool.names():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def close(self, timeout_s: float = 10.0) -> bool:
        """Close the current window, deliver what can be delivered within ``timeout_s``, stop.

        Windows not delivered stay in the spool for the next agent with this
        id. Stops the collector if :meth:`run_local_server` started it.
        Idempotent; never raises. True when nothing is left undelivered.
        """
        with self._lock:
            if self._state == "closed":
                return not (self._spool and self._spool.names())
            started = self._state == "running"
            self._state = "closed"
            self._accepting = False
        delivered = True
        try:
            deadline = time.monotonic() + timeout_s
            if started and self._handoff is not None and self._processor is not None:
                marker = Marker(close=True)
                self._handoff.put(marker, 0, force=True)
                self._processor.join(max(0.1, deadline - time.monotonic()))
            if started and self._shipper is not None:
                self._shipper.stop(max(0.1, deadline - time.monotonic()))
            close_sink = getattr(self._sink, "close", None)
            if close_sink is not None:
                close_sink()
            delivered = not (self._spool and self._spool.names())
        except Exception:  # noqa: BLE001 - never raise into the host
            self._log.error("close", "vigil agent %s: close failed", self.agent_id, exc_info=True)
            delivered = False
        finally:
            if self._server is not None:
                try:
                    local_server.stop(self._server)
                except Exception:  # noqa: BLE001
                    pass
                self._server = None
            if self._atexit is not None:
                atexit.unregister(self._atexit)
                self._atexit = None
        return delivered

    # -- the collector ------------------------------------------------------------------------
    def run_local_server(self, timeout_s: float = 30.0, command: list[str] | None = None) -> bool:
        """Make sure a collector listens on ``server_port`` of this machine.

        Reuses the one answering ``GET /api/v1/health`` with ``{"status": "ok"}``,
        or starts ``python -m vigil.server --listen localhost --port PORT`` in a
        child process (stopped by :meth:`close`) and waits until it is healthy.
        Returns True if it started one. Unlike the other methods this one
        raises: :class:`~vigil.errors.InvalidInput` when the agent does not
        ship to a loopback address, :class:`~vigil.errors.TransportError`
        when the collector does not come up within ``timeout_s``.

        Parameters
        ----------
        timeout_s : float
        command : list of str, optional
            Another command to start (tests, custom collectors).
        """
        o = self.options
        if o.sink != "http" or o.server_ip not in LOOPBACK:
            raise InvalidInput(
                f"run_local_server of MonitoringAgent needs sink='http' and server_IP set to a loopback "
                f"address ({', '.join(LOOPBACK)}); got sink={o.sink!r}, server_IP={o.server_ip!r}")
        if self._server is not None and self._server.poll() is None:
            return False
        from vigil.config import settings

        log_path = settings().home / "logs" / f"collector-{o.server_port}.log"
        self._server = local_server.ensure_collector(o.server_ip, o.server_port, timeout_s, command, log_path)
        if self._shipper is not None:
            self._shipper.notify()
        return self._server is not None

    # -- introspection ------------------------------------------------------------------------
    def totals(self) -> dict[str, Any]:
        """Counters since start: rows_seen, windows (closed), delivered, rejected, spooled,
        spool_evicted (windows deleted, oldest first, to keep the spool within its bounds), and
        dropped (rows and windows by reason, as reported in the windows).

        Examples
        --------
        >>> MonitoringAgent(n_classes=2, agent_id='doc-totals', sink=print).totals()['rows_seen']
        0
        """
        p, s = self._processor, self._shipper
        return {
            "rows_seen": p.rows_seen if p else 0,
            "windows": p.windows_closed if p else 0,
            "delivered": s.delivered if s else 0,
            "rejected": s.rejected if s else 0,
            "spooled": len(self._spool.names()) if self._spool else 0,
            "spool_evicted": self._spool.evicted if self._spool else 0,
            "dropped": dict(p.dropped) if p else {},
        }

