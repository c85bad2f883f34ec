"""Fault injection: stores that refuse writes, full disks, unreachable collectors, killed schedulers.

Soak tests (``@pytest.mark.soak``) run only with ``VIGIL_SOAK=1`` (``make soak``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures import vigil_home  # noqa: F401 - a fixture, used by the tests here

REPO = Path(__file__).resolve().parents[2]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "soak: long-running load test; runs only with VIGIL_SOAK=1 (make soak)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("VIGIL_SOAK") == "1":
        return
    skip = pytest.mark.skip(reason="soak test: set VIGIL_SOAK=1 (make soak) to run it")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


def child_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a child process working on ``home`` (no other VIGIL_* setting)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update({"VIGIL_HOME": str(home), "PYTHONPATH": str(REPO), **extra})
    return env


def integrity_check(db: Path) -> str:
    """``PRAGMA integrity_check`` of a SQLite file, in a separate process (this one has the ADBC
    copy of SQLite loaded; two copies on one file can break its locks)."""
    out = subprocess.run(
        [sys.executable, "-c",
         "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
         "print(c.execute('PRAGMA integrity_check').fetchone()[0])", str(db)],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()
