"""The digest scheduler with frozen time: firing times from a fixed now, restarts, the window.

Hand-written fakes stand in for Asana and Slack; the SQLite store (the ledger) is real, and a
"restart" is a new DigestService + DigestScheduler over the same database file.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from apscheduler.schedulers.background import BackgroundScheduler

from bot.domain.digest import DigestSchedule
from bot.domain.models import Task
from bot.errors import NotFoundError, UpstreamError
from bot.gateways.asana import Project
from bot.gateways.slack import SlackPermanentError, SlackRefused
from bot.scheduler import DigestScheduler, ScheduledJob, cron_trigger
from bot.settings import Settings
from bot.storage.store import DigestScheduleRow, Store
from bot.surfaces.slack.blocks.home import home_view
from bot.usecases.digest import LEDGER_KIND, DigestService
from tests.chat import slack_chat
from tests.clock import every_now

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
CHANNEL = "C0TEAM"
PROJECT = "42"
SCHEDULE_ID = f"{CHANNEL}:{PROJECT}"
MONDAY = date(2026, 3, 9)  # the first weekday after New York's clocks went forward


def local(day: date, hh: int, mm: int, ss: int = 0, tz: ZoneInfo = NY) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=tz)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FakeAsana:
    def __init__(self) -> None:
        self.reads = 0

    def find_project(self, ref: str) -> Project:
        return Project(PROJECT, "Platform", "1", "https://app.asana.com/0/42/list", {})

    def tasks_open_or_completed_since(self, project: Project, since: datetime) -> list[Task]:
        self.reads += 1
        return [
            Task("1", "Ship it", due_on=date(2026, 3, 2), permalink="https://app.asana.com/0/42/1")
        ]

    def latest_comments(self, task_gids):
        return dict.fromkeys(task_gids)


class FakeSlack:
    def __init__(self) -> None:
        self.posts: list[str] = []
        self.fail: Exception | None = None

    def post_once(self, channel: str, *, text: str, blocks: list) -> str:
        if self.fail is not None:
            raise self.fail
        self.posts.append(channel)
        return f"1763800000.{len(self.posts):06d}"

    def user_id_by_email(self, email: str) -> str | None:
        return None


class World:
    """One database, one Slack; each `process()` is a fresh start of the app on them."""

    def __init__(self, tmp_path, now: datetime, *, tz: str = "America/New_York", at="09:30"):
        self.db = str(tmp_path / "copilot.db")
        self.clock = Clock(now)
        self.slack = FakeSlack()
        self.settings = Settings(
            db_path=self.db,
            asana_project=PROJECT,
            standup_channel=CHANNEL,
            standup_time=at,
            standup_tz=tz,
            standup_days="mon-fri",
        )

    def process(self, *, extra_jobs=()) -> DigestScheduler:
        store = Store(self.db, clock=self.clock)
        digests = DigestService(
            asana=FakeAsana(),
            chat=slack_chat(self.slack, store),
            store=store,
            llm=None,
            settings=self.settings,
            clock=self.clock,
            may_post=lambda channel, project: (channel, project) == (CHANNEL, PROJECT),
        )
        return DigestScheduler(
            digests=digests,
            store=store,
            clock=self.clock,
            extra_jobs=extra_jobs,
            scheduler=BackgroundScheduler(timezone=UTC),
        )

    def status(self, day: date) -> str | None:
        store = Store(self.db, clock=self.clock)
        return store.slot_status(
            kind=LEDGER_KIND, channel=CHANNEL, project_gid=PROJECT, slot=day.isoformat()
        )


# -- firing times from a fixed now, across daylight saving ----------------------------------------


@pytest.mark.parametrize(
    ("tz", "now", "expected_utc"),
    [
        # New York springs forward on Sunday 8 March 2026: 09:30 is 14:30 UTC, then 13:30.
        (NY, local(date(2026, 3, 6), 10, 0), datetime(2026, 3, 9, 13, 30, tzinfo=UTC)),
        (NY, local(date(2026, 3, 5), 10, 0), datetime(2026, 3, 6, 14, 30, tzinfo=UTC)),
        # ...and falls back on Sunday 1 November: 13:30 UTC, then 14:30.
        (NY, local(date(2026, 10, 30), 10, 0), datetime(2026, 11, 2, 14, 30, tzinfo=UTC)),
        # Berlin: summer time from Sunday 29 March (08:30 → 07:30 UTC) to 25 October.
        (
            BERLIN,
            local(date(2026, 3, 27), 10, 0, tz=BERLIN),
            datetime(2026, 3, 30, 7, 30, tzinfo=UTC),
        ),
        (
            BERLIN,
            local(date(2026, 10, 23), 10, 0, tz=BERLIN),
            datetime(2026, 10, 26, 8, 30, tzinfo=UTC),
        ),
    ],
)
def test_weekday_fire_times_keep_local_time_across_dst(tz, now, expected_utc):
    trigger = cron_trigger("09:30", tz.key, "mon-fri")
    fired = trigger.get_next_fire_time(None, now)
    schedule = DigestSchedule(CHANNEL, PROJECT, "P", "09:30", tz.key, "mon,tue,wed,thu,fri")
    assert fired == expected_utc
    assert schedule.next_slot(now) == expected_utc
    assert (fired.astimezone(tz).hour, fired.astimezone(tz).minute) == (9, 30)


@pytest.mark.parametrize(
    ("tz", "dst_sunday"),
    [
        (NY, date(2026, 3, 8)),
        (NY, date(2026, 11, 1)),
        (BERLIN, date(2026, 3, 29)),
        (BERLIN, date(2026, 10, 25)),
    ],
)
def test_a_daily_schedule_fires_at_0930_local_every_day_of_a_dst_week(tz, dst_sunday):
    trigger = cron_trigger("09:30", tz.key, "mon-sun")
    schedule = DigestSchedule(CHANNEL, PROJECT, "P", "09:30", tz.key, "mon-sun")
    now = local(dst_sunday - timedelta(days=3), 12, 0, tz=tz)
    previous = None
    offsets = set()
    for _ in range(7):
        fired = trigger.get_next_fire_time(previous, now)
        assert fired == schedule.next_slot(now) == schedule.slot_on(fired.astimezone(tz).date())
        assert fired.astimezone(tz).strftime("%H:%M") == "09:30"
        offsets.add(fired.astimezone(tz).utcoffset())
        previous, now = fired, fired + timedelta(seconds=1)
    assert len(offsets) == 2  # the same wall-clock time, two UTC offsets


def test_a_time_skipped_by_dst_fires_once_when_the_clock_says_0330():
    trigger = cron_trigger("02:30", "America/New_York", "mon-sun")
    schedule = DigestSchedule(CHANNEL, PROJECT, "P", "02:30", "America/New_York", "mon-sun")
    now = local(date(2026, 3, 7), 12, 0)
    fired = trigger.get_next_fire_time(None, now)
    # 02:30 does not exist that day: both read it with the offset before the change (EST),
    # which is 03:30 EDT on the wall clock. (Compared in UTC: Python never calls a time in a
    # DST gap equal to one in another zone.)
    assert (
        fired.astimezone(UTC) == schedule.next_slot(now) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    )
    assert schedule.next_slot(now).astimezone(NY).strftime("%H:%M %Z") == "03:30 EDT"


def test_a_time_repeated_by_dst_fires_twice_but_posts_once(tmp_path):
    # APScheduler fires 01:30 EDT and again 01:30 EST on 1 November; the ledger holds the day.
    world = World(tmp_path, datetime(2026, 11, 1, 5, 30, tzinfo=UTC), at="01:30")
    world.settings = Settings(**{**world.settings.__dict__, "standup_days": "mon-sun"})
    trigger = cron_trigger("01:30", "America/New_York", "mon-sun")
    first = trigger.get_next_fire_time(None, datetime(2026, 11, 1, 4, 0, tzinfo=UTC))
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1))
    assert (first.astimezone(UTC), second.astimezone(UTC)) == (
        datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
        datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
    )
    scheduler = world.process()
    for moment in (first, second):
        world.clock.now = moment + timedelta(milliseconds=5)
        scheduler.fire(SCHEDULE_ID)
    assert world.slack.posts == [CHANNEL]


# -- restarts -------------------------------------------------------------------------------------


def test_restart_at_092959_posts_once_at_0930(tmp_path):
    world = World(tmp_path, local(MONDAY, 9, 29, 59))
    with time_machine.travel(world.clock.now, tick=False):
        scheduler = world.process()
        scheduler.start(paused=True)
        try:
            assert scheduler.due_catch_ups(world.clock.now) == []
            job = scheduler.scheduler.get_job(f"digest:{SCHEDULE_ID}")
            assert job.next_run_time == local(MONDAY, 9, 30)
            assert [j.id for j in scheduler.scheduler.get_jobs() if "catch-up" in j.id] == []
        finally:
            scheduler.shutdown()
    world.clock.now = local(MONDAY, 9, 30, 0) + timedelta(milliseconds=200)
    assert scheduler.fire(SCHEDULE_ID).status == "posted"
    # A restart one second later finds the day's digest in the ledger: nothing more is posted.
    world.clock.now = local(MONDAY, 9, 30, 1)
    again = world.process()
    assert again.due_catch_ups(world.clock.now) == []
    assert again.fire(SCHEDULE_ID).status == "already"
    assert world.slack.posts == [CHANNEL]
    assert cron_trigger("09:30", "America/New_York", "mon-fri").get_next_fire_time(
        None, world.clock.now
    ) == local(MONDAY + timedelta(days=1), 9, 30)


def test_restart_at_093001_after_a_missed_slot_posts_it_once_now(tmp_path):
    world = World(tmp_path, local(MONDAY, 9, 30, 1))
    with time_machine.travel(world.clock.now, tick=False):
        scheduler = world.process()
        scheduler.start(paused=True)
        try:
            catch_up = scheduler.scheduler.get_job(f"digest-catch-up:{SCHEDULE_ID}")
            assert catch_up is not None and catch_up.next_run_time == world.clock.now
            cron = scheduler.scheduler.get_job(f"digest:{SCHEDULE_ID}")
            assert cron.next_run_time == local(MONDAY + timedelta(days=1), 9, 30)
        finally:
            scheduler.shutdown()
    assert scheduler.fire(SCHEDULE_ID).status == "posted"
    # A second process started at the same moment runs its catch-up too: the ledger says no.
    other = world.process()
    assert other.catch_up() == []
    assert other.fire(SCHEDULE_ID).status == "already"
    assert world.slack.posts == [CHANNEL]


def test_a_digest_missed_while_down_is_posted_within_two_hours_never_later(tmp_path):
    world = World(tmp_path, local(MONDAY, 11, 29, 59))
    assert [s.id for s, _ in world.process().due_catch_ups(world.clock.now)] == [SCHEDULE_ID]
    assert world.process().fire(SCHEDULE_ID).status == "posted"

    (tmp_path / "late").mkdir()
    late = World(tmp_path / "late", local(MONDAY, 11, 30, 1))  # another install, never posted
    scheduler = late.process()
    assert scheduler.due_catch_ups(late.clock.now) == []
    assert scheduler.catch_up() == []
    assert scheduler.fire(SCHEDULE_ID) is None  # past the window: not even by the cron job
    assert late.slack.posts == [] and late.status(MONDAY) is None
    late.clock.now = local(MONDAY + timedelta(days=1), 9, 30) + timedelta(milliseconds=5)
    assert scheduler.fire(SCHEDULE_ID).status == "posted"  # the next day is normal again


def test_a_claim_left_by_a_crash_before_posting_is_taken_over_one_that_may_have_posted_is_not(
    tmp_path,
):
    world = World(tmp_path, local(MONDAY, 9, 30, 1))
    store = Store(world.db, clock=world.clock)
    key = {"kind": LEDGER_KIND, "channel": CHANNEL, "project_gid": PROJECT, "slot": "2026-03-09"}
    assert store.claim_slot(
        **key, owner="dead", scheduled_for=local(MONDAY, 9, 30), stale_after=timedelta(minutes=15)
    )
    scheduler = world.process()
    assert scheduler.fire(SCHEDULE_ID).status == "already"  # the holder may still be working
    world.clock.now = local(MONDAY, 9, 46)
    assert scheduler.fire(SCHEDULE_ID).status == "posted"  # it died before posting: take over

    (tmp_path / "b").mkdir()
    world2 = World(tmp_path / "b", local(MONDAY, 9, 30, 1))
    store2 = Store(world2.db, clock=world2.clock)
    store2.claim_slot(
        **key, owner="dead", scheduled_for=local(MONDAY, 9, 30), stale_after=timedelta(minutes=15)
    )
    assert store2.begin_posting(**key, owner="dead")  # then died mid-post: it may have posted
    world2.clock.now = local(MONDAY, 11, 0)
    assert world2.process().fire(SCHEDULE_ID).status == "already"
    assert world2.slack.posts == []


def test_slack_refusing_the_post_frees_the_slot_and_retries_within_the_window(tmp_path):
    world = World(tmp_path, local(MONDAY, 9, 30) + timedelta(milliseconds=100))
    scheduler = world.process()
    # A refusal a retry may fix (still rate limited after the client's own retries).
    world.slack.fail = SlackRefused("chat.postMessage failed: ratelimited", status=429)
    assert scheduler.fire(SCHEDULE_ID) is None
    assert world.status(MONDAY) is None
    retry = scheduler.scheduler.get_job(f"digest-retry:{SCHEDULE_ID}")
    assert retry is not None and retry.trigger.run_date == world.clock.now + timedelta(minutes=5)
    world.slack.fail = None
    world.clock.now += timedelta(minutes=5)
    assert scheduler.fire(SCHEDULE_ID).status == "posted"


@pytest.mark.parametrize("code", ["channel_not_found", "not_in_channel", "is_archived"])
def test_a_permanent_refusal_is_not_retried_nor_caught_up_and_approvers_see_it(tmp_path, code):
    world = World(tmp_path, local(MONDAY, 9, 30) + timedelta(milliseconds=100))
    scheduler = world.process()
    asana = scheduler._digests._asana
    world.slack.fail = SlackPermanentError(f"chat.postMessage failed: {code}", code=code)
    assert scheduler.fire(SCHEDULE_ID) is None
    reads = asana.reads
    assert world.status(MONDAY) == "refused"
    assert scheduler.scheduler.get_job(f"digest-retry:{SCHEDULE_ID}") is None
    # Neither a later firing nor a restart's catch-up rebuilds it that day.
    world.clock.now += timedelta(minutes=5)
    assert scheduler.fire(SCHEDULE_ID).status == "already"
    assert world.process().due_catch_ups(world.clock.now) == []
    assert asana.reads == reads
    problems = Store(world.db, clock=world.clock).delivery_problems()
    assert [(p.kind, p.channel, p.error) for p in problems] == [("digest", CHANNEL, code)]
    home = home_view(schedules=[], can_edit=True, problems=problems)
    text = str(home["blocks"])
    assert code in text and ("invite @Asana Copilot" in text or "archived" in text)
    assert "invite" not in str(home_view(schedules=[], can_edit=False, problems=problems))
    # The next day the bot is back in the channel: the digest posts and the problem clears.
    world.slack.fail = None
    world.clock.now = local(MONDAY + timedelta(days=1), 9, 30, 1)
    assert scheduler.fire(SCHEDULE_ID).status == "posted"
    assert Store(world.db, clock=world.clock).delivery_problems() == []


def test_a_digest_that_cannot_work_is_not_retried(tmp_path):
    world = World(tmp_path, local(MONDAY, 9, 30) + timedelta(milliseconds=100))
    scheduler = world.process()

    def gone(ref: str) -> Project:
        raise NotFoundError("Asana has no project 42 (404).")

    scheduler._digests._asana.find_project = gone  # the project was deleted in Asana
    assert scheduler.fire(SCHEDULE_ID) is None
    assert world.status(MONDAY) is None  # the claim was given back
    assert scheduler.scheduler.get_job(f"digest-retry:{SCHEDULE_ID}") is None


def test_an_uncertain_post_is_never_retried(tmp_path):
    world = World(tmp_path, local(MONDAY, 9, 30) + timedelta(milliseconds=100))
    scheduler = world.process()
    world.slack.fail = UpstreamError("Slack", "chat.postMessage failed: ConnectionResetError")
    assert scheduler.fire(SCHEDULE_ID) is None
    assert world.status(MONDAY) == "posting"
    assert scheduler.scheduler.get_job(f"digest-retry:{SCHEDULE_ID}") is None
    world.slack.fail = None
    assert scheduler.fire(SCHEDULE_ID).status == "already"
    assert world.slack.posts == []


# -- the jobs themselves --------------------------------------------------------------------------


def test_jobs_have_stable_ids_explicit_zones_coalesce_and_a_misfire_window(tmp_path):
    world = World(tmp_path, local(MONDAY, 8, 0))
    overload = ScheduledJob("overload:42", lambda: None, at="08:00", tz="Europe/Berlin")
    with time_machine.travel(world.clock.now, tick=False):
        scheduler = world.process(extra_jobs=[overload])
        scheduler.start(paused=True)
        try:
            jobs = {j.id: j for j in scheduler.scheduler.get_jobs()}
            assert set(jobs) == {f"digest:{SCHEDULE_ID}", "digest-sync", "overload:42"}
            digest, extra = jobs[f"digest:{SCHEDULE_ID}"], jobs["overload:42"]
            assert (digest.coalesce, digest.misfire_grace_time, digest.max_instances) == (
                True,
                7200,
                1,
            )
            assert str(digest.trigger.timezone) == "America/New_York"
            assert str(extra.trigger.timezone) == "Europe/Berlin"
            assert extra.next_run_time == local(MONDAY, 8, 0, tz=BERLIN) + timedelta(days=1)

            # A schedule added from the Home tab: a new job; the same again changes nothing.
            store = Store(world.db, clock=world.clock)
            row = DigestScheduleRow("C0OPS", "77", "Ops", "10:15", "Europe/Berlin", "mon,wed")
            store.save_digest_schedule(row, by="U0LEAD")
            scheduler.sync()
            scheduler.sync()
            ids = sorted(j.id for j in scheduler.scheduler.get_jobs())
            assert ids == ["digest-sync", "digest:C0OPS:77", f"digest:{SCHEDULE_ID}", "overload:42"]
            ops = scheduler.scheduler.get_job("digest:C0OPS:77")
            assert ops.next_run_time == local(MONDAY + timedelta(days=2), 10, 15, tz=BERLIN)
            # Moved to 07:00: the same id, a new trigger. Removed: the job goes.
            store.save_digest_schedule(
                DigestScheduleRow("C0OPS", "77", "Ops", "07:00", "Europe/Berlin", "mon,wed"),
                by="U0LEAD",
            )
            scheduler.sync()
            ops = scheduler.scheduler.get_job("digest:C0OPS:77")
            assert ops.next_run_time == local(MONDAY + timedelta(days=2), 7, 0, tz=BERLIN)
            store.delete_digest_schedule("C0OPS", "77", by="U0LEAD")
            scheduler.sync()
            assert scheduler.scheduler.get_job("digest:C0OPS:77") is None
        finally:
            scheduler.shutdown()


def test_the_running_scheduler_posts_at_the_slot(tmp_path):
    world = World(tmp_path, local(MONDAY, 9, 29, 59))
    world.clock = datetime_now  # the real (frozen) clock, as in production
    with time_machine.travel(local(MONDAY, 9, 29, 59), tick=False) as traveller:
        scheduler = world.process()
        scheduler.start()
        try:
            assert world.slack.posts == []
            traveller.move_to(local(MONDAY, 9, 30, 0) + timedelta(milliseconds=500))
            scheduler.scheduler.wakeup()
            deadline = time.monotonic() + 5
            while not world.slack.posts and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            scheduler.shutdown()
    assert world.slack.posts == [CHANNEL]


def datetime_now() -> datetime:
    return datetime.now(UTC)


# -- at every frozen now ---------------------------------------------------------------------------


def next_weekday_0930(now: datetime, zone: ZoneInfo) -> datetime:
    """Independently of the code: the first Monday-to-Friday 09:30 in `zone` after `now`."""
    day = now.astimezone(zone).date()
    while True:
        slot = datetime(day.year, day.month, day.day, 9, 30, tzinfo=zone)
        if day.weekday() < 5 and slot > now:
            return slot
        day += timedelta(days=1)


@every_now
def test_the_running_scheduler_posts_at_the_next_slot_once_at_every_now(tmp_path, frozen_now):
    zone = ZoneInfo(frozen_now.tz)
    with time_machine.travel(frozen_now.instant, tick=False) as traveller:
        world = World(tmp_path, frozen_now.instant, tz=frozen_now.tz)
        world.clock = datetime_now  # the real (frozen) clock, as in production
        expected = next_weekday_0930(datetime_now(), zone)
        scheduler = world.process()
        scheduler.start()
        try:
            job = scheduler.scheduler.get_job(f"digest:{SCHEDULE_ID}")
            assert job.next_run_time == expected
            assert world.slack.posts == []  # no slot of the last two hours was missed
            traveller.move_to(expected + timedelta(milliseconds=500))
            scheduler.scheduler.wakeup()
            deadline = time.monotonic() + 5
            # The ledger is written right after the post: wait for it, not for the post alone.
            while world.status(expected.date()) != "posted" and time.monotonic() < deadline:
                time.sleep(0.02)
            assert world.status(expected.date()) == "posted"
        finally:
            scheduler.shutdown()
        # A restart a minute later: the ledger has the day, nothing is posted again.
        traveller.shift(timedelta(minutes=1))
        again = world.process()
        assert again.catch_up() == []
        assert again.fire(SCHEDULE_ID).status == "already"
    assert world.slack.posts == [CHANNEL]
