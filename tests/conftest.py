import pytest

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
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in SCRUB:
        monkeypatch.delenv(name, raising=False)


# Both backends (issue 11): SQLite, and a real PostgreSQL server in a schema per test.
from tests.backends import (  # noqa: E402, F401
    database_target,
    pg_url,
    postgres_schemas,
    skipped_for_postgres,
)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if skipped_for_postgres:
        from tests.backends import ENABLE_HINT

        terminalreporter.write_line(ENABLE_HINT.format(url=skipped_for_postgres[0]))
