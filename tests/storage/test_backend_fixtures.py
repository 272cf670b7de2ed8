"""Without a PostgreSQL server, CI fails the PostgreSQL half; a laptop skips it and says how."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
def test_needs_postgres(pg_url):
    assert pg_url
"""


def run_probe(
    tmp_path: Path, ci: str | None, workers: str = "1"
) -> subprocess.CompletedProcess[str]:
    """Run the probe in a pytest of its own: on one xdist worker (whose reports the controller
    summarises), or in-process with workers "0"."""
    root = Path(__file__).resolve().parents[2]
    probe = root / "tests" / "storage" / f"test_probe_{os.getpid()}_{ci}_{workers}.py"
    probe.write_text(PROBE)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "COPILOT_TEST_DATABASE_URL": "postgresql://postgres@127.0.0.1:9/none",  # nobody there
    }
    if ci is not None:
        env["CI"] = ci
    try:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", workers, str(probe)],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        probe.unlink()


def test_ci_fails_when_the_server_is_missing(tmp_path):
    result = run_probe(tmp_path, "true")
    assert result.returncode == 1, result.stdout
    # It fails in the fixture (an error, not a skip): the run is red.
    assert "1 error" in result.stdout and "1 skipped" not in result.stdout
    assert "CI=true but PostgreSQL is not reachable" in result.stdout


@pytest.mark.parametrize("workers", ["0", "1"])
def test_a_laptop_skips_with_one_line_saying_how_to_enable_it(tmp_path, workers):
    result = run_probe(tmp_path, None, workers)
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout
    hints = [line for line in result.stdout.splitlines() if "COPILOT_TEST_DATABASE_URL" in line]
    assert len(hints) == 1 and "PostgreSQL tests skipped" in hints[0]
