"""The planner prints nothing: no HiGHS banner on stdout (seen in `copilot demo`, issue 9 §7)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A fresh process: HiGHS prints its banner once per process, so an earlier test could hide it.
SOLVE = """
from bot.domain.planning import PlanItem, plan_sprint
items = [PlanItem(id=str(i), value=float(i), effort=float(1 + i % 3)) for i in range(12)]
plan = plan_sprint(items, team_capacity=8)
print("selected", len(plan.selected))
"""


def test_a_planner_solve_prints_only_what_the_caller_prints():
    done = subprocess.run(
        [sys.executable, "-c", SOLVE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.startswith("selected ") and done.stdout.count("\n") == 1, done.stdout
    assert "HiGHS" not in done.stdout + done.stderr
