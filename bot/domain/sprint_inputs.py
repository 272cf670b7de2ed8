"""What /plan-sprint feeds the planner, pure: the command's arguments, effort, velocity, capacity.

Syntax: ``/plan-sprint [project] [sprint name] [capacity]``

- Words are split on spaces; "double quotes" (or Slack's “curly quotes”) keep words together.
- **capacity**: the last word when it is a number of at most five digits (``40``, ``32.5``),
  optionally with a unit, attached or not (``40pts``, ``40 points``, ``120h``, ``120 hours``).
  A bare number right after the word that starts the project's sprint names ("Sprint", or e.g.
  "Iteration" when the Sprint options are "Iteration 1", "Iteration 2"…) belongs to the name, so
  ``/plan-sprint Sprint 25`` names the sprint. A quoted word is never a capacity.
- **project**: the first word when it is a project gid (six digits or more) or a quoted name —
  these must name a project — or a single word that happens to be a project's name.
- **sprint name**: the words in between (at most 60 characters).

Everything here is plain data in, plain data out; the use case does the reading and writing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from bot.domain.models import Task
from bot.domain.planning import LeftOutReason, PlanGroup, PlanItem, SprintPlan
from bot.domain.scoring import rules_score

HISTORY_SPRINTS = 3
NAME_MAX = 60
MAX_CAPACITY_DIGITS = 5
MIN_GID_DIGITS = 6
DEFAULT_SPRINT_WORD = "sprint"
FIRST_SPRINT = "Sprint 1"
# A group (a parent's open subtasks) adds this share of its items' values when all of them ship.
GROUP_BONUS = 0.5
HELP_WORDS = frozenset({"help", "-h", "--help", "?"})

_QUOTES = '"“”„'
_TOKEN = re.compile(rf"[{_QUOTES}]([^{_QUOTES}]*)[{_QUOTES}]|([^\s{_QUOTES}]+)")
_NUMBER = rf"\d{{1,{MAX_CAPACITY_DIGITS}}}(?:[.,]\d+)?"
_UNIT_WORDS = {
    "pt": "points",
    "pts": "points",
    "point": "points",
    "points": "points",
    "sp": "points",
    "h": "hours",
    "hr": "hours",
    "hrs": "hours",
    "hour": "hours",
    "hours": "hours",
}
_UNITS = "|".join(sorted(_UNIT_WORDS, key=len, reverse=True))
_BARE = re.compile(_NUMBER)
_WITH_UNIT = re.compile(rf"({_NUMBER})({_UNITS})", re.IGNORECASE)
_NUMERIC = re.compile(rf"[-+]?\d[\d.,]*(?:{_UNITS})?", re.IGNORECASE)
_NUMBERED = re.compile(r"^(.*?)(\d+)$")


class PlanArgsError(ValueError):
    """The command's text does not follow the syntax; the message says what is wrong."""


class NoCapacityError(ValueError):
    """No capacity argument, no velocity history and nobody assigned: nothing to plan against."""


class EffortUnit(StrEnum):
    POINTS = "pts"
    HOURS = "h"


# --------------------------------------------------------------------------------------------
# The command's arguments


@dataclass(frozen=True)
class Word:
    text: str
    quoted: bool = False

    @property
    def is_gid(self) -> bool:
        return not self.quoted and self.text.isdigit() and len(self.text) >= MIN_GID_DIGITS


@dataclass(frozen=True)
class PlanArgs:
    words: tuple[Word, ...]  # everything but the capacity, in order
    capacity: float | None = None
    capacity_unit: EffortUnit | None = None  # None: the project's own unit

    @property
    def project_word(self) -> Word | None:
        """The first word, which names the project when it is one."""
        return self.words[0] if self.words else None

    @property
    def project_required(self) -> bool:
        """A gid or a quoted first word must name a project; a plain word only may."""
        word = self.project_word
        return word is not None and (word.is_gid or word.quoted)


def split_words(text: str) -> list[Word]:
    """Split on spaces, keeping quoted text together; raise PlanArgsError on a stray quote."""
    words: list[Word] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return words
        match = _TOKEN.match(text, pos)
        if match is None:
            raise PlanArgsError("a quote is not closed.")
        if match.group(1) is not None:
            inner = " ".join(match.group(1).split())
            if not inner:
                raise PlanArgsError("there is nothing between the quotes.")
            words.append(Word(inner, quoted=True))
        else:
            words.append(Word(match.group(2)))
        pos = match.end()


