"""`copilot serve` with COPILOT_PUBLIC_URL keeps the webhooks and takes deliveries (a process)."""

import subprocess
import time

from bot.sandbox.cluster import free_port
from tests.clock import clocked_command

from .processes import sandbox_env


def test_copilot_serve_creates_the_webhooks_answers_deliveries_and_logs_no_secret(rules_box):
    box = rules_box
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    env = sandbox_env(
        box,
        COPILOT_PROJECTS=box.seed.project_gid,
        COPILOT_DB=box.settings.db_path + ".serve",
        COPILOT_PUBLIC_URL=public,
        PORT=str(port),
    )
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
