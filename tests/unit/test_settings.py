import subprocess
import sys

import pytest

from bot.errors import ConfigError
from bot.settings import Secret, Settings

BASE = {
    "SLACK_BOT_TOKEN": "xoxb-1-abc",
    "SLACK_SIGNING_SECRET": "s3cr3t-signing",
    "ASANA_ACCESS_TOKEN": "asana-pat-123456",
}


def test_defaults_and_secrets_masked():
    settings = Settings.from_env(BASE)
    assert settings.asana_base_url == "https://app.asana.com/api/1.0"
    assert settings.db_path == "copilot.db"
    assert settings.port == 3000
    assert not settings.llm_enabled
    assert "xoxb-1-abc" not in repr(settings)
    assert "asana-pat-123456" not in repr(settings)
    assert settings.slack_bot_token == Secret("xoxb-1-abc")


@pytest.mark.parametrize(
    "env, named",
    [
        ({"SLACK_BOT_TOKEN": "xoxp-user"}, "SLACK_BOT_TOKEN"),
        ({"SLACK_APP_TOKEN": "xoxb-wrong"}, "SLACK_APP_TOKEN"),
        ({"ASANA_BASE_URL": "ftp://x"}, "ASANA_BASE_URL"),
        ({"ASANA_BASE_URL": "http://127.0.0.1:9/api/2.0"}, "ASANA_BASE_URL"),
        ({"ASANA_PROJECT": "Platform"}, "ASANA_PROJECT"),
        ({"COPILOT_APPROVERS": "U123ABC, bob"}, "COPILOT_APPROVERS"),
        ({"COPILOT_APPROVERS": "admin"}, "COPILOT_APPROVERS"),
        ({"COPILOT_PROJECTS": "1201, Legal"}, "COPILOT_PROJECTS"),
        ({"PORT": "http"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"STANDUP_TZ": "Mars/Olympus"}, "STANDUP_TZ"),
        ({"STANDUP_TIME": "9:30am"}, "STANDUP_TIME"),
        ({"OPENAI_BASE_URL": "localhost:8000"}, "OPENAI_BASE_URL"),
        ({"COPILOT_PROPOSAL_TTL_DAYS": "0"}, "COPILOT_PROPOSAL_TTL_DAYS"),
        ({"COPILOT_PROPOSAL_TTL_DAYS": "7.5"}, "COPILOT_PROPOSAL_TTL_DAYS"),
        ({"COPILOT_RETENTION_DAYS": "-1"}, "COPILOT_RETENTION_DAYS"),
        ({"COPILOT_RETENTION_DAYS": "forever"}, "COPILOT_RETENTION_DAYS"),
        ({"COPILOT_COMMAND_DEADLINE_SECONDS": "0"}, "COPILOT_COMMAND_DEADLINE_SECONDS"),
    ],
)
def test_invalid_values_name_the_variable(env, named):
    with pytest.raises(ConfigError, match=named):
        Settings.from_env({**BASE, **env})


def test_ttl_retention_and_deadline_defaults_and_values():
    settings = Settings.from_env(BASE)
    assert (settings.proposal_ttl_days, settings.retention_days) == (7, 90)
    assert settings.command_deadline_seconds == 120.0
    settings = Settings.from_env(
        {
            **BASE,
            "COPILOT_PROPOSAL_TTL_DAYS": "3",
            "COPILOT_RETENTION_DAYS": "30",
            "COPILOT_COMMAND_DEADLINE_SECONDS": "45",
        }
    )
    assert (settings.proposal_ttl_days, settings.retention_days) == (3, 30)
    assert settings.command_deadline_seconds == 45.0


def test_required_variables():
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET is not set"):
        Settings.from_env(
            {"SLACK_BOT_TOKEN": "xoxb-1"}, require=("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
        )


def test_approvers_parsed():
    settings = Settings.from_env({**BASE, "COPILOT_APPROVERS": "U012AB3CD, W0ABCDEF"})
    assert settings.approvers == frozenset({"U012AB3CD", "W0ABCDEF"})
    assert not settings.approve_admins


def test_approvers_unset_means_nobody_and_admins_is_a_word():
    assert Settings.from_env(BASE).approvers == frozenset()
    assert not Settings.from_env(BASE).approve_admins
    both = Settings.from_env({**BASE, "COPILOT_APPROVERS": "Admins, U012AB3CD"})
    assert both.approve_admins and both.approvers == frozenset({"U012AB3CD"})


def test_projects_parsed():
    settings = Settings.from_env({**BASE, "COPILOT_PROJECTS": " 1201, 1202 ,"})
    assert settings.projects == frozenset({"1201", "1202"})
    assert Settings.from_env(BASE).projects == frozenset()


def test_cli_reports_a_missing_variable_in_one_line_without_traceback(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "copilot: configuration error: no chat surface is configured: set SLACK_BOT_TOKEN and "
        "SLACK_SIGNING_SECRET for Slack, or TEAMS_CLIENT_ID, TEAMS_CLIENT_SECRET and "
        "TEAMS_TENANT_ID for Teams"
    ]
    assert "Traceback" not in result.stderr


def test_cli_reports_an_invalid_variable(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "ASANA_ACCESS_TOKEN": "x" * 10,
        "ASANA_PROJECT": "abc",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "setup"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "ASANA_PROJECT is invalid" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_database_url_selects_postgresql_and_stays_secret(scheme):
    url = f"{scheme}://copilot:hunter2-secret@db.example.com:5432/copilot"
    settings = Settings.from_env({**BASE, "DATABASE_URL": url, "COPILOT_DB": "x.db"})
    assert settings.database_target == url  # DATABASE_URL wins over COPILOT_DB
    assert "hunter2-secret" not in repr(settings)
    assert url in settings.secrets() and "hunter2-secret" in settings.secrets()


def test_without_database_url_the_store_is_the_sqlite_file():
    settings = Settings.from_env({**BASE, "COPILOT_DB": "/data/copilot.db"})
    assert settings.database_url is None and settings.database_target == "/data/copilot.db"


def test_a_database_url_that_is_not_postgresql_is_refused_without_echoing_it():
    with pytest.raises(ConfigError) as error:
        Settings.from_env({**BASE, "DATABASE_URL": "mysql://u:hunter2-secret@h/d"})
    assert "DATABASE_URL" in str(error.value) and "hunter2-secret" not in str(error.value)
