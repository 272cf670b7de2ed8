"""An idle instance does not load the numeric and plotting stacks (issue 11: RSS ≤ 100 MiB),
and only a SQLite instance loads sqlite-utils (its SQLite library, ~24 MiB of imports).

The RSS figures themselves are measured by bench/scale.py, not asserted here."""

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("numpy", "scipy", "highspy", "matplotlib", "sqlite_utils")

# Builds and starts an idle instance (services, schema migrated, scheduler running) on the
# database in argv[1], then prints which heavy modules it has loaded.
IDLE_INSTANCE = (
    "import json, sys\n"
    "import bot.app, bot.scheduler, bot.server, bot.presenters, bot.__main__\n"
    "from bot.services import build_services\n"
    "from bot.settings import Settings\n"
    "env = {'ASANA_ACCESS_TOKEN': 'x', 'SLACK_BOT_TOKEN': 'xoxb-x', 'SLACK_SIGNING_SECRET': 's'}\n"
    "target = sys.argv[1]\n"
    "env['DATABASE_URL' if target.startswith('postgres') else 'COPILOT_DB'] = target\n"
    "services = build_services(Settings.from_env(env))\n"
    "services.start_scheduler()\n"
    f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    "services.close()\n"
)


def idle_instance_modules(target: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", IDLE_INSTANCE, target], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


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


def test_an_idle_postgresql_instance_never_imports_sqlite_utils(pg_url):
    assert idle_instance_modules(pg_url) == []


def test_an_idle_sqlite_instance_runs_on_sqlite_utils_without_solver_or_plotting(tmp_path: Path):
    loaded = idle_instance_modules(str(tmp_path / "copilot.db"))
    # sqlite-utils itself imports numpy when installed (its numpy column types); the solver and
    # plotting stacks still wait for their first use.
    assert "sqlite_utils" in loaded
    assert not {"scipy", "highspy", "matplotlib"} & set(loaded)


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
