"""The nudges' daily job: 09:00 on the team's working days, in the team's zone (issue 14 §3)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.scheduler import cron_trigger
from bot.usecases.nudges import JOB_ID, NudgeService

BERLIN = ZoneInfo("Europe/Berlin")


def job(tz: str, days: str = "mon-fri"):
    service = NudgeService(
        asana=None,  # type: ignore[arg-type]  # the job is only scheduled here, never run
        store=None,  # type: ignore[arg-type]
        slack=None,
        access=None,  # type: ignore[arg-type]
        chat=None,  # type: ignore[arg-type]
        clock=lambda: datetime.now(BERLIN),
        tz=tz,
        days=days,
    )
    return service.scheduled_job()


def test_the_job_fires_at_nine_local_on_the_next_working_day_across_daylight_saving() -> None:
    nudges = job("Europe/Berlin")
    assert nudges.id == JOB_ID and nudges.func.__name__ == "scheduled"
    trigger = cron_trigger(nudges.at, nudges.tz, nudges.days)
    # Friday 27 March 2026 after nine: next is Monday 30 March, after the clocks went forward.
    friday_evening = datetime(2026, 3, 27, 18, 0, tzinfo=BERLIN)
    fire = trigger.get_next_fire_time(None, friday_evening)
    assert fire == datetime(2026, 3, 30, 9, 0, tzinfo=BERLIN)
    assert fire.utcoffset().total_seconds() == 2 * 3600


def test_the_job_follows_the_teams_days() -> None:
    nudges = job("America/New_York", "sun-thu")
    trigger = cron_trigger(nudges.at, nudges.tz, nudges.days)
    friday = datetime(2026, 6, 12, 10, 0, tzinfo=ZoneInfo("America/New_York"))
    assert trigger.get_next_fire_time(None, friday) == datetime(
        2026, 6, 14, 9, 0, tzinfo=ZoneInfo("America/New_York")
    )
