"""Session-wide isolation: doctests and tests never touch the user's ~/.vigil."""

import os
import tempfile

import pytest

_HOME = tempfile.mkdtemp(prefix="vigil-test-home-")
os.environ["VIGIL_HOME"] = _HOME
for _var in ("VIGIL_STORE_URL", "VIGIL_ARTIFACTS_URL", "VIGIL_TRACKING_PROVIDERS"):
    os.environ.pop(_var, None)


@pytest.fixture(autouse=True, scope="session")
def _vigil_session_home():
    yield _HOME
    import vigil

    vigil.reload()
