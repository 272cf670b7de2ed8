"""SQLite through sqlite-utils: proposals, their items, the audit log and the model cache.

Only this module knows table names. Each call opens its own connection (Bolt listeners and
scheduler jobs run on threads); WAL lets readers and one writer work side by side.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
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


@migrations()
def m002_capacity_and_overload_alerts(db: Database) -> None:
    # Issue 5: per-person weekly hours, the overload alert ledger, Slack ids by email, charts.
    db["capacity_overrides"].create(
        {
            "person_gid": str,
            "person_name": str,
            "weekly_hours": float,
            "set_by": str,
            "set_at": str,
        },
        pk="person_gid",
        not_null={"weekly_hours"},
    )
    db["overload_alerts"].create(
        {
            "project_gid": str,
            "person_gid": str,
            "week_start": str,
            "version": int,
            "active": int,
            "task_gids_json": str,
            "load": float,
            "capacity": float,
            "reason": str,
            "alerted_at": str,
            "cleared_at": str,
            "proposal_id": str,
            "message_ts": str,
        },
        pk=("project_gid", "person_gid", "week_start"),
        not_null={"version", "active"},
    )
    db["slack_users_by_email"].create(
        {"email": str, "slack_user_id": str, "checked_at": str},
        pk="email",
    )
    db["overload_charts"].create(
        {"project_gid": str, "file_id": str, "channel": str, "created_at": str},
        pk="project_gid",
    )


@migrations()
def m003_standup_digests(db: Database) -> None:
    # Issue 4: digest schedules set from the Home tab, the posted-digest ledger (claimed before
    # posting: one digest per channel, project and day), the last digest per channel and
    # project, and each task's latest comment (re-read only when the task changed).
    db["digest_schedules"].create(
        {
            "channel": str,
            "project_gid": str,
            "project_name": str,
            "at": str,
            "tz": str,
            "days": str,
            "created_by": str,
            "created_at": str,
            "updated_by": str,
            "updated_at": str,
        },
        pk=("channel", "project_gid"),
        not_null={"at", "tz", "days"},
    )
    db["posted_ledger"].create(
        {
            "kind": str,
            "channel": str,
            "project_gid": str,
            "slot": str,
            "status": str,  # claimed | posting | posted
            "owner": str,
            "scheduled_for": str,
            "claimed_at": str,
            "posted_at": str,
            "message_ts": str,
        },
        pk=("kind", "channel", "project_gid", "slot"),
        not_null={"status", "claimed_at"},
    )
    db["digest_state"].create(
        {
            "channel": str,
            "project_gid": str,
            "project_name": str,
            "last_digest_at": str,
            "message_ts": str,
        },
        pk=("channel", "project_gid"),
        not_null={"last_digest_at"},
    )
    db["task_comments"].create(
        {"task_gid": str, "text": str, "created_at": str, "task_modified_at": str},
        pk="task_gid",
        not_null={"task_modified_at"},
    )
    db["audit_log"].create_index(["action", "at"])


@migrations()
def m004_slack_delivery_problems(db: Database) -> None:
    # Issue 9 §4/§6: posts Slack refused for good (the bot is not in the channel, the channel is
    # archived, the token was revoked), shown to approvers on the Home tab until a post there
    # works again; and the Home tab's capacity overview, cached between Asana reads.
    db["slack_delivery_problems"].create(
        {
            "kind": str,  # digest | overload | chart
            "channel": str,
            "project_gid": str,
            "project_name": str,
            "error": str,
            "first_at": str,
            "last_at": str,
            "count": int,
        },
        pk=("kind", "channel", "project_gid"),
        not_null={"error", "first_at", "last_at", "count"},
    )
    db["capacity_overview_cache"].create(
        {"project_ref": str, "overview_json": str, "computed_at": str},
        pk="project_ref",
        not_null={"overview_json", "computed_at"},
    )


@migrations()
def m006_retention(db: Database) -> None:
    # Issue 10 §5: the daily prune looks rows up by age; decided proposals keep no task notes.
    db["proposals"].create_index(["created_at"], if_not_exists=True)
    db["llm_cache"].create_index(["created_at"], if_not_exists=True)
    decided = list(
        db.query(
            "select id, inputs_json from proposals where status not in ('open') "
            "and inputs_json is not null"
        )
    )
    for row in decided:
        db.execute(
            "update proposals set inputs_json = ? where id = ?",
            [_dump(_without_notes(json.loads(row["inputs_json"]))), row["id"]],
        )


@migrations()
def m005_channel_project_links(db: Database) -> None:
    # Issue 10: the projects each channel may use, linked by approvers on the Home tab.
    db["channel_projects"].create(
        {
            "channel": str,
            "project_gid": str,
            "project_name": str,
            "linked_by": str,
            "linked_at": str,
        },
        pk=("channel", "project_gid"),
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


@dataclass(frozen=True)
class OverloadAlertRow:
    """The last alert posted for one person's overloaded week (the no-spam ledger)."""

    project_gid: str
    person_gid: str
    week_start: str
    version: int
    active: bool
    task_gids: frozenset[str]
    load: float
    capacity: float
    reason: str
    alerted_at: str | None
    cleared_at: str | None
    proposal_id: str | None
    message_ts: str | None


