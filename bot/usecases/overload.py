"""Capacity check (issue 5): forecast each person's next weeks, alert overloads once, propose a fix.

One paginated read of the project's open tasks feeds the pure forecast core; each overload that
is new, has grown, or came back is claimed in the SQLite ledger, stored as a proposal of the
shared approval engine (changes: assignee / due_on / start_on, guarded by their values now) and
posted; one PNG chart of everyone's weekly load goes with the alerts of a run.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from bot.domain.changes import instant_text
from bot.domain.forecast import (
    Forecast,
    Move,
    Overload,
    Rebalance,
    WorkItem,
    find_overloads,
    forecast_load,
    item_hours,
    propose_rebalance,
)
from bot.domain.models import Person, Task
from bot.errors import PostBlocked, PostRefused, UpstreamError, UserFacingError
from bot.gateways.asana import Project
from bot.render.chart import ChartPerson, load_chart_png
from bot.render.notes import not_linked_for_posting
from bot.storage.store import OverloadAlertRow, Store
from bot.usecases.approvals import ApprovalEngine, NewProposal
from bot.usecases.chat import ChatPort

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

KIND = "overload"
SKILLS_FIELD = "Skills"
WEEKS = 4
# An overload already alerted is alerted again only when it grows by this share of capacity
# (at least 1 h): in total, or through tasks it did not hold at the last alert.
GROWTH_SHARE = 0.10
MIN_GROWTH_HOURS = 1.0
MAX_WEEKLY_HOURS = 168.0
ACTOR = "copilot"

_SKILL_SPLIT = re.compile(r"[,;/|\n]+")


class TaskSource(Protocol):
    def find_project(self, ref: str) -> Project: ...
    def open_tasks(self, project: Project) -> list[Task]: ...


class MaybePosted(Exception):
    """The chat service's answer to an alert post was lost (a 5xx, a lost connection): it may
    be there."""

    def __init__(self, proposal_id: str, error: UpstreamError) -> None:
        super().__init__(str(error))
        self.proposal_id = proposal_id


# -- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapacitySnapshot:
    """Everything one read of the project tells about people's next weeks."""

    project: Project
    today: date
    tasks: Mapping[str, Task]  # open, assigned, by gid
    people: Mapping[str, Person]  # assignees, by gid, in name order
    items: tuple[WorkItem, ...]
    forecast: Forecast
    capacity: Mapping[str, float]  # effective weekly hours, by person gid
    overridden: frozenset[str]
    overloads: tuple[Overload, ...]
    skills_required: bool
    latest_due: Mapping[str, date]
    threshold: float
    default_hours: float


@dataclass(frozen=True)
class Alert:
    overload: Overload
    person_name: str
    slack_user: str | None
    reason: str  # new | grown | returned
    rebalance: Rebalance
    load_after: float
    proposal_id: str
    message_ts: str


@dataclass(frozen=True)
class OverloadReport:
    project: Project
    today: date
    weeks: tuple[date, ...]
    overloads: tuple[Overload, ...]
    alerts: tuple[Alert, ...]
    already_alerted: tuple[Overload, ...]  # same overload as the last alert: not posted again
    cleared: int  # alerted overloads that went away since
    failed: tuple[tuple[Overload, str], ...] = ()
    chart_file_id: str | None = None
    chart_error: str = ""


@dataclass(frozen=True)
class CapacityRow:
    person_gid: str
    name: str
    weekly_hours: float
    overridden: bool
    loads: tuple[float, ...]
    overloaded: tuple[bool, ...]
    unscheduled: float
    unestimated: int


@dataclass(frozen=True)
class CapacityOverview:
    """The Home tab's capacity section: a row per person, and the latest chart."""

    project_gid: str
    project_name: str
    weeks: tuple[date, ...]
    threshold: float
    default_hours: float
    rows: tuple[CapacityRow, ...]
    chart_file_id: str | None = None
    chart_at: str | None = None

    def as_view(self) -> dict[str, Any]:
        """Plain data for `capacity_home_blocks`."""
        view = asdict(self)
        view["weeks"] = [w.isoformat() for w in self.weeks]
        return view


@dataclass(frozen=True)
class CapacityChange:
    person_gid: str
    name: str
    previous: float | None
    hours: float | None  # None: back to the default
    default_hours: float

    def as_view(self) -> dict[str, Any]:
        """Plain data for `capacity_notice`."""
        return asdict(self)


