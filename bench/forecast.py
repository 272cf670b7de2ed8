"""Time the capacity forecast + overload scan on a large synthetic workload, and one rebalance.

    python bench/forecast.py [--tasks 10000] [--people 100] [--seed 1] [--repeat 5]

The workload is deterministic for a seed: a mix of late tasks, due-only tasks, spans across
weekends and past the horizon, tasks without a due date and unestimated tasks. Timings use
time.perf_counter (best and mean of --repeat runs); peak memory comes from a separate run under
tracemalloc, so tracing does not slow the timed runs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import tracemalloc
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.domain.forecast import (
    WorkItem,
    find_overloads,
    forecast_load,
    item_hours,
    propose_rebalance,
)

TODAY = date(2026, 3, 4)  # a Wednesday
HOLIDAYS = frozenset({date(2026, 3, 17), date(2026, 4, 3)})
SKILLS = ("python", "design", "sql", "ios", "android", "writing", "ops", "data")


def make_workload(tasks: int, people: int, seed: int) -> list[WorkItem]:
    """Build a deterministic random workload."""
    rng = random.Random(seed)
    names = [f"person-{i:03d}" for i in range(people)]
    items: list[WorkItem] = []
    for n in range(tasks):
        kind = rng.random()
        start: date | None = None
        due: date | None = None
        if kind < 0.10:  # no due date -> unscheduled
            start = TODAY + timedelta(days=rng.randint(-10, 20)) if rng.random() < 0.3 else None
        elif kind < 0.15:  # late
            due = TODAY - timedelta(days=rng.randint(1, 30))
            start = due - timedelta(days=rng.randint(0, 10)) if rng.random() < 0.5 else None
        elif kind < 0.45:  # due only
            due = TODAY + timedelta(days=rng.randint(0, 45))
        elif kind < 0.55:  # weekend-only or across a weekend
            saturday = TODAY + timedelta(days=(5 - TODAY.weekday()) + 7 * rng.randint(0, 4))
            start = saturday - timedelta(days=rng.choice([0, 1, 2]))
            due = saturday + timedelta(days=rng.choice([1, 2, 3]))
        else:  # a span, some starting in the past, some running past the horizon
            start = TODAY + timedelta(days=rng.randint(-15, 35))
            due = start + timedelta(days=rng.randint(0, 40))
        points = rng.choice([None, 0.25, 0.5, 1, 2])
        estimate = rng.choice([None, None, rng.uniform(0.5, 6)])
        if rng.random() < 0.08:  # unestimated
            points = estimate = None
        items.append(
            WorkItem(
                id=f"t{n}",
                assignee=rng.choice(names),
                hours=item_hours(points, estimate),
                start_on=start,
                due_on=due,
                label=f"Task {n}",
                skills=frozenset(rng.sample(SKILLS, rng.randint(0, 2))),
            )
        )
    return items


def run_once(items: list[WorkItem], people: list[str]) -> int:
    forecast = forecast_load(items, today=TODAY, holidays=HOLIDAYS)
    return len(find_overloads(forecast, people=people, capacity={}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--people", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    items = make_workload(args.tasks, args.people, args.seed)
    people = sorted({it.assignee for it in items})

    run_once(items, people)  # warm imports and numpy paths
    times = []
    overloads = 0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        overloads = run_once(items, people)
        times.append(time.perf_counter() - t0)

    tracemalloc.start()
    run_once(items, people)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    print(
        f"tasks={args.tasks} people={args.people} "
        f"forecast_seconds_best={min(times):.4f} mean={statistics.fmean(times):.4f} "
        f"peak_mib={peak / 2**20:.2f} overloads={overloads}"
    )

    forecast = forecast_load(items, today=TODAY, holidays=HOLIDAYS)
    found = find_overloads(forecast, people=people, capacity={})
    if not found:
        return
    worst = max(found, key=lambda o: (o.ratio, o.person))
    # Let every task move up to two weeks later, as if dependents were that far out.
    latest_due = {it.id: it.due_on + timedelta(weeks=2) for it in items if it.due_on is not None}
    for skills_required in (False, True):
        t0 = time.perf_counter()
        result = propose_rebalance(
            worst,
            forecast,
            items,
            people=people,
            capacity={},
            skills_required=skills_required,
            latest_due=latest_due,
        )
        elapsed = time.perf_counter() - t0
        print(
            f"rebalance person={worst.person} week={worst.week_start} load={worst.load:.1f} "
            f"causes={len(worst.causes)} skills_required={skills_required} "
            f"seconds={elapsed:.4f} resolved={result.resolved} moves={len(result.moves)} "
            f"note={result.note!r}"
        )


if __name__ == "__main__":
    main()
