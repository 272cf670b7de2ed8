"""The morning stand-up digest: gather, decide (domain), summarise, post once; and its schedules.

Cost of one digest, whatever the project's size: the project (1 request), its open tasks and
those completed since the last digest in one paginated read (⌈(open + done)/100⌉; dependencies
come in the same opt_fields), and the latest comment of only the open tasks changed since then
(10 a /batch request; a task whose comments were read after its last change is not read again).
Slack lookups by email are cached in SQLite.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.domain.digest import (
    DigestFacts,
    DigestSchedule,
    LatestComment,
    StandupDigest,
    build_facts,
    changed_since,
    days_spec,
    default_since,
    facts_for_model,
    model_named,
    parse_clock,
    parse_days,
    summary_problems,
)
from bot.domain.models import Task
from bot.domain.retro import blocked_today
from bot.errors import (
    ConfigError,
    ModelOutputError,
    PostBlocked,
    PostRefused,
    UpstreamError,
    UserFacingError,
)
from bot.gateways.asana import Comment, Project
from bot.render.notes import not_linked_for_posting
from bot.render.prompts import data_json, prompt_version, render_messages
from bot.settings import Settings
from bot.storage.store import DeliveryProblemRow, DigestScheduleRow, Store
from bot.usecases.access import place
from bot.usecases.approvals import holder_is_dead, new_owner
from bot.usecases.chat import APP_REMOVED, ChatPort

log = logging.getLogger(__name__)

PROMPT = "standup"
LEDGER_KIND = "digest"
FRIDAY = 4  # the digest carries the delivery forecast on the team's Fridays


def ledger_key(schedule: DigestSchedule, slot: datetime) -> dict[str, str]:
    """The posted-ledger row of one schedule's digest on one local day."""
    return {
        "kind": LEDGER_KIND,
        "channel": schedule.channel,
        "project_gid": schedule.project_gid,
        "slot": schedule.local_day(slot).isoformat(),
    }


STALE_CLAIM = timedelta(minutes=15)  # a claim not yet posting after this may be taken over
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_TEAMS_CHANNEL = re.compile(r"^teams:[^\s;]{3,300}$")  # a Teams channel, not a thread of it


class DigestSource(Protocol):
    """What a digest reads from Asana (the gateway, or a fake in tests)."""

    def find_project(self, ref: str) -> Project: ...
    def tasks_open_or_completed_since(self, project: Project, since: datetime) -> list[Task]: ...
    def latest_comments(self, task_gids: Sequence[str]) -> dict[str, Comment | None]: ...


class Summarizer(Protocol):
    model: str

    def summarize(self, messages: list[dict[str, str]]) -> tuple[str, Any]: ...


@dataclass(frozen=True)
class PostResult:
    status: str  # posted | already (another run has this slot) | taken over
    digest: StandupDigest | None = None
    message_ts: str | None = None
    slot: str | None = None


