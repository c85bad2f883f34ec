"""Shared fixtures.

PostgreSQL: the session gets one throwaway database (``vigil_test_<random>``)
on the server named by ``VIGIL_TEST_PG_SERVER`` (default
``postgresql://127.0.0.1:5432/test``, as user ``postgres`` or else ``root``),
dropped at the end. Without a reachable server PostgreSQL tests are skipped,
except under ``CI=true``, where a missing service is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import pytest

from tests.fixtures import service_unavailable

PG_SERVER = os.environ.get("VIGIL_TEST_PG_SERVER", "postgresql://127.0.0.1:5432/test")
PG_USERS = ("postgres", "root")


def _pg_admin() -> tuple[Any, str]:
    """An autocommit connection to the maintenance database, and its URL."""
    try:
        import psycopg
    except ImportError as exc:
        _pg_unavailable(f"psycopg is not installed ({exc})")
    scheme, _, rest = PG_SERVER.partition("://")
    errors = []
    urls = [PG_SERVER] if "@" in rest.split("/", 1)[0] else [f"{scheme}://{u}@{rest}" for u in PG_USERS]
    for url in urls:
        user = url.partition("://")[2].split("@", 1)[0]
        try:
            conn = psycopg.connect(url, autocommit=True, connect_timeout=5)
        except psycopg.Error as exc:
            errors.append(f"{user}: {' '.join(str(exc).split())}")
            continue
        return conn, url
    _pg_unavailable(f"cannot connect to {PG_SERVER} ({'; '.join(errors)})")


def _pg_unavailable(why: str) -> NoReturn:
    service_unavailable("PostgreSQL", why)


@contextmanager
def fresh_pg_database(prefix: str = "vigil_test") -> Iterator[str]:
    """URL of a new PostgreSQL database, dropped (its connections closed) afterwards."""
    admin, admin_url = _pg_admin()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield admin_url.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this test session."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture
def pg_empty_url(pg_url: str) -> str:
    """``pg_url`` with every ``vigil_*`` table emptied and its ids restarted."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")
        tables = [r[0] for r in conn.execute(
            "SELECT quote_ident(tablename) FROM pg_tables "
            "WHERE schemaname = current_schema() AND tablename LIKE 'vigil\\_%'"
        )]
        if tables:
            conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")
    return pg_url
