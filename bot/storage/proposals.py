"""Proposals, their items and the audit log: the approval engine's state.

Exactly once across instances: every transition is one conditional UPDATE (`where status =
'open'`, `where lease_until < now`) inside a transaction, so of several processes racing on
the same proposal the database lets exactly one change the row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.storage.base import StoreBase, dump, iso, load, without_notes
from bot.storage.db import Connection


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


class ProposalsStore(StoreBase):
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
        with self.write() as conn:
            conn.insert(
                "proposals",
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
                    "inputs_json": dump(inputs),
                    "model_output_json": dump(model_output),
                    "view_json": dump(view),
                },
            )
            conn.insert_all(
                "proposal_items",
                [
                    {
                        "proposal_id": proposal_id,
                        "task_gid": gid,
                        "position": position,
                        "label": label,
                        "changes_json": dump(changes),
                        "guard_json": dump(guard),
                        "status": "pending",
                        "reason": "",
                        "updated_at": now,
                    }
                    for position, (gid, label, changes, guard) in enumerate(items)
                ],
            )
            self._audit(conn, proposal_id, created_by, "proposed", None, {"items": len(items)})

    def set_message(self, proposal_id: str, channel: str, message_ts: str) -> None:
        with self.connect() as conn:
            conn.execute(
                "update proposals set channel = ?, message_ts = ? where id = ?",
                [channel, message_ts, proposal_id],
            )

    def proposal(self, proposal_id: str) -> ProposalRow | None:
        with self.connect() as conn:
            rows = conn.query("select * from proposals where id = ?", [proposal_id])
        return _proposal(rows[0]) if rows else None

    def proposals_with_status(self, status: str) -> list[ProposalRow]:
        with self.connect() as conn:
            rows = conn.query(
                "select * from proposals where status = ? order by created_at", [status]
            )
        return [_proposal(r) for r in rows]

    def claim_decision(self, proposal_id: str, *, user: str, decision: str) -> bool:
        """Move an open proposal to `approving` or `rejected`; True only for the one winner."""
        status = "approving" if decision == "approve" else "rejected"
        with self.write() as conn:
            changed = conn.execute(
                "update proposals set status = ?, decided_by = ?, decided_at = ?, decision = ? "
                "where id = ? and status = 'open'",
                [status, user, self.now(), decision, proposal_id],
            )
            won = changed == 1
            if won:
                self._audit(conn, proposal_id, user, decision, None, {})
                self._drop_notes(conn, proposal_id)
        return won

    def _drop_notes(self, conn: Connection, proposal_id: str) -> None:
        """Once decided, the proposal's snapshot of its tasks keeps no task notes."""
        row = conn.query_one("select inputs_json from proposals where id = ?", [proposal_id])
        if row and row["inputs_json"]:
            conn.execute(
                "update proposals set inputs_json = ? where id = ?",
                [dump(without_notes(json.loads(row["inputs_json"]))), proposal_id],
            )

    def reopen_for_retry(self, proposal_id: str, *, user: str) -> bool:
        """Let a partly applied proposal retry its failed items; True for the one winner."""
        with self.write() as conn:
            changed = conn.execute(
                "update proposals set status = 'approving' where id = ? and status = 'partial'",
                [proposal_id],
            )
            won = changed == 1
            if won:
                conn.execute(
                    "update proposal_items set status = 'pending', reason = '', updated_at = ? "
                    "where proposal_id = ? and status = 'failed'",
                    [self.now(), proposal_id],
                )
                self._audit(conn, proposal_id, user, "retry", None, {})
        return won

    def take_lease(self, proposal_id: str, *, owner: str, seconds: float) -> bool:
        """Become the one worker applying an `approving` proposal, unless a live lease exists."""
        now = self._clock()
        until = iso(now + timedelta(seconds=seconds))
        with self.write() as conn:
            changed = conn.execute(
                "update proposals set lease_owner = ?, lease_until = ? where id = ? "
                "and status = 'approving' and (lease_until is null or lease_until < ? "
                "or lease_owner = ?)",
                [owner, until, proposal_id, iso(now), owner],
            )
            return changed == 1

    def lease_owner(self, proposal_id: str) -> str | None:
        with self.connect() as conn:
            rows = conn.query("select lease_owner from proposals where id = ?", [proposal_id])
        return rows[0]["lease_owner"] if rows else None

    def lease(self, proposal_id: str) -> tuple[str | None, str | None]:
        """(holder, until) of a proposal's lease; (None, None) when nobody holds it."""
        with self.connect() as conn:
            row = conn.query_one(
                "select lease_owner, lease_until from proposals where id = ?", [proposal_id]
            )
        return (row["lease_owner"], row["lease_until"]) if row else (None, None)

    def release_lease(self, proposal_id: str, *, owner: str) -> None:
        with self.connect() as conn:
            conn.execute(
                "update proposals set lease_owner = null, lease_until = null "
                "where id = ? and lease_owner = ?",
                [proposal_id, owner],
            )

    def finish(self, proposal_id: str, *, status: str, result: Any, owner: str) -> bool:
        """Record the end of an approval, only by the lease holder; False: someone else holds it."""
        with self.write() as conn:
            changed = conn.execute(
                "update proposals set status = ?, result_json = ? where id = ? "
                "and status = 'approving' and lease_owner = ?",
                [status, dump(result), proposal_id, owner],
            )
            if changed != 1:
                return False
            self._audit(conn, proposal_id, "copilot", f"finished:{status}", None, result)
        return True

    def items(self, proposal_id: str) -> list[ItemRow]:
        with self.connect() as conn:
            rows = conn.query(
                "select * from proposal_items where proposal_id = ? order by position",
                [proposal_id],
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
        the holder's own re-read decides those items. On PostgreSQL the proposal's row stays
        locked until the outcomes are in, so the lease cannot change hands in between.
        """
        now = self.now()
        with self.write() as conn:
            held = conn.query_one(
                "select 1 as held from proposals where id = ? and lease_owner = ?"
                + conn.for_update,
                [proposal_id, owner],
            )
            if held is None:
                return False
            conn.executemany(
                "update proposal_items set status = ?, reason = ?, updated_at = ? "
                "where proposal_id = ? and task_gid = ?",
                [[status, reason, now, proposal_id, gid] for gid, status, reason, _ in outcomes],
            )
            conn.insert_all(
                "audit_log",
                (
                    {
                        "at": now,
                        "proposal_id": proposal_id,
                        "actor": actor,
                        "action": status,
                        "task_gid": gid,
                        "detail_json": dump({"reason": reason, **detail}),
                    }
                    for gid, status, reason, detail in outcomes
                ),
            )
        return True

    # -- channels and withdrawn proposals (issues 9, 10) -------------------------------------

    def withdraw_proposal(self, proposal_id: str, *, reason: str) -> bool:
        """Close an open proposal whose message never reached Slack, audited; True if closed."""
        with self.write() as conn:
            changed = conn.execute(
                "update proposals set status = 'withdrawn', result_json = ? "
                "where id = ? and status = 'open'",
                [dump({"withdrawn": reason}), proposal_id],
            )
            closed = changed == 1
            if closed:
                self._audit(conn, proposal_id, "copilot", "withdrawn", None, {"reason": reason})
        return closed

    def audit(
        self,
        proposal_id: str | None,
        actor: str,
        action: str,
        task_gid: str | None = None,
        detail: Any = None,
    ) -> None:
        with self.connect() as conn:
            self._audit(conn, proposal_id, actor, action, task_gid, detail or {})

    def audit_rows(self, proposal_id: str | None = None) -> list[dict[str, Any]]:
        sql = "select * from audit_log"
        params: list[Any] = []
        if proposal_id is not None:
            sql += " where proposal_id = ?"
            params.append(proposal_id)
        with self.connect() as conn:
            rows = conn.query(sql + " order by id", params)
        for row in rows:
            row["detail"] = json.loads(row.pop("detail_json") or "null")
        return rows

    # -- retention (issue 10 §5) ------------------------------------------------------------

    def prune(self, *, before: datetime) -> dict[str, int]:
        """Delete proposals (with their items) and caches older than `before`; return counts.

        The audit log is kept whole: its decisions and writes outlive the proposals they name.
        An approval under way is never pruned, whatever its age.
        """
        cutoff = iso(before)
        counts: dict[str, int] = {}
        with self.write() as conn:
            old = "select id from proposals where created_at < ? and status != 'approving'"
            counts["proposal_items"] = conn.execute(
                f"delete from proposal_items where proposal_id in ({old})", [cutoff]
            )
            counts["proposals"] = conn.execute(
                "delete from proposals where created_at < ? and status != 'approving'", [cutoff]
            )
            counts["model_cache"] = conn.execute(
                "delete from llm_cache where created_at < ?", [cutoff]
            )
            # A comment is re-read when its task changes; one unchanged for this long goes.
            counts["task_comments"] = conn.execute(
                "delete from task_comments where task_modified_at < ?", [cutoff]
            )
            counts["slack_users"] = conn.execute(
                "delete from slack_users_by_email where checked_at < ?", [cutoff]
            )
            counts["teams_card_images"] = conn.execute(
                "delete from teams_card_images where created_at < ?", [cutoff]
            )
            self._audit(conn, None, "copilot", "pruned", None, {"before": cutoff, **counts})
        return counts

    def copilot_writes_since(self, since: datetime) -> dict[str, datetime]:
        """Tasks the copilot itself wrote (approved changes) at or after `since`: latest time."""
        with self.connect() as conn:
            rows = conn.query(
                "select task_gid, max(at) as at from audit_log where action = 'written' "
                "and task_gid is not null and at >= ? group by task_gid",
                [iso(since)],
            )
            return {r["task_gid"]: datetime.fromisoformat(r["at"]) for r in rows}


def _proposal(row: dict[str, Any]) -> ProposalRow:
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
        inputs=load(row.get("inputs_json")),
        model_output=load(row.get("model_output_json")),
        view=load(row.get("view_json")),
        result=load(row.get("result_json")),
    )