def parse_words(text: str) -> PlanArgs:
    """Read `[project] [name]` (no capacity): the words, quoted text kept together.

    Raise PlanArgsError when it cannot be read, or with no reason when help was asked for.
    """
    if text.strip().casefold() in HELP_WORDS:
        raise PlanArgsError("")
    return PlanArgs(words=tuple(split_words(text)))


def parse_plan_args(
    text: str, *, sprint_words: Collection[str] = (DEFAULT_SPRINT_WORD,)
) -> PlanArgs:
    """Read `[project] [sprint name] [capacity]`; raise PlanArgsError when it cannot be read.

    `sprint_words` are the (case-insensitive) words a bare trailing number may follow and still
    be part of the sprint name, as in "Sprint 25".
    """
    words = list(parse_words(text).words)
    known = {w.casefold() for w in sprint_words}
    capacity: float | None = None
    unit: EffortUnit | None = None
    last = words[-1] if words else None
    before = words[-2] if len(words) >= 2 else None
    if last is not None and not last.quoted:
        number: str | None = None
        unit_word: str | None = None
        taken = 1
        attached = _WITH_UNIT.fullmatch(last.text)
        if (
            last.text.casefold() in _UNIT_WORDS
            and before is not None
            and not before.quoted
            and _BARE.fullmatch(before.text)
        ):
            number, unit_word, taken = before.text, last.text, 2
        elif attached:
            number, unit_word = attached.group(1), attached.group(2)
        elif _BARE.fullmatch(last.text):
            names_it = before is not None and not before.quoted and before.text.casefold() in known
            if not names_it:
                number = last.text
        elif _NUMERIC.fullmatch(last.text) and not (len(words) == 1 and last.is_gid):
            raise PlanArgsError(
                f"the capacity must be a positive number of at most "
                f"{10**MAX_CAPACITY_DIGITS - 1:,}, not “{last.text}”."
            )
        if number is not None:
            capacity = float(number.replace(",", "."))
            if not capacity > 0:
                raise PlanArgsError("the capacity must be more than 0.")
            if unit_word is not None:
                unit = (
                    EffortUnit.POINTS
                    if _UNIT_WORDS[unit_word.casefold()] == "points"
                    else EffortUnit.HOURS
                )
            words = words[:-taken]
    return PlanArgs(words=tuple(words), capacity=capacity, capacity_unit=unit)


def sprint_name_from(args: PlanArgs, *, project_taken: bool) -> str | None:
    """The sprint name typed (None: use the next in sequence); the first word may be the project."""
    words = args.words[1:] if project_taken else args.words
    name = " ".join(w.text for w in words).strip()
    if len(name) > NAME_MAX:
        raise PlanArgsError(f"a sprint name has at most {NAME_MAX} characters.")
    return name or None


# --------------------------------------------------------------------------------------------
# Sprint names


def _numbered(options: Iterable[str]) -> dict[str, list[tuple[int, str, str]]]:
    """Options ending in a number, by prefix (case-insensitive): (number, digits, prefix)."""
    groups: dict[str, list[tuple[int, str, str]]] = {}
    for option in options:
        match = _NUMBERED.match(option.strip())
        if match:
            prefix, digits = match.group(1), match.group(2)
            groups.setdefault(prefix.casefold(), []).append((int(digits), digits, prefix))
    return groups


def next_sprint_name(options: Sequence[str]) -> str:
    """The next name in the options' sequence: "Sprint 24" → "Sprint 25" ("Sprint 1" if none).

    The sequence is the prefix most options share (then the one reaching the highest number);
    zero padding is kept ("S09" → "S10").
    """
    groups = _numbered(options)
    if not groups:
        return FIRST_SPRINT
    best = max(groups.values(), key=lambda g: (len(g), max(n for n, _, _ in g)))
    number, digits, prefix = max(best)
    return f"{prefix}{number + 1:0{len(digits)}d}"


