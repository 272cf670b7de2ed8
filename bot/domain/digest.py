"""The stand-up digest's facts: what moved, what is blocked, late or at risk, who is on what.

Pure: tasks, comments and `now` in, frozen records out; no I/O, no words for a chat surface (each
surface turns these records into its messages). The rules, as the README states them:

- done: completed at or after `since` (the last digest).
- blocked: an open task with an incomplete dependency that is overdue, a "Status" field set to
  "Blocked", a tag named "blocked", or a latest comment that says it is blocked.
- overdue: open and due before today (the team's local date).
- at risk: open, neither blocked nor overdue, and either due within two working days while a
  dependency is still open, or pushed late by a dependency: a dependency's expected finish (its
  due date, or today when it is already overdue, or later when its own dependencies push it;
  followed through the chain of tasks that were read) falls after the task's due date.
- in progress: any other open task changed since `since` (the copilot's own writes excluded).
- per person: what they finished since `since`, and what is on their plate today (open, assigned
  to them, started or due by today).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.models import Person, Task

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A task changed by the copilot itself (an approved write) did not "move"; Asana stamps
# modified_at before we record the write, so a small window covers clock skew.
OWN_WRITE_TOLERANCE = timedelta(seconds=5)
SUMMARY_MAX_SENTENCES = 4
SUMMARY_MAX_CHARS = 900
MIN_NAME_TO_SPOT = 4  # shorter task names ("QA") are too common to spot in prose


# -- working days and schedules ---------------------------------------------------------------


def parse_days(spec: str) -> frozenset[int]:
    """`mon-fri`, `mon,wed,fri`, `sat-mon` → weekday numbers (Monday 0); ValueError otherwise."""
    days: set[int] = set()
    for part in spec.replace(" ", "").lower().split(","):
        if not part:
            continue
        first, sep, last = part.partition("-")
        if first not in WEEKDAYS or (sep and last not in WEEKDAYS):
            raise ValueError(f"{spec!r} is not a list of days like mon-fri or mon,wed,fri")
        start = WEEKDAYS.index(first)
        end = WEEKDAYS.index(last) if sep else start
        days.update((start + i) % 7 for i in range((end - start) % 7 + 1))
    if not days:
        raise ValueError(f"{spec!r} names no day")
    return frozenset(days)


def days_spec(days: Iterable[int]) -> str:
    """The canonical spelling APScheduler and the settings form both read: `mon,tue,wed`."""
    return ",".join(WEEKDAYS[d] for d in sorted(set(days)))


def add_working_days(day: date, n: int, workdays: frozenset[int]) -> date:
    """The date `n` working days after `day` (n=0: `day` itself)."""
    current = day
    for _ in range(n):
        current += timedelta(days=1)
        while current.weekday() not in workdays:
            current += timedelta(days=1)
    return current


def previous_working_day(day: date, workdays: frozenset[int]) -> date:
    """The last working day strictly before `day`."""
    current = day - timedelta(days=1)
    for _ in range(7):
        if current.weekday() in workdays:
            return current
        current -= timedelta(days=1)
    return day - timedelta(days=1)


def parse_clock(text: str) -> time:
    """`09:30` → time(9, 30); ValueError for anything else."""
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a time like 09:30")
    return time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class DigestSchedule:
    """When a channel gets a project's digest: local time, IANA zone, working days."""

    channel: str
    project_gid: str
    project_name: str
    at: str  # "HH:MM", local to `tz`
    tz: str
    days: str  # canonical, e.g. "mon,tue,wed,thu,fri"
    source: str = "home"  # "env" (STANDUP_* settings) or "home" (the Home tab form)
    created_at: datetime | None = None
    updated_by: str | None = None

    @property
    def id(self) -> str:
        return f"{self.channel}:{self.project_gid}"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def workdays(self) -> frozenset[int]:
        return parse_days(self.days)

    def slot_on(self, day: date) -> datetime:
        """The UTC instant of this schedule's local time on `day`.

        An ambiguous local time (the hour repeated when clocks go back) is its first occurrence;
        a time that does not exist (skipped when clocks go forward) is read with the offset before
        the change, one hour later on the wall clock, which is when APScheduler fires too.
        """
        local = datetime.combine(day, parse_clock(self.at)).replace(tzinfo=self.zone, fold=0)
        return local.astimezone(UTC)

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def latest_slot(self, now: datetime) -> datetime | None:
        """The last firing time at or before `now` (within the past week)."""
        today = self.local_day(now)
        workdays = self.workdays
        for back in range(8):
            day = today - timedelta(days=back)
            if day.weekday() in workdays:
                slot = self.slot_on(day)
                if slot <= now:
                    return slot
        return None

    def next_slot(self, now: datetime) -> datetime:
        """The first firing time strictly after `now`."""
        today = self.local_day(now)
        workdays = self.workdays
        for ahead in range(9):
            day = today + timedelta(days=ahead)
            if day.weekday() in workdays:
                slot = self.slot_on(day)
                if slot > now:
                    return slot
        raise ValueError("a schedule with working days always fires within a week")


