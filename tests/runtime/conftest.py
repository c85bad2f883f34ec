from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

import vigil
from tests.fixtures import (
    VIGIL_VARIABLES,
    vigil_home,  # noqa: F401 - a fixture, used below and by tests
)

REDIS = ("127.0.0.1", 6379)
RUNTIME_VARIABLES = ("VIGIL_RUNTIME", "VIGIL_CELERY_BROKER", "VIGIL_CELERY_BACKEND", "VIGIL_CELERY_QUEUE",
                     "VIGIL_AUTOTRACK_MAX_ROWS", "VIGIL_JOB_TIMEOUT_S")


@pytest.fixture(autouse=True)
def _isolated_home(vigil_home, monkeypatch):  # noqa: F811
    """Every test in this folder runs on its own, empty VIGIL_HOME, with the local executor."""
    for name in RUNTIME_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    vigil.reload()
    return vigil_home


def _redis_up() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=1.0):
            return True
    except OSError:
        return False


@dataclass
class Worker:
    home: Path
    queue: str
    proc: subprocess.Popen
    log: Path

    def env(self) -> dict[str, str]:
        return {"VIGIL_HOME": str(self.home), "VIGIL_RUNTIME": "celery", "VIGIL_CELERY_QUEUE": self.queue,
                "VIGIL_CELERY_BROKER": f"redis://{REDIS[0]}:{REDIS[1]}/0"}


def start_worker(root: Path, home: Path, queue: str, concurrency: int = 2) -> Worker:
    """Start ``vigil worker`` on ``home`` and ``queue``; returns once it answers a ping task."""
    worker = Worker(home, queue, None, root / f"{queue}.log")  # type: ignore[arg-type]
    env = {k: v for k, v in os.environ.items() if k not in VIGIL_VARIABLES + RUNTIME_VARIABLES}
    env.update(worker.env())
    with open(worker.log, "wb") as log:
        worker.proc = subprocess.Popen(
            [sys.executable, "-m", "vigil.cli", "worker", "--concurrency", str(concurrency), "--loglevel", "warning",
             "--hostname", f"{queue}@%h"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    from vigil.runtime.executors import CeleryExecutor, TaskResult
    from vigil.runtime.settings import RuntimeSettings

    executor = CeleryExecutor(RuntimeSettings.from_env(worker.env()))
    deadline = time.time() + 60
    while True:
        try:
            TaskResult(executor.submit({"v": 1, "task": "ping", "call_id": "warmup"}), None, "warmup").get(timeout=5)
            return worker
        except TimeoutError:
            if worker.proc.poll() is not None or time.time() > deadline:
                stop_worker(worker)
                pytest.fail("the celery worker did not start:\n" + worker.log.read_text()[-3000:])


def stop_worker(worker: Worker) -> None:
    if worker.proc.poll() is not None:
        return
    try:
        os.killpg(worker.proc.pid, signal.SIGTERM)
        worker.proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait(5)
    except ProcessLookupError:
        pass


def purge_queue(queue: str) -> None:
    """Remove what the broker keeps of a test queue (messages, unacked ones, bindings)."""
    import json

    import redis

    client = redis.Redis(*REDIS, db=0)
    try:
        for tag, raw in client.hgetall("unacked").items():
            try:
                routing_key = json.loads(raw)[2]
            except (ValueError, IndexError, TypeError):
                continue
            if routing_key == queue:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    finally:
        client.close()


def need_redis() -> None:
    if not _redis_up():
        if os.environ.get("CI") == "true":
            pytest.fail("Redis at 127.0.0.1:6379 is unreachable; the celery executor tests are mandatory under CI")
        pytest.skip("Redis at 127.0.0.1:6379 is unreachable")


@pytest.fixture(scope="session")
def celery_worker(tmp_path_factory):
    """ONE real Celery worker (``vigil worker``) per test session, on a temporary VIGIL_HOME
    and a queue of its own. Skipped without Redis, except under CI=true where it fails."""
    need_redis()
    root = tmp_path_factory.mktemp("celery")
    worker = start_worker(root, root / "home", f"vigil-test-{uuid.uuid4().hex[:8]}")
    try:
        yield worker
    finally:
        stop_worker(worker)
        purge_queue(worker.queue)


@pytest.fixture(params=["local", "celery"])
def executor(request, monkeypatch):
    """Run the test on the local executor and on a real Celery worker (sharing its VIGIL_HOME)."""
    if request.param == "celery":
        worker = request.getfixturevalue("celery_worker")
        for k, v in worker.env().items():
            monkeypatch.setenv(k, v)
        vigil.reload()
    yield request.param
    vigil.reload()


@pytest.fixture
def uid() -> str:
    """A suffix for names: the celery tests share the worker's VIGIL_HOME."""
    return uuid.uuid4().hex[:8]
