"""People and their settings: weekly hours set by hand, and the overload alert ledger.

An overload alert is claimed by compare-and-swap on its `version` (or an insert that does
nothing on conflict), so two checks racing in two processes post one alert.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.storage.base import StoreBase, dump


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
class ChannelLinkRow:
    channel: str
    project_gid: str
    project_name: str
    linked_by: str | None = None


class PeopleStore(StoreBase):
    # -- channel <-> project links (issue 10) ------------------------------------------------

    def channel_links(self) -> list[ChannelLinkRow]:
        with self.connect() as conn:
            rows = conn.query("select * from channel_projects order by channel, project_name")
        return [
            ChannelLinkRow(r["channel"], r["project_gid"], r["project_name"] or "", r["linked_by"])
            for r in rows
        ]

    def link_project(self, channel: str, project_gid: str, project_name: str, *, by: str) -> bool:
        """Let `channel` use the project; False when it already could. Audited."""
        with self.write() as conn:
            added = conn.insert_ignore(
                "channel_projects",
                {
                    "channel": channel,
                    "project_gid": project_gid,
                    "project_name": project_name,
                    "linked_by": by,
                    "linked_at": self.now(),
                },
            )
            if added:
                detail = {"channel": channel, "project": project_gid}
                self._audit(conn, None, by, "project_linked", None, detail)
        return added

    def unlink_project(self, channel: str, project_gid: str, *, by: str) -> bool:
        with self.write() as conn:
            removed = (
                conn.execute(
                    "delete from channel_projects where channel = ? and project_gid = ?",
                    [channel, project_gid],
                )
                == 1
            )
            if removed:
                detail = {"channel": channel, "project": project_gid}
                self._audit(conn, None, by, "project_unlinked", None, detail)
        return removed

    # -- weekly hours and the overload alert ledger (issue 5) ----------------------------------

    def weekly_hours_overrides(self) -> dict[str, float]:
        """Every person's weekly hours set by hand, by Asana user gid."""
        with self.connect() as conn:
            rows = conn.query("select person_gid, weekly_hours from capacity_overrides")
            return {r["person_gid"]: float(r["weekly_hours"]) for r in rows}

    def set_weekly_hours(
        self, person_gid: str, hours: float | None, *, person_name: str, by: str
    ) -> float | None:
        """Set (or with None clear) a person's weekly hours, audited; return the previous value."""
        with self.write() as conn:
            rows = conn.query(
                "select weekly_hours from capacity_overrides where person_gid = ?",
                [person_gid],
            )
            previous = float(rows[0]["weekly_hours"]) if rows else None
            if hours is None:
                conn.execute("delete from capacity_overrides where person_gid = ?", [person_gid])
            else:
                conn.upsert(
                    "capacity_overrides",
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
                conn,
                None,
                by,
                "capacity_set" if hours is not None else "capacity_reset",
                None,
                {"person": person_gid, "name": person_name, "from": previous, "to": hours},
            )
        return previous

    def overload_alert(
        self, project_gid: str, person_gid: str, week_start: str
    ) -> OverloadAlertRow | None:
        with self.connect() as conn:
            rows = conn.query(
                "select * from overload_alerts where project_gid = ? and person_gid = ? "
                "and week_start = ?",
                [project_gid, person_gid, week_start],
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
            "task_gids_json": dump(sorted(task_gids)),
            "load": float(load),
            "capacity": float(capacity),
            "reason": reason,
            "alerted_at": self.now(),
            "cleared_at": None,
            "proposal_id": None,
            "message_ts": None,
        }
        with self.write() as conn:
            if expected_version is None:
                changed = conn.execute(
                    "insert into overload_alerts (project_gid, person_gid, week_start, "
                    "version, active, task_gids_json, load, capacity, reason, alerted_at, "
                    "cleared_at, proposal_id, message_ts) "
                    "values (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict do nothing",
                    [*key, *fields.values()],
                )
            else:
                sets = ", ".join(f"{name} = ?" for name in fields)
                changed = conn.execute(
                    f"update overload_alerts set version = version + 1, {sets} "
                    "where project_gid = ? and person_gid = ? and week_start = ? and version = ?",
                    [*fields.values(), *key, expected_version],
                )
            if changed != 1:
                return None
            row = conn.query(
                "select * from overload_alerts where project_gid = ? "
                "and person_gid = ? and week_start = ?",
                key,
            )[0]
        return _overload_alert(row)

    def release_overload_alert(
        self, claimed: OverloadAlertRow, previous: OverloadAlertRow | None
    ) -> None:
        """Undo a claim whose alert could not be posted, so the next check tries again."""
        key = [claimed.project_gid, claimed.person_gid, claimed.week_start]
        with self.write() as conn:
            if previous is None:
                conn.execute(
                    "delete from overload_alerts where project_gid = ? and person_gid = ? "
                    "and week_start = ? and version = ?",
                    [*key, claimed.version],
                )
                return
            conn.execute(
                "update overload_alerts set version = version + 1, active = ?, "
                "task_gids_json = ?, load = ?, capacity = ?, reason = ?, alerted_at = ?, "
                "cleared_at = ?, proposal_id = ?, message_ts = ? where project_gid = ? "
                "and person_gid = ? and week_start = ? and version = ?",
                [
                    int(previous.active),
                    dump(sorted(previous.task_gids)),
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
        with self.connect() as conn:
            conn.execute(
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
        with self.write() as conn:
            rows = conn.query(
                "select person_gid, week_start from overload_alerts where project_gid = ? "
                f"and active = 1 and week_start in ({marks})",
                [project_gid, *weeks],
            )
            now = self.now()
            for row in rows:
                if (row["person_gid"], row["week_start"]) in still:
                    continue
                conn.execute(
                    "update overload_alerts set active = 0, cleared_at = ?, "
                    "version = version + 1 where project_gid = ? and person_gid = ? "
                    "and week_start = ?",
                    [now, project_gid, row["person_gid"], row["week_start"]],
                )
                cleared += 1
        return cleared


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