# -- pure helpers -------------------------------------------------------------------------------


def parse_skills(value: object) -> frozenset[str]:
    """Skills from a text or single-select field ("Backend, Data" -> {"backend", "data"}) or a
    multi-select one (its option names, each one skill)."""
    if isinstance(value, tuple | list):
        return frozenset(s.strip().casefold() for s in value if isinstance(s, str) and s.strip())
    if not isinstance(value, str):
        return frozenset()
    return frozenset(s.strip().casefold() for s in _SKILL_SPLIT.split(value) if s.strip())


def work_items(
    tasks: Iterable[Task], *, hours_per_point: float, with_skills: bool
) -> list[WorkItem]:
    """Map open, assigned tasks to what the forecast reads (hours None = unestimated)."""
    return [
        WorkItem(
            id=t.gid,
            assignee=t.assignee.gid,
            hours=remaining_hours(t, hours_per_point),
            start_on=t.start_on,
            due_on=t.due_on,
            label=t.name,
            skills=parse_skills(t.field_value(SKILLS_FIELD)) if with_skills else frozenset(),
        )
        for t in tasks
        if t.assignee is not None and not t.completed
    ]


def remaining_hours(task: Task, hours_per_point: float) -> float | None:
    """The estimate less the time already logged in Asana (never below zero)."""
    hours = item_hours(task.story_points, task.estimated_hours, hours_per_point)
    if hours is None or not task.actual_minutes:
        return hours
    return max(0.0, hours - task.actual_minutes / 60.0)


def latest_due_dates(tasks: Mapping[str, Task]) -> dict[str, date]:
    """For each task, the earliest start (else due) date among its open dependents.

    A dependent read in full (it is in `tasks`) gives its start date; otherwise the link's due
    date is all we have. A task whose open dependents carry no date is not limited.
    """
    latest: dict[str, date] = {}
    for task in tasks.values():
        bounds = []
        for link in task.open_dependents:
            full = tasks.get(link.gid)
            when = (full.start_on or full.due_on) if full is not None else link.due_on
            if when is not None:
                bounds.append(when)
        if bounds:
            latest[task.gid] = min(bounds)
    return latest


def growth_hours(capacity: float) -> float:
    return max(MIN_GROWTH_HOURS, GROWTH_SHARE * capacity)


def alert_reason(previous: OverloadAlertRow | None, overload: Overload) -> str | None:
    """Why this overload deserves an alert now, or None when it was already alerted as is.

    New: never alerted. Returned: alerted, went away, back. Grown: the load rose by at least
    the growth step since the last alert, or tasks it did not hold then add that much.
    """
    if previous is None:
        return "new"
    if not previous.active:
        return "returned"
    step = growth_hours(overload.capacity)
    fresh = math.fsum(h for gid, h in overload.causes if gid not in previous.task_gids)
    if overload.load >= previous.load + step or fresh >= step:
        return "grown"
    return None


def apply_moves(items: Sequence[WorkItem], moves: Sequence[Move]) -> list[WorkItem]:
    """The items as they would be once `moves` are approved."""
    by_id = {m.item_id: m for m in moves}
    out = []
    for it in items:
        move = by_id.get(it.id)
        if move is None:
            out.append(it)
        elif move.kind == "reassign" and move.to_person is not None:
            out.append(replace(it, assignee=move.to_person))
        else:
            out.append(replace(it, due_on=move.new_due_on, start_on=move.new_start_on))
    return out


def moved_due_at(due_at: datetime, old_due: date | None, new_due: date, tz: tzinfo) -> datetime:
    """A due time moved as its date moves (old_due -> new_due), at the same wall-clock time in
    the team's zone (so 17:00 stays 17:00 across a daylight-saving change)."""
    local = due_at.astimezone(tz)
    days = (new_due - (old_due or local.date())).days
    moved = datetime.combine(local.date() + timedelta(days=days), local.time(), tzinfo=tz)
    return moved.astimezone(UTC)