def default_since(now: datetime, zone: ZoneInfo, workdays: frozenset[int]) -> datetime:
    """Before a first digest: the same local time on the previous working day."""
    local = now.astimezone(zone)
    day = previous_working_day(local.date(), workdays)
    return datetime.combine(day, local.time()).replace(tzinfo=zone)


# -- the facts ---------------------------------------------------------------------------------


class ReasonKind(StrEnum):
    DEPENDENCY_OVERDUE = "dependency_overdue"  # blocked: waits on an overdue open task
    STATUS_BLOCKED = "status_blocked"  # blocked: the "Status" field says Blocked
    TAGGED_BLOCKED = "tagged_blocked"  # blocked: tagged "blocked"
    COMMENT_BLOCKED = "comment_blocked"  # blocked: the latest comment says so
    OVERDUE = "overdue"
    DUE_SOON_OPEN_DEPENDENCIES = "due_soon_open_dependencies"  # at risk
    PUSHED_BY_DEPENDENCY = "pushed_by_dependency"  # at risk


@dataclass(frozen=True)
class Reason:
    kind: ReasonKind
    task_gid: str | None = None  # the other task it is about (a dependency)
    task_name: str | None = None
    on: date | None = None  # a due date, or a dependency's expected finish
    text: str | None = None  # a comment
    chain: tuple[str, ...] = ()  # names of the tasks further down a dependency chain
    count: int = 0  # e.g. how many dependencies are still open


@dataclass(frozen=True)
class Item:
    gid: str
    name: str
    permalink: str
    assignee: Person | None
    due_on: date | None
    reasons: tuple[Reason, ...] = ()


@dataclass(frozen=True)
class PersonLine:
    person: Person
    finished: tuple[Item, ...]
    today: tuple[Item, ...]


@dataclass(frozen=True)
class LatestComment:
    text: str
    created_at: datetime | None = None


@dataclass(frozen=True)
class DigestFacts:
    since: datetime
    now: datetime
    today: date
    open_count: int
    done: tuple[Item, ...]
    blocked: tuple[Item, ...]
    overdue: tuple[Item, ...]
    at_risk: tuple[Item, ...]
    in_progress: tuple[Item, ...]
    people: tuple[PersonLine, ...]

    @property
    def quiet(self) -> bool:
        """Nothing finished, moved, blocked, late or at risk."""
        return not (self.done or self.blocked or self.overdue or self.at_risk or self.in_progress)

    def items(self) -> Iterator[Item]:
        for section in (self.blocked, self.overdue, self.at_risk, self.done, self.in_progress):
            yield from section
        for line in self.people:
            yield from line.finished
            yield from line.today

    def named_tasks(self) -> dict[str, str]:
        """Every task the facts name (items and the dependencies their reasons cite): gid → name."""
        named: dict[str, str] = {}
        for item in self.items():
            named[item.gid] = item.name
            for reason in item.reasons:
                if reason.task_gid and reason.task_name:
                    named[reason.task_gid] = reason.task_name
        return named


_NEGATED = re.compile(
    r"\b(un-?blocked|no longer blocked|not blocked|isn'?t blocked|not be blocked|"
    r"no longer a blocker|not a blocker)\b",
    re.I,
)
_BLOCKED = re.compile(r"\b(blocked|blocker)\b", re.I)


def says_blocked(text: str) -> bool:
    """True when a comment says the task is blocked ("Blocked on vendor keys", "blocker: …").

    A comment that says it is no longer blocked ("unblocked", "not blocked anymore") does not.
    """
    return bool(_BLOCKED.search(text)) and not _NEGATED.search(text)


