"""Work that must happen once across instances and is not a row: a lock the database holds.

Two gateways stand for two instances; each takes the lock through its own Store, so only the
database (an advisory lock on PostgreSQL, the write lock on SQLite) can keep them apart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from bot.gateways.asana import FIELD_SPRINT, AsanaGateway
from bot.sandbox.asana_seed import SeedInfo, seed_team
from bot.sandbox.asana_server import AsanaSandbox, AsanaStore
from bot.settings import Secret
from bot.storage.store import Store

TOKEN = "sandbox-asana-token"


@pytest.fixture
def seeded() -> Iterator[tuple[AsanaSandbox, SeedInfo]]:
    store = AsanaStore(now=lambda: datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    info = seed_team(store, tasks=12, today=date(2026, 11, 20))
    with AsanaSandbox(store) as sandbox:
        yield sandbox, info


def test_two_instances_adding_the_same_sprint_create_it_once(seeded, database_target) -> None:
    sandbox, info = seeded
    sprint = info.field_gids["Sprint"]
    stores = [Store(database_target), Store(database_target)]
    first, second = (
        AsanaGateway(base_url=sandbox.base_url, token=Secret(TOKEN), option_lock=s.named_lock)
        for s in stores
    )
    try:
        stale_first = first.project(info.project_gid)
        stale_second = second.project(info.project_gid)
        # The first instance's read of the field is held back while it holds the lock: without
        # the lock the second would read, find no option and create its own (two POSTs).
        sandbox.faults.add("latency", method="GET", path_contains=f"/custom_fields/{sprint}",
                           delay=1.5)  # fmt: skip
        results: dict[str, str] = {}
        racer = threading.Thread(
            target=lambda: results.update(
                first=first.ensure_enum_option(stale_first, FIELD_SPRINT, "Sprint 30")
            )
        )
        racer.start()
        while not sandbox.count("GET", f"/custom_fields/{sprint}"):
            time.sleep(0.01)
        results["second"] = second.ensure_enum_option(stale_second, FIELD_SPRINT, "Sprint 30")
        racer.join(timeout=30)
    finally:
        first.close()
        second.close()
        for s in stores:
            s.close()
    posts = [
        r
        for r in sandbox.requests
        if r.method == "POST" and r.path == f"/custom_fields/{sprint}/enum_options"
    ]
    assert len(posts) == 1
    assert results["first"] == results["second"]


def test_a_named_lock_keeps_a_second_holder_out_until_the_first_leaves(database_target):
    first, second = Store(database_target), Store(database_target)
    inside = threading.Event()
    leave = threading.Event()
    log: list[str] = []

    def hold() -> None:
        with first.named_lock("x"):
            log.append("first in")
            inside.set()
            leave.wait(10)
            log.append("first out")

    def enter() -> None:
        with second.named_lock("x"):
            log.append("second in")

    holder = threading.Thread(target=hold)
    holder.start()
    inside.wait(10)
    waiter = threading.Thread(target=enter)
    waiter.start()
    waiter.join(0.5)  # it stays blocked while the first holds the lock
    assert log == ["first in"]
    leave.set()
    holder.join(10)
    waiter.join(10)
    assert log == ["first in", "first out", "second in"]
    first.close()
    second.close()
