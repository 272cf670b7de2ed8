"""Score the sprint planner on the Next Release Problem benchmark (value / known optimum).

Usage: python bench/nrp.py [DIR] [--json] [--ratios 0.3,0.5,0.7] [--time-limit 9.5]

Every file in DIR that parses as an NRP instance is run (classic nrp1..5, the realistic
nrp-e*/nrp-g*/nrp-m*, or any other name); the others (README, optima.csv, format notes) are
listed as skipped, with the reason.

NRP requirements become plan items (value 0, effort = cost, depends_on = prerequisites) and
customers become all-or-nothing groups (value = profit, items = requested requirements); the
planner enforces prerequisites, so a customer's requests bring their transitive prerequisites
along, which is the problem's own semantics. The budget is floor(ratio x total cost), computed
exactly, as the data's README takes for its primary optimum column.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.domain.planning import PlanGroup, PlanItem, SprintPlan, greedy_plan, plan_sprint

DEFAULT_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "benchmarks" / "nrp"
ORDER = ["nrp1", "nrp2", "nrp3", "nrp4", "nrp5"] + [
    f"nrp-{s}{k}" for s in "egm" for k in range(1, 5)
]


@dataclass(frozen=True)
class Instance:
    name: str
    costs: tuple[int, ...]
    prerequisites: dict[int, set[int]]  # requirement -> its direct prerequisites (1-based)
    customers: tuple[tuple[int, tuple[int, ...]], ...]  # (profit, requested requirements)

    @property
    def total_cost(self) -> int:
        return sum(self.costs)

    def items(self) -> list[PlanItem]:
        return [
            PlanItem(
                id=str(r),
                value=0.0,
                effort=float(c),
                depends_on=tuple(str(a) for a in sorted(self.prerequisites.get(r, ()))),
            )
            for r, c in enumerate(self.costs, start=1)
        ]

    def groups(self) -> list[PlanGroup]:
        return [
            PlanGroup(id=f"c{j}", value=float(w), item_ids=tuple(str(r) for r in reqs))
            for j, (w, reqs) in enumerate(self.customers, start=1)
        ]


def read_instance(path: Path) -> Instance:
    """Parse one NRP file: a whitespace-separated stream of integers; ValueError if it is not."""
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        raise ValueError("not an instance: the file is not plain ASCII text") from None
    words = text.split()
    for word in words:
        if not word.isdigit():
            shown = word if len(word) <= 20 else word[:19] + "…"
            raise ValueError(f"not an instance: {shown!r} is not a non-negative integer")
    tokens = iter(int(w) for w in words)

    def take() -> int:
        value = next(tokens, None)
        if value is None:
            raise ValueError("the file ends in the middle of an instance")
        return value

    costs: list[int] = []
    for _ in range(take()):
        costs += [take() for _ in range(take())]
    if not costs:
        raise ValueError("no requirements")
    if any(c <= 0 for c in costs):
        raise ValueError("a requirement has a cost of 0")
    m = len(costs)
    prerequisites: dict[int, set[int]] = {}
    for _ in range(take()):
        a, b = take(), take()
        if not (1 <= a <= m and 1 <= b <= m):
            raise ValueError(f"dependency {a} {b} names a requirement outside 1..{m}")
        prerequisites.setdefault(b, set()).add(a)
    customers = []
    for _ in range(take()):
        profit, count = take(), take()
        requested = tuple(take() for _ in range(count))
        if any(not 1 <= r <= m for r in requested):
            raise ValueError(f"customer {len(customers) + 1} requests a requirement outside 1..{m}")
        customers.append((profit, requested))
    if not customers:
        raise ValueError("no customers")
    if next(tokens, None) is not None:
        raise ValueError("trailing data after the last customer")
    return Instance(path.stem, tuple(costs), prerequisites, tuple(customers))


def discover(directory: Path) -> tuple[list[Instance], list[tuple[str, str]]]:
    """Every instance file in `directory` (any name), and the files skipped with the reason."""
    instances: list[Instance] = []
    skipped: list[tuple[str, str]] = []
    for path in sorted(p for p in directory.iterdir() if p.is_file()):
        try:
            instances.append(read_instance(path))
        except ValueError as exc:
            skipped.append((path.name, str(exc)))
    instances.sort(key=lambda i: (ORDER.index(i.name) if i.name in ORDER else len(ORDER), i.name))
    return instances, skipped


def budget_for(total_cost: int, ratio: str) -> int:
    """Floor of ratio x total cost, exactly (0.7 x 10700 is 7489.999... in floats)."""
    return math.floor(Fraction(ratio) * total_cost)


def read_optima(directory: Path) -> dict[tuple[str, str], tuple[int, int]]:
    path = directory / "optima.csv"
    if not path.exists():
        return {}
    with path.open(newline="") as f:
        return {
            (row["instance"], str(Fraction(row["cost_ratio"]))): (
                int(row["budget_floor"]),
                int(row["optimum_floor"]),
            )
            for row in csv.DictReader(f)
        }


def line(
    inst: str, ratio: str, budget: int, method: str, plan: SprintPlan, opt: int | None
) -> dict[str, object]:
    return {
        "instance": inst,
        "ratio": float(ratio),
        "budget": budget,
        "method": method,
        "value": plan.total_value,
        "optimum": opt,
        "seconds": round(plan.seconds, 3),
        "proven_optimal": plan.optimal,
        "solver": plan.method,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--ratios", default="0.3,0.5,0.7")
    # 9.5 s of solving leaves room for model building and checks inside the 10 s goal.
    parser.add_argument("--time-limit", type=float, default=9.5)
    parser.add_argument("--only", default="", help="comma-separated instance names")
    args = parser.parse_args(argv)
    directory: Path = args.dir.resolve()
    ratios = [r.strip() for r in args.ratios.split(",") if r.strip()]
    optima = read_optima(directory)
    instances, skipped = discover(directory)
    if args.only:
        instances = [i for i in instances if i.name in args.only.split(",")]
    for name, reason in skipped:
        if args.json:
            print(json.dumps({"skipped": name, "reason": reason}), flush=True)
        else:
            print(f"skipped {name}: {reason}", flush=True)
    if not args.json:
        print(f"{len(instances)} instance file(s) read from {directory}")
        print(
            f"{'instance':<8} {'ratio':>5} {'budget':>6} {'method':<7} {'value':>7} "
            f"{'optimum':>7} {'v/opt':>7} {'seconds':>7}  planner"
        )
    worst = math.inf
    for inst in instances:
        name = inst.name
        items, groups = inst.items(), inst.groups()
        for ratio in ratios:
            budget = budget_for(inst.total_cost, ratio)
            known = optima.get((name, str(Fraction(ratio))))
            if known is not None and known[0] != budget:
                print(f"warning: {name} @ {ratio}: budget {budget} != {known[0]}", file=sys.stderr)
            opt = known[1] if known is not None and known[0] == budget else None
            plan = plan_sprint(
                items, team_capacity=budget, groups=groups, time_limit_s=args.time_limit
            )
            base = greedy_plan(items, team_capacity=budget, groups=groups)
            for method, result in (("planner", plan), ("greedy", base)):
                row = line(name, ratio, budget, method, result, opt)
                if method == "planner" and opt:
                    worst = min(worst, result.total_value / opt)
                if args.json:
                    print(json.dumps(row), flush=True)
                    continue
                frac = f"{result.total_value / opt:.4f}" if opt else "-"
                how = f"{result.method}{' proven' if result.optimal else ''}"
                if result.note:
                    how += f" ({result.note})"
                print(
                    f"{name:<8} {ratio:>5} {budget:>6} {method:<7} {result.total_value:>7g} "
                    f"{opt if opt is not None else '-':>7} {frac:>7} {result.seconds:>7.2f}  "
                    f"{how if method == 'planner' else ''}",
                    flush=True,
                )
    if not args.json and worst < math.inf:
        print(f"worst planner value/optimum: {worst:.5f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
