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
    "COPILOT_APPROVERS",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in SCRUB:
        monkeypatch.delenv(name, raising=False)
