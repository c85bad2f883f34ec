"""The Celery application of the runtime: ``celery -A vigil.runtime.celery_app worker``.

``vigil worker`` starts the same worker. Configuration comes from
:class:`~vigil.runtime.settings.RuntimeSettings` (``VIGIL_CELERY_BROKER``,
``VIGIL_CELERY_BACKEND``, ``VIGIL_CELERY_QUEUE``). Payloads and results are
JSON only (``accept_content=['json']``): a worker never unpickles a message.

Tasks are acknowledged late and are *not* requeued when the worker process
executing them dies: the result turns FAILURE (``WorkerLostError``) and the
caller's ``get()`` raises :class:`~vigil.runtime.executors.TaskFailed`
instead of waiting forever. When the whole worker dies (nobody is left to
record the loss), the caller's handle notices that the worker which started
the task no longer answers control pings (``VIGIL_CELERY_LIVENESS_S``) and
raises TaskFailed; the broker keeps the unacknowledged message and may
redeliver it to a worker later. A ``solo`` pool cannot answer pings while it
runs a task, so ``vigil worker`` offers ``prefork`` and ``threads`` only.
Creating the app opens no connection.
"""

from __future__ import annotations

from typing import Any

from vigil.errors import MissingDependency
from vigil.runtime.settings import RuntimeSettings

TASK_NAME = "vigil.execute"


def make_app(settings: RuntimeSettings | None = None, with_tasks: bool = False) -> Any:
    """A configured Celery app (no connection is opened until it is used)."""
    try:
        from celery import Celery
    except ImportError:
        raise MissingDependency("celery", "runtime", "the celery executor") from None
    rs = settings or RuntimeSettings.from_env()
    app = Celery("vigil", broker=rs.broker, backend=rs.backend)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_default_queue=rs.queue,
        task_acks_late=True,
        task_reject_on_worker_lost=False,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_track_started=True,
        result_expires=86400,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    if with_tasks:
        @app.task(name=TASK_NAME)
        def execute(payload: dict[str, Any]) -> dict[str, Any]:
            from vigil.runtime.tasks import execute as run
            from vigil.store import default_stores

            return run(payload, default_stores(), "celery")

    return app


#: the app ``celery -A vigil.runtime.celery_app`` finds
app = make_app(with_tasks=True)
