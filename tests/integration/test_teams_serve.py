"""`copilot serve` as a real process: Slack and Teams on one port, or Teams alone."""

from __future__ import annotations

import os
import socket
import subprocess
import time

from bot.demo import CHANNEL, LEAD, TEAMS_CHANNEL, TEAMS_LEAD
from bot.sandbox.cluster import free_port
from tests.clock import clocked_command


def serve(box, port: int, *, slack: bool) -> subprocess.Popen[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "ASANA_ACCESS_TOKEN": box.settings.asana_access_token.value,
        "ASANA_BASE_URL": box.asana.base_url,
        "ASANA_PROJECT": box.seed.project_gid,
        "COPILOT_PROJECTS": box.seed.project_gid,
        "COPILOT_APPROVERS": LEAD,
        "COPILOT_DB": box.settings.db_path + ".serve",
        "PORT": str(port),
        **box.teams.environ(),
    }
    if slack:
        env |= {
            "SLACK_BOT_TOKEN": box.settings.slack_bot_token.value,
            "SLACK_SIGNING_SECRET": box.settings.slack_signing_secret.value,
            "SLACK_API_URL": box.slack.api_url,
        }
    process = subprocess.Popen(
        clocked_command("serve", "--host", "127.0.0.1"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return process


def proposals(box) -> list[dict]:
    return [m for m in box.teams.messages_in(TEAMS_CHANNEL) if m.get("attachments")]


def test_slack_and_teams_are_served_on_one_port(rules_box) -> None:
    port = free_port()
    process = serve(rules_box, port, slack=True)
    try:
        base = f"http://127.0.0.1:{port}"
        slack_before = len(rules_box.channel_messages())
        result = rules_box.slack.slash_command(
            f"{base}/slack/events", "/prioritize", "", user_id=LEAD, channel_id=CHANNEL
        )
        assert result.status == 200
        answer = rules_box.teams.message(
            f"{base}/api/messages", "prioritize", user=TEAMS_LEAD, conversation=TEAMS_CHANNEL
        )
        assert answer.status == 200
        assert rules_box.slack.wait_for(
            lambda: len(rules_box.channel_messages()) > slack_before, 30
        )
        assert rules_box.teams.wait_for(lambda: bool(proposals(rules_box)), 30)
        forged = rules_box.teams.post_raw(
            f"{base}/api/messages", b"{}", {"Authorization": "Bearer x"}
        )
        assert forged.status == 401
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert "Slack at POST /slack/events, Teams at POST /api/messages" in output
    for secret in rules_box.settings.secrets():
        assert secret not in output


def test_teams_alone_needs_no_slack_settings(rules_box) -> None:
    port = free_port()
    process = serve(rules_box, port, slack=False)
    try:
        base = f"http://127.0.0.1:{port}"
        answer = rules_box.teams.message(
            f"{base}/api/messages", "prioritize", user=TEAMS_LEAD, conversation=TEAMS_CHANNEL
        )
        assert answer.status == 200
        assert rules_box.teams.wait_for(lambda: bool(proposals(rules_box)), 30)
        slack = rules_box.slack.slash_command(
            f"{base}/slack/events", "/prioritize", "", user_id=LEAD, channel_id=CHANNEL
        )
        assert slack.status == 404
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert "serving HTTP" in output and "Teams at POST /api/messages" in output
    assert "Slack at" not in output
