"""Nudges: who turned them on for a project, who turned their own off, who got one today.

The ledger row (person, local day) is inserted before a nudge is sent (`insert … on conflict do
nothing`), so two instances, or a run racing a restart, send one nudge a person a day at most.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from bot.storage.base import StoreBase, iso


@dataclass(frozen=True)
class NudgeProjectRow:
    project_gid: str
    project_name: str
    enabled: bool
    set_by: str
    set_at: str


class NudgesStore(StoreBase):
    # -- the per-project switch (approvers) ------------------------------------------------

    def set_nudges(self, project_gid: str, project_name: str, *, enabled: bool, by: str) -> None:
        with self.write() as conn:
            conn.upsert(
                "nudge_projects",
                {
                    "project_gid": project_gid,
                    "project_name": project_name,
                    "enabled": int(enabled),
                    "set_by": by,
                    "set_at": self.now(),
                },
                pk="project_gid",
            )
            self._audit(
                conn,
                None,
                by,
                "nudges_on" if enabled else "nudges_off",
                None,
                {"project_gid": project_gid, "project_name": project_name},
            )

    def nudge_projects(self) -> list[NudgeProjectRow]:
        with self.connect() as conn:
            rows = conn.query(
                "select project_gid, project_name, enabled, set_by, set_at from nudge_projects "
                "order by project_name, project_gid"
            )
        return [
            NudgeProjectRow(
                r["project_gid"],
                r["project_name"] or "",
                bool(r["enabled"]),
                r["set_by"] or "",
                r["set_at"],
            )
            for r in rows
        ]

    def nudges_enabled(self, project_gid: str) -> bool:
        with self.connect() as conn:
            row = conn.query_one(
                "select enabled from nudge_projects where project_gid = ?", [project_gid]
            )
        return bool(row and row["enabled"])

    # -- a person's own switch ---------------------------------------------------------------

    def set_nudge_opt_out(self, user_id: str, *, opted_out: bool) -> None:
        with self.write() as conn:
            if opted_out:
                conn.upsert(
                    "nudge_opt_outs", {"user_id": user_id, "set_at": self.now()}, pk="user_id"
                )
            else:
                conn.execute("delete from nudge_opt_outs where user_id = ?", [user_id])
            self._audit(
                conn, None, user_id, "nudges_opt_out" if opted_out else "nudges_opt_in", None, {}
            )

    def nudge_opted_out(self, user_id: str) -> bool:
        with self.connect() as conn:
            row = conn.query_one("select 1 as x from nudge_opt_outs where user_id = ?", [user_id])
        return row is not None

    # -- the ledger: one nudge a person a day ------------------------------------------------

    def claim_nudge(
        self, person_gid: str, day: date, *, recipient: str, owner: str, stale_after: timedelta
    ) -> bool:
        """True for the one caller that may send `person_gid` their nudge of `day`.

        A claim left `claimed` longer than `stale_after` (its holder died before sending) may
        be taken over; a `sent` one never is.
        """
        now = self._clock()
        with self.write() as conn:
            if conn.insert_ignore(
                "nudge_ledger",
                {
                    "person_gid": person_gid,
                    "day": day.isoformat(),
                    "recipient": recipient,
                    "status": "claimed",
                    "owner": owner,
                    "claimed_at": iso(now),
                },
            ):
                return True
            changed = conn.execute(
                "update nudge_ledger set owner = ?, claimed_at = ?, recipient = ? "
                "where person_gid = ? and day = ? and status = 'claimed' and claimed_at < ?",
                [owner, iso(now), recipient, person_gid, day.isoformat(), iso(now - stale_after)],
            )
            return changed == 1

    def nudge_sent(self, person_gid: str, day: date, *, owner: str) -> None:
        with self.write() as conn:
            conn.execute(
                "update nudge_ledger set status = 'sent', sent_at = ? "
                "where person_gid = ? and day = ? and owner = ?",
                [self.now(), person_gid, day.isoformat(), owner],
            )

    def release_nudge(self, person_gid: str, day: date, *, owner: str) -> None:
        """Give a claim back: the nudge certainly was not sent, a later run may send it."""
        with self.write() as conn:
            conn.execute(
                "delete from nudge_ledger where person_gid = ? and day = ? and owner = ? "
                "and status = 'claimed'",
                [person_gid, day.isoformat(), owner],
            )

    def nudged_on(self, person_gids: Iterable[str], day: date) -> dict[str, date]:
        """Who among `person_gids` has a ledger row for `day` (claimed or sent)."""
        gids = list(person_gids)
        if not gids:
            return {}
        marks = ",".join("?" * len(gids))
        with self.connect() as conn:
            rows = conn.query(
                f"select person_gid from nudge_ledger where day = ? and person_gid in ({marks})",
                [day.isoformat(), *gids],
            )
        return {r["person_gid"]: day for r in rows}

    def nudge_ledger_rows(self) -> list[dict[str, object]]:
        with self.connect() as conn:
            return conn.query("select * from nudge_ledger order by day, person_gid")

    def teams_person_by_email(self, email: str) -> str | None:
        """The AAD object id of the Teams person last seen with this email, or None."""
        with self.connect() as conn:
            row = conn.query_one(
                "select aad_object_id from teams_people where lower(email) = ? "
                "order by updated_at desc limit 1",
                [email.lower()],
            )
        return row["aad_object_id"] if row else None
