"""SQLite through sqlite-utils: proposals, their items, the audit log and the model cache.

Only this module knows table names. Each call opens its own connection (Bolt listeners and
scheduler jobs run on threads); WAL lets readers and one writer work side by side.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database, Migrations

migrations = Migrations("copilot")


@migrations()
def m001_proposals_and_audit(db: Database) -> None:
    db["proposals"].create(
        {
            "id": str,
            "kind": str,
            "project_gid": str,
            "project_name": str,
            "channel": str,
            "message_ts": str,
            "status": str,
            "created_by": str,
            "created_at": str,
            "decided_by": str,
            "decided_at": str,
            "decision": str,
            "prompt_version": str,
            "model": str,
            "inputs_json": str,
            "model_output_json": str,
            "view_json": str,
            "result_json": str,
            "lease_owner": str,
            "lease_until": str,
        },
        pk="id",
        not_null={"kind", "status", "created_at"},
    )
    db["proposals"].create_index(["status"])
    db["proposal_items"].create(
        {
            "proposal_id": str,
            "task_gid": str,
            "position": int,
            "label": str,
            "changes_json": str,
            "guard_json": str,
            "status": str,
            "reason": str,
            "updated_at": str,
        },
        pk=("proposal_id", "task_gid"),
        foreign_keys=[("proposal_id", "proposals", "id")],
    )
    db["audit_log"].create(
        {
            "id": int,
            "at": str,
            "proposal_id": str,
            "actor": str,
            "action": str,
            "task_gid": str,
            "detail_json": str,
        },
        pk="id",
    )
    db["audit_log"].create_index(["proposal_id"])
    db["llm_cache"].create(
        {"key": str, "value_json": str, "model": str, "created_at": str},
        pk="key",
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class ProposalRow:
    id: str
    kind: str
    project_gid: str
    project_name: str
    channel: str
    message_ts: str | None
    status: str
    created_by: str
    created_at: str
    decided_by: str | None
    decided_at: str | None
    decision: str | None
    prompt_version: str | None
    model: str | None
    inputs: Any
    model_output: Any
    view: Any
    result: Any


@dataclass(frozen=True)
class ItemRow:
    proposal_id: str
    task_gid: str
    position: int
    label: str
    changes: dict[str, Any]
    guard: dict[str, Any]
    status: str
    reason: str


class Store:
    def __init__(self, path: str, *, clock: Any = utc_now) -> None:
        self.path = path
        self._clock = clock
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # persistent: set once per database file
        finally:
            conn.close()
        with self.write() as db:
            migrations.apply(db)

    @contextmanager
    def connect(self) -> Iterator[Database]:
        """One connection for one unit of work (reads, or a single write statement)."""
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
            yield Database(conn, execute_plugins=False)
        finally:
            conn.close()

    @contextmanager
    def write(self) -> Iterator[Database]:
        """A write transaction that takes the write lock up front.

        A deferred transaction that reads first and writes later can fail at once with
        "database is locked" under concurrency (busy_timeout does not apply to that upgrade);
        BEGIN IMMEDIATE waits for the lock instead.
        """
        with self.connect() as db:
            db.conn.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.conn.execute("ROLLBACK")
                raise
            db.conn.execute("COMMIT")

    def now(self) -> str:
        return iso(self._clock())

    # -- proposals -------------------------------------------------------------------------

    def create_proposal(
        self,
        *,
        proposal_id: str,
        kind: str,
        project_gid: str,
        project_name: str,
        channel: str,
        created_by: str,
        prompt_version: str | None,
        model: str | None,
        inputs: Any,
        model_output: Any,
        view: Any,
        items: Sequence[tuple[str, str, dict[str, Any], dict[str, Any]]],
    ) -> None:
        """Store a proposal and its items (gid, label, changes, guard) in one transaction."""
        now = self.now()
        with self.write() as db:
            db["proposals"].insert(
                {
                    "id": proposal_id,
                    "kind": kind,
                    "project_gid": project_gid,
                    "project_name": project_name,
                    "channel": channel,
                    "message_ts": None,
                    "status": "open",
                    "created_by": created_by,
                    "created_at": now,
                    "prompt_version": prompt_version,
                    "model": model,
                    "inputs_json": _dump(inputs),
                    "model_output_json": _dump(model_output),
                    "view_json": _dump(view),
                }
            )
            db["proposal_items"].insert_all(
                {
                    "proposal_id": proposal_id,
                    "task_gid": gid,
                    "position": position,
                    "label": label,
                    "changes_json": _dump(changes),
                    "guard_json": _dump(guard),
                    "status": "pending",
                    "reason": "",
                    "updated_at": now,
                }
                for position, (gid, label, changes, guard) in enumerate(items)
            )
            self._audit(db, proposal_id, created_by, "proposed", None, {"items": len(items)})

    def set_message(self, proposal_id: str, channel: str, message_ts: str) -> None:
        with self.connect() as db:
            db.execute(
                "update proposals set channel = ?, message_ts = ? where id = ?",
                [channel, message_ts, proposal_id],
            )

    def proposal(self, proposal_id: str) -> ProposalRow | None:
        with self.connect() as db:
            rows = list(db.query("select * from proposals where id = ?", [proposal_id]))
        return _proposal(rows[0]) if rows else None

    def proposals_with_status(self, status: str) -> list[ProposalRow]:
        with self.connect() as db:
            rows = list(
                db.query("select * from proposals where status = ? order by created_at", [status])
            )
        return [_proposal(r) for r in rows]

    def claim_decision(self, proposal_id: str, *, user: str, decision: str) -> bool:
        """Move an open proposal to `approving` or `rejected`; True only for the one winner."""
        status = "approving" if decision == "approve" else "rejected"
        with self.write() as db:
            cursor = db.execute(
                "update proposals set status = ?, decided_by = ?, decided_at = ?, decision = ? "
                "where id = ? and status = 'open'",
                [status, user, self.now(), decision, proposal_id],
            )
            won = cursor.rowcount == 1
            if won:
                self._audit(db, proposal_id, user, decision, None, {})
        return won

    def reopen_for_retry(self, proposal_id: str, *, user: str) -> bool:
        """Let a partly applied proposal retry its failed items; True for the one winner."""
        with self.write() as db:
            cursor = db.execute(
                "update proposals set status = 'approving' where id = ? and status = 'partial'",
                [proposal_id],
            )
            won = cursor.rowcount == 1
            if won:
                db.execute(
                    "update proposal_items set status = 'pending', reason = '', updated_at = ? "
                    "where proposal_id = ? and status = 'failed'",
                    [self.now(), proposal_id],
                )
                self._audit(db, proposal_id, user, "retry", None, {})
        return won

    def take_lease(self, proposal_id: str, *, owner: str, seconds: float) -> bool:
        """Become the one worker applying an `approving` proposal, unless a live lease exists."""
        now = self._clock()
        until = iso(now + timedelta(seconds=seconds))
        with self.write() as db:
            cursor = db.execute(
                "update proposals set lease_owner = ?, lease_until = ? where id = ? "
                "and status = 'approving' and (lease_until is null or lease_until < ? "
                "or lease_owner = ?)",
                [owner, until, proposal_id, iso(now), owner],
            )
            return cursor.rowcount == 1

    def lease_owner(self, proposal_id: str) -> str | None:
        with self.connect() as db:
            rows = list(db.query("select lease_owner from proposals where id = ?", [proposal_id]))
        return rows[0]["lease_owner"] if rows else None

    def release_lease(self, proposal_id: str, *, owner: str) -> None:
        with self.connect() as db:
            db.execute(
                "update proposals set lease_owner = null, lease_until = null "
                "where id = ? and lease_owner = ?",
                [proposal_id, owner],
            )

    def finish(self, proposal_id: str, *, status: str, result: Any) -> None:
        with self.write() as db:
            db.execute(
                "update proposals set status = ?, result_json = ? where id = ?",
                [status, _dump(result), proposal_id],
            )
            self._audit(db, proposal_id, "copilot", f"finished:{status}", None, result)

    # -- items -----------------------------------------------------------------------------

    def items(self, proposal_id: str) -> list[ItemRow]:
        with self.connect() as db:
            rows = list(
                db.query(
                    "select * from proposal_items where proposal_id = ? order by position",
                    [proposal_id],
                )
            )
        return [
            ItemRow(
                proposal_id=r["proposal_id"],
                task_gid=r["task_gid"],
                position=r["position"],
                label=r["label"],
                changes=json.loads(r["changes_json"]),
                guard=json.loads(r["guard_json"]),
                status=r["status"],
                reason=r["reason"] or "",
            )
            for r in rows
        ]

    def mark_items(
        self,
        proposal_id: str,
        outcomes: Sequence[tuple[str, str, str, dict[str, Any]]],
        *,
        actor: str,
    ) -> None:
        """Record item outcomes (gid, status, reason, detail) with their audit rows atomically."""
        now = self.now()
        with self.write() as db:
            for gid, status, reason, detail in outcomes:
                db.execute(
                    "update proposal_items set status = ?, reason = ?, updated_at = ? "
                    "where proposal_id = ? and task_gid = ?",
                    [status, reason, now, proposal_id, gid],
                )
                self._audit(db, proposal_id, actor, status, gid, {"reason": reason, **detail})

    # -- audit -----------------------------------------------------------------------------

    def audit(
        self,
        proposal_id: str | None,
        actor: str,
        action: str,
        task_gid: str | None = None,
        detail: Any = None,
    ) -> None:
        with self.connect() as db:
            self._audit(db, proposal_id, actor, action, task_gid, detail or {})

    def _audit(
        self,
        db: Database,
        proposal_id: str | None,
        actor: str,
        action: str,
        task_gid: str | None,
        detail: Any,
    ) -> None:
        db["audit_log"].insert(
            {
                "at": self.now(),
                "proposal_id": proposal_id,
                "actor": actor,
                "action": action,
                "task_gid": task_gid,
                "detail_json": _dump(detail),
            }
        )

    def audit_rows(self, proposal_id: str | None = None) -> list[dict[str, Any]]:
        sql = "select * from audit_log"
        params: list[Any] = []
        if proposal_id is not None:
            sql += " where proposal_id = ?"
            params.append(proposal_id)
        with self.connect() as db:
            rows = list(db.query(sql + " order by id", params))
        for row in rows:
            row["detail"] = json.loads(row.pop("detail_json") or "null")
        return rows

    # -- model cache -----------------------------------------------------------------------

    def cached_judgements(self, keys: Sequence[str]) -> dict[str, Any]:
        if not keys:
            return {}
        found: dict[str, Any] = {}
        with self.connect() as db:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                for row in db.query(
                    f"select key, value_json from llm_cache where key in ({marks})", chunk
                ):
                    found[row["key"]] = json.loads(row["value_json"])
        return found

    def cache_judgements(self, entries: dict[str, Any], *, model: str) -> None:
        now = self.now()
        with self.write() as db:
            db["llm_cache"].upsert_all(
                (
                    {"key": k, "value_json": _dump(v), "model": model, "created_at": now}
                    for k, v in entries.items()
                ),
                pk="key",
            )


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _proposal(row: dict[str, Any]) -> ProposalRow:
    def load(key: str) -> Any:
        raw = row.get(key)
        return json.loads(raw) if raw else None

    return ProposalRow(
        id=row["id"],
        kind=row["kind"],
        project_gid=row["project_gid"],
        project_name=row["project_name"] or "",
        channel=row["channel"] or "",
        message_ts=row["message_ts"],
        status=row["status"],
        created_by=row["created_by"] or "",
        created_at=row["created_at"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        decision=row["decision"],
        prompt_version=row["prompt_version"],
        model=row["model"],
        inputs=load("inputs_json"),
        model_output=load("model_output_json"),
        view=load("view_json"),
        result=load("result_json"),
    )
