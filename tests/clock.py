"""The frozen "nows" the suite runs at: no test reads today's real date.

Every test runs on a clock that starts at `DEFAULT_NOW` (an ordinary Wednesday morning) and ticks
from there (tests/conftest.py). The date-sensitive tests run again at each of `NOWS`: a Monday, a
Sunday, the days the clocks change in America/New_York and Europe/Berlin, the last evening of a
year and a leap day. Each now carries the team's time zone (STANDUP_TZ for the app under test).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine


@dataclass(frozen=True)
class FrozenNow:
    id: str
    instant: datetime  # aware: a local time in `tz`
    tz: str  # the team's IANA zone at this now

    @property
    def today(self) -> date:
        """The team's local date."""
        return self.instant.astimezone(ZoneInfo(self.tz)).date()

    @property
    def env(self) -> dict[str, str]:
        """The settings that put the app under test in the team's zone."""
        return {"STANDUP_TZ": self.tz}


def local(text: str, tz: str, *, fold: int = 0) -> datetime:
    """`2026-11-01T01:30` in `tz`; fold=1 is the second 01:30 when the clocks go back."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz), fold=fold)


NY, BERLIN = "America/New_York", "Europe/Berlin"

DEFAULT_NOW = FrozenNow("wednesday", local("2026-06-10T09:00", "UTC"), "UTC")

NOWS = (
    DEFAULT_NOW,
    FrozenNow("monday", local("2026-11-30T08:00", "UTC"), "UTC"),  # issue 9: the failing day
    FrozenNow("sunday", local("2026-11-29T09:00", "UTC"), "UTC"),
    # Half an hour after 02:00 EST became 03:00 EDT.
    FrozenNow("new-york-spring-forward", local("2026-03-08T03:30", NY), NY),
    # The second 01:30: 02:00 EDT went back to 01:00 EST.
    FrozenNow("new-york-fall-back", local("2026-11-01T01:30", NY, fold=1), NY),
    # Half an hour after 02:00 CET became 03:00 CEST.
    FrozenNow("berlin-spring-forward", local("2026-03-29T03:30", BERLIN), BERLIN),
    # The second 02:30: 03:00 CEST went back to 02:00 CET.
    FrozenNow("berlin-fall-back", local("2026-10-25T02:30", BERLIN, fold=1), BERLIN),
    # New Year's Eve in New York: already 1 January 2027 in UTC.
    FrozenNow("dec-31", local("2026-12-31T19:30", NY), NY),
    # Just after midnight of a leap day in Berlin: still 28 February in UTC.
    FrozenNow("feb-29-2028", local("2028-02-29T00:30", BERLIN), BERLIN),
)

# Run a test at every one of NOWS (the `frozen_now` fixture in tests/conftest.py takes the param).
every_now = pytest.mark.parametrize("frozen_now", NOWS, ids=[n.id for n in NOWS], indirect=True)


def clocked_command(*args: str) -> list[str]:
    """`python -m bot ARGS` in a child process whose clock reads what this process's reads.

    A child process is not travelled by time-machine; tests/run_clocked.py moves its clock by the
    same offset, so Slack signatures, leases and "today" agree on both sides.
    """
    offset = time.time() - time_machine.escape_hatch.time.time()
    return [sys.executable, "-m", "tests.run_clocked", repr(offset), *args]