def sprint_words(options: Iterable[str]) -> frozenset[str]:
    """Words a sprint number follows in these options ("Iteration 7" → "iteration"), + "sprint"."""
    words = {DEFAULT_SPRINT_WORD}
    for prefix in _numbered(options):
        if prefix[-1:].isspace() and prefix.split():
            words.add(prefix.split()[-1])
    return frozenset(words)


def canonical_option(name: str, options: Iterable[str]) -> str:
    """An existing option spelled differently ("sprint 25") is that option ("Sprint 25")."""
    wanted = " ".join(name.split()).casefold()
    for option in options:
        if " ".join(option.split()).casefold() == wanted:
            return option
    return " ".join(name.split())


# --------------------------------------------------------------------------------------------
# Effort


def effort_unit(tasks: Iterable[Task]) -> EffortUnit:
    """Points when any task has Story Points; hours when tasks only carry Estimated Hours."""
    hours = False
    for task in tasks:
        if task.story_points is not None:
            return EffortUnit.POINTS
        hours = hours or task.estimated_hours is not None
    return EffortUnit.HOURS if hours else EffortUnit.POINTS


def convert(value: float, source: EffortUnit, target: EffortUnit, hours_per_point: float) -> float:
    if source is target:
        return value
    return value / hours_per_point if source is EffortUnit.HOURS else value * hours_per_point


def effort_of(task: Task, unit: EffortUnit, hours_per_point: float) -> float | None:
    """Story Points, else Estimated Hours, in `unit` (None: needs an estimate)."""
    if task.story_points is not None:
        points = max(0.0, task.story_points)
        return convert(points, EffortUnit.POINTS, unit, hours_per_point)
    if task.estimated_hours is not None:
        hours = max(0.0, task.estimated_hours)
        return convert(hours, EffortUnit.HOURS, unit, hours_per_point)
    return None


def converted_count(tasks: Iterable[Task], unit: EffortUnit) -> int:
    """How many tasks are estimated only in the other unit (and were converted)."""
    if unit is EffortUnit.POINTS:
        return sum(t.story_points is None and t.estimated_hours is not None for t in tasks)
    return sum(t.story_points is not None for t in tasks)


# --------------------------------------------------------------------------------------------
# Velocity and capacity


def history_start(now: datetime, sprint_days: int, sprints: int = HISTORY_SPRINTS) -> datetime:
    """Where the velocity window starts: `sprints` sprints of `sprint_days` before `now`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now - timedelta(days=sprint_days * sprints)


@dataclass(frozen=True)
class Velocity:
    sprints: tuple[float, ...]  # effort completed in each past sprint, most recent first
    team: float | None  # mean per sprint; None when no estimated task was completed
    by_person: Mapping[str, float]  # assignee gid -> mean per sprint
    counted: int  # completed tasks with an estimate in the window
    unestimated: int  # completed tasks without one (not counted)


def velocity(
    completed: Iterable[Task],
    *,
    now: datetime,
    sprint_days: int,
    unit: EffortUnit,
    hours_per_point: float,
    sprints: int = HISTORY_SPRINTS,
) -> Velocity:
    """Mean effort completed per sprint over the last `sprints` sprints, team and per person.

    Sprint k (k = 0 the most recent) is the `sprint_days` ending `k * sprint_days` days before
    `now`. The mean divides by `sprints` even when some of them saw no completed work.
    """
    start = history_start(now, sprint_days, sprints)
    length = timedelta(days=sprint_days)
    totals = [0.0] * sprints
    person: dict[str, float] = {}
    counted = unestimated = 0
    for task in completed:
        done = task.completed_at
        if not task.completed or done is None or done < start:
            continue
        effort = effort_of(task, unit, hours_per_point)
        if effort is None:
            unestimated += 1
            continue
        k = min(sprints - 1, max(0, int((now - done) / length)))
        totals[k] += effort
        counted += 1
        if task.assignee is not None:
            person[task.assignee.gid] = person.get(task.assignee.gid, 0.0) + effort
    team = math.fsum(totals) / sprints if counted else None
    return Velocity(
        sprints=tuple(round(t, 1) for t in totals),
        team=None if team is None else round(team, 1),
        by_person={gid: round(e / sprints, 1) for gid, e in sorted(person.items())},
        counted=counted,
        unestimated=unestimated,
    )


class CapacitySource(StrEnum):
    ARGUMENT = "argument"  # the command's capacity
    VELOCITY = "velocity"  # the team's mean over the last sprints
    PEOPLE = "people"  # no history: the sum of everyone's capacity


class PersonSource(StrEnum):
    VELOCITY = "own velocity"
    HOURS = "weekly hours"


@dataclass(frozen=True)
class PersonCapacity:
    gid: str
    name: str
    capacity: float
    source: PersonSource


@dataclass(frozen=True)
class Capacity:
    team: float
    source: CapacitySource
    persons: tuple[PersonCapacity, ...]  # everyone with an open task assigned, by name
    hours_share: float  # COPILOT_WEEKLY_HOURS prorated to one sprint, in the effort unit


def sprint_share_of_hours(
    weekly_hours: float, sprint_days: int, unit: EffortUnit, hours_per_point: float
) -> float:
    """A person's weekly hours over one sprint, in the effort unit."""
    hours = weekly_hours * sprint_days / 7
    return round(convert(hours, EffortUnit.HOURS, unit, hours_per_point), 1)


