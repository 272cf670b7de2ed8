"""An idle instance does not load the numeric and plotting stacks (issue 11: RSS ≤ 100 MiB)."""

import subprocess
import sys

HEAVY = ("numpy", "scipy", "highspy", "matplotlib", "sqlite_utils")


def test_serving_imports_no_solver_plotting_or_numeric_stack_until_first_use():
    code = (
        "import sys\n"
        "import bot.app, bot.scheduler, bot.server, bot.presenters, bot.services, bot.__main__\n"
        "from bot.storage.store import Store\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_planning_still_loads_the_solver_when_it_plans():
    code = (
        "import sys\n"
        "from bot.domain import planning\n"
        "assert 'highspy' not in sys.modules\n"
        "planning.highspy.Highs\n"
        "print('highspy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
