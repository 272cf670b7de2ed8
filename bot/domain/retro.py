"""A sprint retrospective's facts, from plain records; and the check of the model's themes.

Pure: tasks, digest observations, overload alerts and the sprint's dates in; a frozen
`RetroFacts` out, every fact carrying the ids of the tasks it rests on. No I/O, no words for
Slack. The rules, as the README states them:

- **Dates**: from the sprint's approved /plan-sprint proposal (approved on day S, it runs S ..
  S + sprint_days - 1), else from its tasks: the earliest start date to the latest due date (one
  of them missing: the other ± sprint_days), never longer than sprint_days. A day is local to
  the team's zone.
- **Membership**: with a task's Sprint history (`sprint_moves`; before its first move the field
  was empty), a task is in the sprint at an instant when its latest move before it named the
  sprint. Without history, when its Sprint field names the sprint now and it existed then.
- **Committed**: the approved proposal's tasks when known, else the tasks in the sprint at its
  start. **Added**: in the sprint at some point after the start (or at its end), not committed.
- **Removed**: committed or added, out of the sprint at its end, and not completed in it. Without
  history, a task whose Sprint field is now empty; one that names another sprint now is read as
  carried over (that is how a team moves work on at the end).
- **Completed**: in the sprint's final scope and completed before its end. **Carried over**: in
  the final scope and still open at its end.
- **Estimation**: completed tasks with points and hours logged; the sprint's hours per point,
  and the biggest misses (a task's hours per point furthest, by ratio, from the sprint's).
- **Cycle time**: start (work started, else the start date, else creation) to completion, in
  days, for the completed tasks: median and the slowest.
- **Blocked**: distinct days each task of the sprint was blocked (from the digests); a blocker
  is recurring when it blocked two or more tasks or one task on three or more days.
- **Over capacity**: the overload alerts whose week overlaps the sprint, by person.
- **Velocity**: completed points against the mean of the last three sprints.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.digest import DigestFacts, ReasonKind, summary_problems

VELOCITY_SPRINTS = 3
TOP_MISSES = 3
TOP_SLOWEST = 3
RECURRING_TASKS = 2
RECURRING_DAYS = 3
MAX_THEMES = 5
THEME_MAX_CHARS = 400


# -- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SprintMove:
    """The task's Sprint field was set at `at` to `sprint` (None: emptied)."""

    at: datetime
    sprint: str | None


@dataclass(frozen=True)
class RetroTask:
    gid: str
    name: str
    sprint: str | None  # the Sprint field now
    points: float | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None  # when work began, when known (e.g. moved to In Progress)
    start_on: date | None = None
    due_on: date | None = None
    completed_at: datetime | None = None  # None: open
    hours_logged: float | None = None  # Asana time tracking, hours
    assignee: str | None = None
    permalink: str = ""
    sprint_moves: tuple[SprintMove, ...] | None = None  # None: the history is not known


@dataclass(frozen=True)
class BlockedDay:
    """A digest saw `task_gid` blocked on `on`; `blocker` names why (a dependency, a comment)."""

    task_gid: str
    on: date
    blocker: str


@dataclass(frozen=True)
class OverloadRecord:
    """An overload alert: `person` was forecast at `load` hours against `capacity` that week."""

    person: str
    week_start: date
    load: float
    capacity: float
    task_gids: tuple[str, ...] = ()


class DatesSource(StrEnum):
    APPROVAL = "approval"
    TASKS = "tasks"


@dataclass(frozen=True)
class SprintWindow:
    name: str
    start: date
    end: date  # inclusive
    source: DatesSource


def sprint_window(
    name: str,
    tasks: Iterable[RetroTask],
    *,
    sprint_days: int,
    approved_on: date | None = None,
) -> SprintWindow | None:
    """The sprint's dates: from the approval, else its tasks' dates; None when nothing dates it."""
    if sprint_days < 1:
        raise ValueError("sprint_days must be >= 1")
    length = timedelta(days=sprint_days - 1)
    if approved_on is not None:
        return SprintWindow(name, approved_on, approved_on + length, DatesSource.APPROVAL)
    mine = [t for t in tasks if t.sprint == name or _ever_named(t, name)]
    starts = [t.start_on for t in mine if t.start_on is not None]
    dues = [t.due_on for t in mine if t.due_on is not None]
    if not starts and not dues:
        return None
    start = min(starts) if starts else max(dues) - length
    # A task due after the sprint's length (it slipped) does not stretch the sprint.
    end = min(max(dues), start + length) if dues else start + length
    return SprintWindow(name, start, max(start, end), DatesSource.TASKS)


