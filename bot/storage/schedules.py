"""Stand-up schedules, the posted-digest ledger and the last digest per channel and project.

The ledger row of a slot is claimed before posting (an insert that does nothing on conflict,
then a conditional takeover of a stale claim), so of all instances firing the same schedule
exactly one posts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.storage.base import StoreBase, iso


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


class SchedulesStore(StoreBase):
    # -- posts Slack refused for good (issue 9 §4) ---------------------------------------------

    def refuse_slot(
        self, *, kind: str, channel: str, project_gid: str, slot: str, owner: str
    ) -> None:
        """Slack refused this slot's post for good: keep the row (no retry, no catch-up)."""
        with self.write() as conn:
            conn.execute(
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
        with self.write() as conn:
            conn.execute(
                "insert into slack_delivery_problems (kind, channel, project_gid, project_name, "
                "error, first_at, last_at, count) values (?, ?, ?, ?, ?, ?, ?, 1) "
                "on conflict (kind, channel, project_gid) do update set error = excluded.error, "
                "project_name = excluded.project_name, last_at = excluded.last_at, "
                "count = slack_delivery_problems.count + 1",
                [kind, channel, project_gid, project_name, error, now, now],
            )
            self._audit(
                conn,
                None,
                "copilot",
                "slack_refused",
                None,
                {"kind": kind, "channel": channel, "project": project_gid, "error": error},
            )

    def clear_delivery_problems(self, *, channel: str, kinds: Sequence[str]) -> None:
        """A post to `channel` worked: forget its refusals of those kinds."""
        marks = ",".join("?" * len(kinds))
        with self.write() as conn:
            conn.execute(
                f"delete from slack_delivery_problems where channel = ? and kind in ({marks})",
                [channel, *kinds],
            )

    def delivery_problems(self) -> list[DeliveryProblemRow]:
        with self.connect() as conn:
            rows = conn.query(
                "select * from slack_delivery_problems order by last_at desc, channel"
            )
        return [DeliveryProblemRow(**r) for r in rows]

    # -- digest schedules, the posted ledger, the last digest (issue 4) -------------------------

    def digest_schedules(self) -> list[DigestScheduleRow]:
        with self.connect() as conn:
            rows = conn.query("select * from digest_schedules order by channel, project_gid")
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
        with self.write() as conn:
            existing = conn.query(
                "select created_by, created_at from digest_schedules "
                "where channel = ? and project_gid = ?",
                [row.channel, row.project_gid],
            )
            created_by, created_at = (
                (existing[0]["created_by"], existing[0]["created_at"]) if existing else (by, now)
            )
            conn.upsert(
                "digest_schedules",
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
                conn,
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
        with self.write() as conn:
            changed = conn.execute(
                "delete from digest_schedules where channel = ? and project_gid = ?",
                [channel, project_gid],
            )
            removed = changed == 1
            if removed:
                self._audit(
                    conn,
                    None,
                    by,
                    "digest_schedule_removed",
                    None,
                    {"channel": channel, "project": project_gid},
                )
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
        with self.write() as conn:
            changed = conn.execute(
                "insert into posted_ledger (kind, channel, project_gid, slot, status, owner, "
                "scheduled_for, claimed_at) values (?, ?, ?, ?, 'claimed', ?, ?, ?) "
                "on conflict do nothing",
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
            if changed == 1:
                return True
            rows = conn.query(
                "select owner, status from posted_ledger where kind = ? and channel = ? "
                "and project_gid = ? and slot = ?",
                [kind, channel, project_gid, slot],
            )
            holder = rows[0]["owner"] if rows else None
            if rows and rows[0]["status"] == "claimed" and holder and holder_dead(holder):
                # Its holder died on this host before posting: take over now, not in 15 min.
                cutoff = iso(now + timedelta(days=1))
            else:
                cutoff = iso(now - stale_after)
            changed = conn.execute(
                "update posted_ledger set owner = ?, claimed_at = ? where kind = ? and "
                "channel = ? and project_gid = ? and slot = ? and status = 'claimed' "
                "and claimed_at < ?",
                [owner, iso(now), kind, channel, project_gid, slot, cutoff],
            )
            return changed == 1

    def begin_posting(
        self, *, kind: str, channel: str, project_gid: str, slot: str, owner: str
    ) -> bool:
        """Move our claim to `posting` right before the post; False if it was taken over."""
        with self.write() as conn:
            changed = conn.execute(
                "update posted_ledger set status = 'posting' where kind = ? and channel = ? "
                "and project_gid = ? and slot = ? and owner = ? and status = 'claimed'",
                [kind, channel, project_gid, slot, owner],
            )
            return changed == 1

    def slot_posted(
        self, *, kind: str, channel: str, project_gid: str, slot: str, message_ts: str
    ) -> None:
        with self.write() as conn:
            conn.execute(
                "update posted_ledger set status = 'posted', posted_at = ?, message_ts = ? "
                "where kind = ? and channel = ? and project_gid = ? and slot = ?",
                [self.now(), message_ts, kind, channel, project_gid, slot],
            )

    def release_slot(
        self, *, kind: str, channel: str, project_gid: str, slot: str, owner: str
    ) -> None:
        """Give a claim back (the post certainly did not happen), so a retry may claim it."""
        with self.write() as conn:
            conn.execute(
                "delete from posted_ledger where kind = ? and channel = ? and project_gid = ? "
                "and slot = ? and owner = ? and status in ('claimed', 'posting')",
                [kind, channel, project_gid, slot, owner],
            )

    def slot_status(self, *, kind: str, channel: str, project_gid: str, slot: str) -> str | None:
        with self.connect() as conn:
            rows = conn.query(
                "select status from posted_ledger where kind = ? and channel = ? "
                "and project_gid = ? and slot = ?",
                [kind, channel, project_gid, slot],
            )
        return rows[0]["status"] if rows else None

    def last_digest(self, channel: str, project_gid: str) -> tuple[datetime, str | None] | None:
        """When the last digest of this project in this channel was read, and its message."""
        with self.connect() as conn:
            rows = conn.query(
                "select last_digest_at, message_ts from digest_state "
                "where channel = ? and project_gid = ?",
                [channel, project_gid],
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
        with self.write() as conn:
            conn.upsert(
                "digest_state",
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
        with self.connect() as conn:
            rows = conn.query(
                "select project_name from digest_state where project_gid = ? "
                "and project_name is not null order by last_digest_at desc limit 1",
                [project_gid],
            )
        return rows[0]["project_name"] if rows else None
