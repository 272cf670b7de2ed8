"""Forecast each person's weekly load from dated, estimated tasks and propose rebalancing moves.

The rule, per person per ISO week (Monday start), for the ``weeks`` weeks (default 4) starting with
the week that contains ``today`` (week 0 counts only the working days from today on):

* A task's effort is its ``estimated_hours``, else ``story_points × hours_per_point`` (default 4),
  else it has no effort and is listed in ``unestimated`` (never guessed).
* A task with a start and a due date is spread evenly over the working days (Monday to Friday,
  minus ``holidays``) from its start (or today, when it started earlier) to its due date inclusive.
* A task with only a due date counts entirely on that day (or today, if that day is past).
* A late task (due before today) counts entirely today.
* A task whose start..due window holds no working day (e.g. Saturday..Sunday) counts entirely on the
  next working day after its due date (or today, if that is past).
* A task without a due date adds its hours to ``unscheduled`` for its assignee, shown apart.
* Hours that fall beyond the last forecast week belong to no week; they are totalled per person in
  ``beyond_horizon`` so nothing disappears silently.

Callers pass only incomplete, assigned tasks. A start date after the due date is read as a
one-day window on the due date. Week capacity is a whole week's hours (not prorated for holidays
or for the part of week 0 already gone).

Overload: a person's week load above ``threshold × capacity`` (default 1.2 × 40 h); exactly at the
threshold is not an overload.

Rebalancing (``propose_rebalance``) picks, with a small MILP (scipy ``milp``/HiGHS), the FEWEST
changes that bring the overloaded week to at most ``threshold × capacity`` without pushing anyone
(teammates, or the same person in another week) above their own ``threshold × capacity`` in any
forecast week (a week already above it may not grow). A change is either reassigning one of the
causing tasks to a teammate (with ``skills_required``, the teammate must share one of the task's
skills) or moving its due date, and its start with it, later by whole weeks, only up to
``latest_due[task]`` (the earliest start/due of its dependents) and inside the forecast window; the
moved task is re-spread by the same rule. Ties on the number of changes are broken, in order, by:
landing the overloaded week as close to plain capacity as possible, fewest hours moved, reassigning
before rescheduling, the teammate left with the most spare capacity, the shortest delay. If the
solver fails, a greedy choice is made instead and ``note`` says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from bot.domain.lazy import LazyModule

if TYPE_CHECKING:
    import numpy as np
    from scipy.optimize import LinearConstraint
else:  # imported at the first forecast, not at start (memory of an idle instance)
    np = LazyModule("numpy")
    optimize = LazyModule("scipy.optimize")
    sparse = LazyModule("scipy.sparse")

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class WorkItem:
    """One incomplete, assigned task as the forecast sees it (hours None = unestimated)."""

    id: str
    assignee: str
    hours: float | None
    start_on: date | None
    due_on: date | None
    label: str = ""
    skills: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.hours is not None and not (math.isfinite(self.hours) and self.hours >= 0):
            raise ValueError(f"hours must be a finite number >= 0, got {self.hours!r}")


@dataclass(frozen=True)
class WeekLoad:
    person: str
    week_start: date
    hours: float
    contributions: tuple[tuple[str, float], ...]  # (item id, hours), largest first


@dataclass(frozen=True)
class Forecast:
    today: date
    weeks: tuple[date, ...]
    loads: Mapping[tuple[str, date], WeekLoad]
    unscheduled: Mapping[str, float]
    unestimated: Mapping[str, tuple[str, ...]]
    beyond_horizon: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    holidays: frozenset[date] = frozenset()

    def load(self, person: str, week_start: date) -> float:
        """Return the person's forecast hours in that week (0 when nothing falls there)."""
        found = self.loads.get((person, week_start))
        return found.hours if found is not None else 0.0


@dataclass(frozen=True)
class Overload:
    person: str
    week_start: date
    load: float
    capacity: float
    ratio: float
    causes: tuple[tuple[str, float], ...]  # (item id, hours in that week), largest first


@dataclass(frozen=True)
class Move:
    item_id: str
    kind: Literal["reassign", "reschedule"]
    from_person: str
    to_person: str | None
    new_due_on: date | None
    new_start_on: date | None
    hours: float  # the item's whole effort


@dataclass(frozen=True)
class Rebalance:
    overload: Overload
    moves: tuple[Move, ...]
    resolved: bool
    note: str


