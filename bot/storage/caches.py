"""Caches: the model's judgements, each task's latest comment, Slack ids by email, the last chart.

Shared by every instance: an entry one process wrote is a hit for the others.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.storage.base import StoreBase, dump, iso


@dataclass(frozen=True)
class CommentRow:
    """A task's latest comment as last read (text None: it had none), and the task's
    modified_at when it was read: Asana's own clock, so no skew with ours matters."""

    text: str | None
    created_at: str | None
    task_modified_at: str


class CachesStore(StoreBase):
    def cached_judgements(self, keys: Sequence[str]) -> dict[str, Any]:
        if not keys:
            return {}
        found: dict[str, Any] = {}
        with self.connect() as conn:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                for row in conn.query(
                    f"select key, value_json from llm_cache where key in ({marks})", chunk
                ):
                    found[row["key"]] = json.loads(row["value_json"])
        return found

    def cache_judgements(self, entries: dict[str, Any], *, model: str) -> None:
        now = self.now()
        with self.write() as conn:
            conn.upsert_all(
                "llm_cache",
                (
                    {"key": k, "value_json": dump(v), "model": model, "created_at": now}
                    for k, v in entries.items()
                ),
                pk="key",
            )

    def cached_slack_user(self, email: str, *, max_age: timedelta) -> tuple[bool, str | None]:
        """(known, Slack user id or None) for an email looked up less than `max_age` ago."""
        cutoff = iso(self._clock() - max_age)
        with self.connect() as conn:
            rows = conn.query(
                "select slack_user_id from slack_users_by_email "
                "where email = ? and checked_at >= ?",
                [email.casefold(), cutoff],
            )
        if not rows:
            return False, None
        return True, rows[0]["slack_user_id"] or None

    def remember_slack_user(self, email: str, slack_user_id: str | None) -> None:
        with self.connect() as conn:
            conn.upsert(
                "slack_users_by_email",
                {
                    "email": email.casefold(),
                    "slack_user_id": slack_user_id,
                    "checked_at": self.now(),
                },
                pk="email",
            )

    def remember_chart(self, project_gid: str, *, file_id: str, channel: str) -> None:
        with self.connect() as conn:
            conn.upsert(
                "overload_charts",
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
        with self.connect() as conn:
            rows = conn.query(
                "select file_id, created_at from overload_charts where project_gid = ?",
                [project_gid],
            )
        return (rows[0]["file_id"], rows[0]["created_at"]) if rows else None

    def latest_comments(self, task_gids: Sequence[str]) -> dict[str, CommentRow]:
        found: dict[str, CommentRow] = {}
        with self.connect() as conn:
            for start in range(0, len(task_gids), 500):
                chunk = list(task_gids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                for r in conn.query(
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
        with self.write() as conn:
            conn.upsert_all(
                "task_comments",
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

    # -- the Home tab's capacity overview (issue 9 §6) -----------------------------------------

    def cached_capacity_overview(self, project_ref: str, *, max_age: timedelta) -> Any | None:
        """The capacity overview computed for `project_ref` less than `max_age` ago, or None."""
        cutoff = iso(self._clock() - max_age)
        with self.connect() as conn:
            row = conn.query_one(
                "select overview_json from capacity_overview_cache "
                "where project_ref = ? and computed_at >= ?",
                [project_ref, cutoff],
            )
        return json.loads(row["overview_json"]) if row else None

    def cache_capacity_overview(self, project_ref: str, overview: Any) -> None:
        with self.connect() as conn:
            conn.upsert(
                "capacity_overview_cache",
                {
                    "project_ref": project_ref,
                    "overview_json": dump(overview),
                    "computed_at": self.now(),
                },
                pk="project_ref",
            )
