from __future__ import annotations

import pytest

from tests.fixtures import vigil_home  # noqa: F401 - a fixture, used below and by tests


@pytest.fixture(autouse=True)
def _isolated_home(vigil_home):  # noqa: F811
    """Every test in this folder runs on its own, empty VIGIL_HOME."""
    return vigil_home