class DigestService:
    def __init__(
        self,
        *,
        asana: DigestSource,
        chat: ChatPort,
        store: Store,
        llm: Summarizer | None,
        settings: Settings,
        clock: Callable[[], datetime],
        holder_dead: Callable[[str], bool] = holder_is_dead,
        may_post: Callable[[str, str], bool],
    ) -> None:
        self._holder_dead = holder_dead  # a claim's holder died (its pid, or its heartbeats)
        self._asana = asana
        self._chat = chat  # posts where the channel is: Slack, or Teams for `teams:…`
        self._may_post = may_post  # (channel, project gid): digests go to linked channels only
        self._store = store
        self._llm = llm
        self._settings = settings
        self._clock = clock
        self._owner = new_owner()
        # Set by build_services: the delivery forecast's one line, carried on Fridays.
        self.forecast_line: Callable[..., str | None] | None = None

    def _post(self, channel: str, digest: StandupDigest) -> str:
        return self._chat.post_digest(channel, digest)

    # -- schedules -------------------------------------------------------------------------

    def default_schedule(self) -> DigestSchedule | None:
        """The schedule from STANDUP_CHANNEL, STANDUP_TIME, STANDUP_TZ, STANDUP_DAYS."""
        s = self._settings
        if not s.standup_channel or not s.asana_project:
            return None
        try:
            days = days_spec(parse_days(s.standup_days))
        except ValueError as exc:
            raise ConfigError(f"STANDUP_DAYS is invalid: {exc}") from None
        return DigestSchedule(
            channel=s.standup_channel,
            project_gid=s.asana_project,
            project_name="",
            at=s.standup_time,
            tz=s.standup_tz,
            days=days,
            source="env",
        )

    def schedules(self) -> list[DigestSchedule]:
        """Every schedule: the Home tab's, and the settings' one unless the Home tab replaced it."""
        stored = [_schedule(row) for row in self._store.digest_schedules()]
        default = self.default_schedule()
        if default is not None and all(s.id != default.id for s in stored):
            stored.insert(0, default)
        return stored

    def schedule(self, schedule_id: str) -> DigestSchedule | None:
        return next((s for s in self.schedules() if s.id == schedule_id), None)

    # -- building --------------------------------------------------------------------------

    def build(
        self,
        project_ref: str,
        channel: str,
        *,
        now: datetime | None = None,
        tz: str | None = None,
        days: str | None = None,
    ) -> StandupDigest:
        """Read the project and decide what the digest says (nothing is posted)."""
        now = now or self._clock()
        ref = project_ref.strip() or (self._settings.asana_project or "")
        if not ref:
            raise UserFacingError("Which project? Pass --project or set ASANA_PROJECT.")
        project = self._asana.find_project(ref)
        if not self._may_post(channel, project.gid):
            raise UserFacingError(not_linked_for_posting(project.name, channel))
        schedule = self.schedule(f"{channel}:{project.gid}")
        zone = ZoneInfo(tz or (schedule.tz if schedule else self._settings.standup_tz))
        workdays = parse_days(days or (schedule.days if schedule else self._settings.standup_days))
        last = self._store.last_digest(channel, project.gid)
        since = last[0] if last else default_since(now, zone, workdays)

        tasks = self._asana.tasks_open_or_completed_since(project, since)
        open_tasks = [t for t in tasks if not t.completed]
        completed = [t for t in tasks if t.completed]
        own_writes = self._store.copilot_writes_since(since)
        comments, unread = self._comments(open_tasks, since, now)
        facts = build_facts(
            open_tasks=open_tasks,
            completed=completed,
            comments=comments,
            since=since,
            now=now,
            today=now.astimezone(zone).date(),
            workdays=workdays,
            own_writes=own_writes,
        )
        summary, source, note = self._summary(project, facts, tasks, zone)
        today = now.astimezone(zone).date()
        line = None
        if self.forecast_line is not None and today.weekday() == FRIDAY:
            try:
                line = self.forecast_line(project, now=now)
            except UpstreamError as exc:  # the digest goes out without it
                log.warning("no forecast line in the digest: %s", exc)
        return StandupDigest(
            project_gid=project.gid,
            project_name=project.name,
            project_url=project.permalink,
            tz=zone.key,
            facts=facts,
            summary=summary,
            summary_source=source,
            summary_note=note,
            mentions=self._mentions(facts, channel),
            comments_unread=unread,
            first=last is None,
            forecast_line=line,
        )

    def _comments(
        self,
        open_tasks: Sequence[Task],
        since: datetime,
        now: datetime,
    ) -> tuple[dict[str, LatestComment], int]:
        """Latest comments: re-read only for tasks changed since the last digest and since we
        last read them (by the task's modified_at then, Asana's clock); everything else from
        what we stored.

        The copilot's own writes count as changes here (unlike for "in progress"): a comment
        posted just before such a write would otherwise never be read.
        """
        cached = self._store.latest_comments([t.gid for t in open_tasks])
        stale = [
            t.gid
            for t in open_tasks
            if changed_since(t, since)
            and (
                t.gid not in cached
                or t.modified_at is None
                or datetime.fromisoformat(cached[t.gid].task_modified_at) < t.modified_at
            )
        ]
        unread = 0
        fresh: dict[str, Comment | None] = {}
        if stale:
            try:
                fresh = self._asana.latest_comments(stale)
            except UpstreamError as exc:
                log.warning("comments of %d changed tasks not read: %s", len(stale), exc)
                unread = len(stale)
            seen = {t.gid: t.modified_at or now for t in open_tasks}
            self._store.remember_comments(
                {
                    gid: (c.text, c.created_at, seen[gid])
                    if c is not None
                    else (None, None, seen[gid])
                    for gid, c in fresh.items()
                }
            )
        latest: dict[str, LatestComment] = {}
        for gid, row in cached.items():
            if row.text is not None:
                created = datetime.fromisoformat(row.created_at) if row.created_at else None
                latest[gid] = LatestComment(row.text, created)
        for gid, comment in fresh.items():
            if comment is None:
                latest.pop(gid, None)
            else:
                latest[gid] = LatestComment(comment.text, comment.created_at)
        return latest, unread

    def _summary(
        self, project: Project, facts: DigestFacts, tasks: Sequence[Task], zone: ZoneInfo
    ) -> tuple[str | None, str | None, str]:
        """(summary, "model" | "rules" | None, why the model's was not used)."""
        if self._llm is None or facts.quiet:
            return None, None, ""
        given = facts_for_model(facts, project=project.name)
        messages = render_messages(
            PROMPT,
            project_name=project.name,
            today=facts.today.isoformat(),
            since=facts.since.astimezone(zone).isoformat(timespec="minutes"),
            facts_json=data_json(given),
        )
        try:
            text, _usage = self._llm.summarize(messages)
        except ModelOutputError as exc:
            log.warning("digest summary not used: %s", exc)
            return None, "rules", str(exc)
        allowed, people = model_named(given)
        known = {t.name for t in tasks}
        known |= {link.name for t in tasks for link in (*t.dependencies, *t.dependents)}
        problems = summary_problems(
            text,
            allowed_tasks=allowed | set(facts.named_tasks().values()),
            people=people,
            known_tasks=known,
            allowed_gids=facts.named_tasks().keys(),
        )
        if problems:
            log.warning(
                "digest summary by %s (%s) refused: %s",
                self._llm.model,
                prompt_version(PROMPT),
                "; ".join(problems),
            )
            return None, "rules", problems[0]
        return " ".join(text.split()), "model", ""

    def _mentions(self, facts: DigestFacts, channel: str) -> dict[str, str]:
        """Asana user gid → chat user id, for people whose Asana email is a chat user's (Teams
        finds its own @mentions among the channel's members: none here)."""
        mentions: dict[str, str] = {}
        people = {i.assignee.gid: i.assignee for i in facts.items() if i.assignee is not None}
        for gid, person in people.items():
            user_id = self._chat.person_id(channel, person.email)
            if user_id:
                mentions[gid] = user_id
        return mentions

    # -- posting ---------------------------------------------------------------------------

    def post_now(self, project_ref: str, channel: str) -> PostResult:
        """`copilot digest`: build and post one digest now (outside the day's schedule)."""
        digest = self.build(project_ref, channel)
        try:
            ts = self._post(channel, digest)
        except PostBlocked as exc:
            self._refused(channel, digest, exc)
            raise
        self._store.clear_delivery_problems(channel=channel, kinds=POST_KINDS)
        self._remember_blocked(digest)
        self._store.record_digest(
            channel,
            digest.project_gid,
            at=digest.facts.now,
            message_ts=ts,
            project_name=digest.project_name,
        )
        return PostResult("posted", digest, ts)

    def post_scheduled(self, schedule: DigestSchedule, slot: datetime) -> PostResult:
        """Post the digest of one scheduled slot at most once, across restarts and processes.

        The ledger row (channel, project, local day) is claimed before anything is read; it
        moves to `posting` right before the Slack call and to `posted` after. A failure that
        certainly did not post gives the claim back (a retry may take it); one that may have
        posted keeps it, so nothing is ever posted twice.
        """
        key = ledger_key(schedule, slot)
        if not self._store.claim_slot(
            **key,
            owner=self._owner,
            scheduled_for=slot,
            stale_after=STALE_CLAIM,
            holder_dead=self._holder_dead,
        ):
            return PostResult("already", slot=key["slot"])
        try:
            digest = self.build(
                schedule.project_gid, schedule.channel, tz=schedule.tz, days=schedule.days
            )
        except BaseException:
            self._store.release_slot(**key, owner=self._owner)
            raise
        if not self._store.begin_posting(**key, owner=self._owner):
            return PostResult("taken over", digest, slot=key["slot"])
        try:
            ts = self._post(schedule.channel, digest)
        except PostBlocked as exc:  # a retry cannot help until a person acts
            self._store.refuse_slot(**key, owner=self._owner)
            self._refused(schedule.channel, digest, exc)
            raise
        except PostRefused:  # the chat service answered that it did not post: a retry may
            self._store.release_slot(**key, owner=self._owner)
            raise
        self._store.slot_posted(**key, message_ts=ts)
        self._store.clear_delivery_problems(channel=schedule.channel, kinds=POST_KINDS)
        self._remember_blocked(digest)
        self._store.record_digest(
            schedule.channel,
            digest.project_gid,
            at=digest.facts.now,
            message_ts=ts,
            project_name=digest.project_name,
        )
        return PostResult("posted", digest, ts, key["slot"])

    def _remember_blocked(self, digest: StandupDigest) -> None:
        """What this digest saw blocked, per task and day: a retrospective counts those days."""
        self._store.record_blocked_days(
            digest.project_gid, digest.facts.today, blocked_today(digest.facts)
        )

    def removed_from(self, channels: set[str]) -> int:
        """The copilot was removed from `channels`: every scheduled post there (digests, and the
        overload check in STANDUP_CHANNEL) is recorded as refused, so approvers see why they
        stop, until a post there works again. How many were recorded."""
        recorded = 0
        for schedule in self.schedules():
            if place(schedule.channel) not in channels:
                continue
            name = schedule.project_name or self._store.digest_project_name(schedule.project_gid)
            self._store.record_delivery_problem(
                kind="digest",
                channel=schedule.channel,
                project_gid=schedule.project_gid,
                project_name=name or "",
                error=APP_REMOVED,
            )
            recorded += 1
        s = self._settings
        if s.standup_channel and s.asana_project and place(s.standup_channel) in channels:
            self._store.record_delivery_problem(
                kind="overload",
                channel=s.standup_channel,
                project_gid=s.asana_project,
                project_name=self._store.digest_project_name(s.asana_project) or "",
                error=APP_REMOVED,
            )
            recorded += 1
        return recorded

    def _refused(self, channel: str, digest: StandupDigest, exc: PostBlocked) -> None:
        """Remember the refusal for the approvers' Home tab."""
        self._store.record_delivery_problem(
            kind="digest",
            channel=channel,
            project_gid=digest.project_gid,
            project_name=digest.project_name,
            error=exc.code,
        )