@dataclass(frozen=True)
class DigestScheduleRow:
    channel: str
    project_gid: str
    project_name: str
    at: str
    tz: str
    days: str
    created_at: str | None = None
    updated_by: str | None = None


@dataclass(frozen=True)
class DeliveryProblemRow:
    """A post Slack refused for good, until one to the same place works again."""

    kind: str
    channel: str
    project_gid: str
    project_name: str
    error: str
    first_at: str
    last_at: str
    count: int


@dataclass(frozen=True)
class ChannelLinkRow:
    channel: str
    project_gid: str
    project_name: str
    linked_by: str | None = None


@dataclass(frozen=True)
class CommentRow:
    """A task's latest comment as last read (text None: it had none), and the task's
    modified_at when it was read: Asana's own clock, so no skew with ours matters."""

    text: str | None
    created_at: str | None
    task_modified_at: str


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
                self._drop_notes(db, proposal_id)
        return won

    def _drop_notes(self, db: Database, proposal_id: str) -> None:
        """Once decided, the proposal's snapshot of its tasks keeps no task notes."""
        rows = list(db.query("select inputs_json from proposals where id = ?", [proposal_id]))
        if rows and rows[0]["inputs_json"]:
            db.execute(
                "update proposals set inputs_json = ? where id = ?",
                [_dump(_without_notes(json.loads(rows[0]["inputs_json"]))), proposal_id],
            )

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

    def finish(self, proposal_id: str, *, status: str, result: Any, owner: str) -> bool:
        """Record the end of an approval, only by the lease holder; False: someone else holds it."""
        with self.write() as db:
            cursor = db.execute(
                "update proposals set status = ?, result_json = ? where id = ? "
                "and status = 'approving' and lease_owner = ?",
                [status, _dump(result), proposal_id, owner],
            )
            if cursor.rowcount != 1:
                return False
            self._audit(db, proposal_id, "copilot", f"finished:{status}", None, result)
        return True

    # -- retention (issue 10 §5) ------------------------------------------------------------

    def prune(self, *, before: datetime) -> dict[str, int]:
        """Delete proposals (with their items) and caches older than `before`; return counts.

        The audit log is kept whole: its decisions and writes outlive the proposals they name.
        An approval under way is never pruned, whatever its age.
        """
        cutoff = iso(before)
        counts: dict[str, int] = {}
        with self.write() as db:
            old = "select id from proposals where created_at < ? and status != 'approving'"
            counts["proposal_items"] = db.execute(
                f"delete from proposal_items where proposal_id in ({old})", [cutoff]
            ).rowcount
            counts["proposals"] = db.execute(
                "delete from proposals where created_at < ? and status != 'approving'", [cutoff]
            ).rowcount
            counts["model_cache"] = db.execute(
                "delete from llm_cache where created_at < ?", [cutoff]
            ).rowcount
            # A comment is re-read when its task changes; one unchanged for this long goes.
            counts["task_comments"] = db.execute(
                "delete from task_comments where task_modified_at < ?", [cutoff]
            ).rowcount
            counts["slack_users"] = db.execute(
                "delete from slack_users_by_email where checked_at < ?", [cutoff]
            ).rowcount
            self._audit(db, None, "copilot", "pruned", None, {"before": cutoff, **counts})
        return counts

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
        owner: str,
    ) -> bool:
        """Record item outcomes (gid, status, reason, detail) with their audit rows atomically.

        Only the lease holder records: a worker that lost its lease writes nothing (False), so
        the holder's own re-read decides those items.
        """
        now = self.now()
        with self.write() as db:
            held = db.execute(
                "select 1 from proposals where id = ? and lease_owner = ?", [proposal_id, owner]
            ).fetchone()
            if held is None:
                return False
            for gid, status, reason, detail in outcomes:
                db.execute(
                    "update proposal_items set status = ?, reason = ?, updated_at = ? "
                    "where proposal_id = ? and task_gid = ?",
                    [status, reason, now, proposal_id, gid],
                )
                self._audit(db, proposal_id, actor, status, gid, {"reason": reason, **detail})
        return True

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

    # -- capacity overrides (issue 5) ------------------------------------------------------

    def weekly_hours_overrides(self) -> dict[str, float]:
        """Every person's weekly hours set by hand, by Asana user gid."""
        with self.connect() as db:
            rows = db.query("select person_gid, weekly_hours from capacity_overrides")
            return {r["person_gid"]: float(r["weekly_hours"]) for r in rows}

    def set_weekly_hours(
        self, person_gid: str, hours: float | None, *, person_name: str, by: str
    ) -> float | None:
        """Set (or with None clear) a person's weekly hours, audited; return the previous value."""
        with self.write() as db:
            rows = list(
                db.query(
                    "select weekly_hours from capacity_overrides where person_gid = ?",
                    [person_gid],
                )
            )
            previous = float(rows[0]["weekly_hours"]) if rows else None
            if hours is None:
                db.execute("delete from capacity_overrides where person_gid = ?", [person_gid])
            else:
                db["capacity_overrides"].upsert(
                    {
                        "person_gid": person_gid,
                        "person_name": person_name,
                        "weekly_hours": float(hours),
                        "set_by": by,
                        "set_at": self.now(),
                    },
                    pk="person_gid",
                )
            self._audit(
                db,
                None,
                by,
                "capacity_set" if hours is not None else "capacity_reset",
                None,
                {"person": person_gid, "name": person_name, "from": previous, "to": hours},
            )
        return previous

    # -- overload alert ledger (issue 5) ---------------------------------------------------

    def overload_alert(
        self, project_gid: str, person_gid: str, week_start: str
    ) -> OverloadAlertRow | None:
        with self.connect() as db:
            rows = list(
                db.query(
                    "select * from overload_alerts where project_gid = ? and person_gid = ? "
                    "and week_start = ?",
                    [project_gid, person_gid, week_start],
                )
            )
        return _overload_alert(rows[0]) if rows else None

    def claim_overload_alert(
        self,
        *,
        project_gid: str,
        person_gid: str,
        week_start: str,
        expected_version: int | None,
        task_gids: Sequence[str],
        load: float,
        capacity: float,
        reason: str,
    ) -> OverloadAlertRow | None:
        """Record that this overload is being alerted, unless another run changed the row first.

        Compare-and-swap on `version` (None: the row must not exist yet), so two checks racing
        on the same overload post one alert. Returns the new row for the winner, else None.
        """
        key = [project_gid, person_gid, week_start]
        fields = {
            "active": 1,
            "task_gids_json": _dump(sorted(task_gids)),
            "load": float(load),
            "capacity": float(capacity),
            "reason": reason,
            "alerted_at": self.now(),
            "cleared_at": None,
            "proposal_id": None,
            "message_ts": None,
        }
        with self.write() as db:
            if expected_version is None:
                cursor = db.execute(
                    "insert or ignore into overload_alerts (project_gid, person_gid, week_start, "
                    "version, active, task_gids_json, load, capacity, reason, alerted_at, "
                    "cleared_at, proposal_id, message_ts) "
                    "values (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [*key, *fields.values()],
                )
            else:
                sets = ", ".join(f"{name} = ?" for name in fields)
                cursor = db.execute(
                    f"update overload_alerts set version = version + 1, {sets} "
                    "where project_gid = ? and person_gid = ? and week_start = ? and version = ?",
                    [*fields.values(), *key, expected_version],
                )
            if cursor.rowcount != 1:
                return None
            row = next(
                iter(
                    db.query(
                        "select * from overload_alerts where project_gid = ? "
                        "and person_gid = ? and week_start = ?",
                        key,
                    )
                )
            )
        return _overload_alert(row)

    def release_overload_alert(
        self, claimed: OverloadAlertRow, previous: OverloadAlertRow | None
    ) -> None:
        """Undo a claim whose alert could not be posted, so the next check tries again."""
        key = [claimed.project_gid, claimed.person_gid, claimed.week_start]
        with self.write() as db:
            if previous is None:
                db.execute(
                    "delete from overload_alerts where project_gid = ? and person_gid = ? "
                    "and week_start = ? and version = ?",
                    [*key, claimed.version],
                )
                return
            db.execute(
                "update overload_alerts set version = version + 1, active = ?, "
                "task_gids_json = ?, load = ?, capacity = ?, reason = ?, alerted_at = ?, "
                "cleared_at = ?, proposal_id = ?, message_ts = ? where project_gid = ? "
                "and person_gid = ? and week_start = ? and version = ?",
                [
                    int(previous.active),
                    _dump(sorted(previous.task_gids)),
                    previous.load,
                    previous.capacity,
                    previous.reason,
                    previous.alerted_at,
                    previous.cleared_at,
                    previous.proposal_id,
                    previous.message_ts,
                    *key,
                    claimed.version,
                ],
            )

    def overload_alert_posted(
        self, claimed: OverloadAlertRow, *, proposal_id: str, message_ts: str
    ) -> None:
        with self.connect() as db:
            db.execute(
                "update overload_alerts set proposal_id = ?, message_ts = ? "
                "where project_gid = ? and person_gid = ? and week_start = ?",
                [
                    proposal_id,
                    message_ts,
                    claimed.project_gid,
                    claimed.person_gid,
                    claimed.week_start,
                ],
            )

    def clear_overload_alerts(
        self, project_gid: str, *, weeks: Sequence[str], still: set[tuple[str, str]]
    ) -> int:
        """Mark alerted overloads in `weeks` that are gone (not in `still`); return how many."""
        if not weeks:
            return 0
        marks = ",".join("?" * len(weeks))
        cleared = 0
        with self.write() as db:
            rows = list(
                db.query(
                    "select person_gid, week_start from overload_alerts where project_gid = ? "
                    f"and active = 1 and week_start in ({marks})",
                    [project_gid, *weeks],
                )
            )
            now = self.now()
            for row in rows:
                if (row["person_gid"], row["week_start"]) in still:
                    continue
                db.execute(
                    "update overload_alerts set active = 0, cleared_at = ?, "
                    "version = version + 1 where project_gid = ? and person_gid = ? "
                    "and week_start = ?",
                    [now, project_gid, row["person_gid"], row["week_start"]],
                )
                cleared += 1
        return cleared

    # -- Slack users by email (issue 5) ----------------------------------------------------

    def cached_slack_user(self, email: str, *, max_age: timedelta) -> tuple[bool, str | None]:
        """(known, Slack user id or None) for an email looked up less than `max_age` ago."""
        cutoff = iso(self._clock() - max_age)
        with self.connect() as db:
            rows = list(
                db.query(
                    "select slack_user_id from slack_users_by_email "
                    "where email = ? and checked_at >= ?",
                    [email.casefold(), cutoff],
                )
            )
        if not rows:
            return False, None
        return True, rows[0]["slack_user_id"] or None

    def remember_slack_user(self, email: str, slack_user_id: str | None) -> None:
        with self.connect() as db:
            db["slack_users_by_email"].upsert(
                {
                    "email": email.casefold(),
                    "slack_user_id": slack_user_id,
                    "checked_at": self.now(),
                },
                pk="email",
            )

    # -- the latest load chart per project (issue 5) ---------------------------------------

    def remember_chart(self, project_gid: str, *, file_id: str, channel: str) -> None:
        with self.connect() as db:
            db["overload_charts"].upsert(
                {
                    "project_gid": project_gid,
                    "file_id": file_id,
                    "channel": channel,
                    "created_at": self.now(),
                },
                pk="project_gid",
            )

    def latest_chart(self, project_gid: str) -> tuple[str, str] | None:
        """(Slack file id, when) of the last load chart posted for the project."""
        with self.connect() as db:
            rows = list(
                db.query(
                    "select file_id, created_at from overload_charts where project_gid = ?",
                    [project_gid],
                )
            )
        return (rows[0]["file_id"], rows[0]["created_at"]) if rows else None

    # -- stand-up digests (issue 4) --------------------------------------------------------

    def digest_schedules(self) -> list[DigestScheduleRow]:
        with self.connect() as db:
            rows = list(db.query("select * from digest_schedules order by channel, project_gid"))
        return [
            DigestScheduleRow(
                channel=r["channel"],
                project_gid=r["project_gid"],
                project_name=r["project_name"] or "",
                at=r["at"],
                tz=r["tz"],
                days=r["days"],
                created_at=r["created_at"],
                updated_by=r["updated_by"],
            )
            for r in rows
        ]

    def save_digest_schedule(self, row: DigestScheduleRow, *, by: str) -> None:
        """Create or change the schedule of a channel and project, audited."""
        now = self.now()
        with self.write() as db:
            existing = list(
                db.query(
                    "select created_by, created_at from digest_schedules "
                    "where channel = ? and project_gid = ?",
                    [row.channel, row.project_gid],
                )
            )
            created_by, created_at = (
                (existing[0]["created_by"], existing[0]["created_at"]) if existing else (by, now)
            )
            db["digest_schedules"].upsert(
                {
                    "channel": row.channel,
                    "project_gid": row.project_gid,
                    "project_name": row.project_name,
                    "at": row.at,
                    "tz": row.tz,
                    "days": row.days,
                    "created_by": created_by,
                    "created_at": created_at,
                    "updated_by": by,
                    "updated_at": now,
                },
                pk=("channel", "project_gid"),
            )
            self._audit(
                db,
                None,
                by,
                "digest_schedule_saved",
                None,
                {
                    "channel": row.channel,
                    "project": row.project_gid,
                    "at": row.at,
                    "tz": row.tz,
                    "days": row.days,
                },
            )

    def delete_digest_schedule(self, channel: str, project_gid: str, *, by: str) -> bool:
        with self.write() as db:
            cursor = db.execute(
                "delete from digest_schedules where channel = ? and project_gid = ?",
                [channel, project_gid],
            )
            removed = cursor.rowcount == 1
            if removed:
                self._audit(
                    db,
                    None,
                    by,
                    "digest_schedule_removed",
                    None,
                    {"channel": channel, "project": project_gid},
                )
        return removed

    # -- channel <-> project links (issue 10) ------------------------------------------------

    def channel_links(self) -> list[ChannelLinkRow]:
        with self.connect() as db:
            rows = list(db.query("select * from channel_projects order by channel, project_name"))
        return [
            ChannelLinkRow(r["channel"], r["project_gid"], r["project_name"] or "", r["linked_by"])
            for r in rows
        ]

    def link_project(self, channel: str, project_gid: str, project_name: str, *, by: str) -> bool:
        """Let `channel` use the project; False when it already could. Audited."""
        with self.write() as db:
            cursor = db.execute(
                "insert or ignore into channel_projects "
                "(channel, project_gid, project_name, linked_by, linked_at) values (?, ?, ?, ?, ?)",
                [channel, project_gid, project_name, by, self.now()],
            )
            added = cursor.rowcount == 1
            if added:
                detail = {"channel": channel, "project": project_gid}
                self._audit(db, None, by, "project_linked", None, detail)
        return added

    def unlink_project(self, channel: str, project_gid: str, *, by: str) -> bool:
        with self.write() as db:
            cursor = db.execute(
                "delete from channel_projects where channel = ? and project_gid = ?",
                [channel, project_gid],
            )
            removed = cursor.rowcount == 1
            if removed:
                detail = {"channel": channel, "project": project_gid}
                self._audit(db, None, by, "project_unlinked", None, detail)
        return removed

    def claim_slot(
        self,
        *,
        kind: str,
        channel: str,
        project_gid: str,
        slot: str,
        owner: str,
        scheduled_for: datetime | None,
        stale_after: timedelta,
        holder_dead: Callable[[str], bool] = lambda owner: False,
    ) -> bool:
        """Claim one scheduled post (kind, channel, project, slot); True for the one winner.

        A claim whose holder died before it started posting (still `claimed` after
        `stale_after`) may be taken over; a claim that reached `posting` never is, since that
        post may have reached Slack.
        """
        now = self._clock()
        with self.write() as db:
            cursor = db.execute(
                "insert or ignore into posted_ledger (kind, channel, project_gid, slot, status, "
                "owner, scheduled_for, claimed_at) values (?, ?, ?, ?, 'claimed', ?, ?, ?)",
                [
                    kind,
                    channel,
                    project_gid,
                    slot,
                    owner,
                    iso(scheduled_for) if scheduled_for else None,
                    iso(now),
                ],
            )
            if cursor.rowcount == 1:
                return True
            rows = list(
                db.query(
                    "select owner, status from posted_ledger where kind = ? and channel = ? "
                    "and project_gid = ? and slot = ?",
                    [kind, channel, project_gid, slot],
                )
            )
            holder = rows[0]["owner"] if rows else None
            if rows and rows[0]["status"] == "claimed" and holder and holder_dead(holder):
                # Its holder died on this host before posting: take over now, not in 15 min.
                cutoff = iso(now + timedelta(days=1))
            else:
                cutoff = iso(now - stale_after)
            cursor = db.execute(
                "update posted_ledger set owner = ?, claimed_at = ? where kind = ? and "
                "channel = ? and project_gid = ? and slot = ? and status = 'claimed' "
                "and claimed_at < ?",
                [owner, iso(now), kind, channel, project_gid, slot, cutoff],
            )
            return cursor.rowcount == 1

    def begin_posting(
        self, *, kind: str, channel: str, project_gid: str, slot: str, owner: str
    ) -> bool:
        """Move our claim to `posting` right before the post; False if it was taken over."""
        with self.write() as db:
            cursor = db.execute(
                "update posted_ledger set status = 'posting' where kind = ? and channel = ? "
                "and project_gid = ? and slot = ? and owner = ? and status = 'claimed'",
                [kind, channel, project_gid, slot, owner],
            )
            return cursor.rowcount == 1

    def slot_posted(
        self, *, kind: str, channel: str, project_gid: str, slot: str, message_ts: str
    ) -> None:
        with self.write() as db:
            db.execute(
                "update posted_ledger set status = 'posted', posted_at = ?, message_ts = ? "
                "where kind = ? and channel = ? and project_gid = ? and slot = ?",
                [self.now(), message_ts, kind, channel, project_gid, slot],
            )

    def release_slot(
        self, *, kind: str, channel: str, project_gid: str, slot: str, owner: str
    ) -> None:
        """Give a claim back (the post certainly did not happen), so a retry may claim it."""
        with self.write() as db:
            db.execute(
                "delete from posted_ledger where kind = ? and channel = ? and project_gid = ? "
                "and slot = ? and owner = ? and status in ('claimed', 'posting')",
                [kind, channel, project_gid, slot, owner],
            )

    def slot_status(self, *, kind: str, channel: str, project_gid: str, slot: str) -> str | None:
        with self.connect() as db:
            rows = list(
                db.query(
                    "select status from posted_ledger where kind = ? and channel = ? "
                    "and project_gid = ? and slot = ?",
                    [kind, channel, project_gid, slot],
                )
            )
        return rows[0]["status"] if rows else None

    def last_digest(self, channel: str, project_gid: str) -> tuple[datetime, str | None] | None:
        """When the last digest of this project in this channel was read, and its message."""
        with self.connect() as db:
            rows = list(
                db.query(
                    "select last_digest_at, message_ts from digest_state "
                    "where channel = ? and project_gid = ?",
                    [channel, project_gid],
                )
            )
        if not rows:
            return None
        return datetime.fromisoformat(rows[0]["last_digest_at"]), rows[0]["message_ts"]

    def record_digest(
        self,
        channel: str,
        project_gid: str,
        *,
        at: datetime,
        message_ts: str,
        project_name: str | None = None,
    ) -> None:
        with self.write() as db:
            db["digest_state"].upsert(
                {
                    "channel": channel,
                    "project_gid": project_gid,
                    "project_name": project_name,
                    "last_digest_at": iso(at),
                    "message_ts": message_ts,
                },
                pk=("channel", "project_gid"),
            )

    def digest_project_name(self, project_gid: str) -> str | None:
        """The project's name as the last digest of it read it (for the Home tab)."""
        with self.connect() as db:
            rows = list(
                db.query(
                    "select project_name from digest_state where project_gid = ? "
                    "and project_name is not null order by last_digest_at desc limit 1",
                    [project_gid],
                )
            )
        return rows[0]["project_name"] if rows else None

    def latest_comments(self, task_gids: Sequence[str]) -> dict[str, CommentRow]:
        found: dict[str, CommentRow] = {}
        with self.connect() as db:
            for start in range(0, len(task_gids), 500):
                chunk = list(task_gids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                for r in db.query(
                    f"select * from task_comments where task_gid in ({marks})", chunk
                ):
                    found[r["task_gid"]] = CommentRow(
                        r["text"], r["created_at"], r["task_modified_at"]
                    )
        return found

    def remember_comments(
        self,
        latest: Mapping[str, tuple[str | None, datetime | None, datetime]],
    ) -> None:
        """Store each task's latest comment: (text, when, the task's modified_at as read)."""
        if not latest:
            return
        with self.write() as db:
            db["task_comments"].upsert_all(
                (
                    {
                        "task_gid": gid,
                        "text": text,
                        "created_at": iso(created) if created else None,
                        "task_modified_at": iso(seen),
                    }
                    for gid, (text, created, seen) in latest.items()
                ),
                pk="task_gid",
            )

    def copilot_writes_since(self, since: datetime) -> dict[str, datetime]:
        """Tasks the copilot itself wrote (approved changes) at or after `since`: latest time."""
        with self.connect() as db:
            rows = db.query(
                "select task_gid, max(at) as at from audit_log where action = 'written' "
                "and task_gid is not null and at >= ? group by task_gid",
                [iso(since)],
            )
            return {r["task_gid"]: datetime.fromisoformat(r["at"]) for r in rows}

    # -- Slack delivery problems and the capacity cache (issue 9 §4, §6) ---------------------

    def withdraw_proposal(self, proposal_id: str, *, reason: str) -> bool:
        """Close an open proposal whose message never reached Slack, audited; True if closed."""
        with self.write() as db:
            cursor = db.execute(
                "update proposals set status = 'withdrawn', result_json = ? "
                "where id = ? and status = 'open'",
                [_dump({"withdrawn": reason}), proposal_id],
            )
            closed = cursor.rowcount == 1
            if closed:
                self._audit(db, proposal_id, "copilot", "withdrawn", None, {"reason": reason})
        return closed

    def refuse_slot(
        self, *, kind: str, channel: str, project_gid: str, slot: str, owner: str
    ) -> None:
        """Slack refused this slot's post for good: keep the row (no retry, no catch-up)."""
        with self.write() as db:
            db.execute(
                "update posted_ledger set status = 'refused' where kind = ? and channel = ? "
                "and project_gid = ? and slot = ? and owner = ? "
                "and status in ('claimed', 'posting')",
                [kind, channel, project_gid, slot, owner],
            )

    def record_delivery_problem(
        self,
        *,
        kind: str,
        channel: str,
        project_gid: str,
        project_name: str,
        error: str,
    ) -> None:
        """Remember (and audit) that Slack refused a post for good."""
        now = self.now()
        with self.write() as db:
            db.execute(
                "insert into slack_delivery_problems (kind, channel, project_gid, project_name, "
                "error, first_at, last_at, count) values (?, ?, ?, ?, ?, ?, ?, 1) "
                "on conflict (kind, channel, project_gid) do update set error = excluded.error, "
                "project_name = excluded.project_name, last_at = excluded.last_at, "
                "count = count + 1",
                [kind, channel, project_gid, project_name, error, now, now],
            )
            self._audit(
                db,
                None,
                "copilot",
                "slack_refused",
                None,
                {"kind": kind, "channel": channel, "project": project_gid, "error": error},
            )

    def clear_delivery_problems(
        self,
        *,
        channel: str,
        kinds: Sequence[str],
    ) -> None:
        """A post to `channel` worked: forget its refusals of those kinds."""
        marks = ",".join("?" * len(kinds))
        with self.write() as db:
            db.execute(
                f"delete from slack_delivery_problems where channel = ? and kind in ({marks})",
                [channel, *kinds],
            )

    def delivery_problems(self) -> list[DeliveryProblemRow]:
        with self.connect() as db:
            rows = list(
                db.query("select * from slack_delivery_problems order by last_at desc, channel")
            )
        return [DeliveryProblemRow(**r) for r in rows]

    def cached_capacity_overview(
        self,
        project_ref: str,
        *,
        max_age: timedelta,
    ) -> Any | None:
        """The capacity overview computed for `project_ref` less than `max_age` ago, or None."""
        cutoff = iso(self._clock() - max_age)
        with self.connect() as db:
            rows = list(
                db.query(
                    "select overview_json from capacity_overview_cache "
                    "where project_ref = ? and computed_at >= ?",
                    [project_ref, cutoff],
                )
            )
        return json.loads(rows[0]["overview_json"]) if rows else None

    def cache_capacity_overview(
        self,
        project_ref: str,
        overview: Any,
    ) -> None:
        with self.connect() as db:
            db["capacity_overview_cache"].upsert(
                {
                    "project_ref": project_ref,
                    "overview_json": _dump(overview),
                    "computed_at": self.now(),
                },
                pk="project_ref",
            )


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _without_notes(value: Any) -> Any:
    """`value` with every "notes" key removed, at any depth (task snapshots)."""
    if isinstance(value, dict):
        return {k: _without_notes(v) for k, v in value.items() if k != "notes"}
    if isinstance(value, list):
        return [_without_notes(v) for v in value]
    return value


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


def _overload_alert(row: dict[str, Any]) -> OverloadAlertRow:
    return OverloadAlertRow(
        project_gid=row["project_gid"],
        person_gid=row["person_gid"],
        week_start=row["week_start"],
        version=int(row["version"]),
        active=bool(row["active"]),
        task_gids=frozenset(json.loads(row["task_gids_json"] or "[]")),
        load=float(row["load"] or 0.0),
        capacity=float(row["capacity"] or 0.0),
        reason=row["reason"] or "",
        alerted_at=row["alerted_at"],
        cleared_at=row["cleared_at"],
        proposal_id=row["proposal_id"],
        message_ts=row["message_ts"],
    )
