"""Triage: which tasks were triaged (once each, across instances), the assignee an approver picked
on a triage card, and the comment an approved triage posted on each task.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from bot.storage.base import StoreBase, dump


class TriageStore(StoreBase):
    def claim_triage(self, project_gid: str, task_gids: Sequence[str]) -> list[str]:
        """The gids among `task_gids` nobody claimed before (each is claimed once, ever)."""
        claimed: list[str] = []
        now = self.now()
        with self.write() as conn:
            for gid in dict.fromkeys(task_gids):
                row = {"task_gid": gid, "project_gid": project_gid, "claimed_at": now}
                if conn.insert_ignore("triaged_tasks", row):
                    claimed.append(gid)
        return claimed

    def release_triage(self, task_gids: Sequence[str]) -> None:
        """Forget claims whose triage could not be proposed (a later event tries again)."""
        with self.write() as conn:
            conn.executemany(
                "delete from triaged_tasks where task_gid = ? and proposal_id is null",
                [[gid] for gid in task_gids],
            )

    def set_triage_proposal(self, task_gids: Sequence[str], proposal_id: str) -> None:
        with self.write() as conn:
            conn.executemany(
                "update triaged_tasks set proposal_id = ? where task_gid = ?",
                [[proposal_id, gid] for gid in task_gids],
            )

    def choose_assignee(
        self,
        proposal_id: str,
        task_gid: str,
        assignee_gid: str | None,
        *,
        seen: str | None,
        user: str,
    ) -> bool:
        """Keep an approver's pick with an open proposal's item (None: assign nobody).

        The pick becomes the item's `assignee` change, guarded by the assignee seen when the
        triage was proposed (`seen`), so a person's assignment in Asana meanwhile wins. False
        when the proposal is no longer open or has no such item.
        """
        with self.write() as conn:
            row = conn.query_one(
                "select i.changes_json, i.guard_json from proposal_items i "
                "join proposals p on p.id = i.proposal_id "
                "where i.proposal_id = ? and i.task_gid = ? and p.status = 'open'"
                + conn.for_update,
                [proposal_id, task_gid],
            )
            if row is None:
                return False
            changes = json.loads(row["changes_json"])
            guard = json.loads(row["guard_json"])
            if assignee_gid is None:
                changes.pop("assignee", None)
                guard.pop("assignee", None)
            else:
                changes["assignee"] = assignee_gid
                guard["assignee"] = seen
            conn.execute(
                "update proposal_items set changes_json = ?, guard_json = ? "
                "where proposal_id = ? and task_gid = ?",
                [dump(changes), dump(guard), proposal_id, task_gid],
            )
            self._audit(
                conn, proposal_id, user, "assignee_chosen", task_gid, {"assignee": assignee_gid}
            )
        return True

    def triage_comment(self, proposal_id: str, task_gid: str) -> str | None:
        """The story gid of the comment this proposal posted on the task, if recorded."""
        with self.connect() as conn:
            row = conn.query_one(
                "select story_gid from triage_comments where proposal_id = ? and task_gid = ?",
                [proposal_id, task_gid],
            )
        return row["story_gid"] if row else None

    def triage_comments(self, proposal_id: str) -> dict[str, str]:
        """Task gid → story gid of every comment this proposal posted and recorded."""
        with self.connect() as conn:
            rows = conn.query(
                "select task_gid, story_gid from triage_comments where proposal_id = ?",
                [proposal_id],
            )
        return {r["task_gid"]: r["story_gid"] for r in rows}

    def record_triage_comment(self, proposal_id: str, task_gid: str, story_gid: str) -> None:
        with self.write() as conn:
            conn.insert_ignore(
                "triage_comments",
                {
                    "proposal_id": proposal_id,
                    "task_gid": task_gid,
                    "story_gid": story_gid,
                    "posted_at": self.now(),
                },
            )
