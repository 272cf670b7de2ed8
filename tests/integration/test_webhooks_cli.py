"""`copilot webhooks` by hand: the serving app (sharing the database) answers the handshake."""

import pytest

from bot.__main__ import main
from bot.demo import running_sandbox, sandbox_env
from bot.errors import ConfigError
from bot.settings import Settings


@pytest.fixture
def served(frozen_now, monkeypatch):
    with running_sandbox(tasks=20, use_model=False, env=frozen_now.env) as box:
        box.services.webhooks.public_url = box.server.base_url
        env = sandbox_env(
            box.asana,
            box.slack,
            None,
            box.seed,
            box.settings.db_path,
            box.settings.slack_signing_secret.value,
            COPILOT_PUBLIC_URL=box.server.base_url,
        )
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield box


def test_copilot_webhooks_creates_one_per_linked_project_reuses_and_deletes(served, capsys):
    box = served
    assert main(["webhooks"]) == 0
    out = capsys.readouterr().out
    assert f"project {box.seed.project_gid}: created" in out
    assert f"project {box.seed.other_project_gid}: created" in out
    assert out.count(" active -> ") == 2 and f"{box.server.base_url}/asana/events/" in out
    assert main(["webhooks"]) == 0
    assert capsys.readouterr().out.count(": kept ") == 2
    assert len(box.asana.webhooks.webhooks) == 2
    assert main(["webhooks", "--project", box.seed.project_gid, "--delete"]) == 0
    out = capsys.readouterr().out
    assert f"project {box.seed.project_gid}: deleted" in out
    assert f"project {box.seed.project_gid}: none" in out
    assert [w["resource"]["gid"] for w in box.asana.webhooks.webhooks.values()] == [
        box.seed.other_project_gid
    ]
    assert box.services.store.webhook_row(box.seed.project_gid) is None


def test_copilot_webhooks_without_a_public_url_says_what_to_set(served, monkeypatch, capsys):
    monkeypatch.delenv("COPILOT_PUBLIC_URL")
    assert main(["webhooks"]) == 2
    assert "COPILOT_PUBLIC_URL is not set" in capsys.readouterr().err
    assert served.asana.webhooks.webhooks == {}


@pytest.mark.parametrize(
    "url",
    ["http://copilot.example.com", "ftp://x", "https://x.example/?a=1", "copilot.example.com"],
)
def test_a_public_url_asana_cannot_deliver_to_is_refused(url):
    with pytest.raises(ConfigError, match="COPILOT_PUBLIC_URL"):
        Settings.from_env({"COPILOT_PUBLIC_URL": url})


def test_a_public_url_is_https_or_loopback_http():
    assert Settings.from_env({"COPILOT_PUBLIC_URL": "https://c.example/app/"}).public_url == (
        "https://c.example/app"
    )
    assert Settings.from_env({"COPILOT_PUBLIC_URL": "http://127.0.0.1:3000"}).public_url
    assert Settings.from_env({}).public_url is None