def proposal_items(
    moves: Sequence[Move], tasks: Mapping[str, Task], *, tz: tzinfo = UTC
) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """Engine items: the fields each move changes, guarded by assignee, dates and estimate.

    A task with a due time is rescheduled through due_at (writing due_on would drop the time;
    Asana takes only one of the two); its start stays a date.
    """
    items = []
    for move in moves:
        task = tasks[move.item_id]
        guard: dict[str, Any] = {
            "assignee": task.assignee.gid if task.assignee else None,
            "due_on": _iso(task.due_on),
            "due_at": instant_text(task.due_at),
            "start_on": _iso(task.start_on),
        }
        # A re-estimated task changes the load the fix was computed for.
        for field in ("Estimated Hours", "Story Points"):
            if task.has_field(field):
                guard[field] = task.field_value(field)
        if move.kind == "reassign":
            changes: dict[str, Any] = {"assignee": move.to_person}
        elif task.due_at is not None and move.new_due_on is not None:
            new_due_at = moved_due_at(task.due_at, task.due_on, move.new_due_on, tz)
            changes = {"due_at": instant_text(new_due_at)}
            if move.new_start_on is not None:
                changes["start_on"] = _iso(move.new_start_on)
        else:
            changes = {"due_on": _iso(move.new_due_on)}
            if move.new_start_on is not None:
                changes["start_on"] = _iso(move.new_start_on)
        items.append((task.gid, task.name, changes, guard))
    return items


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


# -- the use case -------------------------------------------------------------------------------


