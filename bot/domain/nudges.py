"""Which owners get a private nudge today, about which tasks, and why.

Pure: open tasks, today and the team's calendar in; one `Nudge` per owner out. The rules, as the
README states them (issue 14 §3):

- A task is at risk when it is open and assigned, and it is overdue (due before today), or due
  within two working days while a dependency is still open, or untouched (not modified) for
  `stale_days` working days or more. A task can be at risk for several reasons.
- One nudge a day at most per person: someone already nudged today, or who turned nudges off,
  gets none. Unassigned tasks nudge nobody.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.domain.digest import add_working_days
from bot.domain.models import Person, Task, TaskLink

DUE_SOON_WORKING_DAYS = 2


class NudgeReason(StrEnum):
    OVERDUE = "overdue"
    DUE_SOON_OPEN_DEPENDENCY = "due_soon_open_dependency"
    STALE = "stale"


@dataclass(frozen=True)
class NudgeItem:
    gid: str
    name: str
    permalink: str
    due_on: date | None
    reasons: tuple[NudgeReason, ...]
    open_dependency: TaskLink | None = None  # the first open dependency, when due soon
    untouched_since: date | None = None  # the last modification's local day, when stale


@dataclass(frozen=True)
class Nudge:
    person: Person
    items: tuple[NudgeItem, ...]  # by due date (undated last), then name


def _stale_since(
    task: Task, *, today: date, stale_days: int, workdays: frozenset[int], zone: ZoneInfo
) -> date | None:
    if task.modified_at is None or stale_days < 1:
        return None
    touched = task.modified_at.astimezone(zone).date()
    return touched if add_working_days(touched, stale_days, workdays) <= today else None


def at_risk_item(
    task: Task,
    *,
    today: date,
    workdays: frozenset[int],
    stale_days: int,
    zone: ZoneInfo,
) -> NudgeItem | None:
    """The task as a nudge line, or None when it is not at risk (or done, or nobody's)."""
    if task.completed or task.assignee is None:
        return None
    reasons: list[NudgeReason] = []
    dependency: TaskLink | None = None
    due = task.due_on
    if due is not None and due < today:
        reasons.append(NudgeReason.OVERDUE)
    open_deps = task.open_dependencies
    if (
        due is not None
        and open_deps
        and today <= due <= add_working_days(today, DUE_SOON_WORKING_DAYS, workdays)
    ):
        reasons.append(NudgeReason.DUE_SOON_OPEN_DEPENDENCY)
        dependency = open_deps[0]
    since = _stale_since(task, today=today, stale_days=stale_days, workdays=workdays, zone=zone)
    if since is not None:
        reasons.append(NudgeReason.STALE)
    if not reasons:
        return None
    return NudgeItem(
        gid=task.gid,
        name=task.name,
        permalink=task.permalink,
        due_on=due,
        reasons=tuple(reasons),
        open_dependency=dependency,
        untouched_since=since,
    )


def nudges(
    open_tasks: Iterable[Task],
    *,
    now: datetime,
    zone: ZoneInfo,
    workdays: frozenset[int],
    stale_days: int,
    opted_out: Collection[str] = (),
    last_sent: Mapping[str, date] | None = None,
) -> list[Nudge]:
    """Today's nudges: one per owner with at-risk tasks, not opted out, not yet nudged today.

    `opted_out` and `last_sent` are keyed by the owner's Asana gid; `last_sent` holds the local
    day each person was last nudged.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    today = now.astimezone(zone).date()
    sent = last_sent or {}
    by_person: dict[str, tuple[Person, list[NudgeItem]]] = {}
    seen: set[str] = set()
    for task in open_tasks:
        if task.gid in seen:
            continue
        seen.add(task.gid)
        item = at_risk_item(task, today=today, workdays=workdays, stale_days=stale_days, zone=zone)
        if item is None:
            continue
        assert task.assignee is not None
        person = task.assignee
        if person.gid in opted_out or sent.get(person.gid) == today:
            continue
        by_person.setdefault(person.gid, (person, []))[1].append(item)
    out: list[Nudge] = []
    for person, items in sorted(by_person.values(), key=lambda p: p[0].name.casefold()):
        items.sort(key=_order)
        out.append(Nudge(person, tuple(items)))
    return out


def _order(item: NudgeItem) -> tuple[date, str]:
    return (item.due_on or date.max, item.name.casefold())