def _ever_named(task: RetroTask, name: str) -> bool:
    return any(m.sprint == name for m in task.sprint_moves or ())


# -- facts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """A count of tasks and their points, with the tasks (ids) it counts."""

    task_gids: tuple[str, ...] = ()
    points: float = 0.0
    unestimated: int = 0  # tasks among them without points

    @property
    def count(self) -> int:
        return len(self.task_gids)


@dataclass(frozen=True)
class Miss:
    task_gid: str
    points: float
    hours: float
    ratio: float  # this task's hours per point over the sprint's; > 1 took longer than its points


@dataclass(frozen=True)
class Estimation:
    hours_per_point: float | None  # the sprint's: logged hours over points of the tasks measured
    measured: tuple[str, ...]  # completed tasks with points and hours logged
    without_hours: tuple[str, ...]  # completed tasks with points but no hours logged
    misses: tuple[Miss, ...]  # furthest from the sprint's rate first


class CycleStart(StrEnum):
    STARTED = "started"  # work began (started_at)
    START_DATE = "start date"
    CREATED = "created"


@dataclass(frozen=True)
class Cycle:
    task_gid: str
    days: float
    since: CycleStart


@dataclass(frozen=True)
class CycleTimes:
    median_days: float | None
    slowest: tuple[Cycle, ...]
    measured: tuple[str, ...]


@dataclass(frozen=True)
class BlockedTask:
    task_gid: str
    days: int
    blockers: tuple[str, ...]


@dataclass(frozen=True)
class Blocker:
    blocker: str
    task_gids: tuple[str, ...]
    days: int  # distinct (task, day) pairs


@dataclass(frozen=True)
class Blocking:
    total_days: int  # task-days blocked
    tasks: tuple[BlockedTask, ...]  # most days first
    recurring: tuple[Blocker, ...]


@dataclass(frozen=True)
class OverCapacity:
    person: str
    weeks: tuple[date, ...]
    peak_load: float
    capacity: float
    task_gids: tuple[str, ...]

    @property
    def peak_ratio(self) -> float:
        return self.peak_load / self.capacity if self.capacity > 0 else math.inf


@dataclass(frozen=True)
class VelocityTrend:
    points: float  # completed this sprint
    previous: tuple[tuple[str, float], ...]  # up to three earlier sprints, most recent first
    mean_previous: float | None

    @property
    def change(self) -> float | None:
        """This sprint over the mean of the previous ones (1.0: the same); None without history."""
        if not self.mean_previous:
            return None
        return self.points / self.mean_previous


@dataclass(frozen=True)
class RetroFacts:
    window: SprintWindow
    tasks: Mapping[str, RetroTask]  # every task a fact names, by id
    committed: Tally
    completed: Tally
    completed_committed: Tally  # the committed tasks that were completed
    carried_over: Tally
    added: Tally
    removed: Tally
    estimation: Estimation
    cycle: CycleTimes
    blocking: Blocking
    over_capacity: tuple[OverCapacity, ...]
    velocity: VelocityTrend
    committed_source: str = "approval"  # "approval" or "sprint at start"
    history_known: bool = False  # every task came with its Sprint history

    def task_gids(self) -> frozenset[str]:
        """The tasks of this sprint: what a theme may cite."""
        return frozenset(self.tasks)