class OverloadChecker:
    def __init__(
        self,
        *,
        asana: TaskSource,
        chat: ChatPort,
        store: Store,
        engine: ApprovalEngine,
        today: Callable[[], date],
        default_project: str | None,
        may_post: Callable[[str, str], bool],
        weekly_hours: float = 40.0,
        hours_per_point: float = 4.0,
        threshold: float = 1.2,
        weeks: int = WEEKS,
        time_zone: str = "UTC",
    ) -> None:
        self._asana = asana
        self._chat = chat  # posts where the channel is: Slack, or Teams for `teams:…`
        self._store = store
        self._engine = engine
        self._today = today
        self._default_project = default_project
        self._may_post = may_post  # (channel, project gid): alerts go to linked channels only
        self._weekly_hours = weekly_hours
        self._hours_per_point = hours_per_point
        self._threshold = threshold
        self._weeks = weeks
        self._tz = ZoneInfo(time_zone)

    # -- reading ---------------------------------------------------------------------------

    def resolve_project(self, ref: str | None) -> Project:
        ref = (ref or "").strip() or (self._default_project or "")
        if not ref:
            raise UserFacingError(
                "Which project? Pass --project <gid or name>, or set ASANA_PROJECT."
            )
        return self._asana.find_project(ref)

    def snapshot(self, project_ref: str | None, *, channel: str | None = None) -> CapacitySnapshot:
        """Read the project's open tasks once and forecast everyone's next weeks.

        With a `channel`, refuse before reading any task when the project is not linked to it.
        """
        project = self.resolve_project(project_ref)
        if channel is not None and not self._may_post(channel, project.gid):
            raise UserFacingError(not_linked_for_posting(project.name, channel))
        everything = {t.gid: t for t in self._asana.open_tasks(project)}
        tasks = {g: t for g, t in everything.items() if t.assignee is not None and not t.completed}
        people = {
            p.gid: p
            for p in sorted(
                {t.assignee.gid: t.assignee for t in tasks.values() if t.assignee}.values(),
                key=lambda p: (p.name.casefold(), p.gid),
            )
        }
        with_skills = SKILLS_FIELD in project.fields
        items = work_items(
            tasks.values(), hours_per_point=self._hours_per_point, with_skills=with_skills
        )
        today = self._today()
        forecast = forecast_load(items, today=today, weeks=self._weeks)
        overrides = self._store.weekly_hours_overrides()
        capacity = {gid: overrides.get(gid, self._weekly_hours) for gid in people}
        overloads = find_overloads(
            forecast,
            people=list(people),
            capacity=capacity,
            default_capacity=self._weekly_hours,
            threshold=self._threshold,
        )
        return CapacitySnapshot(
            project=project,
            today=today,
            tasks=tasks,
            people=people,
            items=tuple(items),
            forecast=forecast,
            capacity=capacity,
            overridden=frozenset(g for g in people if g in overrides),
            overloads=tuple(overloads),
            skills_required=with_skills,
            latest_due=latest_due_dates(everything),
            threshold=self._threshold,
            default_hours=self._weekly_hours,
        )

    def overview(self, project_ref: str | None) -> CapacityOverview:
        """The Home tab's capacity table (one read) and the last chart posted for the project."""
        return self.overview_of(self.snapshot(project_ref))

    def overview_of(self, snap: CapacitySnapshot) -> CapacityOverview:
        """The capacity table of a snapshot already read (no Asana request)."""
        fc = snap.forecast
        rows = []
        for gid, person in snap.people.items():
            cap = snap.capacity[gid]
            loads = tuple(fc.load(gid, w) for w in fc.weeks)
            rows.append(
                CapacityRow(
                    person_gid=gid,
                    name=person.name,
                    weekly_hours=cap,
                    overridden=gid in snap.overridden,
                    loads=loads,
                    overloaded=tuple(load > snap.threshold * cap for load in loads),
                    unscheduled=fc.unscheduled.get(gid, 0.0),
                    unestimated=len(fc.unestimated.get(gid, ())),
                )
            )
        chart = self._store.latest_chart(snap.project.gid)
        return CapacityOverview(
            project_gid=snap.project.gid,
            project_name=snap.project.name,
            weeks=fc.weeks,
            threshold=snap.threshold,
            default_hours=snap.default_hours,
            rows=tuple(rows),
            chart_file_id=chart[0] if chart else None,
            chart_at=chart[1] if chart else None,
        )

    def project_key(self, project_ref: str | None) -> str:
        """The key the capacity overview is cached under: the reference as given."""
        return (project_ref or "").strip() or (self._default_project or "").strip()

    def chart_png(self, snap: CapacitySnapshot) -> bytes:
        people = [
            ChartPerson(
                name=person.name,
                capacity=snap.capacity[gid],
                loads=tuple(snap.forecast.load(gid, w) for w in snap.forecast.weeks),
            )
            for gid, person in snap.people.items()
        ]
        return load_chart_png(
            people,
            snap.forecast.weeks,
            threshold=snap.threshold,
            title=f"{snap.project.name} · weekly load vs capacity (from {snap.today:%d %b %Y})",
        )

    # -- the check -------------------------------------------------------------------------

    def check(self, project_ref: str | None, *, channel: str) -> OverloadReport:
        """Alert every overload that is new, grown or back; stay quiet about the rest."""
        if not channel:
            raise UserFacingError("Which channel? Pass --channel <id>, or set STANDUP_CHANNEL.")
        snap = self.snapshot(project_ref, channel=channel)
        project = snap.project
        # Drawn once, and only if a surface shows it (Teams in each alert's card, Slack after).
        chart = functools.cache(lambda: self.chart_png(snap))
        # The daily check has just read the project: the Home tab's overview comes for free.
        self._store.cache_capacity_overview(
            self.project_key(project_ref),
            {**self.overview_of(snap).as_view(), "cached_at": self._store.now()},
        )
        still = {(o.person, o.week_start.isoformat()) for o in snap.overloads}
        cleared = self._store.clear_overload_alerts(
            project.gid, weeks=[w.isoformat() for w in snap.forecast.weeks], still=still
        )
        items = list(snap.items)
        forecast = snap.forecast
        alerts: list[Alert] = []
        quiet: list[Overload] = []
        failed: list[tuple[Overload, str]] = []
        for overload in snap.overloads:
            week = overload.week_start.isoformat()
            previous = self._store.overload_alert(project.gid, overload.person, week)
            reason = alert_reason(previous, overload)
            if reason is None:
                quiet.append(overload)
                continue
            claimed = self._store.claim_overload_alert(
                project_gid=project.gid,
                person_gid=overload.person,
                week_start=week,
                expected_version=previous.version if previous else None,
                task_gids=[gid for gid, _ in overload.causes],
                load=overload.load,
                capacity=overload.capacity,
                reason=reason,
            )
            if claimed is None:  # another run claimed it first
                quiet.append(overload)
                continue
            try:
                alert, after_items, after = self._alert(
                    snap, overload, items, forecast, reason, channel, chart
                )
            except MaybePosted as exc:
                # Keep the claim, as digests do: the alert may be in the channel, and posting it
                # again would show it twice. It is alerted again only if it grows.
                self._store.overload_alert_posted(
                    claimed, proposal_id=exc.proposal_id, message_ts=""
                )
                log.warning("overload alert may not have been posted: %s", exc)
                failed.append((overload, f"{exc} (may have been posted; not sent again)"))
                continue
            except UpstreamError as exc:  # certainly not posted: the next check may try again
                self._store.release_overload_alert(claimed, previous)
                if isinstance(exc, PostBlocked):
                    self._refused("overload", channel, project, exc)
                log.warning("overload alert not posted: %s", exc)
                failed.append((overload, str(exc)))
                continue
            except BaseException:
                self._store.release_overload_alert(claimed, previous)
                raise
            self._store.overload_alert_posted(
                claimed, proposal_id=alert.proposal_id, message_ts=alert.message_ts
            )
            alerts.append(alert)
            items, forecast = after_items, after

        chart_file_id, chart_error = None, ""
        if alerts:
            self._store.clear_delivery_problems(channel=channel, kinds=("overload",))
            chart_file_id, chart_error = self._share_chart(snap, channel, chart)
        return OverloadReport(
            project=project,
            today=snap.today,
            weeks=snap.forecast.weeks,
            overloads=snap.overloads,
            alerts=tuple(alerts),
            already_alerted=tuple(quiet),
            cleared=cleared,
            failed=tuple(failed),
            chart_file_id=chart_file_id,
            chart_error=chart_error,
        )

    def _share_chart(
        self, snap: CapacitySnapshot, channel: str, chart: Callable[[], bytes]
    ) -> tuple[str | None, str]:
        """Share the load chart in the channel: (its id, error). A refusal a person must fix
        (the bot is not in the channel) is shown to approvers on the Home tab."""
        project = snap.project
        try:
            file_id = self._chat.share_chart(
                channel,
                kind="load",
                filename=f"load-{project.gid}-{snap.today.isoformat()}.png",
                title=f"Weekly load vs capacity · {project.name}",
                png=chart,
            )
        except PostBlocked as exc:
            log.warning("load chart not uploaded: %s", exc)
            self._refused("chart", channel, project, exc)
            return None, str(exc)
        except UpstreamError as exc:
            log.warning("load chart not uploaded: %s", exc)
            return None, str(exc)
        self._store.clear_delivery_problems(channel=channel, kinds=("chart",))
        if file_id:
            self._store.remember_chart(project.gid, file_id=file_id, channel=channel)
        return file_id, ""

    def _refused(self, kind: str, channel: str, project: Project, exc: PostBlocked) -> None:
        self._store.record_delivery_problem(
            kind=kind,
            channel=channel,
            project_gid=project.gid,
            project_name=project.name,
            error=exc.code,
        )

    def _alert(
        self,
        snap: CapacitySnapshot,
        overload: Overload,
        items: list[WorkItem],
        forecast: Forecast,
        reason: str,
        channel: str,
        chart: Callable[[], bytes],
    ) -> tuple[Alert, list[WorkItem], Forecast]:
        """Propose the fix, store it with the engine, post it; return the items once approved."""
        # Each proposal is made as if the ones posted before it in this run were approved, so
        # approving all of them never pushes a teammate over.
        rebalance = propose_rebalance(
            overload,
            forecast,
            items,
            people=list(snap.people),
            capacity=snap.capacity,
            default_capacity=self._weekly_hours,
            threshold=self._threshold,
            skills_required=snap.skills_required,
            latest_due=snap.latest_due,
        )
        after_items = apply_moves(items, rebalance.moves)
        after = forecast_load(after_items, today=snap.today, weeks=self._weeks)
        alert = self._post(snap, overload, rebalance, forecast, after, reason, channel, chart)
        return alert, after_items, after

    def _post(
        self,
        snap: CapacitySnapshot,
        overload: Overload,
        rebalance: Rebalance,
        before: Forecast,
        after: Forecast,
        reason: str,
        channel: str,
        chart: Callable[[], bytes],
    ) -> Alert:
        person = snap.people[overload.person]
        slack_user = self.chat_user(person, channel)
        load_after = after.load(overload.person, overload.week_start)
        view = overload_view(
            snap,
            overload,
            rebalance,
            before=before,
            after=after,
            reason=reason,
            slack_user=slack_user,
        )
        proposal = NewProposal(
            kind=KIND,
            project_gid=snap.project.gid,
            project_name=snap.project.name,
            channel=channel,
            created_by=ACTOR,
            items=proposal_items(rebalance.moves, snap.tasks, tz=self._tz),
            inputs=[_snapshot(snap.tasks[gid]) for gid, _ in overload.causes if gid in snap.tasks],
            view=view,
        )
        self._engine.propose(proposal)
        try:
            ts = self._chat.post_proposal(
                channel, view, proposal.id, proposed_by=ACTOR, chart=chart
            )
        except PostRefused:  # certainly not posted: the surface withdrew it (nobody can see it)
            raise
        except UpstreamError as exc:  # the outcome is unknown: keep it open (buttons work)
            raise MaybePosted(proposal.id, exc) from None
        return Alert(
            overload=overload,
            person_name=person.name,
            slack_user=slack_user,
            reason=reason,
            rebalance=rebalance,
            load_after=load_after,
            proposal_id=proposal.id,
            message_ts=ts,
        )

    def chat_user(self, person: Person, channel: str) -> str | None:
        """The chat user to @mention for the person in that channel (by Asana email), or None."""
        return self._chat.person_id(channel, person.email)

    # -- capacity settings (the Home tab) --------------------------------------------------

    def set_weekly_hours(
        self, person_gid: str, hours: float | None, *, person_name: str, by: str
    ) -> CapacityChange:
        """Set a person's weekly hours (None: back to the default); approvers only, audited."""
        if not self._engine.can_approve(by):
            raise UserFacingError("Only the team's approvers can change capacity settings.")
        if not person_gid.isdigit():
            raise UserFacingError("Pick a person first.")
        if hours is not None and not (math.isfinite(hours) and 0 <= hours <= MAX_WEEKLY_HOURS):
            raise UserFacingError(
                f"Weekly hours must be between 0 and {MAX_WEEKLY_HOURS:g} (0 = away that week)."
            )
        previous = self._store.set_weekly_hours(person_gid, hours, person_name=person_name, by=by)
        return CapacityChange(person_gid, person_name, previous, hours, self._weekly_hours)

    def weekly_hours(self, person_gid: str) -> tuple[float, bool]:
        """(weekly hours, set by hand) for a person."""
        overrides = self._store.weekly_hours_overrides()
        if person_gid in overrides:
            return overrides[person_gid], True
        return self._weekly_hours, False


