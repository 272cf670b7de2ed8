"""Fixtures for running tests on both backends: SQLite in a temporary file, and a real
PostgreSQL server in a fresh schema per test (dropped after).

The server is `COPILOT_TEST_DATABASE_URL`, default postgresql://postgres@127.0.0.1:5432/test.
Without one these tests fail (errors in the fixture, on a laptop as in CI) with one line saying
how to start it: a skipped half would prove nothing about PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from functools import cache
from urllib.parse import quote as urlquote

import pytest

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
ENABLE_HINT = (
    "PostgreSQL is not reachable at {url} ({problem}). Start PostgreSQL there (trust auth) or set "
    "COPILOT_TEST_DATABASE_URL to a database you may create schemas in."
)


def server_url_for_tests() -> str:
    return os.environ.get("COPILOT_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)


@cache
def _server_problem(url: str) -> str | None:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def require_postgres() -> str:
    """The server's URL; the test fails, saying how to start one, when it cannot be reached."""
    url = server_url_for_tests()
    problem = _server_problem(url)
    if problem is not None:
        pytest.fail(ENABLE_HINT.format(url=url, problem=problem), pytrace=False)
    return url


def schema_url(server_url: str, schema: str) -> str:
    """The server URL with every connection's search_path set to `schema`."""
    separator = "&" if "?" in server_url else "?"
    return f"{server_url}{separator}options={urlquote(f'-csearch_path={schema}')}"


class PostgresSchemas:
    """Fresh schemas on the test server, each dropped at the end of the test."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.created: list[str] = []

    def new(self) -> str:
        import psycopg

        # Unique per test across xdist workers and concurrent runs; the worker in the name says
        # whose a schema left by a killed run was.
        schema = (
            f"copilot_t_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:12]}"
        )
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f'create schema "{schema}"')
        self.created.append(schema)
        return schema_url(self.server_url, schema)

    def drop_all(self) -> None:
        import psycopg

        with psycopg.connect(self.server_url, autocommit=True) as conn:
            for schema in self.created:
                conn.execute(f'drop schema if exists "{schema}" cascade')


@pytest.fixture
def postgres_schemas() -> Iterator[PostgresSchemas]:
    schemas = PostgresSchemas(require_postgres())
    try:
        yield schemas
    finally:
        schemas.drop_all()


@pytest.fixture
def pg_url(postgres_schemas: PostgresSchemas) -> str:
    """A DATABASE_URL of an empty schema of its own on the test PostgreSQL server."""
    return postgres_schemas.new()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_target(request: pytest.FixtureRequest, tmp_path) -> str:
    """What Store() takes, on each backend: a SQLite path, then a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "copilot.db")
    return request.getfixturevalue("pg_url")
