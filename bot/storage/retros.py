"""Retrospectives (issue 14): days the digests saw tasks blocked, sprint start dates an approver
set, and the approved sprint proposals a retrospective takes its commitments and dates from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from bot.storage.base import StoreBase, iso, load
from bot.storage.people import OverloadAlertRow, _overload_alert


@dataclass(frozen=True)
class BlockedDayRow:
    task_gid: str
    day: date
    blocker: str


@dataclass(frozen=True)
class ApprovedSprintRow:
    """An approved /plan-sprint proposal: its sprint, when it was approved, the tasks written."""

    proposal_id: str
    sprint: str
    approved_at: datetime
    task_gids: tuple[str, ...]


class RetrosStore(StoreBase):
    def record_blocked_days(
        self, project_gid: str, day: date, blocked: Iterable[tuple[str, str]]
    ) -> int:
        """Remember what a digest found blocked on `day`: (task gid, blocker); once per day."""
        rows = [
            {
                "project_gid": project_gid,
                "task_gid": gid,
                "day": day.isoformat(),
                "blocker": blocker,
                "seen_at": self.now(),
            }
            for gid, blocker in dict.fromkeys(blocked)
        ]
        added = 0
        with self.write() as conn:
            for row in rows:
                added += conn.insert_ignore("blocked_days", row)
        return added

    def blocked_days(self, project_gid: str, start: date, end: date) -> list[BlockedDayRow]:
        with self.connect() as conn:
            rows = conn.query(
                "select task_gid, day, blocker from blocked_days where project_gid = ? "
                "and day >= ? and day <= ? order by day, task_gid, blocker",
                [project_gid, start.isoformat(), end.isoformat()],
            )
        return [
            BlockedDayRow(r["task_gid"], date.fromisoformat(r["day"]), r["blocker"]) for r in rows
        ]

    def overload_alerts_between(
        self, project_gid: str, start: date, end: date
    ) -> list[OverloadAlertRow]:
        """Overload alerts posted for weeks starting in [start, end] (cleared ones too)."""
        with self.connect() as conn:
            rows = conn.query(
                "select * from overload_alerts where project_gid = ? and week_start >= ? "
                "and week_start <= ? and alerted_at is not null order by week_start, person_gid",
                [project_gid, start.isoformat(), end.isoformat()],
            )
        return [_overload_alert(r) for r in rows]

    def set_sprint_start(self, project_gid: str, sprint: str, start_on: date, *, by: str) -> None:
        with self.write() as conn:
            conn.upsert(
                "sprint_starts",
                {
                    "project_gid": project_gid,
                    "sprint": sprint,
                    "start_on": start_on.isoformat(),
                    "set_by": by,
                    "set_at": self.now(),
                },
                pk=("project_gid", "sprint"),
            )
            self._audit(
                conn,
                None,
                by,
                "sprint_start_set",
                None,
                {"project_gid": project_gid, "sprint": sprint, "start_on": start_on.isoformat()},
            )

    def sprint_starts(self, project_gid: str) -> dict[str, date]:
        with self.connect() as conn:
            rows = conn.query(
                "select sprint, start_on from sprint_starts where project_gid = ?", [project_gid]
            )
        return {r["sprint"]: date.fromisoformat(r["start_on"]) for r in rows}

    def approved_sprints(
        self, project_gid: str, kind: str = "plan_sprint", *, with_tasks: bool = True
    ) -> list[ApprovedSprintRow]:
        """Approved sprint proposals of the project, oldest first (the latest per sprint wins).

        Two queries whatever the number of proposals; `with_tasks=False` skips the written
        tasks (left empty) for callers that only need the sprints and their dates.
        """
        approved = (
            "kind = ? and project_gid = ? and status in ('applied', 'partial') "
            "and decided_at is not null"
        )
        with self.connect() as conn:
            rows = conn.query(
                f"select id, decided_at, view_json from proposals where {approved} "
                "order by decided_at",
                [kind, project_gid],
            )
            written: dict[str, list[str]] = {}
            if with_tasks and rows:
                items = conn.query(
                    "select proposal_id, task_gid from proposal_items where status in "
                    f"('written', 'already') and proposal_id in (select id from proposals "
                    f"where {approved}) order by proposal_id, position",
                    [kind, project_gid],
                )
                for item in items:
                    written.setdefault(item["proposal_id"], []).append(item["task_gid"])
        found = []
        for row in rows:
            view = load(row["view_json"]) or {}
            sprint = (view.get("sprint") or {}).get("name")
            if not sprint:
                continue
            found.append(
                ApprovedSprintRow(
                    proposal_id=row["id"],
                    sprint=sprint,
                    approved_at=datetime.fromisoformat(row["decided_at"]),
                    task_gids=tuple(written.get(row["id"], ())),
                )
            )
        return found


__all__ = ["ApprovedSprintRow", "BlockedDayRow", "RetrosStore", "iso"]