def _instant(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _member_at(task: RetroTask, name: str, at: datetime) -> bool:
    if task.created_at is not None and task.created_at > at:
        return False
    if task.sprint_moves is None:
        return task.sprint == name
    current: str | None = None
    for move in sorted(task.sprint_moves, key=lambda m: m.at):
        if move.at > at:
            break
        current = move.sprint
    return current == name


def _joined_during(task: RetroTask, name: str, start: datetime, end: datetime) -> bool:
    if task.sprint_moves is None:
        return False
    return any(start < m.at < end and m.sprint == name for m in task.sprint_moves)


def _tally(tasks: Iterable[RetroTask]) -> Tally:
    ordered = sorted(tasks, key=lambda t: (t.name.casefold(), t.gid))
    return Tally(
        task_gids=tuple(t.gid for t in ordered),
        points=math.fsum(max(0.0, t.points) for t in ordered if t.points is not None),
        unestimated=sum(t.points is None for t in ordered),
    )


def build_retro(
    window: SprintWindow,
    tasks: Sequence[RetroTask],
    *,
    committed: Iterable[str] | None = None,
    blocked_days: Iterable[BlockedDay] = (),
    overloads: Iterable[OverloadRecord] = (),
    previous_velocity: Sequence[tuple[str, float]] = (),
    zone: ZoneInfo | None = None,
) -> RetroFacts:
    """The retrospective's facts for one sprint.

    `tasks`: the project's tasks that were ever in the sprint (more do no harm). `committed`: the
    task ids of the sprint's approved proposal, when there is one. `previous_velocity`: (sprint
    name, completed points) of the sprints before, most recent first.
    """
    tz = zone or ZoneInfo("UTC")
    name = window.name
    start_at = _instant(window.start, tz)
    end_at = _instant(window.end + timedelta(days=1), tz)
    by_gid = {t.gid: t for t in tasks}

    if committed is not None:
        committed_gids = {g for g in committed if g in by_gid}
        committed_source = "approval"
    else:
        committed_gids = {t.gid for t in tasks if _member_at(t, name, start_at)}
        committed_source = "sprint at start"
    at_end = {t.gid for t in tasks if _member_at(t, name, end_at)}
    joined = {t.gid for t in tasks if _joined_during(t, name, start_at, end_at)}
    added_gids = (at_end | joined) - committed_gids

    def done_by_end(t: RetroTask) -> bool:
        return t.completed_at is not None and t.completed_at < end_at

    removed_gids: set[str] = set()
    for gid in committed_gids | added_gids:
        task = by_gid[gid]
        if gid in at_end or done_by_end(task):
            continue
        if task.sprint_moves is None and task.sprint is not None:
            continue  # names another sprint now: moved on at the end, so carried over
        removed_gids.add(gid)
    scope = (committed_gids | added_gids) - removed_gids
    completed_tasks = [by_gid[g] for g in scope if done_by_end(by_gid[g])]
    carried = [by_gid[g] for g in scope if not done_by_end(by_gid[g])]
    named = committed_gids | added_gids

    facts_tasks = {g: by_gid[g] for g in sorted(named)}
    completed_tally = _tally(completed_tasks)
    return RetroFacts(
        window=window,
        tasks=facts_tasks,
        committed=_tally(by_gid[g] for g in committed_gids),
        completed=completed_tally,
        completed_committed=_tally(t for t in completed_tasks if t.gid in committed_gids),
        carried_over=_tally(carried),
        added=_tally(by_gid[g] for g in added_gids),
        removed=_tally(by_gid[g] for g in removed_gids),
        estimation=_estimation(completed_tasks),
        cycle=_cycle_times(completed_tasks, tz),
        blocking=_blocking(blocked_days, set(named), window),
        over_capacity=_over_capacity(overloads, window),
        velocity=_velocity(completed_tally.points, previous_velocity),
        committed_source=committed_source,
        history_known=bool(tasks) and all(t.sprint_moves is not None for t in tasks),
    )


def _estimation(completed: Sequence[RetroTask]) -> Estimation:
    measured = [
        t for t in completed if t.points and t.points > 0 and t.hours_logged and t.hours_logged > 0
    ]
    without = [t for t in completed if t.points and t.points > 0 and not t.hours_logged]
    if not measured:
        return Estimation(None, (), tuple(sorted(t.gid for t in without)), ())
    rate = math.fsum(t.hours_logged or 0.0 for t in measured) / math.fsum(
        t.points or 0.0 for t in measured
    )
    misses = [
        Miss(t.gid, p, h, (h / p) / rate)
        for t in measured
        for p, h in [(float(t.points or 0.0), float(t.hours_logged or 0.0))]
    ]
    misses.sort(key=lambda m: (-abs(math.log(m.ratio)), m.task_gid))
    worst = tuple(m for m in misses[:TOP_MISSES] if abs(math.log(m.ratio)) > 1e-9)
    return Estimation(
        hours_per_point=rate,
        measured=tuple(sorted(t.gid for t in measured)),
        without_hours=tuple(sorted(t.gid for t in without)),
        misses=worst,
    )


def _cycle_times(completed: Sequence[RetroTask], zone: ZoneInfo) -> CycleTimes:
    cycles: list[Cycle] = []
    for t in completed:
        assert t.completed_at is not None
        if t.started_at is not None:
            began, since = t.started_at, CycleStart.STARTED
        elif t.start_on is not None:
            began, since = _instant(t.start_on, zone), CycleStart.START_DATE
        elif t.created_at is not None:
            began, since = t.created_at, CycleStart.CREATED
        else:
            continue
        days = max(0.0, (t.completed_at - began).total_seconds() / 86400)
        cycles.append(Cycle(t.gid, days, since))
    if not cycles:
        return CycleTimes(None, (), ())
    cycles.sort(key=lambda c: (-c.days, c.task_gid))
    return CycleTimes(
        median_days=statistics.median(c.days for c in cycles),
        slowest=tuple(cycles[:TOP_SLOWEST]),
        measured=tuple(sorted(c.task_gid for c in cycles)),
    )


def _blocker_key(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def _blocking(days: Iterable[BlockedDay], gids: set[str], window: SprintWindow) -> Blocking:
    per_task: dict[str, set[date]] = {}
    task_blockers: dict[str, dict[str, str]] = {}  # task → key → first spelling
    per_blocker: dict[str, set[tuple[str, date]]] = {}
    spelling: dict[str, str] = {}
    for seen in days:
        if seen.task_gid not in gids or not (window.start <= seen.on <= window.end):
            continue
        key = _blocker_key(seen.blocker) or "unspecified"
        spelling.setdefault(key, seen.blocker.strip() or "unspecified")
        per_task.setdefault(seen.task_gid, set()).add(seen.on)
        task_blockers.setdefault(seen.task_gid, {}).setdefault(key, spelling[key])
        per_blocker.setdefault(key, set()).add((seen.task_gid, seen.on))
    tasks = sorted(
        (
            BlockedTask(gid, len(d), tuple(sorted(task_blockers[gid].values())))
            for gid, d in per_task.items()
        ),
        key=lambda b: (-b.days, b.task_gid),
    )
    recurring = []
    for key, pairs in per_blocker.items():
        blocked = sorted({g for g, _ in pairs})
        if len(blocked) >= RECURRING_TASKS or len(pairs) >= RECURRING_DAYS:
            recurring.append(Blocker(spelling[key], tuple(blocked), len(pairs)))
    recurring.sort(key=lambda b: (-b.days, b.blocker))
    return Blocking(sum(b.days for b in tasks), tuple(tasks), tuple(recurring))


def _over_capacity(
    alerts: Iterable[OverloadRecord], window: SprintWindow
) -> tuple[OverCapacity, ...]:
    people: dict[str, list[OverloadRecord]] = {}
    for alert in alerts:
        week_end = alert.week_start + timedelta(days=6)
        if alert.week_start <= window.end and week_end >= window.start:
            people.setdefault(alert.person, []).append(alert)
    out = []
    for person, found in people.items():
        peak = max(found, key=lambda a: a.load / a.capacity if a.capacity > 0 else math.inf)
        out.append(
            OverCapacity(
                person=person,
                weeks=tuple(sorted({a.week_start for a in found})),
                peak_load=peak.load,
                capacity=peak.capacity,
                task_gids=tuple(dict.fromkeys(g for a in found for g in a.task_gids)),
            )
        )
    out.sort(key=lambda o: (-o.peak_ratio, o.person))
    return tuple(out)


def _velocity(points: float, previous: Sequence[tuple[str, float]]) -> VelocityTrend:
    last = tuple((n, float(p)) for n, p in previous[:VELOCITY_SPRINTS])
    mean = math.fsum(p for _, p in last) / len(last) if last else None
    return VelocityTrend(points=points, previous=last, mean_previous=mean)


# -- the model's themes, checked ----------------------------------------------------------------


@dataclass(frozen=True)
class ThemeClaim:
    """A theme the model proposes, and the tasks it says support it."""

    text: str
    task_gids: tuple[str, ...]


@dataclass(frozen=True)
class ThemeCheck:
    kept: tuple[ThemeClaim, ...]
    dropped: tuple[tuple[ThemeClaim, str], ...] = field(default=())  # (claim, why)


def check_themes(
    claims: Iterable[ThemeClaim],
    facts: RetroFacts,
    *,
    known_task_names: Iterable[str] = (),
    people: Iterable[str] = (),
) -> ThemeCheck:
    """Keep a theme only when it cites tasks, every one of this sprint, and its text checks out.

    Its text is checked as the digest's summary is (digest.summary_problems): it may name this
    sprint's tasks and people, but no other task we know of, no quoted phrase that is neither,
    and no long number that is not one of this sprint's task ids. At most MAX_THEMES are kept.
    """
    sprint = facts.tasks
    allowed_names = [t.name for t in sprint.values()]
    known = list(known_task_names)
    names_of_people = list(people) + [t.assignee for t in sprint.values() if t.assignee]
    kept: list[ThemeClaim] = []
    dropped: list[tuple[ThemeClaim, str]] = []
    seen: set[str] = set()
    for claim in claims:
        text = claim.text.strip()
        unknown = [g for g in claim.task_gids if g not in sprint]
        if not claim.task_gids:
            why = "it cites no task"
        elif unknown:
            why = f"it cites a task that is not in this sprint: {unknown[0][:40]}"
        elif len(text) > THEME_MAX_CHARS:
            why = f"it is longer than {THEME_MAX_CHARS} characters"
        elif text.casefold() in seen:
            why = "it repeats another theme"
        elif len(kept) >= MAX_THEMES:
            why = f"only {MAX_THEMES} themes are kept"
        else:
            problems = summary_problems(
                text,
                allowed_tasks=allowed_names,
                people=names_of_people,
                known_tasks=known,
                allowed_gids=sprint.keys(),
            )
            why = problems[0] if problems else ""
        if why:
            dropped.append((claim, why))
            continue
        seen.add(text.casefold())
        kept.append(ThemeClaim(text, tuple(dict.fromkeys(claim.task_gids))))
    return ThemeCheck(tuple(kept), tuple(dropped))


# -- what the model is given ---------------------------------------------------------------------


def facts_for_model(
    facts: RetroFacts,
    *,
    project: str,
    comments: Mapping[str, Sequence[str]] | None = None,
    limit: int = 40,
    comment_chars: int = 300,
) -> dict[str, Any]:
    """The retrospective as plain JSON-able data: the only thing themes may be written from.

    Every task appears once under "tasks" with its id, so a theme can cite it; the facts refer to
    tasks by id only. Comments are the sprint's, per task, cut to `comment_chars`.
    """
    said = comments or {}

    def ids(gids: Iterable[str]) -> list[str]:
        return list(gids)[:limit]

    def tally(t: Tally) -> dict[str, Any]:
        return {"count": t.count, "points": t.points, "tasks": ids(t.task_gids)}

    tasks = []
    for gid, task in list(facts.tasks.items())[:limit]:
        entry: dict[str, Any] = {"id": gid, "name": task.name}
        if task.points is not None:
            entry["points"] = task.points
        if task.assignee:
            entry["assignee"] = task.assignee
        notes = [c[:comment_chars] for c in said.get(gid, ())][:5]
        if notes:
            entry["comments"] = notes
        tasks.append(entry)
    v = facts.velocity
    return {
        "project": project,
        "sprint": facts.window.name,
        "start": facts.window.start.isoformat(),
        "end": facts.window.end.isoformat(),
        "tasks": tasks,
        "committed": tally(facts.committed),
        "completed": tally(facts.completed),
        "carried_over": tally(facts.carried_over),
        "added": tally(facts.added),
        "removed": tally(facts.removed),
        "estimation_misses": [
            {"task": m.task_gid, "points": m.points, "hours": m.hours, "ratio": round(m.ratio, 2)}
            for m in facts.estimation.misses
        ],
        "slowest": [{"task": c.task_gid, "days": round(c.days, 1)} for c in facts.cycle.slowest],
        "recurring_blockers": [
            {"blocker": b.blocker[:comment_chars], "tasks": ids(b.task_gids), "days": b.days}
            for b in facts.blocking.recurring
        ],
        "over_capacity": [
            {"person": o.person, "weeks": len(o.weeks), "tasks": ids(o.task_gids)}
            for o in facts.over_capacity
        ],
        "velocity": {"points": v.points, "previous_mean": v.mean_previous},
    }


# -- what a digest saw blocked, for the ledger ---------------------------------------------------


def blocked_today(facts: DigestFacts) -> list[tuple[str, str]]:
    """(task gid, blocker) for every blocked task of a digest: the days a retrospective counts."""
    out: list[tuple[str, str]] = []
    for item in facts.blocked:
        for reason in item.reasons:
            if reason.kind is ReasonKind.DEPENDENCY_OVERDUE:
                out.append((item.gid, f"waiting on “{reason.task_name or reason.task_gid}”"))
            elif reason.kind is ReasonKind.STATUS_BLOCKED:
                out.append((item.gid, "Status set to Blocked"))
            elif reason.kind is ReasonKind.TAGGED_BLOCKED:
                out.append((item.gid, "tagged blocked"))
            elif reason.kind is ReasonKind.COMMENT_BLOCKED:
                out.append((item.gid, " ".join((reason.text or "").split())[:200]))
    return out


# -- proposed action items -----------------------------------------------------------------------

MAX_ACTIONS = 3


@dataclass(frozen=True)
class ActionItem:
    """A change the team could make, and the tasks that show why."""

    title: str
    why: str
    task_gids: tuple[str, ...]


def propose_actions(
    facts: RetroFacts, *, names: Mapping[str, str] | None = None
) -> tuple[ActionItem, ...]:
    """Up to MAX_ACTIONS action items, from the facts alone, most pressing first."""
    name_of = dict(names or {}) | {g: t.name for g, t in facts.tasks.items()}
    items: list[ActionItem] = []
    for blocker in facts.blocking.recurring[:1]:
        items.append(
            ActionItem(
                f"Remove a recurring blocker: {blocker.blocker[:120]}",
                f"It blocked {len(blocker.task_gids)} task(s) for {blocker.days} task-day(s).",
                blocker.task_gids,
            )
        )
    carried = facts.carried_over
    if carried.count:
        share = carried.count / max(1, facts.committed.count + facts.added.count)
        if share >= 0.15 or carried.count >= 2:
            items.append(
                ActionItem(
                    "Commit to less at planning, or split large tasks before the sprint",
                    f"{carried.count} task(s) ({carried.points:g} points) were carried over.",
                    carried.task_gids,
                )
            )
    misses = [m for m in facts.estimation.misses if m.ratio >= 1.5 or m.ratio <= 1 / 1.5]
    if misses:
        worst = misses[0]
        direction = "longer" if worst.ratio > 1 else "shorter"
        items.append(
            ActionItem(
                "Review estimates of work like “" + name_of.get(worst.task_gid, "?")[:80] + "”",
                f"It took {worst.hours:g} h for {worst.points:g} points, {worst.ratio:.1f}× the "
                f"sprint's hours per point ({direction} than estimated).",
                tuple(m.task_gid for m in misses),
            )
        )
    if facts.added.count >= 2:
        items.append(
            ActionItem(
                "Agree how work is added mid-sprint (and what leaves in exchange)",
                f"{facts.added.count} task(s) ({facts.added.points:g} points) joined after the "
                "start.",
                facts.added.task_gids,
            )
        )
    for over in facts.over_capacity[:1]:
        items.append(
            ActionItem(
                f"Balance the load of {over.person[:60]} at planning",
                f"Over capacity in {len(over.weeks)} week(s), peak {over.peak_load:g} h of "
                f"{over.capacity:g} h.",
                over.task_gids,
            )
        )
    return tuple(i for i in items if i.task_gids)[:MAX_ACTIONS]
