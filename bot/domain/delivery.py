"""When will the rest land? A Monte Carlo delivery forecast over the team's past sprints.

Pure: history, scope, dates and a seed in; a frozen `DeliveryForecast` out. No I/O, no words for
Slack (bot/render/delivery.py writes them). The rule, as the README states it:

- **History**: the completed effort (story points, or a count of tasks) of each of the last N
  finished sprints, and optionally the scope added to the backlog during each of them. A sprint
  that finished nothing is kept: it happened, and it is part of the spread.
- **A run**: sprint after sprint, draw one past sprint at random (with replacement) and take its
  completed effort; with scope growth, the same past sprint's added scope grows the remaining
  work (drawn together, so a sprint that took in a lot and shipped a lot stays one sample). The
  run finishes in the first sprint where completed ≥ scope + added so far.
- **The current sprint** counts only for the share of its working days still ahead (today
  included); sprint k ≥ 2 is a whole sprint.
- **P50 / P85**: the sprint by whose end at least 50 % / 85 % of the runs had finished, dated by
  its last working day (the sprint's last calendar day, moved back over weekends and holidays).
- **Same inputs, same answer**: the runs use numpy's PCG64 seeded with `seed`.
- **Honest edges**: no finished sprint → NO_HISTORY; every sampled sprint finished nothing →
  NO_THROUGHPUT; nothing left → DONE; runs still unfinished after `max_sprints` sprints (scope
  growth as fast as the team ships) leave P50/P85 None and say how many finished.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.domain.lazy import LazyModule

if TYPE_CHECKING:
    import numpy as np
else:  # imported at the first forecast, not at start (memory of an idle instance)
    np = LazyModule("numpy")

RUNS = 10_000
HISTORY_SPRINTS = 6
MAX_SPRINTS = 260  # ten years of two-week sprints: a run that needs longer is "beyond"
P50, P85 = 0.50, 0.85
_SKIP_MIN = 4  # skipping fewer sprints than this is not worth a round
_SKIP_ROUNDS = 64
_BLOCK = 16  # sprints drawn one by one per round near the finish
WEEKDAYS_MON_FRI = frozenset(range(5))
_EPOCH = date(1970, 1, 1)


class ForecastUnit(StrEnum):
    POINTS = "points"
    TASKS = "tasks"


class ForecastStatus(StrEnum):
    OK = "ok"  # P50/P85 known (either may still be None when beyond max_sprints)
    DONE = "done"  # nothing left in scope
    NO_HISTORY = "no_history"  # no finished sprint to learn from
    NO_THROUGHPUT = "no_throughput"  # the history's sprints finished nothing


@dataclass(frozen=True)
class SprintThroughput:
    """One finished sprint as the forecast sees it (effort in the forecast's unit)."""

    name: str
    ended_on: date
    completed: float
    added: float = 0.0  # scope added to the backlog during the sprint

    def __post_init__(self) -> None:
        for label, value in (("completed", self.completed), ("added", self.added)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{label} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class DeliveryForecast:
    status: ForecastStatus
    unit: ForecastUnit
    scope: float  # remaining effort at `today`, in `unit`
    today: date
    runs: int
    seed: int
    history: tuple[SprintThroughput, ...]  # the sprints sampled, most recent first
    scope_growth: bool  # whether added scope was simulated
    growth_per_sprint: float  # mean added per history sprint (0 when growth is off)
    throughput_per_sprint: float  # mean completed per history sprint
    current_sprint_share: float  # share of the current sprint's working days still ahead
    sprint_ends: tuple[date, ...] = ()  # end date of forecast sprint 1, 2, … up to P85 (or P50)
    p50_sprint: int | None = None  # 1 = the current sprint; None = beyond max_sprints
    p85_sprint: int | None = None
    p50_on: date | None = None
    p85_on: date | None = None
    finished_share: float = 0.0  # share of runs that finished within max_sprints
    max_sprints: int = MAX_SPRINTS
    ahead: float = 0.0  # effort the team finishes first (e.g. the current sprint's open work)
    unestimated: int = 0  # scope tasks without an estimate, not counted (points only)
    # Share of runs finished by the end of forecast sprint 1, 2, … (as long as sprint_ends):
    # the forecast range a burn-up chart draws.
    finished_by: tuple[float, ...] = ()

    @property
    def can_forecast(self) -> bool:
        return self.status in (ForecastStatus.OK, ForecastStatus.DONE)


# -- the working calendar --------------------------------------------------------------------


def _busdaycalendar(workdays: frozenset[int], holidays: Iterable[date]) -> np.busdaycalendar:
    if not workdays or not workdays <= set(range(7)):
        raise ValueError("workdays must be a non-empty set of weekday numbers 0..6")
    mask = [1 if d in workdays else 0 for d in range(7)]
    days = np.array(sorted({(h - _EPOCH).days for h in holidays}), dtype="datetime64[D]")
    return np.busdaycalendar(weekmask=mask, holidays=days)


def _np_day(d: date) -> np.datetime64:
    return np.datetime64(d.isoformat(), "D")


def _py_day(d: np.datetime64) -> date:
    return _EPOCH + timedelta(days=int(d.astype("datetime64[D]").astype(np.int64)))


def sprint_ends(
    sprint_start: date,
    count: int,
    *,
    sprint_days: int,
    workdays: frozenset[int] = WEEKDAYS_MON_FRI,
    holidays: frozenset[date] = frozenset(),
) -> tuple[date, ...]:
    """The last working day of forecast sprints 1..count (1 = the one starting on sprint_start).

    A sprint's last calendar day that is no working day moves back to the one before it.
    """
    if count < 1:
        return ()
    cal = _busdaycalendar(workdays, holidays)
    lasts = _np_day(sprint_start) + np.arange(1, count + 1) * sprint_days - 1
    rolled = np.busday_offset(lasts, 0, roll="backward", busdaycal=cal)
    return tuple(_py_day(d) for d in rolled)


def current_sprint_share(
    today: date,
    sprint_start: date,
    *,
    sprint_days: int,
    workdays: frozenset[int] = WEEKDAYS_MON_FRI,
    holidays: frozenset[date] = frozenset(),
) -> float:
    """Working days of the current sprint from today on, over all its working days."""
    cal = _busdaycalendar(workdays, holidays)
    start, stop = _np_day(sprint_start), _np_day(sprint_start + timedelta(days=sprint_days))
    total = int(np.busday_count(start, stop, busdaycal=cal))
    if total == 0:
        return 0.0
    ahead = int(np.busday_count(max(start, _np_day(today)), stop, busdaycal=cal))
    return min(1.0, max(0.0, ahead / total))


# -- history from completions ------------------------------------------------------------------


def windowed_history(
    completed: Iterable[tuple[date, float]],
    *,
    current_sprint_start: date,
    sprint_days: int,
    sprints: int = HISTORY_SPRINTS,
    added: Iterable[tuple[date, float]] = (),
    names: Sequence[str] = (),
) -> tuple[SprintThroughput, ...]:
    """Bucket (day, effort) completions and additions into the `sprints` sprints before the current.

    Past sprint j (0 = the one just before the current) covers the `sprint_days` days ending the
    day before `current_sprint_start - j * sprint_days`. For a task count, pass effort 1 per task.
    `names[j]` names sprint j when given. A window before the team's first completion is not a
    sprint the team had: windows older than the oldest completion are left out.
    """
    if sprint_days < 1 or sprints < 1:
        raise ValueError("sprint_days and sprints must be >= 1")
    done = [0.0] * sprints
    grown = [0.0] * sprints
    oldest: int | None = None

    def slot(day: date) -> int | None:
        back = (current_sprint_start - day).days
        if back <= 0:
            return None
        j = (back - 1) // sprint_days
        return j if j < sprints else None

    for day, effort in completed:
        j = slot(day)
        if j is not None:
            done[j] += max(0.0, effort)
            oldest = j if oldest is None else max(oldest, j)
    for day, effort in added:
        j = slot(day)
        if j is not None:
            grown[j] += max(0.0, effort)
    if oldest is None:
        return ()
    return tuple(
        SprintThroughput(
            name=names[j] if j < len(names) else f"sprint -{j + 1}",
            ended_on=current_sprint_start - timedelta(days=j * sprint_days + 1),
            completed=done[j],
            added=grown[j],
        )
        for j in range(oldest + 1)
    )


# -- the simulation --------------------------------------------------------------------------


def simulate_finish_sprints(
    completed: np.ndarray,
    added: np.ndarray,
    scope: float,
    *,
    runs: int,
    rng: np.random.Generator,
    first_share: float = 1.0,
    max_sprints: int = MAX_SPRINTS,
) -> np.ndarray:
    """Each run's finishing sprint (1 = the current), 0 when it had not finished by max_sprints.

    Vectorised over runs. Far from the finish a run skips ahead: needing more than s sprints even
    at the best past sprint's pace, it cannot finish within the next s, and the sum of s draws is
    drawn at once as multinomial counts of each past sprint (the same distribution as s single
    draws). Near the finish, sprints are drawn one by one in blocks. So 5,000 tasks cost about as
    much as 50.
    """
    net = np.asarray(completed, dtype=float) - np.asarray(added, dtype=float)
    n = net.size
    finish = np.zeros(runs, dtype=np.int64)
    if scope <= 0:
        finish[:] = 1
        return finish
    # Sprint 1: only the share of the current sprint still ahead.
    progress = net[rng.integers(0, n, size=runs)] * first_share
    finish[progress >= scope] = 1
    elapsed = np.ones(runs, dtype=np.int64)
    active = np.flatnonzero(progress < scope) if max_sprints > 1 else np.arange(0)
    top = float(net.max())
    if top <= 0:
        return finish  # no past sprint brought the work any closer
    uniform = np.full(n, 1.0 / n)
    for _ in range(_SKIP_ROUNDS):
        if not active.size:
            break
        safe = np.ceil((scope - progress[active]) / top).astype(np.int64) - 1
        safe = np.clip(safe, 0, max_sprints - 1 - elapsed[active])
        if int(safe.max()) < _SKIP_MIN:
            break
        counts = rng.multinomial(safe, uniform)
        progress[active] += counts @ net
        elapsed[active] += safe
    while active.size:
        draws = net[rng.integers(0, n, size=(active.size, _BLOCK))]
        cum = np.cumsum(draws, axis=1)
        cum += progress[active, None]
        sprint_no = elapsed[active, None] + np.arange(1, _BLOCK + 1)
        hit = (cum >= scope) & (sprint_no <= max_sprints)
        done_now = hit.any(axis=1)
        first = hit.argmax(axis=1)
        finish[active[done_now]] = sprint_no[done_now, first[done_now]]
        progress[active] = cum[:, -1]
        elapsed[active] += _BLOCK
        active = active[~done_now & (elapsed[active] < max_sprints)]
    return finish


def _percentile_sprint(finish: np.ndarray, q: float) -> int | None:
    """The first sprint by whose end at least q of the runs finished (None: not within the cap)."""
    runs = finish.size
    ordered = np.sort(np.where(finish > 0, finish, np.iinfo(np.int64).max))
    need = math.ceil(q * runs - 1e-9)  # 0.85 × 10,000 must not round up to 8,501
    value = int(ordered[max(0, need - 1)])
    return None if value == np.iinfo(np.int64).max else value


def forecast_delivery(
    history: Sequence[SprintThroughput],
    scope: float,
    *,
    today: date,
    sprint_start: date | None,
    sprint_days: int,
    unit: ForecastUnit = ForecastUnit.POINTS,
    scope_growth: bool = False,
    workdays: frozenset[int] = WEEKDAYS_MON_FRI,
    holidays: frozenset[date] = frozenset(),
    runs: int = RUNS,
    seed: int = 0,
    max_sprints: int = MAX_SPRINTS,
    ahead: float = 0.0,
    unestimated: int = 0,
) -> DeliveryForecast:
    """P50 and P85 finish dates for `scope` remaining effort, from `history` (most recent first).

    `sprint_start` is the first day of the sprint `today` falls in; None starts the first
    forecast sprint today (a whole sprint ahead). `ahead` is work the team does before the scope
    (the current sprint's open work, when the scope is Next + Future): the scope is done when
    `ahead + scope` is. `unestimated` only travels into the result, so the message can say it.
    """
    for label, value in (("scope", scope), ("ahead", ahead)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{label} must be a finite number >= 0, got {value!r}")
    if sprint_days < 1:
        raise ValueError("sprint_days must be >= 1")
    if runs < 1 or max_sprints < 1:
        raise ValueError("runs and max_sprints must be >= 1")
    start = today if sprint_start is None else sprint_start
    if start > today:
        raise ValueError("the current sprint cannot start after today")
    while start + timedelta(days=sprint_days) <= today:  # today is past that sprint: roll on
        start += timedelta(days=sprint_days)
    share = current_sprint_share(
        today, start, sprint_days=sprint_days, workdays=workdays, holidays=holidays
    )
    used = tuple(history)
    throughput = math.fsum(h.completed for h in used) / len(used) if used else 0.0
    growth = math.fsum(h.added for h in used) / len(used) if used and scope_growth else 0.0
    base = DeliveryForecast(
        status=ForecastStatus.OK,
        unit=unit,
        scope=float(scope),
        today=today,
        runs=runs,
        seed=seed,
        history=used,
        scope_growth=scope_growth,
        growth_per_sprint=growth,
        throughput_per_sprint=throughput,
        current_sprint_share=share,
        max_sprints=max_sprints,
        ahead=float(ahead),
        unestimated=unestimated,
    )

    if scope == 0:
        return replace(base, status=ForecastStatus.DONE, finished_share=1.0)
    if not used:
        return replace(base, status=ForecastStatus.NO_HISTORY)
    if throughput == 0:
        return replace(base, status=ForecastStatus.NO_THROUGHPUT)

    completed = np.fromiter((h.completed for h in used), dtype=float, count=len(used))
    added = (
        np.fromiter((h.added for h in used), dtype=float, count=len(used))
        if scope_growth
        else np.zeros(len(used))
    )
    rng = np.random.Generator(np.random.PCG64(seed))
    finish = simulate_finish_sprints(
        completed,
        added,
        ahead + scope,
        runs=runs,
        rng=rng,
        first_share=share,
        max_sprints=max_sprints,
    )
    p50 = _percentile_sprint(finish, P50)
    p85 = _percentile_sprint(finish, P85)
    last = max((p for p in (p50, p85) if p is not None), default=0)
    ends = sprint_ends(start, last, sprint_days=sprint_days, workdays=workdays, holidays=holidays)
    return replace(
        base,
        sprint_ends=ends,
        p50_sprint=p50,
        p85_sprint=p85,
        p50_on=ends[p50 - 1] if p50 is not None else None,
        p85_on=ends[p85 - 1] if p85 is not None else None,
        finished_share=float(np.count_nonzero(finish)) / runs,
        finished_by=tuple(
            float(x)
            for x in np.cumsum(np.bincount(finish, minlength=last + 1)[1 : last + 1]) / runs
        ),
    )
