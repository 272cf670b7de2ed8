"""What every aggregate of the Store shares: the database, the clock, JSON and the audit log."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from bot.storage.db import POSTGRESQL, Connection, Database


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def load(raw: str | None) -> Any:
    return json.loads(raw) if raw else None


def without_notes(value: Any) -> Any:
    """`value` with every "notes" key removed, at any depth (task snapshots)."""
    if isinstance(value, dict):
        return {k: without_notes(v) for k, v in value.items() if k != "notes"}
    if isinstance(value, list):
        return [without_notes(v) for v in value]
    return value


class StoreBase:
    """The database and clock one Store holds; each aggregate mixin builds on these."""

    db: Database
    _clock: Callable[[], datetime]

    @property
    def shared(self) -> bool:
        """True when other processes may share this database (PostgreSQL)."""
        return self.db.dialect == POSTGRESQL

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """One connection for one unit of work (reads, or single write statements)."""
        with self.db.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction holding the write lock (SQLite) or its row locks (PostgreSQL)."""
        with self.db.write() as conn:
            yield conn

    def now(self) -> str:
        return iso(self._clock())

    def _audit(
        self,
        conn: Connection,
        proposal_id: str | None,
        actor: str,
        action: str,
        task_gid: str | None,
        detail: Any,
    ) -> None:
        conn.insert(
            "audit_log",
            {
                "at": self.now(),
                "proposal_id": proposal_id,
                "actor": actor,
                "action": action,
                "task_gid": task_gid,
                "detail_json": dump(detail),
            },
        )
