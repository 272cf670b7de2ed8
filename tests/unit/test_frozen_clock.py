"""The suite's own clock: every test starts at a fixed instant, on every thread, and ticks."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta

from tests.clock import DEFAULT_NOW, NOWS, FrozenNow, every_now


def read_on_a_thread() -> tuple[datetime, float, date]:
    seen: list[tuple[datetime, float, date]] = []
    worker = threading.Thread(
        target=lambda: seen.append((datetime.now(UTC), time.time(), date.today()))
    )
    worker.start()
    worker.join()
    return seen[0]


def test_a_test_reads_the_default_now_not_todays_date(frozen_now: FrozenNow) -> None:
    assert frozen_now == DEFAULT_NOW and DEFAULT_NOW.instant.weekday() == 2  # a Wednesday
    for now, stamp, today in (
        (datetime.now(UTC), time.time(), date.today()),
        read_on_a_thread(),  # the sandbox servers and the app's workers run on threads
    ):
        assert timedelta(0) <= now - DEFAULT_NOW.instant < timedelta(minutes=5)
        assert abs(stamp - now.timestamp()) < 60  # Slack signatures use time.time()
        assert today == DEFAULT_NOW.today


def test_the_clock_ticks_so_leases_and_waits_expire() -> None:
    first = datetime.now(UTC)
    time.sleep(0.01)  # real: time-machine leaves sleeps, monotonic time and timeouts alone
    assert datetime.now(UTC) > first


@every_now
def test_each_frozen_now_is_the_day_it_names(frozen_now: FrozenNow) -> None:
    local = datetime.now(UTC).astimezone(frozen_now.instant.tzinfo)
    assert local.date() == frozen_now.today and read_on_a_thread()[
        0
    ].date() >= local.date() - timedelta(1)
    # The process's own local zone is the team's too: naive local time would show it.
    assert datetime.now().date() == date.today() == frozen_now.today


def test_the_nows_cover_the_days_that_break_date_code() -> None:
    days = {n.id: n.today for n in NOWS}
    assert days["monday"].weekday() == 0 and days["sunday"].weekday() == 6
    assert days["dec-31"] == date(2026, 12, 31) and days["feb-29-2028"] == date(2028, 2, 29)
    for n in NOWS:
        utc_date = n.instant.astimezone(UTC).date()
        if n.id in ("dec-31", "feb-29-2028"):
            assert utc_date != n.today  # the team's date is not UTC's
        if "spring" in n.id or "fall" in n.id:
            zone = n.instant.tzinfo
            before = datetime.combine(n.today, datetime.min.time(), tzinfo=zone)
            assert before.utcoffset() != (before + timedelta(days=1)).astimezone(zone).utcoffset()
