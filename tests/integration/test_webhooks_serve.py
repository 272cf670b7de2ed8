"""`copilot serve` with COPILOT_PUBLIC_URL keeps the webhooks and takes deliveries (a process)."""

import os
import socket
import subprocess
import time

from tests.clock import clocked_command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_copilot_serve_creates_the_webhooks_answers_deliveries_and_logs_no_secret(rules_box):
    box = rules_box
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SLACK_BOT_TOKEN": box.settings.slack_bot_token.value,
        "SLACK_SIGNING_SECRET": box.settings.slack_signing_secret.value,
        "SLACK_API_URL": box.slack.api_url,
        "ASANA_ACCESS_TOKEN": box.settings.asana_access_token.value,
        "ASANA_BASE_URL": box.asana.base_url,
        "ASANA_PROJECT": box.seed.project_gid,
        "COPILOT_PROJECTS": box.seed.project_gid,
        "COPILOT_DB": box.settings.db_path + ".serve",
        "COPILOT_PUBLIC_URL": public,
        "PORT": str(port),
    }
    process = subprocess.Popen(
        clocked_command("serve", "--host", "127.0.0.1"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    hub = box.asana.webhooks
    try:
        deadline = time.monotonic() + 30
        while not hub.webhooks and time.monotonic() < deadline:
            time.sleep(0.1)
        [webhook] = hub.webhooks.values()
        assert webhook["target"] == f"{public}/asana/events/{box.seed.project_gid}"
        someone = next(u for u in box.asana.store.users if u != box.asana.store.me)
        box.asana.store.add_task(box.seed.project_gid, "Seen by serve", by=someone)
        while not hub.deliveries and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [status for _, status, _ in hub.deliveries] == [200]
        secret = hub._loops[webhook["gid"]].secret
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert "Asana webhook of project" in output and "created" in output
    assert secret not in output
