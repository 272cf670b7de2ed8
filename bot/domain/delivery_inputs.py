"""What /forecast forecasts: the command's scope, the tasks in it, and the team's history.

Pure: tasks and dates in, small frozen records out; the simulation itself is bot/domain/delivery.
The rules, as the README states them (issue 14 §2):

- **Scope**: the open tasks suggested for Next or Future ("AI Suggested Sprint", the default),
  Next only, every open task (`all`), or a named task (a milestone, an epic) with its open
  subtasks at any depth. A name matches exactly (case and spacing aside), else as the only task
  whose name contains it.
- **Unit**: Story Points when the history or the scope carries any, else a count of tasks. In
  points, scope tasks without points are counted apart (never guessed) and completed tasks without
  points add nothing.
- **The current sprint's open work** (open tasks whose Sprint is the current sprint, outside the
  scope) is done first: it counts ahead of the scope, except for `all`, whose scope holds it. The
  current sprint is the latest Sprint value any open task holds (option order, else the highest
  number).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.domain.delivery import ForecastUnit
from bot.domain.models import SuggestedSprint, Task
from bot.domain.sprint_inputs import PlanArgsError, Word, split_words


class ScopeKind(StrEnum):
    NEXT_FUTURE = "next+future"
    NEXT = "next"
    ALL = "all"
    MILESTONE = "milestone"


SCOPE_LABELS = {
    ScopeKind.NEXT_FUTURE: "Next + Future",
    ScopeKind.NEXT: "Next",
    ScopeKind.ALL: "Everything open",
}
_SCOPE_WORDS = {
    "": ScopeKind.NEXT_FUTURE,
    "next+future": ScopeKind.NEXT_FUTURE,
    "next + future": ScopeKind.NEXT_FUTURE,
    "next future": ScopeKind.NEXT_FUTURE,
    "next and future": ScopeKind.NEXT_FUTURE,
    "next": ScopeKind.NEXT,
    "all": ScopeKind.ALL,
    "open": ScopeKind.ALL,
    "everything": ScopeKind.ALL,
    "all open": ScopeKind.ALL,
}
NAME_MAX = 200


class ScopeError(ValueError):
    """The scope cannot be found or chosen; the message says why (safe to show)."""


@dataclass(frozen=True)
class ForecastArgs:
    words: tuple[Word, ...]

    @property
    def project_word(self) -> Word | None:
        return self.words[0] if self.words else None

    @property
    def project_required(self) -> bool:
        """A gid or a quoted first word must name a project; a plain word only may."""
        word = self.project_word
        return word is not None and (word.is_gid or word.quoted)

    def scope_text(self, *, project_taken: bool) -> str:
        words = self.words[1:] if project_taken else self.words
        return " ".join(w.text for w in words).strip()


def parse_forecast_args(text: str) -> ForecastArgs:
    """Read `[project] [scope]`; raise PlanArgsError when it cannot be read."""
    words = tuple(split_words(text))
    if len(" ".join(w.text for w in words)) > NAME_MAX:
        raise PlanArgsError(f"a scope has at most {NAME_MAX} characters.")
    return ForecastArgs(words)


def scope_kind(text: str) -> ScopeKind:
    """The scope a text names: a keyword, else a milestone's name."""
    return _SCOPE_WORDS.get(" ".join(text.casefold().split()), ScopeKind.MILESTONE)


def is_scope_keyword(word: str) -> bool:
    return scope_kind(word) is not ScopeKind.MILESTONE


@dataclass(frozen=True)
class Scope:
    kind: ScopeKind
    label: str  # "Next + Future", or the milestone's name
    tasks: tuple[Task, ...]  # the open tasks in scope
    milestone: Task | None = None


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def select_scope(
    open_tasks: Sequence[Task], kind: ScopeKind, name: str = "", *, named: Sequence[Task] = ()
) -> Scope:
    """The open tasks in scope. `named` are extra tasks a milestone may be (e.g. completed ones)."""
    if kind is ScopeKind.NEXT_FUTURE:
        wanted = {SuggestedSprint.NEXT.value, SuggestedSprint.FUTURE.value}
        return Scope(
            kind,
            SCOPE_LABELS[kind],
            tuple(t for t in open_tasks if t.ai.suggested_sprint in wanted),
        )
    if kind is ScopeKind.NEXT:
        return Scope(
            kind,
            SCOPE_LABELS[kind],
            tuple(t for t in open_tasks if t.ai.suggested_sprint == SuggestedSprint.NEXT.value),
        )
    if kind is ScopeKind.ALL:
        return Scope(kind, SCOPE_LABELS[kind], tuple(open_tasks))
    milestone = find_named(open_tasks, name, also=named)
    children: dict[str, list[Task]] = {}
    for task in open_tasks:
        if task.parent_gid:
            children.setdefault(task.parent_gid, []).append(task)
    chosen: list[Task] = [milestone] if not milestone.completed else []
    seen = {milestone.gid}
    frontier = [milestone.gid]
    while frontier:
        gid = frontier.pop()
        for child in children.get(gid, []):
            if child.gid not in seen:
                seen.add(child.gid)
                chosen.append(child)
                frontier.append(child.gid)
    return Scope(kind, milestone.name, tuple(chosen), milestone)