def is_overdue(task: Task, today: date) -> bool:
    return not task.completed and task.due_on is not None and task.due_on < today


def blocked_reasons(task: Task, *, today: date, comment: LatestComment | None) -> list[Reason]:
    reasons: list[Reason] = []
    for dep in task.open_dependencies:
        if dep.due_on is not None and dep.due_on < today:
            reasons.append(
                Reason(
                    ReasonKind.DEPENDENCY_OVERDUE,
                    task_gid=dep.gid,
                    task_name=dep.name,
                    on=dep.due_on,
                )
            )
    status = task.field_value("Status")
    if isinstance(status, str) and status.strip().casefold() == "blocked":
        reasons.append(Reason(ReasonKind.STATUS_BLOCKED))
    if any(tag.strip().casefold() == "blocked" for tag in task.tags):
        reasons.append(Reason(ReasonKind.TAGGED_BLOCKED))
    if comment is not None and says_blocked(comment.text):
        reasons.append(Reason(ReasonKind.COMMENT_BLOCKED, text=comment.text))
    return reasons


@dataclass(frozen=True)
class _Finish:
    on: date | None  # expected finish; None when nothing dates it
    via: tuple[str, str, date] | None = None  # (gid, name, finish) of the dependency driving it


def expected_finishes(open_tasks: Sequence[Task], today: date) -> dict[str, _Finish]:
    """Each open task's expected finish: its due date (today when overdue), pushed by dependencies.

    Follows dependency chains through the tasks that were read; a dependency outside that set
    counts with its own due date only. Cycles are cut.
    """
    by_gid = {t.gid: t for t in open_tasks}
    done: dict[str, _Finish] = {}

    def own(task_due: date | None) -> date | None:
        return None if task_due is None else max(task_due, today)

    def visit(gid: str, stack: frozenset[str]) -> _Finish:
        if gid in done:
            return done[gid]
        task = by_gid[gid]
        best = own(task.due_on)
        via: tuple[str, str, date] | None = None
        for dep in task.open_dependencies:
            if dep.gid in by_gid:
                if dep.gid in stack:
                    continue  # a cycle: Asana refuses them, but never loop
                finish = visit(dep.gid, stack | {gid}).on
            else:
                finish = own(dep.due_on)
            if finish is not None and (best is None or finish > best):
                best, via = finish, (dep.gid, dep.name, finish)
        result = _Finish(best, via)
        done[gid] = result
        return result

    for task in open_tasks:
        visit(task.gid, frozenset())
    return done


def risk_reasons(
    task: Task,
    *,
    today: date,
    workdays: frozenset[int],
    finishes: Mapping[str, _Finish],
) -> list[Reason]:
    reasons: list[Reason] = []
    if task.due_on is None:
        return reasons
    finish = finishes.get(task.gid)
    if finish is not None and finish.via is not None:
        dep_gid, dep_name, dep_finish = finish.via
        chain: list[str] = []
        seen = {task.gid, dep_gid}
        step = finishes.get(dep_gid)
        while step is not None and step.via is not None and step.via[0] not in seen:
            chain.append(step.via[1])
            seen.add(step.via[0])
            step = finishes.get(step.via[0])
        reasons.append(
            Reason(
                ReasonKind.PUSHED_BY_DEPENDENCY,
                task_gid=dep_gid,
                task_name=dep_name,
                on=dep_finish,
                chain=tuple(chain),
            )
        )
    open_deps = task.open_dependencies
    if open_deps and today <= task.due_on <= add_working_days(today, 2, workdays):
        reasons.append(
            Reason(
                ReasonKind.DUE_SOON_OPEN_DEPENDENCIES,
                task_gid=open_deps[0].gid,
                task_name=open_deps[0].name,
                on=task.due_on,
                count=len(open_deps),
            )
        )
    return reasons


def changed_since(
    task: Task, since: datetime, own_writes: Mapping[str, datetime] | None = None
) -> bool:
    """Modified at or after `since` by someone other than the copilot's own approved writes."""
    if task.modified_at is None or task.modified_at < since:
        return False
    written = (own_writes or {}).get(task.gid)
    return not (written is not None and task.modified_at <= written + OWN_WRITE_TOLERANCE)


def on_plate_today(task: Task, today: date) -> bool:
    if task.completed or task.assignee is None:
        return False
    started = task.start_on is not None and task.start_on <= today
    due = task.due_on is not None and task.due_on <= today
    return started or due


