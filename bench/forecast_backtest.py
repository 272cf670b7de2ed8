"""Backtest the Monte Carlo delivery forecast, and time 10,000 runs on 5,000 tasks.

    python bench/forecast_backtest.py [--points 400] [--seed 1] [--repeat 20]

For each scenario, `--points` forecast points are made. At each one the team has N finished
sprints of history drawn from the scenario's throughput process, and a remaining scope of 1 to
8 sprints' worth of work (drawn at random). The forecast (10,000 runs, seeded) gives its P50 and
P85 sprints; the same process then plays the real future sprint by sprint until the scope is done
(with scope growth, until completed ≥ scope + added). A hit is the real finish falling in or
before the forecast's sprint (the date is that sprint's end). Goals: by P85 in 80–90 % of the
points, by P50 around half (a little over: sprints are whole, so the real finish often lands in
the P50 sprint itself).

Scenarios:
- synthetic: completed tasks per sprint ~ Poisson(10); with growth, added ~ Poisson(3).
- seed-shaped: like bot/sandbox/asana_seed.py: ten completed tasks a sprint, Story Points drawn
  uniformly from 1, 2, 3, 5, 8 (the seed's ``FIBONACCI[:5]``).
- sandbox seed: the seed's own history, read from an in-memory sandbox store (no server): its
  three finished sprints' completed points resampled as the truth, and its 30 completed tasks'
  points resampled ten a sprint. The seed's sprints are also forecast once, for the record.
- mid-sprint: the forecast made on a random working day of the current sprint, whose real
  completions are thinned to the share of its working days still ahead.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.domain.delivery import (
    ForecastUnit,
    SprintThroughput,
    forecast_delivery,
    windowed_history,
)

TODAY = date(2027, 1, 4)  # a Monday; forecasts are made on a sprint's first day
SPRINT_DAYS = 14
SEED_POINTS = (1, 2, 3, 5, 8)
SEED_TASKS_PER_SPRINT = 10

# A process draws one sprint: (completed, added) in the scenario's unit.
Process = Callable[[np.random.Generator], tuple[float, float]]


def poisson(done: float, added: float = 0.0) -> Process:
    def draw(rng: np.random.Generator) -> tuple[float, float]:
        return float(rng.poisson(done)), float(rng.poisson(added)) if added else 0.0

    return draw


def seed_shaped(rng: np.random.Generator) -> tuple[float, float]:
    return float(rng.choice(SEED_POINTS, size=SEED_TASKS_PER_SPRINT).sum()), 0.0


@dataclass(frozen=True)
class Scenario:
    name: str
    process: Process
    mean: float  # mean completed per sprint, to size the scopes
    history: int  # N sprints of history at each forecast point
    unit: ForecastUnit
    growth_in_truth: bool = False
    growth_in_forecast: bool = False
    # Forecast on a random working day of the sprint; each task completed in the real current
    # sprint falls in its part still ahead with that share (tasks finish evenly over time).
    mid_sprint: bool = False


SCENARIOS = (
    Scenario("synthetic Poisson(10) tasks, N=3", poisson(10), 10, 3, ForecastUnit.TASKS),
    Scenario("synthetic Poisson(10) tasks, N=6", poisson(10), 10, 6, ForecastUnit.TASKS),
    Scenario("synthetic Poisson(10) tasks, N=10", poisson(10), 10, 10, ForecastUnit.TASKS),
    Scenario(
        "synthetic +Poisson(3) growth, forecast with growth, N=6",
        poisson(10, 3),
        7,
        6,
        ForecastUnit.TASKS,
        growth_in_truth=True,
        growth_in_forecast=True,
    ),
    Scenario(
        "synthetic +Poisson(3) growth, forecast WITHOUT growth, N=6",
        poisson(10, 3),
        7,
        6,
        ForecastUnit.TASKS,
        growth_in_truth=True,
    ),
    Scenario(
        "synthetic Poisson(10) tasks, N=6, forecast mid-sprint",
        poisson(10),
        10,
        6,
        ForecastUnit.TASKS,
        mid_sprint=True,
    ),
    Scenario("seed-shaped points (10 tasks x 1-8), N=3", seed_shaped, 38, 3, ForecastUnit.POINTS),
    Scenario("seed-shaped points (10 tasks x 1-8), N=6", seed_shaped, 38, 6, ForecastUnit.POINTS),
)


@dataclass(frozen=True)
class Outcome:
    by_p50: float
    by_p85: float
    before_p50: float  # strictly before the P50 sprint
    spread: float  # mean P85 - P50, sprints
    seconds: float  # mean time of one forecast


def backtest(scenario: Scenario, points: int, seed: int) -> Outcome:
    rng = np.random.default_rng(seed)
    by50 = by85 = before50 = 0
    spreads: list[int] = []
    elapsed = 0.0
    for i in range(points):
        hist = [scenario.process(rng) for _ in range(scenario.history)]
        history = [
            SprintThroughput(f"s{j}", TODAY - timedelta(days=1 + SPRINT_DAYS * j), c, a)
            for j, (c, a) in enumerate(hist)
        ]
        scope = float(round(rng.uniform(1, 8) * scenario.mean))
        today = TODAY
        if scenario.mid_sprint:
            offset = int(rng.integers(0, 10))
            today = TODAY + timedelta(days=offset + 2 * (offset // 5))  # skip the weekend
        t0 = time.perf_counter()
        fc = forecast_delivery(
            history,
            scope,
            today=today,
            sprint_start=TODAY,
            sprint_days=SPRINT_DAYS,
            unit=scenario.unit,
            scope_growth=scenario.growth_in_forecast,
            seed=i,
            max_sprints=400,
        )
        elapsed += time.perf_counter() - t0
        # The real future, sprint by sprint.
        done = grown = 0.0
        real = 0
        while done < scope + grown and real < 10_000:
            c, a = scenario.process(rng)
            if real == 0 and scenario.mid_sprint:
                c = float(rng.binomial(int(c), fc.current_sprint_share))
            done += c
            grown += a if scenario.growth_in_truth else 0.0
            real += 1
        if fc.p50_sprint is None or fc.p85_sprint is None:
            continue  # counted as a miss: the forecast gave no date
        by50 += real <= fc.p50_sprint
        by85 += real <= fc.p85_sprint
        before50 += real < fc.p50_sprint
        spreads.append(fc.p85_sprint - fc.p50_sprint)
    return Outcome(
        by_p50=by50 / points,
        by_p85=by85 / points,
        before_p50=before50 / points,
        spread=statistics.fmean(spreads) if spreads else float("nan"),
        seconds=elapsed / points,
    )


def seed_points() -> list[float]:
    """Story Points of every completed task of the sandbox seed (its Sprint 21–23)."""
    from bot.sandbox.asana_seed import seed_team
    from bot.sandbox.asana_server import AsanaStore

    store = AsanaStore(now=lambda: datetime.combine(TODAY, clock(9, 30), tzinfo=UTC))
    info = seed_team(store, today=TODAY)
    points_field = info.field_gids["Story Points"]
    return [
        float(task["custom_values"].get(points_field) or 0)
        for task in store.tasks.values()
        if task.get("completed")
    ]


def seed_scenarios(history: tuple[SprintThroughput, ...], points: list[float]) -> list[Scenario]:
    """Backtests on the sandbox seed's own history: its sprints, or its tasks, resampled."""
    sprints = [h.completed for h in history]
    per_sprint = round(len(points) / max(1, len(history)))

    def seed_sprints(rng: np.random.Generator) -> tuple[float, float]:
        return float(rng.choice(sprints)), 0.0

    def seed_tasks(rng: np.random.Generator) -> tuple[float, float]:
        return float(rng.choice(points, size=per_sprint).sum()), 0.0

    mean = statistics.fmean(sprints)
    return [
        Scenario(
            f"sandbox seed: its {len(sprints)} sprints ({', '.join(f'{c:g}' for c in sprints)} "
            "pts) resampled, N=3",
            seed_sprints,
            mean,
            3,
            ForecastUnit.POINTS,
        ),
        Scenario(
            f"sandbox seed: its {len(points)} completed tasks' points, {per_sprint} a sprint, N=3",
            seed_tasks,
            mean,
            3,
            ForecastUnit.POINTS,
        ),
    ]


