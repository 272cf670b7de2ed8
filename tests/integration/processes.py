"""`copilot serve` as a real process against a sandbox: its environment, start, waits and end."""

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tests.clock import clocked_command


def sandbox_env(box, **extra: str) -> dict[str, str]:
    """The environment pointing a copilot at the sandbox's Slack and Asana, plus `extra`."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SLACK_BOT_TOKEN": box.settings.slack_bot_token.value,
        "SLACK_SIGNING_SECRET": box.settings.slack_signing_secret.value,
        "SLACK_API_URL": box.slack.api_url,
        "ASANA_ACCESS_TOKEN": box.settings.asana_access_token.value,
        "ASANA_BASE_URL": box.asana.base_url,
        "ASANA_PROJECT": box.seed.project_gid,
        **extra,
    }


def wait(predicate: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def serve(box, db_path: str, port: int) -> subprocess.Popen:
    """`copilot serve` on `port` and `db_path`, listening; every channel may use the project."""
    env = sandbox_env(
        box,
        COPILOT_PROJECTS=box.seed.project_gid,  # every channel may use it
        COPILOT_APPROVERS=",".join(sorted(box.settings.approvers)),
        COPILOT_DB=db_path,
        PORT=str(port),
    )
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


@contextmanager
def reaped(process: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """The process, killed on the way out if the block left it running (a failed assertion)."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