# A message that reached a channel shows these refusals there are over.
POST_KINDS = ("digest", "overload")


def _schedule(row: DigestScheduleRow) -> DigestSchedule:
    return DigestSchedule(
        channel=row.channel,
        project_gid=row.project_gid,
        project_name=row.project_name,
        at=row.at,
        tz=row.tz,
        days=row.days,
        source="home",
        created_at=datetime.fromisoformat(row.created_at) if row.created_at else None,
        updated_by=row.updated_by,
    )


# -- the Home tab's schedule settings -----------------------------------------------------------


@dataclass(frozen=True)
class ScheduleForm:
    """What a person typed in the schedule form, unchecked."""

    channel: str = ""
    project: str = ""
    at: str = ""
    tz: str = ""
    days: tuple[str, ...] = ()
    replaces: str = ""  # the id of the schedule being edited, if any


@dataclass(frozen=True)
class ScheduleLine:
    schedule: DigestSchedule
    next_run: datetime
    last_posted: datetime | None


@dataclass(frozen=True)
class HomeData:
    user: str
    can_edit: bool
    schedules: list[ScheduleLine]
    default_tz: str
    approvers: frozenset[str] = frozenset()
    problems: tuple[DeliveryProblemRow, ...] = ()  # posts Slack refused for good (approvers)


