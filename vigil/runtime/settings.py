"""Settings of the runtime, read from the environment when a runtime is created.

==============================  =========================================  ==============================
variable                        meaning                                    default
==============================  =========================================  ==============================
``VIGIL_RUNTIME``               executor: ``local`` or ``celery``          ``local``
``VIGIL_CELERY_BROKER``         Celery broker URL                          ``redis://127.0.0.1:6379/0``
``VIGIL_CELERY_BACKEND``        Celery result backend URL                  the broker URL
``VIGIL_CELERY_QUEUE``          queue the tasks go to / the worker reads   ``vigil``
``VIGIL_AUTOTRACK_MAX_ROWS``    rows of X/Y/proba/labels logged per call   ``10000``
``VIGIL_JOB_TIMEOUT_S``         time limit of one job run                  ``3600``
``VIGIL_CELERY_LIVENESS_S``     fail a started task whose worker has not   ``30`` (``0``: never)
                                answered pings for this long
==============================  =========================================  ==============================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from vigil.errors import ConfigError

EXECUTORS = ("local", "celery")


@dataclass(frozen=True)
class RuntimeSettings:
    """Immutable runtime configuration.

    Examples
    --------
    >>> RuntimeSettings.from_env({}).executor
    'local'
    >>> RuntimeSettings.from_env({'VIGIL_CELERY_BROKER': 'redis://h:1/2'}).backend
    'redis://h:1/2'
    """

    executor: str = "local"
    broker: str = "redis://127.0.0.1:6379/0"
    backend: str = "redis://127.0.0.1:6379/0"
    queue: str = "vigil"
    autotrack_max_rows: int = 10_000
    job_timeout_s: float = 3600.0
    liveness_s: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RuntimeSettings:
        env = os.environ if env is None else env
        executor = (env.get("VIGIL_RUNTIME") or "local").strip().lower()
        if executor not in EXECUTORS:
            raise ConfigError(f"VIGIL_RUNTIME must be one of {', '.join(EXECUTORS)}; got {executor!r}")
        broker = env.get("VIGIL_CELERY_BROKER") or cls.broker
        return cls(
            executor=executor,
            broker=broker,
            backend=env.get("VIGIL_CELERY_BACKEND") or broker,
            queue=env.get("VIGIL_CELERY_QUEUE") or "vigil",
            autotrack_max_rows=int(_number(env, "VIGIL_AUTOTRACK_MAX_ROWS", 10_000, 1, 10_000_000)),
            job_timeout_s=_number(env, "VIGIL_JOB_TIMEOUT_S", 3600.0, 0.1, 7 * 86400),
            liveness_s=_number(env, "VIGIL_CELERY_LIVENESS_S", 30.0, 0, 86400),
        )


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number in [{low:g}, {high:g}]; got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be a number in [{low:g}, {high:g}]; got {raw!r}")
    return value
