"""SIGKILL in the middle of an Approve: the next start finishes it, writing nothing twice."""

import os
import signal
import socket
import subprocess
import time

from bot.demo import CHANNEL, LEAD
from bot.sandbox.cluster import free_port
from bot.storage.store import Store
from tests.clock import clocked_command

from .conftest import proposal_id, put_actions


def serve(box, db_path: str, port: int) -> subprocess.Popen:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SLACK_BOT_TOKEN": box.settings.slack_bot_token.value,
        "SLACK_SIGNING_SECRET": box.settings.slack_signing_secret.value,
        "SLACK_API_URL": box.slack.api_url,
        "ASANA_ACCESS_TOKEN": box.settings.asana_access_token.value,
        "ASANA_BASE_URL": box.asana.base_url,
        "ASANA_PROJECT": box.seed.project_gid,
        "COPILOT_PROJECTS": box.seed.project_gid,  # every channel may use it
        "COPILOT_APPROVERS": ",".join(sorted(box.settings.approvers)),
        "COPILOT_DB": db_path,
        "PORT": str(port),
    }
    process = subprocess.Popen(
        clocked_command("serve", "--host", "127.0.0.1"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("copilot serve did not start")


def wait(predicate, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_sigkill_during_approve_then_restart_finishes_without_duplicates(rules_box, tmp_path):
    box = rules_box
    db_path = str(tmp_path / "crash.db")
    port = free_port()
    url = f"http://127.0.0.1:{port}/slack/events"
    first = serve(box, db_path, port)
    try:
        box.slack.slash_command(url, "/prioritize", "", user_id=LEAD, channel_id=CHANNEL)
        assert wait(lambda: len(box.channel_messages()) == 1)
        message = box.channel_messages()[0]
        pid = proposal_id(message)
        # Each batch is applied at once but answered 0.4 s later: a kill lands mid-approval.
        box.asana.faults.add("latency", method="POST", path_contains="/batch", times=-1, delay=0.4)
        box.slack.click_button(
            url,
            channel_id=CHANNEL,
            message_ts=message["ts"],
            action_id="proposal_approve",
            user_id=LEAD,
        )
        assert wait(lambda: box.asana.count("POST", "/batch") >= 3)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    box.asana.faults.clear()
    written_before_restart = len(put_actions(box))
    assert 0 < written_before_restart < 60
    store = Store(db_path)
    assert store.proposal(pid).status == "approving"

    second = serve(box, db_path, port)
    try:
        assert wait(lambda: store.proposal(pid).status == "applied", timeout=60)
        assert wait(
            lambda: (
                "Finished after a restart"
                in box.slack.render(box.slack.messages[(CHANNEL, message["ts"])])
            )
        )
    finally:
        second.terminate()
        second.wait(timeout=10)
    counts = put_actions(box)
    assert len(counts) == 60 and set(counts.values()) == {1}
    audit = store.audit_rows(pid)
    assert sum(r["action"] in ("written", "already") for r in audit) == 60
    assert any(r["action"] == "resume" for r in audit)
