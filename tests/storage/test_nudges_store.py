"""m011_forecast_nudges on both backends: the switch, opt-outs, the one-a-day ledger.

Two Store objects on one database stand for two instances of the app.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.storage.store import Store

T0 = datetime(2027, 3, 10, 9, 0, tzinfo=UTC)
DAY = date(2027, 3, 10)
STALE = timedelta(minutes=15)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stores(database_target: str, clock: Clock):
    first, second = Store(database_target, clock=clock), Store(database_target, clock=clock)
    yield first, second
    first.close()
    second.close()


def test_nudges_are_off_until_switched_on_and_each_switch_is_audited(stores) -> None:
    store, other = stores
    assert not store.nudges_enabled("100") and store.nudge_projects() == []
    store.set_nudges("100", "Platform", enabled=True, by="U1")
    assert other.nudges_enabled("100")
    other.set_nudges("100", "Platform", enabled=False, by="U2")
    assert not store.nudges_enabled("100")
    (row,) = store.nudge_projects()
    assert (row.enabled, row.set_by) == (False, "U2")
    assert [r["action"] for r in store.audit_rows()] == ["nudges_on", "nudges_off"]


def test_a_person_turns_their_own_nudges_off_and_on(stores) -> None:
    store, other = stores
    store.set_nudge_opt_out("U7", opted_out=True)
    store.set_nudge_opt_out("U7", opted_out=True)  # twice is once
    assert other.nudge_opted_out("U7") and not other.nudge_opted_out("U8")
    other.set_nudge_opt_out("U7", opted_out=False)
    assert not store.nudge_opted_out("U7")


def test_one_claim_wins_per_person_and_day_across_instances(stores) -> None:
    store, other = stores
    with ThreadPoolExecutor(8) as pool:
        wins = list(
            pool.map(
                lambda i: (store, other)[i % 2].claim_nudge(
                    "p1", DAY, recipient="U1", owner=f"o{i}", stale_after=STALE
                ),
                range(8),
            )
        )
    assert wins.count(True) == 1
    assert store.nudged_on(["p1", "p2"], DAY) == {"p1": DAY}
    assert store.claim_nudge(
        "p1", DAY + timedelta(days=1), recipient="U1", owner="o", stale_after=STALE
    )


def test_a_released_claim_may_be_taken_again_a_sent_one_never(stores, clock: Clock) -> None:
    store, other = stores
    assert store.claim_nudge("p1", DAY, recipient="U1", owner="a", stale_after=STALE)
    store.release_nudge("p1", DAY, owner="a")
    assert other.claim_nudge("p1", DAY, recipient="U1", owner="b", stale_after=STALE)
    # b dies before sending: after STALE its claim is taken over, once.
    clock.now = T0 + STALE + timedelta(seconds=1)
    assert store.claim_nudge("p1", DAY, recipient="U1", owner="c", stale_after=STALE)
    assert not other.claim_nudge("p1", DAY, recipient="U1", owner="d", stale_after=STALE)
    store.nudge_sent("p1", DAY, owner="c")
    clock.now = T0 + timedelta(hours=5)
    assert not other.claim_nudge("p1", DAY, recipient="U1", owner="e", stale_after=STALE)
    assert [r["status"] for r in store.nudge_ledger_rows()] == ["sent"]