def overload_view(
    snap: CapacitySnapshot,
    overload: Overload,
    rebalance: Rebalance,
    *,
    before: Forecast,
    after: Forecast,
    reason: str,
    slack_user: str | None,
) -> dict[str, Any]:
    """Everything the alert shows, as plain data kept with the proposal."""
    person = snap.people[overload.person]
    week = overload.week_start
    in_week = dict(overload.causes)

    def task_row(gid: str, hours: float) -> dict[str, Any]:
        task = snap.tasks.get(gid)
        return {
            "gid": gid,
            "name": task.name if task else gid,
            "permalink": task.permalink if task else "",
            "hours": round(hours, 1),
        }

    def person_name(gid: str | None) -> str:
        if gid is None:
            return ""
        found = snap.people.get(gid)
        return found.name if found else gid

    moves = []
    for move in rebalance.moves:
        task = snap.tasks[move.item_id]
        row = task_row(move.item_id, in_week.get(move.item_id, 0.0))
        row.update(
            {
                "kind": move.kind,
                "total_hours": round(move.hours, 1),
                "to_gid": move.to_person,
                "to_name": person_name(move.to_person),
                "to_before": round(before.load(move.to_person, week), 1)
                if move.to_person
                else None,
                "to_after": round(after.load(move.to_person, week), 1) if move.to_person else None,
                "from_due": _iso(task.due_on),
                "from_start": _iso(task.start_on),
                "new_due": _iso(move.new_due_on),
                "new_start": _iso(move.new_start_on),
            }
        )
        moves.append(row)
    capacity = overload.capacity
    load_after = after.load(overload.person, week)
    return {
        "kind": KIND,
        "project": {
            "gid": snap.project.gid,
            "name": snap.project.name,
            "permalink": snap.project.permalink,
        },
        "person": {"gid": person.gid, "name": person.name, "slack_user": slack_user},
        "week_start": week.isoformat(),
        "week_end": (week + timedelta(days=4)).isoformat(),
        "today": snap.today.isoformat(),
        "reason": reason,
        "load": round(overload.load, 1),
        "capacity": round(capacity, 1),
        "percent": round(100 * overload.load / capacity) if capacity > 0 else None,
        "threshold": snap.threshold,
        "limit": round(snap.threshold * capacity, 1),
        "causes": [task_row(gid, hours) for gid, hours in overload.causes],
        "unscheduled": round(snap.forecast.unscheduled.get(overload.person, 0.0), 1),
        "unestimated": len(snap.forecast.unestimated.get(overload.person, ())),
        "moves": moves,
        "resolved": rebalance.resolved,
        "note": rebalance.note,
        "load_after": round(load_after, 1),
        "percent_after": round(100 * load_after / capacity) if capacity > 0 else None,
        "skills_matched": snap.skills_required,
        "fallback": (
            f"Capacity alert: {person.name} is forecast at {overload.load:.0f} h in the week of "
            f"{week.day} {week:%b} (capacity {capacity:.0f} h)"
        ),
    }


