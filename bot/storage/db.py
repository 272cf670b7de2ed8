"""The database-access layer under the Store: one API over SQLite and PostgreSQL.

The Store writes portable SQL and this module runs it on either backend:

- `?` placeholders everywhere (turned into `%s` for psycopg, with literal `%` doubled);
- `INSERT … ON CONFLICT (…) DO NOTHING / DO UPDATE SET col = excluded.col`, which SQLite (3.24+)
  and PostgreSQL both understand, is what `insert_ignore` and `upsert` emit;
- `write()` is one transaction that holds the write lock for its whole length: BEGIN IMMEDIATE
  on SQLite (one writer per file), a plain transaction on PostgreSQL where row locks and
  conditional `UPDATE … WHERE status = …` give each racing process one winner;
- `exclusive(name)` is the cross-process mutex of a whole job (migrations): a transaction-scoped
  advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite.

On SQLite the statements run through sqlite-utils (the embedded default's library, as the
product spec says): each connection is a `sqlite_utils.Database` over a raw sqlite3 connection.
It is imported lazily inside the SQLite backend only, so a PostgreSQL instance never pays its
~24 MiB of imports (issue 11: idle RSS ≤ 100 MiB).

Every statement sent is counted (`round_trips`), so a benchmark can report database round trips
per approval and per digest. Timestamps are stored as ISO-8601 text in UTC on both backends, so
string comparison is time order and the same SQL runs unchanged.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

SQLITE = "sqlite"
POSTGRESQL = "postgresql"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_postgres_url(target: str) -> bool:
    """True for the URLs platforms set in DATABASE_URL (`postgres://` and `postgresql://`)."""
    return target.startswith(("postgres://", "postgresql://"))


def normalise_postgres_url(url: str) -> str:
    """`postgres://…` (Heroku, Render, Fly) → `postgresql://…`; anything else unchanged."""
    parts = urlsplit(url)
    if parts.scheme == "postgres":
        return urlunsplit(("postgresql", *parts[1:]))
    return url


def redact_url(url: str) -> str:
    """The URL without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":****@", 1)
    return urlunsplit((parts.scheme, netloc, *parts[2:]))


def quote(name: str) -> str:
    """A table or column name, checked and quoted for both dialects."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a plain SQL name: {name!r}")
    return f'"{name}"'


@lru_cache(maxsize=1024)
def to_pyformat(sql: str) -> str:
    """`?` placeholders → psycopg's `%s` (literal `%` doubled first)."""
    return sql.replace("%", "%%").replace("?", "%s")


