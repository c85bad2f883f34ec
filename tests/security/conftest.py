"""Fixtures of the security suite: an isolated workspace, token-protected apps and a file-tree snapshot.

Every test gets its own ``VIGIL_HOME`` below ``tmp_path``; ``tree`` records
every file under ``tmp_path`` (the home's *parent*), so a test can assert
that hostile input wrote nothing outside the places vigil owns.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import vigil_home  # noqa: F401 - a fixture, used below

pytest.importorskip("fastapi", reason="the server tests need the server extra")
with warnings.catch_warnings():  # starlette's TestClient asks for httpx2; it works with httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TOKEN = "t" * 24


@pytest.fixture(autouse=True)
def _isolated_home(vigil_home):  # noqa: F811
    """Every test in this folder runs on its own, empty VIGIL_HOME."""
    return vigil_home


def files_under(root: Path) -> dict[str, bytes]:
    """Every regular file below ``root`` (relative path -> content); symlinks are listed, not followed."""
    found: dict[str, bytes] = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            found[rel] = b"<link>" if path.is_symlink() else path.read_bytes()
    return found


class Tree:
    """A snapshot of the files under the workspace's parent, to compare with later."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.root = home.parent
        self.before = files_under(self.root)

    def changes(self) -> tuple[set[str], set[str], set[str]]:
        """(added, removed, modified) relative paths since the snapshot (or :meth:`mark`)."""
        now = files_under(self.root)
        added = set(now) - set(self.before)
        removed = set(self.before) - set(now)
        modified = {k for k in set(now) & set(self.before) if now[k] != self.before[k]}
        return added, removed, modified

    def mark(self) -> None:
        self.before = files_under(self.root)

    def assert_contained(self, allowed_prefixes: tuple[str, ...] = ("vigil-home/",)) -> None:
        """New files only inside the workspace; no stored object changed or vanished."""
        added, removed, modified = self.changes()
        outside = sorted(p for p in added if not p.startswith(allowed_prefixes))
        assert outside == [], f"files written outside the workspace: {outside}"
        objects = "vigil-home/artifacts/"
        assert sorted(p for p in removed | modified if p.startswith(objects)) == [], "stored objects changed"


@pytest.fixture
def tree(vigil_home):  # noqa: F811
    """Snapshot of the files under the parent of VIGIL_HOME, taken when the test asks for it."""
    import vigil

    vigil.datasets  # noqa: B018 - open the default workspace first, so its creation is not a change
    return Tree(vigil_home)


@pytest.fixture
def settings(vigil_home):  # noqa: F811
    from vigil.config import Settings

    return Settings.from_env()


@pytest.fixture
def guarded(settings) -> Iterator[TestClient]:
    """The whole server (collector + dashboard) with the token ``TOKEN`` required."""
    from vigil.server.app import create_app
    from vigil.server.config import ServerConfig

    app = create_app(ServerConfig(token=TOKEN, alert_channels=(), jsonl=False, anomaly=False), settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def open_app(settings) -> Iterator[TestClient]:
    """The server without a token (localhost), for bad-input tests that are about input, not auth."""
    from vigil.server.app import create_app
    from vigil.server.config import ServerConfig

    app = create_app(ServerConfig(alert_channels=(), jsonl=False, anomaly=False), settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
