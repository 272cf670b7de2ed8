"""The Monte Carlo delivery forecast on cases whose answer can be worked out by hand.

Calendar (2027): Mon 4 Jan starts the current sprint; two-week sprints end on Fridays 15 Jan,
29 Jan, 12 Feb, 26 Feb, 12 Mar … (their Sundays roll back to the last working day).
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from bot.domain.delivery import (
    DeliveryForecast,
    ForecastStatus,
    ForecastUnit,
    SprintThroughput,
    current_sprint_share,
    forecast_delivery,
    sprint_ends,
    windowed_history,
)

START = date(2027, 1, 4)  # a Monday
ENDS = (date(2027, 1, 15), date(2027, 1, 29), date(2027, 2, 12), date(2027, 2, 26))


def history(*completed: float, added: float | tuple[float, ...] = 0.0) -> list[SprintThroughput]:
    adds = added if isinstance(added, tuple) else (added,) * len(completed)
    return [
        SprintThroughput(f"Sprint {30 - i}", START - timedelta(days=1 + 14 * i), c, a)
        for i, (c, a) in enumerate(zip(completed, adds, strict=True))
    ]


def run(hist: list[SprintThroughput], scope: float, **kw: object) -> DeliveryForecast:
    args: dict[str, object] = {"today": START, "sprint_start": START, "sprint_days": 14}
    args.update(kw)
    return forecast_delivery(hist, scope, **args)  # type: ignore[arg-type]


def test_constant_throughput_lands_in_the_exact_sprint() -> None:
    fc = run(history(10, 10, 10), 25)
    assert fc.status is ForecastStatus.OK
    assert (fc.p50_sprint, fc.p85_sprint) == (3, 3)
    assert fc.p50_on == fc.p85_on == ENDS[2]
    assert fc.sprint_ends == ENDS[:3]
    assert fc.finished_share == 1.0


def test_scope_equal_to_a_whole_number_of_sprints_finishes_in_that_sprint() -> None:
    fc = run(history(10, 10), 30)
    assert (fc.p50_sprint, fc.p85_sprint) == (3, 3)


def test_same_inputs_and_seed_give_the_same_forecast() -> None:
    hist = history(3, 11, 0, 7, 13, 5)
    first = run(hist, 120, seed=42, scope_growth=True)
    assert run(hist, 120, seed=42, scope_growth=True) == first
    assert first.seed == 42 and first.runs == 10_000
    assert first.p50_sprint is not None and first.p85_sprint is not None


def test_percentiles_are_ordered_whatever_the_history() -> None:
    for seed in range(8):
        hist = history(*((seed * 7 + i * 5) % 17 for i in range(6)), added=(1, 0, 2, 0, 3, 1))
        fc = run(hist, 90, seed=seed, scope_growth=seed % 2 == 0)
        assert fc.p50_sprint is not None and fc.p85_sprint is not None
        assert fc.p50_sprint <= fc.p85_sprint
        assert fc.p50_on is not None and fc.p85_on is not None and fc.p50_on <= fc.p85_on


def test_zero_throughput_sprints_are_part_of_the_spread() -> None:
    # Each sprint finishes all 20 points with probability 2/3 and nothing otherwise:
    # P(done by sprint 1) = 2/3 >= 0.5; P(by 2) = 8/9 >= 0.85 > 2/3.
    fc = run(history(0, 20, 20), 20)
    assert (fc.p50_sprint, fc.p85_sprint) == (1, 2)
    assert (fc.p50_on, fc.p85_on) == (ENDS[0], ENDS[1])
    # The range a burn-up chart draws: the share of runs done by each sprint's end.
    assert len(fc.finished_by) == len(fc.sprint_ends) == 2
    assert fc.finished_by[0] == pytest.approx(2 / 3, abs=0.02)
    assert fc.finished_by[1] == pytest.approx(8 / 9, abs=0.02)


def test_work_ahead_of_the_scope_comes_first() -> None:
    hist = history(10, 10)
    assert run(hist, 15).p85_sprint == 2
    fc = run(hist, 15, ahead=10, unestimated=3)
    assert (fc.p50_sprint, fc.p85_sprint) == (3, 3)
    assert fc.ahead == 10 and fc.unestimated == 3 and fc.scope == 15


def _exact_sprint(low: int, high: int, scope: int, q: float) -> int:
    """First k with P(sum of k draws from {low, high} >= scope) >= q, by the binomial law."""
    k = 1
    while True:
        need = math.ceil((scope - low * k) / (high - low))
        p = sum(math.comb(k, j) for j in range(max(0, need), k + 1)) / 2**k
        if p >= q:
            return k
        k += 1


def test_a_long_forecast_matches_the_binomial_answer() -> None:
    # 1,000 points at 5 or 15 a sprint: about a hundred sprints, far past the skip-ahead's start.
    fc = run(history(5, 15), 1000, max_sprints=400)
    assert fc.p50_sprint == _exact_sprint(5, 15, 1000, 0.50) == 100
    assert fc.p85_sprint == _exact_sprint(5, 15, 1000, 0.85) == 106


def test_five_thousand_tasks_at_a_constant_pace() -> None:
    fc = run(history(10, 10, 10), 5000, unit=ForecastUnit.TASKS, max_sprints=1000)
    assert (fc.p50_sprint, fc.p85_sprint) == (500, 500)
    assert fc.p85_on == START + timedelta(days=14 * 500 - 3)  # the 500th sprint's Friday


def test_scope_growth_pushes_the_dates_out() -> None:
    hist = history(10, 10, 10, added=5.0)
    without = run(hist, 25)
    grown = run(hist, 25, scope_growth=True)
    assert (without.p50_sprint, without.p85_sprint) == (3, 3)
    assert (grown.p50_sprint, grown.p85_sprint) == (5, 5)  # net 5 a sprint
    assert grown.growth_per_sprint == 5.0 and without.growth_per_sprint == 0.0
    assert grown.scope_growth and not without.scope_growth


def test_growth_as_fast_as_the_team_ships_never_finishes() -> None:
    fc = run(history(5, 5, added=5.0), 10, scope_growth=True)
    assert fc.status is ForecastStatus.OK
    assert fc.p50_sprint is None and fc.p85_sprint is None and fc.p85_on is None
    assert fc.finished_share == 0.0


def test_beyond_the_horizon_is_said_not_invented() -> None:
    fc = run(history(10), 5000, max_sprints=260)
    assert fc.p50_on is None and fc.finished_share == 0.0


def test_no_history_cannot_forecast() -> None:
    fc = run([], 40)
    assert fc.status is ForecastStatus.NO_HISTORY and not fc.can_forecast
    assert fc.p50_on is None and fc.p85_on is None


def test_history_that_finished_nothing_cannot_forecast() -> None:
    fc = run(history(0, 0, 0), 40)
    assert fc.status is ForecastStatus.NO_THROUGHPUT and not fc.can_forecast


def test_scope_already_done() -> None:
    fc = run(history(10), 0)
    assert fc.status is ForecastStatus.DONE and fc.can_forecast
    assert fc.p50_on is None and fc.finished_share == 1.0


@pytest.mark.parametrize("scope", [-1.0, math.nan, math.inf])
def test_bad_scope_is_refused(scope: float) -> None:
    with pytest.raises(ValueError, match="scope must be"):
        run(history(10), scope)
    with pytest.raises(ValueError, match="ahead must be"):
        run(history(10), 5, ahead=scope)


def test_bad_history_is_refused() -> None:
    with pytest.raises(ValueError):
        SprintThroughput("Sprint 1", START, -3.0)


def test_the_current_sprint_counts_only_for_its_working_days_left() -> None:
    today = date(2027, 1, 11)  # Monday of the second week: 5 of 10 working days left
    assert current_sprint_share(today, START, sprint_days=14) == 0.5
    hist = history(10, 10)
    assert run(hist, 5, today=today).p85_sprint == 1
    assert run(hist, 6, today=today).p85_sprint == 2
    fc = run(hist, 6, today=today)
    assert fc.current_sprint_share == 0.5 and fc.p85_on == ENDS[1]


def test_a_past_sprint_start_rolls_on_to_the_sprint_today_is_in() -> None:
    fc = run(history(10), 10, today=date(2027, 1, 18), sprint_start=START)
    assert fc.p50_on == ENDS[1]  # the sprint of 18 Jan ends Fri 29 Jan


def test_without_a_sprint_start_the_first_sprint_starts_today() -> None:
    fc = run(history(10), 20, today=date(2027, 1, 6), sprint_start=None)
    assert fc.current_sprint_share == 1.0
    assert fc.p50_on == date(2027, 2, 2)  # Wed 6 Jan + 28 days - 1 = Tue 2 Feb


def test_sprint_ends_skip_weekends_and_holidays() -> None:
    assert sprint_ends(START, 2, sprint_days=14) == ENDS[:2]
    holiday = frozenset({date(2027, 1, 15)})
    assert sprint_ends(START, 1, sprint_days=14, holidays=holiday) == (date(2027, 1, 14),)
    four_day_weeks = frozenset(range(4))  # Monday to Thursday
    assert sprint_ends(START, 1, sprint_days=14, workdays=four_day_weeks) == (date(2027, 1, 14),)


def test_windowed_history_buckets_completions_by_sprint() -> None:
    done = [
        (date(2027, 1, 3), 5.0),  # the last day of the sprint just before
        (date(2026, 12, 21), 3.0),  # its first day
        (date(2026, 12, 20), 8.0),  # the sprint before that
        (date(2027, 1, 4), 13.0),  # the current sprint: not history
    ]
    added = [(date(2026, 12, 22), 2.0), (date(2026, 11, 1), 40.0)]
    hist = windowed_history(
        done, current_sprint_start=START, sprint_days=14, sprints=6, added=added, names=["S30"]
    )
    # Windows older than the first completion are not sprints the team had.
    assert [(h.name, h.completed, h.added) for h in hist] == [
        ("S30", 8.0, 2.0),
        ("sprint -2", 8.0, 0.0),
    ]
    assert hist[0].ended_on == date(2027, 1, 3) and hist[1].ended_on == date(2026, 12, 20)


def test_windowed_history_keeps_a_quiet_sprint_between_busy_ones() -> None:
    done = [(date(2027, 1, 1), 4.0), (date(2026, 12, 1), 6.0)]
    hist = windowed_history(done, current_sprint_start=START, sprint_days=14, sprints=6)
    assert [h.completed for h in hist] == [4.0, 0.0, 6.0]
    assert windowed_history([], current_sprint_start=START, sprint_days=14) == ()