def find_named(tasks: Sequence[Task], name: str, *, also: Sequence[Task] = ()) -> Task:
    """The one task `name` names: exactly (case and spacing aside), else by a unique part."""
    wanted = _fold(name)
    pool = {t.gid: t for t in [*tasks, *also]}.values()
    exact = [t for t in pool if _fold(t.name) == wanted]
    if len(exact) == 1:
        return exact[0]
    partial = exact or [t for t in pool if wanted and wanted in _fold(t.name)]
    if len(partial) == 1:
        return partial[0]
    if not partial:
        raise ScopeError(
            f"No task is named “{name}” in this project. Name a milestone (or any task with "
            "subtasks), or use `next`, `all`, or nothing for Next + Future."
        )
    shown = ", ".join(f"“{t.name}”" for t in sorted(partial, key=lambda t: t.name)[:5])
    more = f" and {len(partial) - 5} more" if len(partial) > 5 else ""
    raise ScopeError(f"“{name}” names several tasks ({shown}{more}): give the whole name.")


def forecast_unit(completed: Iterable[Task], scope: Iterable[Task]) -> ForecastUnit:
    """Points when any task of the history or the scope carries Story Points, else tasks."""
    if any(t.story_points is not None for t in [*completed, *scope]):
        return ForecastUnit.POINTS
    return ForecastUnit.TASKS


def effort(task: Task, unit: ForecastUnit) -> float | None:
    """A task's size in the forecast's unit (None: no points, in a points forecast)."""
    if unit is ForecastUnit.TASKS:
        return 1.0
    return None if task.story_points is None else max(0.0, float(task.story_points))


def completions(
    completed: Iterable[Task], unit: ForecastUnit, zone: ZoneInfo
) -> list[tuple[date, float]]:
    """(local day, effort) of each completed task, for `windowed_history`."""
    out = []
    for task in completed:
        if task.completed and task.completed_at is not None:
            out.append((task.completed_at.astimezone(zone).date(), effort(task, unit) or 0.0))
    return out


def additions(
    tasks: Iterable[Task], unit: ForecastUnit, zone: ZoneInfo
) -> list[tuple[date, float]]:
    """(local day, effort) of each task's creation, for `windowed_history`'s `added`.

    A task whose creation time was not read is left out; an unestimated one adds nothing in a
    points forecast (as it counts nothing in the scope).
    """
    return [
        (task.created_at.astimezone(zone).date(), effort(task, unit) or 0.0)
        for task in tasks
        if task.created_at is not None
    ]


_NUMBERED = re.compile(r"^(.*?)(\d+)\s*$")


def current_sprint(open_tasks: Iterable[Task], options: Sequence[str] = ()) -> str | None:
    """The latest Sprint value an open task holds: by the field's option order, else by number."""
    held = {t.sprint for t in open_tasks if t.sprint}
    if not held:
        return None
    order = {_fold(o): i for i, o in enumerate(options)}

    def key(name: str) -> tuple[int, int, str]:
        number = _NUMBERED.match(name)
        return (order.get(_fold(name), -1), int(number.group(2)) if number else -1, name)

    return max(held, key=key)


def sprint_names(
    completed: Iterable[Task],
    *,
    current_sprint_start: date,
    sprint_days: int,
    sprints: int,
    zone: ZoneInfo,
) -> list[str]:
    """A name for each past window (0 = just before the current sprint): the Sprint value most of
    its completed tasks hold, else "sprint ending <date>"."""
    counts: list[dict[str, int]] = [{} for _ in range(sprints)]
    for task in completed:
        if task.completed_at is None or not task.sprint:
            continue
        back = (current_sprint_start - task.completed_at.astimezone(zone).date()).days
        if back <= 0:
            continue
        j = (back - 1) // sprint_days
        if j < sprints:
            counts[j][task.sprint] = counts[j].get(task.sprint, 0) + 1
    names = []
    for j, held in enumerate(counts):
        if held:
            names.append(max(held, key=lambda n: (held[n], n)))
        else:
            ended = current_sprint_start - timedelta(days=j * sprint_days + 1)
            names.append(f"sprint ending {ended:%a} {ended.day} {ended:%b}")
    return names


def current_sprint_start(today: date, anchor: date | None, sprint_days: int) -> date:
    """The first day of the sprint `today` is in, counted in whole sprints from `anchor` (the
    day a sprint started, e.g. an approved /plan-sprint); without one, today."""
    if anchor is None or anchor > today:
        return today
    return anchor + timedelta(days=((today - anchor).days // sprint_days) * sprint_days)
