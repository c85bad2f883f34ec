"""Fixtures shared by the test folders that use the default workspace.

Import the fixture into a ``conftest.py`` (``from tests.fixtures import vigil_home``)
and wrap it in an autouse fixture there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest

import vigil

#: Every setting read from the environment; a test starts with none of them set except VIGIL_HOME.
VIGIL_VARIABLES = (
    "VIGIL_STORE_URL", "VIGIL_ARTIFACTS_URL", "VIGIL_ARTIFACTS_OPTIONS", "VIGIL_TRACKING_PROVIDERS",
    "VIGIL_FLUSH_INTERVAL_MS", "VIGIL_PROFILING_INTERVAL_S", "VIGIL_USERID",
)


@contextmanager
def workspace_at(home: Path) -> Iterator[Path]:
    """``home`` as VIGIL_HOME (no other VIGIL_* setting) while the block runs; the default workspace
    is reopened around it.

    The environment is restored *before* the last ``vigil.reload()``, so what runs after
    (doctests included) sees the settings it had before.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIGIL_HOME", str(home))
        for name in VIGIL_VARIABLES:
            mp.delenv(name, raising=False)
        vigil.reload()
        try:
            yield home
        finally:
            vigil.reload()  # flush and close the stores of this home while it is still configured
    vigil.reload()


def service_unavailable(what: str, why: str) -> NoReturn:
    """Skip a test whose service or tool is missing, except under ``CI=true``, where that fails the run."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} required under CI=true but unavailable: {why}", pytrace=False)
    pytest.skip(f"{what} unavailable: {why}")


@pytest.fixture
def vigil_home(tmp_path: Path) -> Iterator[Path]:
    """A fresh, empty VIGIL_HOME for this test (see :func:`workspace_at`)."""
    with workspace_at(tmp_path / "vigil-home") as home:
        yield home
