"""The ``profiling`` provider: default tracking plus a sampler of system load.

While a run is active a daemon thread samples CPU, memory, disk and network
counters with psutil every ``interval_s`` seconds (``VIGIL_PROFILING_INTERVAL_S``,
default 1 s) and logs each as a ``profile`` event. The thread stops with the run.
"""

from __future__ import annotations

import threading
from typing import Any

from vigil.errors import invalid
from vigil.tracking.provider import DefaultProvider


class ProfilingProvider(DefaultProvider):
    """Default provider plus ``profile`` events sampled while a run is active.

    Examples
    --------
    >>> import vigil as om
    >>> with om.runtime.experiment('doc-profiled', provider='profiling', interval_s=0.05) as exp:
    ...     om.runtime.ping()['node'] != ''
    True
    >>> 'cpu_percent' in set(exp.data(event='profile')['key'])
    True
    """

    name = "profiling"

    def __init__(self, experiment: str, stores: Any = None, interval_s: float | None = None,
                 **options: Any) -> None:
        super().__init__(experiment, stores, **options)
        if interval_s is not None and (isinstance(interval_s, bool) or not isinstance(interval_s, (int, float))
                                       or not 0.01 <= interval_s <= 3600):
            raise invalid("ProfilingProvider", "interval_s", interval_s, "a number of seconds in [0.01, 3600]")
        self._interval_s = interval_s
        self._halt = threading.Event()
        self._sampler: threading.Thread | None = None

    @property
    def interval_s(self) -> float:
        return float(self._interval_s or self.stores.settings.profiling_interval_s)

    def start(self) -> int:
        run = super().start()
        self._halt = threading.Event()
        self._sample(run)  # one sample at once, so short runs are profiled too
        self._sampler = threading.Thread(target=self._loop, args=(run, self._halt),
                                         name="vigil-profiler", daemon=True)
        self._sampler.start()
        return run

    def stop(self, status: str = "STOPPED") -> None:
        run = self._run
        self._halt.set()
        if self._sampler is not None:
            self._sampler.join(timeout=5)
            self._sampler = None
        if run is not None:
            self._sample(run)
        super().stop(status)

    def _loop(self, run: int, halt: threading.Event) -> None:
        while not halt.wait(self.interval_s):
            self._sample(run)

    def _sample(self, run: int) -> None:
        import psutil

        proc = psutil.Process()
        with proc.oneshot():
            mem = proc.memory_info()
            values = {
                "cpu_percent": psutil.cpu_percent(interval=None),
                "process_cpu_percent": proc.cpu_percent(interval=None),
                "memory_percent": psutil.virtual_memory().percent,
                "process_rss_mb": mem.rss / 2**20,
                "process_threads": float(proc.num_threads()),
            }
        disk = psutil.disk_io_counters()
        if disk is not None:
            values["disk_read_mb"] = disk.read_bytes / 2**20
            values["disk_write_mb"] = disk.write_bytes / 2**20
        net = psutil.net_io_counters()
        if net is not None:
            values["net_sent_mb"] = net.bytes_sent / 2**20
            values["net_recv_mb"] = net.bytes_recv / 2**20
        rows = [self._row(run, "profile", key, float(value), None, self._sticky_json)
                for key, value in values.items()]
        self._write(rows)
