"""Commands owed an answer, and holders that died: on SQLite and on PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest

from bot.storage.store import PendingCommandRow, Store
from bot.usecases.instances import CommandLedger, Liveness

T0 = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
COMMAND = {
    "command": "/plan-sprint",
    "text": "Sprint 25 30",
    "user_id": "U0LEAD",
    "channel_id": "C0TEAM",
    "response_url": "https://hooks.example/r/1",
}


class Responses:
    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []

    def say_privately(self, channel: str, user: str, text: str, *, reply_to: str = "") -> None:
        self.posts.append((reply_to, text))


@pytest.fixture
def store(database_target):
    now = [T0]
    s = Store(database_target, clock=lambda: now[0])
    s.now_ref = now  # type: ignore[attr-defined]
    yield s
    s.close()


def test_a_command_is_owed_until_it_is_answered_or_too_late(store):
    ledger = CommandLedger(store, Liveness(store), Responses())
    seen: list[str] = []
    work, late = ledger.tracked(COMMAND, seen.append, lambda d: f"late {d}")
    with store.connect() as conn:
        assert len(conn.rows("pending_commands")) == 1
    work("deadline")
    assert seen == ["deadline"]
    with store.connect() as conn:
        assert conn.rows("pending_commands") == []
    _, late = ledger.tracked(COMMAND, seen.append, lambda d: f"late {d}")
    assert late("d") == "late d"  # the person was told it took too long: nothing is owed
    with store.connect() as conn:
        assert conn.rows("pending_commands") == []


def test_a_dead_instances_command_is_told_once_within_thirty_minutes(store):
    responses = Responses()
    ledger = CommandLedger(store, Liveness(store), responses)
    dead = "otherhost:1:dead0000"  # never heartbeated (PostgreSQL), or another host (SQLite)
    for i, owner in enumerate([dead, Liveness(store).instance]):
        store.command_acknowledged(
            PendingCommandRow(
                id=f"c{i}",
                command="/plan-sprint",
                text="Sprint 25 30",
                user_id="U0LEAD",
                channel_id="C0TEAM",
                response_url=f"https://hooks.example/r/{i}",
                owner=owner,
                acked_at=store.now(),
            )
        )
    told = ledger.tell_interrupted()
    if store.shared:
        # Another host's instance that stopped heartbeating is dead; this process is not.
        assert told == 1
        [(url, text)] = responses.posts
        assert url == "https://hooks.example/r/0"
        assert "/plan-sprint Sprint 25 30" in text and "interrupted" in text
        assert ledger.tell_interrupted() == 0  # told once
    else:
        # One process per SQLite file: a holder on another host cannot be judged; nobody is told.
        assert told == 0


def test_a_row_older_than_the_response_urls_life_is_dropped_untold(store):
    responses = Responses()
    ledger = CommandLedger(store, Liveness(store), responses)
    store.command_acknowledged(
        PendingCommandRow("c", "/prioritize", "", "U", "C", "https://h/r", "x:1:y", store.now())
    )
    store.now_ref[0] = T0 + timedelta(minutes=31)
    assert ledger.tell_interrupted() == 0 and responses.posts == []
    with store.connect() as conn:
        assert conn.rows("pending_commands") == []