def seed_history() -> tuple[SprintThroughput, ...]:
    """The sandbox seed's finished sprints (Story Points by completion date), read in memory."""
    from bot.sandbox.asana_seed import seed_team
    from bot.sandbox.asana_server import AsanaStore

    store = AsanaStore(now=lambda: datetime.combine(TODAY, clock(9, 30), tzinfo=UTC))
    info = seed_team(store, today=TODAY)
    points_field = info.field_gids["Story Points"]
    done: list[tuple[date, float]] = []
    for task in store.tasks.values():
        if task.get("completed") and task.get("completed_at"):
            finished = task["completed_at"]
            if isinstance(finished, str):
                finished = datetime.fromisoformat(finished.replace("Z", "+00:00"))
            done.append((finished.date(), float(task["custom_values"].get(points_field) or 0)))
    return windowed_history(
        done,
        current_sprint_start=TODAY,
        sprint_days=SPRINT_DAYS,
        sprints=6,
        names=["Sprint 23", "Sprint 22", "Sprint 21"],
    )


def _time_once(
    hist: list[SprintThroughput], scope: float, unit: ForecastUnit, growth: bool
) -> float:
    t0 = time.perf_counter()
    fc = forecast_delivery(
        hist,
        scope,
        today=TODAY,
        sprint_start=TODAY,
        sprint_days=SPRINT_DAYS,
        unit=unit,
        scope_growth=growth,
        max_sprints=2000,
    )
    elapsed = time.perf_counter() - t0
    assert fc.runs == 10_000 and fc.finished_share == 1.0
    return elapsed