def capacities(
    open_tasks: Iterable[Task],
    history: Velocity,
    *,
    argument: float | None,
    unit: EffortUnit,
    sprint_days: int,
    weekly_hours: float,
    hours_per_point: float,
) -> Capacity:
    """Team capacity (argument, else velocity, else everyone's hours) and each person's.

    A person's capacity is their own velocity when they completed estimated work in the window,
    else their weekly hours prorated to the sprint. `argument` is already in `unit`.
    """
    share = sprint_share_of_hours(weekly_hours, sprint_days, unit, hours_per_point)
    people: dict[str, str] = {}
    for task in open_tasks:
        if task.assignee is not None:
            people.setdefault(task.assignee.gid, task.assignee.name or task.assignee.gid)
    persons = tuple(
        PersonCapacity(gid, name, history.by_person[gid], PersonSource.VELOCITY)
        if history.by_person.get(gid, 0.0) > 0
        else PersonCapacity(gid, name, share, PersonSource.HOURS)
        for gid, name in sorted(people.items(), key=lambda p: (p[1].casefold(), p[0]))
    )
    if argument is not None:
        return Capacity(round(argument, 1), CapacitySource.ARGUMENT, persons, share)
    if history.team is not None and history.team > 0:
        return Capacity(history.team, CapacitySource.VELOCITY, persons, share)
    if not persons:
        raise NoCapacityError("no completed work in the last sprints and nobody is assigned")
    total = round(math.fsum(p.capacity for p in persons), 1)
    return Capacity(total, CapacitySource.PEOPLE, persons, share)


# --------------------------------------------------------------------------------------------
# Plan items


class ValueSource(StrEnum):
    MANUAL = "manual override"
    AI = "AI score"
    RULES = "rules score"


@dataclass(frozen=True)
class Candidate:
    """An open task as the planner sees it."""

    task: Task
    effort: float | None
    value: float
    value_source: ValueSource
    group: str | None = None  # the parent's gid when the task is in an all-or-nothing group


@dataclass(frozen=True)
class PlanInputs:
    items: tuple[PlanItem, ...]
    groups: tuple[PlanGroup, ...]
    candidates: Mapping[str, Candidate]


def task_value(task: Task, *, today: date, hours_per_point: float) -> tuple[float, ValueSource]:
    """Manual Override, else the written AI Priority Score, else the rules score (0–100)."""
    if task.manual_override is not None:
        value, source = task.manual_override, ValueSource.MANUAL
    elif task.ai.score is not None:
        value, source = task.ai.score, ValueSource.AI
    else:
        value = rules_score(task, today=today, hours_per_point=hours_per_point).score
        source = ValueSource.RULES
    if not math.isfinite(value):
        value = 0.0
    return round(max(0.0, min(100.0, value)), 1), source


