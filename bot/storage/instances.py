"""Instances, the signed requests they accepted, and the commands they still owe an answer.

Issue 11: what one process kept in memory, every instance sharing the database now sees.
- A signed Slack request is accepted once across all instances (`seen_signature`).
- Each instance heartbeats its row, so any other can tell a dead holder from a busy one even
  on another host (`holder_dead`).
- A slash command acknowledged but not yet answered has a row; a process that dies leaves it
  behind, and the next start of any instance takes it (`take_interrupted`) and tells the person.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from bot.storage.base import StoreBase, iso


@dataclass(frozen=True)
class PendingCommandRow:
    id: str
    command: str
    text: str
    user_id: str
    channel_id: str
    response_url: str
    owner: str
    acked_at: str


class InstancesStore(StoreBase):
    # -- replay ledger of signed requests --------------------------------------------------

    def seen_signature(self, signature: str, *, ttl: timedelta) -> bool:
        """Record a request signature; True when any instance accepted it in the last `ttl`.

        One statement: the insert wins for the first instance; a repeat finds the row and
        changes nothing (rowcount 0) unless the earlier one has expired.
        """
        now = self._clock()
        with self.connect() as conn:
            changed = conn.execute(
                "insert into replay_signatures (signature, expires_at) values (?, ?) "
                "on conflict (signature) do update set expires_at = excluded.expires_at "
                "where replay_signatures.expires_at < ?",
                [signature, iso(now + ttl), iso(now)],
            )
        return changed == 0

    def prune_signatures(self) -> int:
        with self.connect() as conn:
            return conn.execute("delete from replay_signatures where expires_at < ?", [self.now()])

    # -- a lock across instances -----------------------------------------------------------

    @contextmanager
    def named_lock(self, name: str) -> Iterator[None]:
        """Hold `name` against every instance while inside (a PostgreSQL advisory lock).

        For short work that must happen once across processes and cannot be made idempotent
        in SQL, such as creating an Asana enum option. On SQLite (one process) it is the write
        lock, so keep what runs inside short.
        """
        with self.db.exclusive(f"named:{name}"):
            yield

    # -- instances -------------------------------------------------------------------------

    def heartbeat(self, owner: str) -> None:
        """Say this instance is alive (every few seconds while it runs)."""
        now = self.now()
        with self.connect() as conn:
            conn.execute(
                "insert into instances (owner, started_at, seen_at) values (?, ?, ?) "
                "on conflict (owner) do update set seen_at = excluded.seen_at",
                [owner, now, now],
            )

    def forget_instances(self, *, unseen_for: timedelta) -> int:
        """Drop the rows of instances silent for that long (they died without signing off)."""
        cutoff = iso(self._clock() - unseen_for)
        with self.connect() as conn:
            return conn.execute("delete from instances where seen_at < ?", [cutoff])

    def instance_gone(self, owner: str) -> None:
        with self.connect() as conn:
            conn.execute("delete from instances where owner = ?", [owner])

    def instance_seen(self, owner: str, *, within: timedelta) -> bool:
        """True when `owner` heartbeat less than `within` ago."""
        cutoff = iso(self._clock() - within)
        with self.connect() as conn:
            row = conn.query_one(
                "select seen_at from instances where owner = ? and seen_at >= ?", [owner, cutoff]
            )
        return row is not None

    # -- commands acknowledged, not answered yet -------------------------------------------

    def command_acknowledged(self, row: PendingCommandRow) -> None:
        with self.connect() as conn:
            conn.insert_ignore(
                "pending_commands",
                {
                    "id": row.id,
                    "command": row.command,
                    "text": row.text,
                    "user_id": row.user_id,
                    "channel_id": row.channel_id,
                    "response_url": row.response_url,
                    "owner": row.owner,
                    "acked_at": row.acked_at,
                },
            )

    def command_answered(self, command_id: str) -> None:
        with self.connect() as conn:
            conn.execute("delete from pending_commands where id = ?", [command_id])

    def take_interrupted(
        self, *, holder_dead: Callable[[str], bool], max_age: timedelta
    ) -> list[PendingCommandRow]:
        """Commands whose instance died before answering; each is taken by one caller only.

        Rows older than `max_age` (the response_url has expired) are dropped: nobody can be
        told any more.
        """
        cutoff = iso(self._clock() - max_age)
        with self.connect() as conn:
            conn.execute("delete from pending_commands where acked_at < ?", [cutoff])
            rows = conn.query("select * from pending_commands order by acked_at")
        taken = []
        for r in rows:
            if not holder_dead(r["owner"]):
                continue
            with self.connect() as conn:
                # The delete is the claim: of several instances starting at once, one wins.
                if conn.execute("delete from pending_commands where id = ?", [r["id"]]) != 1:
                    continue
            taken.append(
                PendingCommandRow(**{k: r[k] or "" for k in PendingCommandRow.__annotations__})
            )
        return taken
