"""Several `copilot serve` processes on one database, against the stand-ins of this process.

For the multi-process tests and bench/scale.py (issue 11): the Asana sandbox, the Slack stand-in
and (optionally) the model stand-in run here, on loopback; each instance is a real
`python -m bot serve --http` child process with its own port, all sharing DATABASE_URL (or, for
one instance, a SQLite file). Requests go to an instance by index, or round-robin.
"""

from __future__ import annotations

import itertools
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bot.demo import SANDBOX_USERS
from bot.gateways.asana import AsanaGateway
from bot.sandbox.asana_seed import SeedInfo, seed_team
from bot.sandbox.asana_server import AsanaSandbox, AsanaStore
from bot.sandbox.openai_standin import OpenAIStandIn
from bot.sandbox.slack_standin import HttpResult, SlackStandIn
from bot.settings import Secret

REPO = Path(__file__).resolve().parents[2]
LEAD = "U0LEAD"
CHANNEL = "C0TEAM"


def free_port() -> int:
    """A loopback port free now, for a child process to bind in a moment.

    Drawn at random below the kernel's ephemeral range, so no port the kernel hands out meanwhile
    (a bind to port 0 by another sandbox, an outgoing connection's own port) can take it before
    the child binds it; processes drawing at once (parallel test workers) rarely meet.
    """
    low = _ephemeral_low()
    for _ in range(200):
        port = random.randrange(10_000, low) if low > 11_000 else 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise OSError("no free loopback port")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; elsewhere (macOS: 49152) below it is safe too


@dataclass
class Instance:
    index: int
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Cluster:
    asana: AsanaSandbox
    slack: SlackStandIn
    openai: OpenAIStandIn | None
    seed: SeedInfo
    env: dict[str, str]
    instances: list[Instance]
    workdir: Path
    argv: Callable[..., list[str]] = field(
        default=lambda *args: [sys.executable, "-m", "bot", *args]
    )
    _turn: Iterator[int] = field(default_factory=lambda: itertools.count())

    # -- processes -------------------------------------------------------------------------

    def start(self, index: int, *, wait: bool = True) -> Instance:
        instance = self.instances[index]
        if instance.alive():
            return instance
        instance._log = instance.log_path.open("ab")
        instance.process = subprocess.Popen(
            self.argv("serve", "--http", "--host", "127.0.0.1"),
            env={**self.env, "PORT": str(instance.port)},
            cwd=REPO,
            stdout=instance._log,
            stderr=subprocess.STDOUT,
        )
        if wait:
            self.wait_ready(index)
        return instance

    def start_all(self) -> None:
        for i in range(len(self.instances)):
            self.start(i, wait=False)
        for i in range(len(self.instances)):
            self.wait_ready(i)

    def wait_ready(self, index: int, timeout: float = 60.0) -> None:
        instance = self.instances[index]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not instance.alive():
                raise RuntimeError(f"instance {index} exited:\n{instance.output()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", instance.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"instance {index} did not listen within {timeout} s")

    def kill(self, index: int) -> None:
        """SIGKILL: the process dies at once, whatever it was doing."""
        instance = self.instances[index]
        if instance.process is not None and instance.alive():
            instance.process.send_signal(signal.SIGKILL)
            instance.process.wait(timeout=10)
        self._close_log(instance)

    def stop(self, index: int) -> None:
        instance = self.instances[index]
        if instance.process is not None and instance.alive():
            instance.process.terminate()
            try:
                instance.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                instance.process.kill()
                instance.process.wait(timeout=5)
        self._close_log(instance)

    def stop_all(self) -> None:
        for i in range(len(self.instances)):
            self.stop(i)

    def restart_all(self) -> None:
        self.stop_all()
        self.start_all()

    def _close_log(self, instance: Instance) -> None:
        if instance._log is not None:
            instance._log.close()
            instance._log = None

    # -- Slack traffic ---------------------------------------------------------------------

    def next_index(self) -> int:
        """Round-robin over the instances that are running."""
        for _ in range(len(self.instances) * 2):
            i = next(self._turn) % len(self.instances)
            if self.instances[i].alive():
                return i
        raise RuntimeError("no instance is running")

    def command(
        self,
        index: int | None,
        name: str,
        text: str = "",
        *,
        user: str = LEAD,
        channel: str = CHANNEL,
    ) -> HttpResult:
        i = self.next_index() if index is None else index
        return self.slack.slash_command(
            self.instances[i].url, name, text, user_id=user, channel_id=channel
        )

    def click(
        self,
        index: int | None,
        message_ts: str,
        action_id: str,
        *,
        user: str = LEAD,
        channel: str = CHANNEL,
        as_seen: Mapping[str, Any] | None = None,
    ) -> HttpResult:
        i = self.next_index() if index is None else index
        return self.slack.click_button(
            self.instances[i].url,
            channel_id=channel,
            message_ts=message_ts,
            action_id=action_id,
            user_id=user,
            as_seen=as_seen,
        )

    def channel_messages(self, channel: str = CHANNEL) -> list[dict[str, Any]]:
        return self.slack.channel_messages(channel)

    def outputs(self) -> str:
        return "\n".join(f"--- instance {i.index}\n{i.output()}" for i in self.instances)


@contextmanager
def running_cluster(
    *,
    database: str,
    instances: int = 3,
    tasks: int = 60,
    use_model: bool = False,
    env: Mapping[str, str] | None = None,
    start: bool = True,
    argv: Callable[..., list[str]] | None = None,
    today: datetime | None = None,
) -> Iterator[Cluster]:
    """Stand-ins here, `instances` serve processes sharing `database` (URL or SQLite path).

    `argv` builds a child's command line from `copilot`'s arguments (tests move its clock).
    """
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="copilot-cl-")))
        signing_secret = secrets.token_hex(16)
        store = AsanaStore()
        seed = seed_team(store, tasks=tasks, today=(today or datetime.now(UTC)).date())
        asana = stack.enter_context(AsanaSandbox(store))
        slack = stack.enter_context(
            SlackStandIn(signing_secret=signing_secret, users=SANDBOX_USERS)
        )
        openai = stack.enter_context(OpenAIStandIn()) if use_model else None
        gateway = AsanaGateway(base_url=asana.base_url, token=Secret(asana.token))
        try:
            gateway.ensure_output_fields(gateway.project(seed.project_gid))
        finally:
            gateway.close()
        base_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": signing_secret,
            "SLACK_API_URL": slack.api_url,
            "ASANA_ACCESS_TOKEN": asana.token,
            "ASANA_BASE_URL": asana.base_url,
            "ASANA_PROJECT": seed.project_gid,
            # As the demo sets up: the lead approves; the team's channel may use both projects.
            "COPILOT_APPROVERS": LEAD,
            "COPILOT_PROJECTS": f"{seed.project_gid},{seed.other_project_gid}",
        }
        if database.startswith(("postgres://", "postgresql://")):
            base_env["DATABASE_URL"] = database
        else:
            base_env["COPILOT_DB"] = database
        if openai is not None:
            base_env.update(
                OPENAI_API_KEY=openai.api_key,
                OPENAI_BASE_URL=openai.base_url,
                COPILOT_MODEL=openai.model,
            )
        base_env.update(env or {})
        cluster = Cluster(
            asana=asana,
            slack=slack,
            openai=openai,
            seed=seed,
            env=base_env,
            instances=[
                Instance(i, free_port(), workdir / f"instance-{i}.log") for i in range(instances)
            ],
            workdir=workdir,
        )
        if argv is not None:
            cluster.argv = argv
        stack.callback(cluster.stop_all)
        if start:
            cluster.start_all()
        yield cluster
