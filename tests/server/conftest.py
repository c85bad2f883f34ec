from __future__ import annotations

import warnings

import pytest

from tests.fixtures import vigil_home  # noqa: F401 - a fixture, used below

pytest.importorskip("fastapi", reason="the collector needs the server extra")
with warnings.catch_warnings():  # starlette's TestClient asks for httpx2; it works with httpx
    warnings.simplefilter("ignore")
    import fastapi.testclient  # noqa: F401


@pytest.fixture(autouse=True)
def _isolated_home(vigil_home):  # noqa: F811
    """Every test in this folder runs on its own, empty VIGIL_HOME."""
    return vigil_home