def item_hours(
    story_points: float | None, estimated_hours: float | None, hours_per_point: float = 4.0
) -> float | None:
    """Return a task's effort in hours: estimate, else points × hours_per_point, else None."""
    if _usable(estimated_hours):
        return float(estimated_hours)  # type: ignore[arg-type]
    if _usable(story_points):
        return float(story_points) * hours_per_point  # type: ignore[operator]
    return None


def _usable(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value >= 0


# --- spreading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Window:
    """The forecast window as day numbers (days since 1970-01-01) plus a working-day calendar."""

    today: int
    week0: int
    n_weeks: int
    calendar: np.busdaycalendar

    @classmethod
    def make(cls, today: date, n_weeks: int, holidays: frozenset[date]) -> _Window:
        if n_weeks < 1:
            raise ValueError("weeks must be >= 1")
        cal = np.busdaycalendar(
            weekmask="1111100",
            holidays=np.array(sorted(_day(h) for h in holidays), dtype="datetime64[D]"),
        )
        t = _day(today)
        return cls(today=t, week0=t - today.weekday(), n_weeks=n_weeks, calendar=cal)

    def week_starts(self) -> tuple[date, ...]:
        return tuple(_date(self.week0 + 7 * k) for k in range(self.n_weeks))

    @property
    def end(self) -> int:
        """The first day after the window."""
        return self.week0 + 7 * self.n_weeks


def _day(d: date) -> int:
    return d.toordinal() - _EPOCH_ORDINAL


def _date(day: int) -> date:
    return date.fromordinal(int(day) + _EPOCH_ORDINAL)


def _spread(
    hours: np.ndarray, start: np.ndarray, has_start: np.ndarray, due: np.ndarray, w: _Window
) -> tuple[np.ndarray, np.ndarray]:
    """Return (hours per item per week, hours per item beyond the window) by the module rule.

    All date arguments are int64 day numbers; working days are counted arithmetically per week with
    numpy's busday_count, so a long span costs the same as a short one.
    """
    n = hours.shape[0]
    out = np.zeros((n, w.n_weeks))
    if n == 0:
        return out, np.zeros(0)
    as_d = "datetime64[D]"
    late = due < w.today
    first = np.minimum(np.where(has_start, np.maximum(start, w.today), due), due)
    count = np.busday_count(first.astype(as_d), (due + 1).astype(as_d), busdaycal=w.calendar)
    next_working = np.busday_offset(
        (due + 1).astype(as_d), 0, roll="forward", busdaycal=w.calendar
    ).astype(np.int64)
    single = late | ~has_start | (count == 0)
    single_day = np.where(late, w.today, np.where(~has_start, due, next_working))

    # One-day items: the whole effort lands in the week of that day, or beyond the window.
    week_of = (single_day - w.week0) // 7
    in_window = single & (week_of < w.n_weeks)
    rows = np.flatnonzero(in_window)
    out[rows, week_of[rows]] = hours[rows]
    beyond = np.where(single & ~in_window, hours, 0.0)

    # Spread items: working days of the window that fall in each week, over all its working days.
    spread = ~single
    if spread.any():
        idx = np.flatnonzero(spread)
        s, e, h = first[idx], due[idx] + 1, hours[idx]
        total = count[idx].astype(float)
        counted = np.zeros(idx.shape[0])
        for k in range(w.n_weeks):
            lo = np.maximum(s, w.week0 + 7 * k)
            hi = np.maximum(np.minimum(e, w.week0 + 7 * k + 7), lo)
            c = np.busday_count(lo.astype(as_d), hi.astype(as_d), busdaycal=w.calendar)
            out[idx, k] = h * c / total
            counted += c
        beyond[idx] = h * (total - counted) / total
    return out, beyond


def _spread_items(items: Sequence[WorkItem], w: _Window) -> tuple[np.ndarray, np.ndarray]:
    """Spread dated, estimated items (the caller filters) into per-week hours."""
    hours = np.fromiter((it.hours for it in items), dtype=float, count=len(items))
    due = np.fromiter((_day(it.due_on) for it in items), dtype=np.int64, count=len(items))  # type: ignore[arg-type]
    has_start = np.fromiter((it.start_on is not None for it in items), dtype=bool, count=len(items))
    start = np.fromiter(
        (_day(it.start_on) if it.start_on is not None else 0 for it in items),
        dtype=np.int64,
        count=len(items),
    )
    return _spread(hours, start, has_start, due, w)


def forecast_load(
    items: Sequence[WorkItem],
    *,
    today: date,
    weeks: int = 4,
    holidays: frozenset[date] = frozenset(),
) -> Forecast:
    """Forecast each person's hours per week for ``weeks`` weeks from today's week."""
    w = _Window.make(today, weeks, holidays)
    week_starts = w.week_starts()
    unscheduled: dict[str, float] = {}
    unestimated: dict[str, list[str]] = {}
    dated: list[WorkItem] = []
    for it in items:
        if it.hours is None:
            unestimated.setdefault(it.assignee, []).append(it.id)
        elif it.due_on is None:
            unscheduled[it.assignee] = unscheduled.get(it.assignee, 0.0) + it.hours
        else:
            dated.append(it)

    per_week, beyond = _spread_items(dated, w)
    buckets: dict[tuple[str, date], list[tuple[str, float]]] = {}
    for i, k in zip(*np.nonzero(per_week), strict=True):
        it = dated[i]
        key = (it.assignee, week_starts[k])
        bucket = buckets.get(key)
        if bucket is None:
            buckets[key] = bucket = []
        bucket.append((it.id, float(per_week[i, k])))
    loads: dict[tuple[str, date], WeekLoad] = {}
    for (person, week), contributions in buckets.items():
        contributions.sort(key=lambda c: (-c[1], c[0]))
        loads[(person, week)] = WeekLoad(
            person=person,
            week_start=week,
            hours=math.fsum(h for _, h in contributions),
            contributions=tuple(contributions),
        )
    beyond_by_person: dict[str, float] = {}
    for i in np.flatnonzero(beyond > 0):
        person = dated[i].assignee
        beyond_by_person[person] = beyond_by_person.get(person, 0.0) + float(beyond[i])

    return Forecast(
        today=today,
        weeks=week_starts,
        loads=MappingProxyType(loads),
        unscheduled=MappingProxyType(unscheduled),
        unestimated=MappingProxyType({p: tuple(ids) for p, ids in unestimated.items()}),
        beyond_horizon=MappingProxyType(beyond_by_person),
        holidays=frozenset(holidays),
    )


# --- overloads --------------------------------------------------------------------------------


def find_overloads(
    forecast: Forecast,
    *,
    people: Sequence[str],
    capacity: Mapping[str, float],
    default_capacity: float = 40.0,
    threshold: float = 1.2,
) -> list[Overload]:
    """Return every week where a person's load exceeds threshold × capacity, by week then person."""
    found: list[Overload] = []
    for week in forecast.weeks:
        for person in sorted(set(people)):
            cap = capacity.get(person, default_capacity)
            week_load = forecast.loads.get((person, week))
            if week_load is None or week_load.hours <= threshold * cap:
                continue
            found.append(
                Overload(
                    person=person,
                    week_start=week,
                    load=week_load.hours,
                    capacity=cap,
                    ratio=week_load.hours / cap if cap > 0 else math.inf,
                    causes=week_load.contributions,
                )
            )
    return found


# --- rebalancing ------------------------------------------------------------------------------

_TOL = 1e-6  # hours; absorbs float noise from spreading


@dataclass(frozen=True)
class _Candidate:
    move: Move
    delta: dict[tuple[str, int], float]  # (person, week index) -> change in hours
    relief: float  # hours taken off the overloaded week
    preference: float  # 0..3, lower is better; only breaks ties between equal-hours moves


def propose_rebalance(
    overload: Overload,
    forecast: Forecast,
    items: Sequence[WorkItem],
    *,
    people: Sequence[str],
    capacity: Mapping[str, float],
    default_capacity: float = 40.0,
    threshold: float = 1.2,
    skills_required: bool = False,
    latest_due: Mapping[str, date] | None = None,
    person_skills: Mapping[str, frozenset[str]] | None = None,
    solver: Callable[..., Any] | None = None,
) -> Rebalance:
    """Propose the fewest reassignments/reschedules that clear one overloaded week.

    ``latest_due`` None disables rescheduling; an item missing from a given mapping has no
    dependents and may move freely inside the forecast window. ``person_skills`` defaults to the
    union of the skills on the items each person holds. ``solver`` is a seam for tests.
    """
    person, week = overload.person, overload.week_start
    w = _Window.make(forecast.today, len(forecast.weeks), forecast.holidays)
    if week not in forecast.weeks:
        return Rebalance(overload, (), False, f"{week} is outside the forecast window.")
    wk = forecast.weeks.index(week)

    def cap_of(p: str) -> float:
        return capacity.get(p, default_capacity)

    limit = threshold * cap_of(person)
    current = forecast.load(person, week)
    if current <= limit + _TOL:
        return Rebalance(overload, (), True, "Already within the limit; nothing to move.")

    teammates = [p for p in dict.fromkeys(people) if p != person]
    if person_skills is None:
        derived: dict[str, set[str]] = {}
        for it in items:
            derived.setdefault(it.assignee, set()).update(it.skills)
        person_skills = {p: frozenset(s) for p, s in derived.items()}

    def bound(p: str, k: int) -> float:
        # A week already above its limit may not grow; any other week may rise to its limit.
        if p == person and k == wk:
            return limit
        return max(threshold * cap_of(p), forecast.load(p, forecast.weeks[k]))

    by_id = {it.id: it for it in items}
    causes = [
        by_id[item_id]
        for item_id, _ in overload.causes
        if item_id in by_id
        and by_id[item_id].assignee == person
        and by_id[item_id].hours is not None
        and by_id[item_id].due_on is not None
    ]
    if not causes:
        return Rebalance(overload, (), False, "None of the causing tasks can be found to move.")
    now_hours, _ = _spread_items(causes, w)

    candidates: list[_Candidate] = []
    for i, it in enumerate(causes):
        row = now_hours[i]
        relief = float(row[wk])
        # (a) reassign to a teammate; skip one it would push over on its own (moves only add).
        for mate in teammates:
            if skills_required and it.skills and not (it.skills & person_skills.get(mate, set())):
                continue
            adds = {k: float(row[k]) for k in range(w.n_weeks) if row[k] > 0}
            after = {k: forecast.load(mate, forecast.weeks[k]) + h for k, h in adds.items()}
            if any(after[k] > bound(mate, k) + _TOL for k in adds):
                continue
            spare = min(cap_of(mate) - after[k] for k in adds) if adds else cap_of(mate)
            delta = {(person, k): -h for k, h in adds.items()}
            delta.update({(mate, k): h for k, h in adds.items()})
            candidates.append(
                _Candidate(
                    Move(it.id, "reassign", person, mate, None, None, float(it.hours or 0.0)),
                    delta,
                    relief,
                    preference=1.0 - _clip01(spare / cap_of(mate) if cap_of(mate) > 0 else 0.0),
                )
            )
        # (b) reschedule by whole weeks, within latest_due and the forecast window.
        if latest_due is None:
            continue
        assert it.due_on is not None
        cap_day = min(w.end - 1, _day(latest_due[it.id]) if it.id in latest_due else w.end - 1)
        for shift in range(1, w.n_weeks + 1):
            new_due = _day(it.due_on) + 7 * shift
            if new_due > cap_day:
                break
            new_start = _day(it.start_on) + 7 * shift if it.start_on is not None else None
            moved, _ = _spread(
                np.array([float(it.hours or 0.0)]),
                np.array([new_start if new_start is not None else 0], dtype=np.int64),
                np.array([new_start is not None]),
                np.array([new_due], dtype=np.int64),
                w,
            )
            diff = moved[0] - row
            if diff[wk] >= -_TOL:
                continue  # does not relieve the overloaded week
            candidates.append(
                _Candidate(
                    Move(
                        it.id,
                        "reschedule",
                        person,
                        None,
                        _date(new_due),
                        _date(new_start) if new_start is not None else None,
                        float(it.hours or 0.0),
                    ),
                    {(person, k): float(d) for k, d in enumerate(diff) if abs(d) > 1e-12},
                    -float(diff[wk]),
                    preference=2.0 + shift / (w.n_weeks + 1),
                )
            )

    base = {
        key: forecast.load(key[0], forecast.weeks[key[1]]) for c in candidates for key in c.delta
    }
    base[(person, wk)] = current
    limits = {key: bound(*key) for key in base}
    prefix = ""
    try:
        chosen = _solve(
            candidates, base, limits, (person, wk), cap_of(person), solver or optimize.milp
        )
    except _SolverFailed as failed:
        prefix = f"Solver failed ({failed}); greedy choice used. "
        chosen = _greedy(candidates, base, limits, (person, wk))

    if chosen is None:
        return Rebalance(
            overload,
            (),
            False,
            prefix + f"No reassignment or reschedule brings {person}'s week of {week} to "
            f"{limit:.1f} h or less without overloading someone else.",
        )
    after = current + sum(c.delta.get((person, wk), 0.0) for c in chosen)
    moves = tuple(c.move for c in chosen)
    return Rebalance(
        overload,
        moves,
        True,
        prefix
        + ("1 change brings " if len(moves) == 1 else f"{len(moves)} changes bring ")
        + f"{person}'s week of {week} from {current:.1f} h to {after:.1f} h "
        f"(limit {limit:.1f} h, capacity {cap_of(person):.1f} h).",
    )


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, x))


