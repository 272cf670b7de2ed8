import os
from collections.abc import Iterator

import pytest
import time_machine

from tests.clock import DEFAULT_NOW, FrozenNow

# Tests never read the real environment: no proxy, token or endpoint leaks in from the shell.
SCRUB = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ASANA_ACCESS_TOKEN",
    "ASANA_BASE_URL",
    "ASANA_PROJECT",
    "COPILOT_DB",
    "DATABASE_URL",
    "COPILOT_APPROVERS",
    "TEAMS_CLIENT_ID",
    "TEAMS_CLIENT_SECRET",
    "TEAMS_TENANT_ID",
    "TEAMS_APPROVERS",
    "TEAMS_OPENID_METADATA_URL",
    "TEAMS_TOKEN_URL",
    # What the Teams SDK reads from the environment on its own.
    "CLIENT_ID",
    "CLIENT_SECRET",
    "TENANT_ID",
    "CLOUD",
    "SERVICE_URL",
    "DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in SCRUB:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def frozen_now(request: pytest.FixtureRequest) -> Iterator[FrozenNow]:
    """No test reads today's real date: the clock starts at a fixed instant and ticks on.

    time-machine patches the wall clock process-wide (datetime.now, date.today, time.time,
    time.gmtime/localtime/strftime, CLOCK_REALTIME), so the app, the sandbox servers on their
    threads and Slack's request signatures all read one moving clock. It leaves time.monotonic,
    time.perf_counter, sleeps and socket timeouts real, so waits still wait. `tests.clock.every_now`
    parametrizes this fixture to run a test at each of the frozen nows.
    """
    now: FrozenNow = getattr(request, "param", DEFAULT_NOW)
    with time_machine.travel(now.instant, tick=True):
        yield now


# Both backends (issue 11): SQLite, and a real PostgreSQL server in a schema per test.
from tests.backends import database_target, pg_url, postgres_schemas  # noqa: E402, F401


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pyproject addopts): two workers per CPU, at most eight.

    Most of a test's time is spent waiting (on the sandbox servers, child processes, PostgreSQL,
    leases), so a worker per CPU leaves them idle. PYTEST_XDIST_AUTO_NUM_WORKERS still overrides.
    """
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(2 * (cpus or 1), 8)