def _item(task: Task, reasons: Iterable[Reason] = ()) -> Item:
    return Item(
        gid=task.gid,
        name=task.name,
        permalink=task.permalink,
        assignee=task.assignee,
        due_on=task.due_on,
        reasons=tuple(reasons),
    )


def _by_due(task: Task) -> tuple[date, str]:
    return (task.due_on or date.max, task.name.casefold())


def build_facts(
    *,
    open_tasks: Sequence[Task],
    completed: Sequence[Task],
    comments: Mapping[str, LatestComment],
    since: datetime,
    now: datetime,
    today: date,
    workdays: frozenset[int],
    own_writes: Mapping[str, datetime] | None = None,
) -> DigestFacts:
    """Sort a project's tasks into the digest's sections (each task in one team section)."""
    if since.tzinfo is None or now.tzinfo is None:
        raise ValueError("since and now must be aware datetimes")
    open_list = [t for t in _unique(open_tasks) if not t.completed]
    finishes = expected_finishes(open_list, today)

    blocked: list[Item] = []
    overdue: list[Item] = []
    at_risk: list[Item] = []
    in_progress: list[Task] = []
    for task in sorted(open_list, key=_by_due):
        late = [Reason(ReasonKind.OVERDUE, on=task.due_on)] if is_overdue(task, today) else []
        block = blocked_reasons(task, today=today, comment=comments.get(task.gid))
        risk = risk_reasons(task, today=today, workdays=workdays, finishes=finishes)
        if block:
            blocked.append(_item(task, [*block, *late]))
        elif late:
            pushed = [r for r in risk if r.kind is ReasonKind.PUSHED_BY_DEPENDENCY]
            overdue.append(_item(task, [*late, *pushed]))
        elif risk:
            at_risk.append(_item(task, risk))
        elif changed_since(task, since, own_writes):
            in_progress.append(task)
    in_progress.sort(key=lambda t: t.modified_at or since, reverse=True)

    finished = [
        t
        for t in _unique(completed)
        if t.completed and t.completed_at is not None and since <= t.completed_at <= now
    ]
    finished.sort(key=lambda t: t.completed_at or now, reverse=True)

    people: dict[str, tuple[Person, list[Item], list[Item]]] = {}
    for task in finished:
        if task.assignee is not None:
            people.setdefault(task.assignee.gid, (task.assignee, [], []))[1].append(_item(task))
    for task in sorted(open_list, key=_by_due):
        if on_plate_today(task, today):
            assert task.assignee is not None
            people.setdefault(task.assignee.gid, (task.assignee, [], []))[2].append(_item(task))
    lines = tuple(
        PersonLine(person, tuple(done), tuple(plate))
        for person, done, plate in sorted(people.values(), key=lambda p: p[0].name.casefold())
    )

    return DigestFacts(
        since=since,
        now=now,
        today=today,
        open_count=len(open_list),
        done=tuple(_item(t) for t in finished),
        blocked=tuple(blocked),
        overdue=tuple(overdue),
        at_risk=tuple(at_risk),
        in_progress=tuple(_item(t) for t in in_progress),
        people=lines,
    )


def _unique(tasks: Iterable[Task]) -> list[Task]:
    seen: dict[str, Task] = {}
    for task in tasks:
        seen.setdefault(task.gid, task)
    return list(seen.values())


# -- what the model is given, and checking what it wrote -----------------------------------------