def _snapshot(task: Task) -> dict[str, Any]:
    return {
        "gid": task.gid,
        "name": task.name,
        "assignee": task.assignee.gid if task.assignee else None,
        "start_on": _iso(task.start_on),
        "due_on": _iso(task.due_on),
        "due_at": instant_text(task.due_at),
        "story_points": task.story_points,
        "estimated_hours": task.estimated_hours,
        "dependents": [d.gid for d in task.open_dependents],
        "modified_at": task.modified_at.isoformat() if task.modified_at else None,
    }


# -- wiring for the scheduler, the CLI and the Home tab ---------------------------------------


def checker_for(services: Services) -> OverloadChecker:
    settings = services.settings
    return OverloadChecker(
        asana=services.asana,
        chat=services.chat,
        store=services.store,
        engine=services.engine,
        today=services.today,
        default_project=settings.asana_project,
        may_post=services.access.may_use,
        weekly_hours=settings.weekly_hours,
        hours_per_point=settings.hours_per_point,
        threshold=settings.overload_threshold,
        time_zone=settings.standup_tz,
    )


def run_overload_check(
    services: Services, *, project_ref: str | None, channel: str
) -> OverloadReport:
    """The scheduled job and `copilot overload`: check one project, post to one channel."""
    return checker_for(services).check(project_ref, channel=channel)