def timing(repeat: int) -> list[tuple[str, float, float]]:
    """Best and median seconds of one 10,000-run forecast of 5,000 tasks."""
    rng = np.random.default_rng(7)
    rows = []
    cases = (
        ("5,000 tasks as a task count (~10/sprint)", ForecastUnit.TASKS, 5000.0, False),
        ("5,000 tasks as a task count, with growth", ForecastUnit.TASKS, 5000.0, True),
        ("5,000 tasks as points (~19,000 pts, ~38/sprint)", ForecastUnit.POINTS, None, False),
    )
    for label, unit, scope, growth in cases:
        if unit is ForecastUnit.TASKS:
            hist = [
                SprintThroughput(f"s{j}", TODAY, float(rng.poisson(10)), float(rng.poisson(2)))
                for j in range(6)
            ]
        else:
            hist = [SprintThroughput(f"s{j}", TODAY, seed_shaped(rng)[0]) for j in range(6)]
            scope = float(rng.choice(SEED_POINTS, size=5000).sum())
        assert scope is not None

        _time_once(hist, scope, unit, growth)  # warm numpy paths
        times = [_time_once(hist, scope, unit, growth) for _ in range(repeat)]
        rows.append((label, min(times), statistics.median(times)))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)

    print(
        f"Backtest: {args.points} forecast points per scenario, 10,000 runs each, seed {args.seed}"
    )
    print()
    history = seed_history()
    print("| scenario | by P50 | before P50 | by P85 | P85-P50 (sprints) | ms/forecast |")
    print("|---|---|---|---|---|---|")
    for n, scenario in enumerate([*SCENARIOS, *seed_scenarios(history, seed_points())]):
        out = backtest(scenario, args.points, args.seed * 1000 + n)
        print(
            f"| {scenario.name} | {out.by_p50:.0%} | {out.before_p50:.0%} | {out.by_p85:.0%} "
            f"| {out.spread:.2f} | {out.seconds * 1000:.1f} |"
        )
    print()

    sprints = ", ".join(f"{h.name} {h.completed:g}" for h in history)
    fc = forecast_delivery(history, 120.0, today=TODAY, sprint_start=TODAY, sprint_days=SPRINT_DAYS)
    print(f"Sandbox seed history (Story Points completed): {sprints}")
    print(
        f"  120 points left from Mon {TODAY:%d %b %Y}: P50 sprint {fc.p50_sprint} "
        f"({fc.p50_on}), P85 sprint {fc.p85_sprint} ({fc.p85_on})"
    )
    print()
    print("| timing: 10,000 runs | best ms | median ms |")
    print("|---|---|---|")
    for label, best, median in timing(args.repeat):
        print(f"| {label} | {best * 1000:.1f} | {median * 1000:.1f} |")


if __name__ == "__main__":
    main()
