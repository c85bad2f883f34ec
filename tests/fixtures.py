"""Fixtures shared by the test folders that use the default workspace.

Import the fixture into a ``conftest.py`` (``from tests.fixtures import vigil_home``)
and wrap it in an autouse fixture there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import vigil

#: Every setting read from the environment; a test starts with none of them set except VIGIL_HOME.
VIGIL_VARIABLES = (
    "VIGIL_STORE_URL", "VIGIL_ARTIFACTS_URL", "VIGIL_ARTIFACTS_OPTIONS", "VIGIL_TRACKING_PROVIDERS",
    "VIGIL_FLUSH_INTERVAL_MS", "VIGIL_PROFILING_INTERVAL_S", "VIGIL_USERID",
)


@pytest.fixture
def vigil_home(tmp_path: Path) -> Iterator[Path]:
    """A fresh, empty VIGIL_HOME for this test; the default workspace is reopened around it.

    The environment is restored *before* the last ``vigil.reload()``, so what runs after
    the test (doctests included) sees the settings it had before.
    """
    home = tmp_path / "vigil-home"
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