def facts_for_model(facts: DigestFacts, *, project: str, limit: int = 25) -> dict[str, Any]:
    """The facts as plain JSON-able data: the only thing the summary may be written from.

    Task names sit under "name"; people and dependencies under other keys, so a reader of the
    data can tell which strings are this digest's tasks.
    """

    def reason(r: Reason) -> dict[str, Any]:
        out: dict[str, Any] = {"why": r.kind.value}
        if r.task_name:
            out["task"] = r.task_name
        if r.on:
            out["date"] = r.on.isoformat()
        if r.text:
            out["comment"] = r.text[:300]
        if r.chain:
            out["chain"] = list(r.chain)
        if r.count:
            out["count"] = r.count
        return out

    def item(i: Item) -> dict[str, Any]:
        out: dict[str, Any] = {"name": i.name}
        if i.assignee:
            out["assignee"] = i.assignee.name
        if i.due_on:
            out["due"] = i.due_on.isoformat()
        if i.reasons:
            out["reasons"] = [reason(r) for r in i.reasons]
        return out

    def section(items: Sequence[Item]) -> list[dict[str, Any]]:
        return [item(i) for i in items[:limit]]

    return {
        "project": project,
        "today": facts.today.isoformat(),
        "since": facts.since.isoformat(timespec="minutes"),
        "counts": {
            "open": facts.open_count,
            "done": len(facts.done),
            "blocked": len(facts.blocked),
            "overdue": len(facts.overdue),
            "at_risk": len(facts.at_risk),
            "in_progress": len(facts.in_progress),
        },
        "done": section(facts.done),
        "blocked": section(facts.blocked),
        "overdue": section(facts.overdue),
        "at_risk": section(facts.at_risk),
        "in_progress": section(facts.in_progress),
        "people": [
            {
                "person": line.person.name,
                "finished": [i.name for i in line.finished[:limit]],
                "plate_today": [i.name for i in line.today[:limit]],
            }
            for line in facts.people[:limit]
        ],
    }


def model_named(model_facts: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """(task names, person names) that appear in the facts given to the model."""
    tasks: set[str] = set()
    people: set[str] = set()

    def walk(node: Any, key: str | None = None) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str):
            if key in ("name", "task", "chain", "finished", "plate_today"):
                tasks.add(node)
            elif key in ("person", "assignee"):
                people.add(node)

    walk(model_facts)
    return tasks, people


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[\u2018\u2019\u201c\u201d\"'`]", "", text).split())


_QUOTED = re.compile(r"[\u201c\"`]([^\u201c\u201d\"`\n]{3,200})[\u201d\"`]")
_LONG_NUMBER = re.compile(r"\b\d{10,}\b")


def summary_problems(
    summary: str,
    *,
    allowed_tasks: Iterable[str],
    people: Iterable[str],
    known_tasks: Iterable[str],
    allowed_gids: Iterable[str] = (),
) -> list[str]:
    """Why a model-written summary cannot be used (empty list: it can).

    It must be 1–4 sentences of plain prose. Every task it names must be one of the facts: a
    name of any other task we know of, a quoted phrase that is no fact's task or person, or a task
    id not in the facts each reject it.
    """
    problems: list[str] = []
    text = summary.strip()
    if not text:
        return ["the summary is empty"]
    if len(text) > SUMMARY_MAX_CHARS:
        problems.append(f"the summary is longer than {SUMMARY_MAX_CHARS} characters")
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]
    if len(sentences) > SUMMARY_MAX_SENTENCES:
        problems.append(f"the summary has {len(sentences)} sentences (at most 4)")

    allowed = {_norm(n) for n in allowed_tasks if n.strip()}
    named_people = {_norm(p) for p in people if p.strip()}
    body = _norm(text)
    # Remove what the facts name (longest first), then look for any other task we know of.
    rest = body
    for name in sorted(allowed, key=len, reverse=True):
        rest = rest.replace(name, " ")
    for name in sorted({_norm(n) for n in known_tasks}, key=len, reverse=True):
        if len(name) < MIN_NAME_TO_SPOT or name in allowed:
            continue
        if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", rest):
            problems.append(f"it names a task that is not in the facts: {name[:80]!r}")
    for quoted in _QUOTED.findall(text):
        q = _norm(quoted)
        if not any(q in n or n in q for n in allowed | named_people):
            problems.append(f"it quotes something that is not in the facts: {quoted[:80]!r}")
    gids = set(allowed_gids)
    for number in _LONG_NUMBER.findall(text):
        if number not in gids:
            problems.append(f"it cites a task id that is not in the facts: {number}")
    return problems


@dataclass(frozen=True)
class StandupDigest:
    """One digest, ready to render: the facts, the summary on top, who to @-mention."""

    project_gid: str
    project_name: str
    project_url: str
    tz: str
    facts: DigestFacts
    summary: str | None = None  # the model's, checked; None: rules-written or none
    summary_source: str | None = None  # "model", "rules" (the model's was refused) or None
    summary_note: str = ""  # why the model's summary was not used
    mentions: Mapping[str, str] = field(default_factory=dict)  # Asana user gid → Slack id
    comments_unread: int = 0  # changed tasks whose comments could not be read
    first: bool = False  # no digest of this project in this channel before
    forecast_line: str | None = None  # Fridays: the delivery forecast's line, plain text
