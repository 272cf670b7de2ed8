"""Without a PostgreSQL server the PostgreSQL half fails, in CI and on a laptop alike (never a
skip: a skipped half proves nothing), with one line saying how to start one."""

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


@pytest.mark.parametrize("ci", ["true", None], ids=["ci", "laptop"])
@pytest.mark.parametrize("workers", ["0", "1"])
def test_a_missing_server_fails_the_run_with_one_line_saying_how_to_start_it(tmp_path, ci, workers):
    result = run_probe(tmp_path, ci, workers)
    assert result.returncode == 1, result.stdout
    # It fails in the fixture (an error, not a skip): the run is red.
    assert "1 error" in result.stdout and "skipped" not in result.stdout
    assert "PostgreSQL is not reachable at postgresql://postgres@127.0.0.1:9/none" in result.stdout
    assert "COPILOT_TEST_DATABASE_URL" in result.stdout