class ScheduleAccess(Protocol):
    def is_approver(self, user: str) -> bool: ...


@dataclass
class ScheduleBook:
    """Digest schedules as the Home tab shows and changes them (approvers only)."""

    digests: DigestService
    store: Store
    asana: DigestSource
    settings: Settings
    clock: Callable[[], datetime]
    access: ScheduleAccess
    on_change: list[Callable[[], None]] = field(default_factory=list)

    def can_edit(self, user: str) -> bool:
        return self.access.is_approver(user)

    def home(self, user: str) -> HomeData:
        now = self.clock()
        lines = []
        for schedule in self.digests.schedules():
            last = self.store.last_digest(schedule.channel, schedule.project_gid)
            if not schedule.project_name:  # the settings' schedule: named by its last digest
                name = self.store.digest_project_name(schedule.project_gid) or ""
                schedule = replace(schedule, project_name=name)
            lines.append(ScheduleLine(schedule, schedule.next_slot(now), last[0] if last else None))
        return HomeData(
            user=user,
            can_edit=self.can_edit(user),
            schedules=lines,
            default_tz=self.settings.standup_tz,
            approvers=self.settings.approvers,
            problems=tuple(self.store.delivery_problems()) if self.can_edit(user) else (),
        )

    def check(self, user: str, form: ScheduleForm) -> dict[str, str]:
        """Field → problem for what can be checked without Asana; empty when fine."""
        if not self.can_edit(user):
            return {"channel": "Only the team's approvers can change digest schedules."}
        errors: dict[str, str] = {}
        if not (_CHANNEL_ID.match(form.channel) or _TEAMS_CHANNEL.match(form.channel)):
            errors["channel"] = "Pick a channel."
        if not form.project.strip():
            errors["project"] = "Give the Asana project's name or gid."
        elif len(form.project) > 200:
            errors["project"] = "That is longer than any project name."
        try:
            parse_clock(form.at)
        except ValueError:
            errors["time"] = "Pick a time like 09:30."
        try:
            ZoneInfo(form.tz.strip())
        except (ZoneInfoNotFoundError, ValueError):
            errors["tz"] = "Use an IANA time zone such as Europe/Berlin or America/New_York."
        try:
            parse_days(",".join(form.days))
        except ValueError:
            errors["days"] = "Pick at least one day."
        return errors

    def save(self, user: str, form: ScheduleForm) -> DigestSchedule:
        """Resolve the project, store the schedule, tell the scheduler."""
        errors = self.check(user, form)
        if errors:
            raise UserFacingError(" ".join(errors.values()))
        project = self.asana.find_project(form.project)
        row = DigestScheduleRow(
            channel=form.channel,
            project_gid=project.gid,
            project_name=project.name,
            at=parse_clock(form.at).strftime("%H:%M"),
            tz=form.tz.strip(),
            days=days_spec(parse_days(",".join(form.days))),
        )
        self.store.save_digest_schedule(row, by=user)
        # An approver scheduling a project's digest in a channel links the two.
        self.store.link_project(row.channel, row.project_gid, row.project_name, by=user)
        new_id = f"{row.channel}:{row.project_gid}"
        if form.replaces and form.replaces != new_id:
            channel, _, gid = form.replaces.partition(":")
            self.store.delete_digest_schedule(channel, gid, by=user)
        self._changed()
        saved = self.digests.schedule(new_id)
        assert saved is not None
        return replace(saved, project_name=project.name)

    def remove(self, user: str, schedule_id: str) -> bool:
        if not self.can_edit(user):
            raise UserFacingError("Only the team's approvers can change digest schedules.")
        channel, _, gid = schedule_id.partition(":")
        removed = self.store.delete_digest_schedule(channel, gid, by=user)
        if removed:
            self._changed()
        return removed

    def _changed(self) -> None:
        for callback in self.on_change:
            callback()
