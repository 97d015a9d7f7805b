"""Fixtures shared by the integration test modules: the websockets a test opens, and a fresh
PostgreSQL database for the crypto store and the device lease."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.client_helpers import Sockets
from tests.server import BASE_DIR
from webclient.matrix.crypto.store import close_connections

PG = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture
async def sockets():
    """A `Sockets` (tests/client_helpers.py); whatever the test left open is closed after it."""
    opened = Sockets()
    yield opened
    await opened.close_all()


# -- a fresh PostgreSQL database with the migrations applied ----------------------------------


def require_postgres() -> None:
    try:
        psycopg.connect(f"{PG}/postgres", connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth) is unreachable; the "
            f"crypto store and lease tests need it: {exc}"
        )


@pytest.fixture(scope="module")
def crypto_postgres(tmp_path_factory) -> Iterator[str]:
    """The URL of a new database, migrated like a deployment's; dropped afterwards."""
    require_postgres()
    name = f"webclient_crypto_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG}/{name}"
    try:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "WEBCLIENT_DATA_DIR": str(tmp_path_factory.mktemp("migrate")),
            "DJANGO_SETTINGS_MODULE": "webclient.settings",
        }
        env.pop("REDIS_URL", None)
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert migrate.returncode == 0, f"migrate failed:\n{migrate.stdout}\n{migrate.stderr}"
        yield url
    finally:
        close_connections()
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