class Counter:
    """A thread-safe count of statements sent to the database."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self, n: int = 1) -> None:
        with self._lock:
            self.value += n


class Connection:
    """One unit of work on either backend: portable SQL with `?` placeholders, rows as dicts."""

    def __init__(self, raw: Any, dialect: str, counter: Counter) -> None:
        self.raw = raw
        self.dialect = dialect
        self._counter = counter
        # SQLite: the sqlite-utils Database every statement goes through (lazy import).
        self.utils: Any = _sqlite_utils_database(raw) if dialect == SQLITE else None

    def count(self, n: int = 1) -> None:
        """Count statements sent by other means (sqlite-utils' schema API in migrations)."""
        self._counter.add(n)

    @property
    def for_update(self) -> str:
        """` for update` on PostgreSQL (lock the rows read until the transaction ends); SQLite's
        BEGIN IMMEDIATE already holds the whole database, and it has no such clause."""
        return " for update" if self.dialect == POSTGRESQL else ""

    # -- plain SQL -------------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return how many rows it changed."""
        if self.dialect == SQLITE:
            self._counter.add()
            cursor = self.utils.execute(sql, list(params))
            try:
                return cursor.rowcount
            finally:
                cursor.close()
        cursor = self._run(sql, params)
        try:
            return cursor.rowcount
        finally:
            cursor.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if self.dialect == SQLITE:
            self._counter.add()
            return list(self.utils.query(sql, list(params)))
        cursor = self._run(sql, params)
        try:
            return [dict(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement for many parameter rows (one round trip on PostgreSQL's pipeline)."""
        if not rows:
            return
        self._counter.add()
        if self.dialect == SQLITE:
            # sqlite-utils has no executemany; its connection runs it (same transaction rules).
            self.utils.conn.executemany(sql, rows)
        else:
            with self.raw.cursor() as cursor:
                cursor.executemany(to_pyformat(sql), rows)

    def _run(self, sql: str, params: Sequence[Any]) -> Any:
        self._counter.add()
        cursor = self.raw.cursor()
        if params:
            cursor.execute(to_pyformat(sql), list(params))
        else:
            cursor.execute(sql)  # no parameters: psycopg leaves the text as it is
        return cursor

    # -- rows by name (the sqlite-utils idioms, on both backends) --------------------------

    def insert(self, table: str, row: Mapping[str, Any]) -> None:
        self.insert_all(table, [row])

    def insert_all(self, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
        batch = list(rows)
        if not batch:
            return
        columns = list(batch[0])
        sql = _insert_sql(table, tuple(columns), "")
        self.executemany(sql, [[r.get(c) for c in columns] for r in batch])

    def insert_ignore(self, table: str, row: Mapping[str, Any]) -> bool:
        """Insert unless a row with the same key exists; True when this call inserted it."""
        columns = tuple(row)
        sql = _insert_sql(table, columns, " on conflict do nothing")
        return self.execute(sql, list(row.values())) == 1

    def upsert(self, table: str, row: Mapping[str, Any], *, pk: str | Sequence[str]) -> None:
        self.upsert_all(table, [row], pk=pk)

    def upsert_all(
        self, table: str, rows: Iterable[Mapping[str, Any]], *, pk: str | Sequence[str]
    ) -> None:
        """Insert, or update the given columns of the row with the same primary key."""
        batch = list(rows)
        if not batch:
            return
        keys = (pk,) if isinstance(pk, str) else tuple(pk)
        columns = tuple(batch[0])
        sql = _upsert_sql(table, columns, keys)
        self.executemany(sql, [[r.get(c) for c in columns] for r in batch])

    # -- introspection (tests, secret scans) -----------------------------------------------

    def table_names(self) -> list[str]:
        if self.dialect == SQLITE:
            self._counter.add()
            return sorted(n for n in self.utils.table_names() if not n.startswith("sqlite_"))
        else:
            rows = self.query(
                "select table_name as name from information_schema.tables "
                "where table_schema = current_schema() order by table_name"
            )
        return [r["name"] for r in rows]

    def rows(self, table: str) -> list[dict[str, Any]]:
        return self.query(f"select * from {quote(table)}")


def _sqlite_utils_database(raw: sqlite3.Connection) -> Any:
    """sqlite-utils over this connection, imported on first use (never on PostgreSQL)."""
    import sqlite_utils

    # No plugins' connection hooks and no PRAGMA per connection: the same SQLite as before.
    return sqlite_utils.Database(raw, recursive_triggers=False, execute_plugins=False)


@lru_cache(maxsize=256)
def _insert_sql(table: str, columns: tuple[str, ...], tail: str) -> str:
    names = ", ".join(quote(c) for c in columns)
    marks = ", ".join("?" for _ in columns)
    return f"insert into {quote(table)} ({names}) values ({marks}){tail}"


@lru_cache(maxsize=256)
def _upsert_sql(table: str, columns: tuple[str, ...], keys: tuple[str, ...]) -> str:
    updates = [c for c in columns if c not in keys]
    conflict = ", ".join(quote(k) for k in keys)
    if updates:
        sets = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in updates)
        tail = f" on conflict ({conflict}) do update set {sets}"
    else:
        tail = f" on conflict ({conflict}) do nothing"
    return _insert_sql(table, columns, tail)


class Database(Protocol):
    """What the Store needs from a backend."""

    dialect: str
    round_trips: Counter
    target: str

    def connect(self) -> Any: ...  # contextmanager → Connection (each statement commits)

    def write(self) -> Any: ...  # contextmanager → Connection in one write transaction

    def exclusive(self, name: str) -> Any: ...  # contextmanager → Connection, cross-process

    def close(self) -> None: ...


class SqliteDatabase:
    """One SQLite file: a connection per unit of work (Bolt and the scheduler use threads)."""

    dialect = SQLITE

    def __init__(self, path: str) -> None:
        self.path = path
        self.target = path
        self.round_trips = Counter()
        with self.connect() as conn:
            conn.utils.enable_wal()  # persistent: set once per database file

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        # isolation_level=None: no implicit transactions; write() opens its own.
        raw = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        try:
            conn = Connection(raw, SQLITE, self.round_trips)
            conn.utils.execute("PRAGMA busy_timeout=30000")
            conn.utils.execute("PRAGMA foreign_keys=ON")
            yield conn
        finally:
            raw.close()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction that takes the write lock up front.

        A deferred transaction that reads first and writes later can fail at once with
        "database is locked" under concurrency (busy_timeout does not apply to that upgrade);
        BEGIN IMMEDIATE waits for the lock instead.
        """
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.utils.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def exclusive(self, name: str) -> Any:
        return self.write()  # one writer per file: the write lock is the mutex

    def close(self) -> None:
        pass


class PostgresDatabase:
    """PostgreSQL through a psycopg 3 connection pool, shared by the process's threads."""

    dialect = POSTGRESQL

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        self.target = normalise_postgres_url(url)
        self.round_trips = Counter()
        self._pool = ConnectionPool(
            self.target,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True, "row_factory": dict_row},
            timeout=30,
            name="copilot",
            open=False,
        )
        self._pool.open(wait=True, timeout=30)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._pool.connection() as raw:
            yield Connection(raw, POSTGRESQL, self.round_trips)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self._pool.connection() as raw:
            self.round_trips.add(2)  # BEGIN and COMMIT
            with raw.transaction():
                yield Connection(raw, POSTGRESQL, self.round_trips)

    @contextmanager
    def exclusive(self, name: str) -> Iterator[Connection]:
        """A transaction holding an advisory lock named `name` in this schema until it ends."""
        with self.write() as conn:
            conn.execute(
                "select pg_advisory_xact_lock(hashtextextended(current_schema() || ':' || ?, 0))",
                [name],
            )
            yield conn

    def close(self) -> None:
        self._pool.close()


def open_database(target: str, *, pool_size: int = 10) -> SqliteDatabase | PostgresDatabase:
    """A PostgreSQL pool for a postgres(ql):// URL, else the SQLite file at that path."""
    if is_postgres_url(target):
        return PostgresDatabase(target, max_size=pool_size)
    return SqliteDatabase(target)