class _SolverFailed(Exception):
    pass


def _solve(
    candidates: list[_Candidate],
    base: dict[tuple[str, int], float],
    limits: dict[tuple[str, int], float],
    target: tuple[str, int],
    target_capacity: float,
    solver: Callable[..., Any],
) -> list[_Candidate] | None:
    """Solve lexicographically: fewest moves, then least excess over capacity, then least hours.

    Variables: one binary per candidate, then a continuous excess s >= 0 of the overloaded week
    over plain capacity. Rows: at most one move per item; each touched (person, week) stays within
    its limit; load(target) - s <= capacity.
    """
    n = len(candidates)
    if n == 0:
        return None
    keys = list(base)
    key_row = {key: r for r, key in enumerate(keys)}
    items = list(dict.fromkeys(c.move.item_id for c in candidates))
    item_row = {item_id: len(keys) + r for r, item_id in enumerate(items)}
    excess_row = len(keys) + len(items)
    rows, cols, vals = [], [], []
    for j, c in enumerate(candidates):
        for key, d in c.delta.items():
            rows.append(key_row[key])
            cols.append(j)
            vals.append(d)
        rows.append(item_row[c.move.item_id])
        cols.append(j)
        vals.append(1.0)
        if target in c.delta:
            rows.append(excess_row)
            cols.append(j)
            vals.append(c.delta[target])
    rows.append(excess_row)
    cols.append(n)
    vals.append(-1.0)
    a = sparse.csr_array((vals, (rows, cols)), shape=(excess_row + 1, n + 1))
    upper = np.array(
        [limits[k] - base[k] + _TOL for k in keys]
        + [1.0] * len(items)
        + [target_capacity - base[target] + _TOL]
    )
    structure = optimize.LinearConstraint(a, -np.inf, upper)
    integrality = np.array([1] * n + [0])
    bounds = optimize.Bounds(np.zeros(n + 1), np.array([1.0] * n + [np.inf]))
    options = {"mip_rel_gap": 0.0, "time_limit": 10.0}
    count_row = np.array([1.0] * n + [0.0])
    excess_only = np.array([0.0] * n + [1.0])

    def run(cost: np.ndarray, extra: list[LinearConstraint]) -> np.ndarray | None:
        try:
            res = solver(
                cost,
                integrality=integrality,
                bounds=bounds,
                constraints=[structure, *extra],
                options=options,
            )
        except Exception as exc:  # the solver is a seam; any failure means "fall back"
            raise _SolverFailed(str(exc)) from exc
        if res.status == 2:
            return None
        if res.status != 0 or res.x is None:
            raise _SolverFailed(str(getattr(res, "message", f"status {res.status}")))
        return np.asarray(res.x)

    x = run(count_row, [])
    if x is None:
        return None
    fewest = round(float(count_row @ x))
    same_count = optimize.LinearConstraint(count_row.reshape(1, -1), fewest, fewest)
    x = run(excess_only, [same_count])
    if x is None:  # cannot happen once stage one is feasible; be safe anyway
        raise _SolverFailed("second stage infeasible")
    least_excess = float(x[n])
    no_worse = optimize.LinearConstraint(excess_only.reshape(1, -1), -np.inf, least_excess + _TOL)
    # Hours dominate; the preference (<= 3) is scaled so it cannot outweigh 0.01 h.
    cost = np.array([c.move.hours + 0.003 * c.preference for c in candidates] + [0.0])
    x = run(cost, [same_count, no_worse])
    if x is None:
        raise _SolverFailed("third stage infeasible")
    return [c for j, c in enumerate(candidates) if x[j] > 0.5]


def _greedy(
    candidates: list[_Candidate],
    base: dict[tuple[str, int], float],
    limits: dict[tuple[str, int], float],
    target: tuple[str, int],
) -> list[_Candidate] | None:
    """Take the biggest relief first while everyone stays within limits; None if it falls short."""
    load = dict(base)
    used: set[str] = set()
    chosen: list[_Candidate] = []
    for c in sorted(candidates, key=lambda c: (-c.relief, c.move.hours, c.preference)):
        if load[target] <= limits[target] + _TOL:
            break
        if c.move.item_id in used:
            continue
        if any(load[k] + d > limits[k] + _TOL for k, d in c.delta.items() if d > 0):
            continue
        for k, d in c.delta.items():
            load[k] += d
        used.add(c.move.item_id)
        chosen.append(c)
    return chosen if load[target] <= limits[target] + _TOL else None
