"""Asana webhooks: one per linked project, its secret, the creation in flight, events seen.

Shared by every instance (issue 11): Asana's handshake may reach another instance than the one
whose creation request is in flight, and a retried delivery may reach another instance than the
first; both are decided by one conditional statement here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.storage.base import StoreBase, iso


@dataclass(frozen=True)
class WebhookRow:
    """A project's webhook as the copilot knows it; the secret is never part of it."""

    project_gid: str
    target: str
    webhook_gid: str | None
    status: str  # creating | active | failed (the last creation failed)
    created_at: str | None
    reconciled_at: str | None
    problem: str | None
    problem_at: str | None


_COLUMNS = (
    "project_gid, target, webhook_gid, status, created_at, reconciled_at, problem, problem_at"
)


class WebhooksStore(StoreBase):
    def begin_webhook_creation(
        self,
        project_gid: str,
        target: str,
        *,
        within: timedelta,
        seen: WebhookRow | None = None,
    ) -> bool:
        """Our POST /webhooks for `target` is about to go out: its handshake is expected.

        A compare-and-swap on the row as the caller `seen` it (None: no row): False when it
        changed since (another instance created or began creating a webhook meanwhile) or when
        another instance's creation is still in flight. One creation at a time per project, or
        two webhooks (and two handshakes racing for one row) would result.
        """
        now = self._clock()
        status = seen.status if seen is not None else ""  # no real row has status ''
        with self.write() as conn:
            changed = conn.execute(
                "insert into asana_webhooks (project_gid, target, status, creating_until) "
                "values (?, ?, 'creating', ?) on conflict (project_gid) do update set "
                "target = excluded.target, status = 'creating', "
                "creating_until = excluded.creating_until, handshake_at = null "
                "where (asana_webhooks.status <> 'creating' "
                "or asana_webhooks.creating_until < ?) "
                "and asana_webhooks.status = ? "
                "and coalesce(asana_webhooks.webhook_gid, '') = ? "
                "and coalesce(asana_webhooks.created_at, '') = ?",
                [
                    project_gid,
                    target,
                    iso(now + within),
                    iso(now),
                    status,
                    (seen.webhook_gid if seen else None) or "",
                    (seen.created_at if seen else None) or "",
                ],
            )
        return changed == 1

    def accept_handshake(self, project_gid: str, target: str, secret: str) -> bool:
        """Keep the handshake's secret if, and only if, our creation for `target` is in flight
        and no handshake was accepted for it yet. One statement: one winner across instances."""
        now = self.now()
        with self.connect() as conn:
            changed = conn.execute(
                "update asana_webhooks set secret = ?, handshake_at = ? where project_gid = ? "
                "and target = ? and status = 'creating' and handshake_at is null "
                "and creating_until >= ?",
                [secret, now, project_gid, target, now],
            )
        return changed == 1

    def finish_webhook_creation(self, project_gid: str, webhook_gid: str) -> bool:
        """Asana created the webhook (after our handshake answer): it is the project's now."""
        now = self.now()
        with self.write() as conn:
            changed = conn.execute(
                "update asana_webhooks set webhook_gid = ?, status = 'active', "
                "creating_until = null, created_at = ?, "
                "reconciled_at = coalesce(reconciled_at, ?) "
                "where project_gid = ? and status = 'creating' and handshake_at is not null",
                [webhook_gid, now, now, project_gid],
            )
            if changed:
                detail = {"project": project_gid, "webhook": webhook_gid}
                self._audit(conn, None, "copilot", "asana_webhook_created", None, detail)
        return changed == 1

    def abandon_webhook_creation(self, project_gid: str) -> None:
        """The creation failed: accept no handshake for it any more, trust no secret from it.
        The row stays (status 'failed') so the reconcile watermark survives a failed re-creation."""
        with self.connect() as conn:
            conn.execute(
                "update asana_webhooks set status = 'failed', creating_until = null, "
                "secret = null, handshake_at = null where project_gid = ? and status = 'creating'",
                [project_gid],
            )

    def webhook_secret(self, project_gid: str) -> str | None:
        """The secret deliveries to this project's target are signed with (None: none known)."""
        with self.connect() as conn:
            row = conn.query_one(
                "select secret from asana_webhooks where project_gid = ? "
                "and handshake_at is not null",
                [project_gid],
            )
        return row["secret"] if row and row["secret"] else None

    def webhook_row(self, project_gid: str) -> WebhookRow | None:
        with self.connect() as conn:
            row = conn.query_one(
                f"select {_COLUMNS} from asana_webhooks where project_gid = ?", [project_gid]
            )
        return WebhookRow(**row) if row else None

    def webhook_rows(self) -> list[WebhookRow]:
        with self.connect() as conn:
            rows = conn.query(f"select {_COLUMNS} from asana_webhooks order by project_gid")
        return [WebhookRow(**r) for r in rows]

    def forget_webhook(self, project_gid: str) -> None:
        with self.write() as conn:
            if conn.execute("delete from asana_webhooks where project_gid = ?", [project_gid]):
                detail = {"project": project_gid}
                self._audit(conn, None, "copilot", "asana_webhook_forgotten", None, detail)

    def mark_reconciled(self, project_gid: str, at: datetime) -> None:
        with self.connect() as conn:
            conn.execute(
                "update asana_webhooks set reconciled_at = ? where project_gid = ?",
                [iso(at), project_gid],
            )

    def record_webhook_problem(self, project_gid: str, problem: str) -> None:
        """Something approvers must hear about (Asana disabled the webhook, and so on)."""
        now = self.now()
        with self.write() as conn:
            conn.execute(
                "update asana_webhooks set problem = ?, problem_at = ? where project_gid = ?",
                [problem, now, project_gid],
            )
            self._audit(
                conn,
                None,
                "copilot",
                "asana_webhook",
                None,
                {"project": project_gid, "problem": problem},
            )

    def clear_webhook_problem(self, project_gid: str) -> None:
        with self.connect() as conn:
            conn.execute(
                "update asana_webhooks set problem = null, problem_at = null where project_gid = ?",
                [project_gid],
            )

    # -- events seen ---------------------------------------------------------------------------

    def first_sightings(self, project_gid: str, keys: Sequence[str]) -> set[str]:
        """Record event keys; return those no instance recorded before (each wins once)."""
        fresh: set[str] = set()
        now = self.now()
        with self.write() as conn:
            for key in dict.fromkeys(keys):
                if conn.execute(
                    "insert into asana_event_keys (key, project_gid, seen_at) values (?, ?, ?) "
                    "on conflict (key) do nothing",
                    [key, project_gid, now],
                ):
                    fresh.add(key)
        return fresh

    def prune_event_keys(self, *, older_than: timedelta) -> int:
        with self.connect() as conn:
            return conn.execute(
                "delete from asana_event_keys where seen_at < ?",
                [iso(self._clock() - older_than)],
            )