def plan_inputs(
    tasks: Sequence[Task], *, unit: EffortUnit, hours_per_point: float, today: date
) -> PlanInputs:
    """Items (value, effort, assignee, open dependencies) and the parents' all-or-nothing groups.

    Open tasks sharing a parent (two or more of them in the backlog) form a group whose value
    counts only when every one of them is selected: the parent's own value when the parent (a
    milestone, an epic) is itself an open task of the backlog — it then counts only through the
    group — else GROUP_BONUS x the sum of the subtasks' values.
    """
    by_parent: dict[str, list[str]] = {}
    for task in tasks:
        if task.parent_gid is not None:
            by_parent.setdefault(task.parent_gid, []).append(task.gid)
    grouped = {gid: parent for parent, gids in by_parent.items() if len(gids) >= 2 for gid in gids}
    parents_in_backlog = {t.gid for t in tasks if len(by_parent.get(t.gid, ())) >= 2}
    parent_values: dict[str, float] = {}
    candidates: dict[str, Candidate] = {}
    items: list[PlanItem] = []
    for task in tasks:
        value, source = task_value(task, today=today, hours_per_point=hours_per_point)
        if task.gid in parents_in_backlog:
            # Its value is the group's: it counts only when all its subtasks ship.
            parent_values[task.gid], value = value, 0.0
        effort = effort_of(task, unit, hours_per_point)
        candidates[task.gid] = Candidate(task, effort, value, source, grouped.get(task.gid))
        items.append(
            PlanItem(
                id=task.gid,
                value=value,
                effort=None if effort is None else round(effort, 2),
                assignee=task.assignee.gid if task.assignee else None,
                depends_on=tuple(dict.fromkeys(d.gid for d in task.open_dependencies)),
                label=task.name,
            )
        )
    groups = []
    for parent, gids in by_parent.items():
        if len(gids) < 2:
            continue
        first = candidates[gids[0]].task
        bonus = parent_values.get(parent)
        if bonus is None:
            bonus = round(GROUP_BONUS * math.fsum(candidates[g].value for g in gids), 1)
        groups.append(
            PlanGroup(
                id=f"parent:{parent}",
                value=bonus,
                item_ids=tuple(gids),
                label=first.parent_name or parent,
            )
        )
    return PlanInputs(tuple(items), tuple(groups), candidates)


# --------------------------------------------------------------------------------------------
# Why a task was left out, in names a person reads


@dataclass(frozen=True)
class LeftOutRow:
    gid: str
    reason: LeftOutReason
    blocker: str | None = None  # the dependency's name
    blocker_state: str | None = None  # "not selected" | "needs estimate" | "outside the backlog"
    person: str | None = None  # the assignee's name (over their capacity)
    would_be: float | None = None  # effort with this task added (team or person)
    capacity: float | None = None  # the capacity that would be exceeded


def explain_left_out(
    plan: SprintPlan, inputs: PlanInputs, capacity: Capacity
) -> tuple[LeftOutRow, ...]:
    """One row per task the plan left out, with the blocker or the capacity it would break."""
    chosen = set(plan.selected)
    person_caps = {p.gid: p for p in capacity.persons}
    rows: list[LeftOutRow] = []
    for left in plan.left_out:
        candidate = inputs.candidates[left.item_id]
        task = candidate.task
        if left.reason is LeftOutReason.BLOCKED:
            link = next((d for d in task.open_dependencies if d.gid not in chosen), None)
            other = inputs.candidates.get(link.gid) if link else None
            state = (
                "outside the backlog"
                if other is None
                else "needs estimate"
                if other.effort is None
                else "not selected"
            )
            rows.append(
                LeftOutRow(
                    task.gid,
                    left.reason,
                    blocker=link.name if link else None,
                    blocker_state=state,
                )
            )
        elif left.reason is LeftOutReason.PERSON_OVER_CAPACITY and task.assignee is not None:
            cap = person_caps[task.assignee.gid]
            used = plan.effort_by_person.get(task.assignee.gid, 0.0)
            rows.append(
                LeftOutRow(
                    task.gid,
                    left.reason,
                    person=cap.name,
                    would_be=round(used + (candidate.effort or 0.0), 1),
                    capacity=cap.capacity,
                )
            )
        elif left.reason is LeftOutReason.OVER_CAPACITY:
            rows.append(
                LeftOutRow(
                    task.gid,
                    left.reason,
                    would_be=round(plan.total_effort + (candidate.effort or 0.0), 1),
                    capacity=capacity.team,
                )
            )
        else:
            rows.append(LeftOutRow(task.gid, left.reason))
    return tuple(rows)
