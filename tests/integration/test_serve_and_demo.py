"""`copilot serve` as a real process, `copilot demo`, transient Asana faults, and secret hygiene."""

import io
import logging
import os
import socket
import subprocess
import time

import pytest

from bot.demo import CHANNEL, LEAD, run_demo, running_sandbox
from bot.sandbox.cluster import free_port
from tests.clock import clocked_command, every_now

from .conftest import click, prioritize, proposal_id


def test_copilot_serve_answers_signed_slash_commands_over_http(rules_box):
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SLACK_BOT_TOKEN": rules_box.settings.slack_bot_token.value,
        "SLACK_SIGNING_SECRET": rules_box.settings.slack_signing_secret.value,
        "SLACK_API_URL": rules_box.slack.api_url,
        "ASANA_ACCESS_TOKEN": rules_box.settings.asana_access_token.value,
        "ASANA_BASE_URL": rules_box.asana.base_url,
        "ASANA_PROJECT": rules_box.seed.project_gid,
        "COPILOT_PROJECTS": rules_box.seed.project_gid,  # every channel may use it
        "COPILOT_APPROVERS": ",".join(sorted(rules_box.settings.approvers)),
        "COPILOT_DB": rules_box.settings.db_path + ".serve",
        "PORT": str(port),
    }
    process = subprocess.Popen(
        clocked_command("serve", "--host", "127.0.0.1"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/slack/events"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        before = len(rules_box.channel_messages())
        result = rules_box.slack.slash_command(
            url, "/prioritize", "", user_id=LEAD, channel_id=CHANNEL
        )
        assert result.status == 200 and "Scoring the backlog" in result.body
        assert rules_box.slack.wait_for(
            lambda: len(rules_box.channel_messages()) > before, timeout=30
        )
        forged = rules_box.slack.post_raw(
            url, b"command=/prioritize", {"X-Slack-Signature": "v0=00"}
        )
        assert forged.status == 401
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert "serving HTTP" in output
    for secret in rules_box.settings.secrets():
        assert secret not in output


@every_now
def test_demo_runs_the_whole_flow():
    out = io.StringIO()
    assert run_demo(tasks=15, use_model=True, out=out) == 0
    text = out.getvalue()
    assert "[Approve] [Reject]" in text
    assert "Approved" in text and "15 of 15 open tasks now carry an AI Priority Score" in text
    # Triage through the real webhook path: Asana's signed delivery, then one card (issue 13).
    assert "Asana POSTs the signed event to /asana/events/" in text
    assert text.count("Triage · 1 new task") >= 1


@pytest.mark.parametrize("fault", ["500", "503", "drop", "latency"])
def test_transient_asana_read_faults_are_retried(box, fault):
    box.asana.faults.add(fault, method="GET", times=2, delay=0.3)
    message = prioritize(box)
    assert len(box.services.store.proposal(proposal_id(message)).view["rows"]) == 60


def test_no_secret_reaches_logs_slack_or_the_audit_log(caplog):
    caplog.set_level(logging.DEBUG)
    with running_sandbox(tasks=30, lease_seconds=1.0) as box:
        box.setup_fields()
        box.openai.faults.add("500", times=1)
        message = prioritize(box)
        click(box, message, "proposal_approve")
        box.slack.slash_command(
            box.app_url, "/prioritize", "nope", user_id=LEAD, channel_id=CHANNEL
        )
        box.services.jobs.drain()
        secrets = box.settings.secrets()
        assert len(secrets) == 5  # with Teams' client secret
        everything = [caplog.text, repr(box.settings)]
        everything += [repr(call.args) for call in box.slack.calls]
        everything += [repr(call.body) for call in box.teams.calls]
        everything += [repr(post) for post in box.slack.response_posts]
        everything += [repr(row) for row in box.services.store.audit_rows()]
        with box.services.store.connect() as db:
            everything += [repr(row) for row in db.query("select * from proposals")]
        for secret in secrets:
            for blob in everything:
                assert secret not in blob


def test_home_tab_shows_schedules_and_team_capacity(box):
    user = "U0ALICE"  # a member of the stand-in's workspace
    result = box.slack.open_home(box.app_url, user_id=user)
    assert result.status == 200
    box.services.jobs.drain()
    assert box.slack.wait_for(lambda: user in box.slack.home_views, timeout=15)
    home = box.slack.render(box.slack.home_views[user])
    assert "stand-up digests" in home
    assert f"Team capacity · {box.seed.project_name}" in home
