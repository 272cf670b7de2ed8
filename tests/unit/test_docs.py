"""Keep the README true to the code: every variable read is documented; CI runs its test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_every_environment_variable_is_documented():
    source = (ROOT / "bot" / "settings.py").read_text()
    names = set(re.findall(r'"((?:SLACK|ASANA|OPENAI|COPILOT|STANDUP)_[A-Z_]+|PORT)"', source))
    assert names, "settings.py reads variables"
    missing = sorted(n for n in names if f"`{n}`" not in README)
    assert missing == []


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    command = ci.strip().splitlines()[-1]
    assert command in README