def capacity_overview(services: Services, *, project_ref: str | None = None) -> CapacityOverview:
    """For the Home tab: the capacity table of a project (default ASANA_PROJECT)."""
    return checker_for(services).overview(project_ref)


def set_weekly_hours(
    services: Services, person_gid: str, hours: float | None, *, person_name: str, by: str
) -> CapacityChange:
    """For the Home tab: set or reset a person's weekly hours (approvers only)."""
    return checker_for(services).set_weekly_hours(person_gid, hours, person_name=person_name, by=by)


# -- the Home tab's capacity overview, cached (issue 9 §6) -------------------------------------

# A Home open reads Asana at most this often per project (the daily check refreshes it too).
OVERVIEW_MAX_AGE = timedelta(minutes=5)


def cached_capacity_view(
    services: Services,
    *,
    project_ref: str | None = None,
    max_age: timedelta = OVERVIEW_MAX_AGE,
) -> dict[str, Any]:
    """The Home tab's capacity overview (plain data), read from Asana at most every `max_age`.

    Weekly hours set by hand and the latest chart are applied fresh from SQLite on every call,
    so a Save on the Home tab shows at once without reading Asana again.
    """
    checker = checker_for(services)
    key = checker.project_key(project_ref)
    if not key:
        raise UserFacingError(
            "Set ASANA_PROJECT (the default project's gid) to see the team's capacity here."
        )
    view = services.store.cached_capacity_overview(key, max_age=max_age)
    if view is None:
        view = {**checker.overview(key).as_view(), "cached_at": services.store.now()}
        services.store.cache_capacity_overview(key, view)
    return with_current_capacity(
        view,
        overrides=services.store.weekly_hours_overrides(),
        chart=services.store.latest_chart(str(view["project_gid"])),
    )


def with_current_capacity(
    view: Mapping[str, Any],
    *,
    overrides: Mapping[str, float],
    chart: tuple[str, str] | None,
) -> dict[str, Any]:
    """A cached overview with today's weekly hours (set by hand, else the default) and chart."""
    default = float(view["default_hours"])
    threshold = float(view["threshold"])
    rows = []
    for row in view["rows"]:
        cap = overrides.get(row["person_gid"], default)
        rows.append(
            {
                **row,
                "weekly_hours": cap,
                "overridden": row["person_gid"] in overrides,
                "overloaded": [load > threshold * cap for load in row["loads"]],
            }
        )
    out = {**view, "rows": rows}
    if chart is not None:
        out["chart_file_id"], out["chart_at"] = chart
    return out
