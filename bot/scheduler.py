"""The process's one APScheduler (3.x): the stand-up digests, plus extra daily jobs.

- Every job has a stable id (`digest:<channel>:<project gid>`) and `replace_existing=True`; each
  trigger carries its own IANA time zone, so 09:30 stays 09:30 local across daylight saving.
- `coalesce=True` and `misfire_grace_time` = the grace window (default 2 h) are explicit: a run
  the process was too busy (or asleep) for fires once, and only within the window.
- Jobs live in memory, so a restart forgets a digest missed while the app was down: on start
  the scheduler looks for a slot that passed less than the grace window ago and is not in the
  ledger, and runs it once, now. Past the window it is never posted.
- Exactly once: the digest use case claims the slot's ledger row in SQLite before posting, so
  a restart, a catch-up racing the cron job, or a second process cannot post twice.
- Schedules set from the Home tab are picked up at once in this process (`sync`) and every few
  minutes in any other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.domain.digest import DigestSchedule, days_spec, parse_clock, parse_days
from bot.errors import CopilotError, PostBlocked, UpstreamError
from bot.storage.store import Store
from bot.usecases.digest import DigestService, PostResult, ledger_key

log = logging.getLogger(__name__)

GRACE = timedelta(hours=2)
RETRY_AFTER = timedelta(minutes=5)
SYNC_EVERY = timedelta(minutes=5)
DIGEST_PREFIX = "digest:"
CATCH_UP_PREFIX = "digest-catch-up:"
RETRY_PREFIX = "digest-retry:"
SYNC_JOB = "digest-sync"


@dataclass(frozen=True)
class ScheduledJob:
    """An extra job for the one scheduler, at a local time on some days.

    For issue 5's overload check: `ScheduledJob("overload:<project gid>", partial(
    run_overload_check, services, project_ref=gid, channel=channel), at="08:00",
    tz=settings.standup_tz, days="mon-fri")`, appended to `services.scheduled_jobs` before
    `services.start_scheduler()`.
    """

    id: str
    func: Callable[[], object]
    at: str = "08:00"
    tz: str = "UTC"
    days: str = "mon-fri"
    every: timedelta | None = None  # set: every so often instead of at a time of day


def cron_trigger(at: str, tz: str, days: str) -> CronTrigger:
    """A trigger at local time `at` in `tz` on `days` (e.g. "mon-fri")."""
    clock = parse_clock(at)
    return CronTrigger(
        day_of_week=days_spec(parse_days(days)),
        hour=clock.hour,
        minute=clock.minute,
        second=0,
        timezone=ZoneInfo(tz),
    )


def digest_job_id(schedule: DigestSchedule) -> str:
    return DIGEST_PREFIX + schedule.id


class DigestScheduler:
    def __init__(
        self,
        *,
        digests: DigestService,
        store: Store,
        clock: Callable[[], datetime],
        grace: timedelta = GRACE,
        extra_jobs: Sequence[ScheduledJob] = (),
        retry_after: timedelta = RETRY_AFTER,
        sync_every: timedelta = SYNC_EVERY,
        scheduler: BaseScheduler | None = None,
    ) -> None:
        self._digests = digests
        self._store = store
        self._clock = clock
        self._grace = grace
        self._extra_jobs = tuple(extra_jobs)
        self._retry_after = retry_after
        self._sync_every = sync_every
        self._planned: dict[str, tuple[str, str, str]] = {}
        self.scheduler = scheduler or BackgroundScheduler(
            timezone=UTC,
            job_defaults={
                "coalesce": True,
                "misfire_grace_time": int(grace.total_seconds()),
                "max_instances": 1,
            },
        )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, *, paused: bool = False) -> None:
        """Add every job, queue the catch-ups a restart calls for, and start the scheduler."""
        self.sync()
        for job in self._extra_jobs:
            self.scheduler.add_job(
                job.func,
                cron_trigger(job.at, job.tz, job.days)
                if job.every is None
                else IntervalTrigger(seconds=job.every.total_seconds(), timezone=UTC),
                id=job.id,
                name=job.id,
                replace_existing=True,
                coalesce=True,
                misfire_grace_time=int(self._grace.total_seconds()),
                max_instances=1,
            )
        self.scheduler.add_job(
            self.sync,
            IntervalTrigger(seconds=int(self._sync_every.total_seconds()), timezone=UTC),
            id=SYNC_JOB,
            name="reload digest schedules",
            replace_existing=True,
            coalesce=True,
            misfire_grace_time=int(self._sync_every.total_seconds()),
            max_instances=1,
        )
        self.catch_up()
        self.scheduler.start(paused=paused)

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)

    # -- jobs ------------------------------------------------------------------------------

    def sync(self) -> None:
        """Make the digest jobs match the schedules (settings + Home tab) now stored."""
        wanted = {s.id: s for s in self._digests.schedules()}
        for schedule_id in list(self._planned):
            if schedule_id not in wanted:
                self._remove(DIGEST_PREFIX + schedule_id)
                del self._planned[schedule_id]
        for schedule_id, schedule in wanted.items():
            plan = (schedule.at, schedule.tz, schedule.days)
            if self._planned.get(schedule_id) == plan:
                continue  # unchanged: keep its next run time
            self.scheduler.add_job(
                self.fire,
                cron_trigger(schedule.at, schedule.tz, schedule.days),
                args=[schedule_id],
                id=digest_job_id(schedule),
                name=f"stand-up digest {schedule_id}",
                replace_existing=True,
                coalesce=True,
                misfire_grace_time=int(self._grace.total_seconds()),
                max_instances=1,
            )
            self._planned[schedule_id] = plan

    def due_catch_ups(self, now: datetime) -> list[tuple[DigestSchedule, datetime]]:
        """Slots that passed less than the grace window ago and were never posted."""
        due = []
        for schedule in self._digests.schedules():
            slot = schedule.latest_slot(now)
            if slot is None or now - slot > self._grace:
                continue
            if schedule.created_at is not None and slot < schedule.created_at:
                continue  # the schedule did not exist yet at that time
            status = self._store.slot_status(**ledger_key(schedule, slot))
            if status is None or status == "claimed":
                due.append((schedule, slot))
        return due

    def catch_up(self) -> list[str]:
        """Run, once and now, each digest a restart missed within the grace window."""
        now = self._clock()
        queued = []
        for schedule, slot in self.due_catch_ups(now):
            log.info("digest %s of %s missed while down: posting it now", schedule.id, slot)
            self._fire_once(schedule, now, CATCH_UP_PREFIX, "catch up")
            queued.append(schedule.id)
        return queued

    def fire(self, schedule_id: str) -> PostResult | None:
        """Post the digest of the slot that just passed, if it is still within the window."""
        schedule = self._digests.schedule(schedule_id)
        if schedule is None:
            self._remove(DIGEST_PREFIX + schedule_id)
            return None
        now = self._clock()
        slot = schedule.latest_slot(now)
        if slot is None or now - slot > self._grace:
            log.warning("digest %s: last slot is past the grace window, not posted", schedule_id)
            return None
        if schedule.created_at is not None and slot < schedule.created_at:
            return None
        try:
            result = self._digests.post_scheduled(schedule, slot)
        except PostBlocked as exc:  # not in the channel, archived, token revoked
            log.error("digest %s not posted, not retried: %s", schedule_id, exc)
            return None  # recorded for the approvers' Home tab; the slot is kept as refused
        except UpstreamError as exc:  # Asana or Slack failed: worth another try in a while
            log.error("digest %s failed: %s", schedule_id, exc)
            self._retry_later(schedule, slot, now)
            return None
        except CopilotError as exc:  # an unknown project, a bad setting: a retry cannot help
            log.error("digest %s not posted: %s", schedule_id, exc)
            return None
        except Exception:
            log.exception("digest %s failed", schedule_id)
            return None
        log.info("digest %s for %s: %s", schedule_id, result.slot, result.status)
        return result

    def _retry_later(self, schedule: DigestSchedule, slot: datetime, now: datetime) -> None:
        status = self._store.slot_status(**ledger_key(schedule, slot))
        when = now + self._retry_after
        if status is not None or when - slot > self._grace:
            return  # it may have been posted, or it is too late: never post twice or late
        self._fire_once(schedule, when, RETRY_PREFIX, "retry")

    def _fire_once(self, schedule: DigestSchedule, when: datetime, prefix: str, what: str) -> None:
        """One extra run of a schedule's digest at `when` (a catch-up or a retry)."""
        self.scheduler.add_job(
            self.fire,
            DateTrigger(run_date=when, timezone=UTC),
            args=[schedule.id],
            id=prefix + schedule.id,
            name=f"{what} digest {schedule.id}",
            replace_existing=True,
            coalesce=True,
            misfire_grace_time=int(self._grace.total_seconds()),
            max_instances=1,
        )

    def _remove(self, job_id: str) -> None:
        if self.scheduler.get_job(job_id) is not None:
            self.scheduler.remove_job(job_id)
